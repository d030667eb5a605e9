//===- CollectivesTest.cpp - Host collectives against serial references ---===//
//
// Every member runs on its own thread, as devices do in the host backend.
// Inputs are small integers, exact in every element type, so results are
// compared exactly.
//
//===----------------------------------------------------------------------===//

#include "runtime/host/Collectives.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "runtime/kernels/ElementTypes.h"
#include "tests/unit/runtime/CollectiveTensors.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

using kernels::loadFloat;

using testing::inputValue;
using testing::Tensor;

Tensor makeInput(proto::ElementType type, const std::vector<int64_t> &dims,
                 int rank) {
  Tensor tensor(type, dims);
  for (int64_t i = 0; i < tensor.count(); ++i)
    tensor.set(i, inputValue(type, rank, i));
  return tensor;
}

/// Runs body(rank) on one thread per member.
void onMembers(int size, const std::function<void(int)> &body) {
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank)
    threads.emplace_back(body, rank);
  for (std::thread &thread : threads)
    thread.join();
}

double reduce(Reduction reduction, proto::ElementType type, double a,
              double b) {
  if (type == proto::I1)
    return reduction == Reduction::Min ? (a && b) : (a || b);
  switch (reduction) {
  case Reduction::Sum: // Integers wrap at their width.
    return kernels::isFloatType(type)
               ? a + b
               : static_cast<double>(kernels::wrapInt(
                     type, static_cast<int64_t>(a) + static_cast<int64_t>(b)));
  case Reduction::Max:
    return std::max(a, b);
  case Reduction::Min:
    return std::min(a, b);
  }
  return 0;
}

const proto::ElementType kTypes[] = {
    proto::F32, proto::F64, proto::F16, proto::BF16, proto::I32, proto::I64,
    proto::I1,  proto::I8,  proto::U8,  proto::I16,  proto::U16, proto::U32};
const Reduction kReductions[] = {Reduction::Sum, Reduction::Max,
                                 Reduction::Min};

/// u64 reduces as unsigned, past 2^63 too (the other types' reference
/// above computes in double, which cannot hold these values).
TEST(HostCollectives, AllReduceU64IsUnsigned) {
  const uint64_t big = (uint64_t{1} << 63) + 3;
  const std::vector<std::vector<uint64_t>> inputs = {
      {big, 1, UINT64_MAX}, {2, big, 5}, {7, 9, 1}};
  for (Reduction reduction : kReductions) {
    HostGroup group(3);
    std::vector<Tensor> ins, outs;
    for (int r = 0; r < 3; ++r) {
      ins.emplace_back(proto::U64, std::vector<int64_t>{3});
      std::memcpy(ins.back().storage.data(), inputs[r].data(), 24);
      outs.emplace_back(proto::U64, std::vector<int64_t>{3});
    }
    std::vector<absl::Status> statuses(3);
    onMembers(3, [&](int r) {
      statuses[r] =
          group.allReduce(r, reduction, ins[r].buffer, outs[r].buffer);
    });
    for (int r = 0; r < 3; ++r) {
      ASSERT_TRUE(statuses[r].ok()) << statuses[r];
      for (int i = 0; i < 3; ++i) {
        uint64_t want = inputs[0][i];
        for (int m = 1; m < 3; ++m)
          want = reduction == Reduction::Sum   ? want + inputs[m][i]
                 : reduction == Reduction::Max ? std::max(want, inputs[m][i])
                                               : std::min(want, inputs[m][i]);
        uint64_t got;
        std::memcpy(&got, outs[r].storage.data() + i * 8, 8);
        EXPECT_EQ(got, want) << "member " << r << " element " << i;
      }
    }
  }
}

TEST(HostCollectives, AllReduceEveryTypeReductionAndGroupSize) {
  for (proto::ElementType type : kTypes)
    for (Reduction reduction : kReductions)
      for (int g : {1, 2, 3, 4, 8})
        // 40000 f32 elements span several 64 KiB blocks per member.
        for (int64_t count : {1, 7, 40000}) {
          HostGroup group(g);
          std::vector<Tensor> ins, outs;
          for (int r = 0; r < g; ++r) {
            ins.push_back(makeInput(type, {count}, r));
            outs.emplace_back(type, std::vector<int64_t>{count});
          }
          std::vector<absl::Status> statuses(g);
          onMembers(g, [&](int r) {
            statuses[r] =
                group.allReduce(r, reduction, ins[r].buffer, outs[r].buffer);
          });
          for (int r = 0; r < g; ++r) {
            ASSERT_TRUE(statuses[r].ok()) << statuses[r];
            for (int64_t i = 0; i < count; ++i) {
              double expected = inputValue(type, 0, i);
              for (int m = 1; m < g; ++m)
                expected =
                    reduce(reduction, type, expected, inputValue(type, m, i));
              ASSERT_EQ(outs[r].at(i), expected)
                  << proto::ElementType_Name(type) << " g=" << g
                  << " count=" << count << " member " << r << " element " << i;
            }
          }
        }
}

TEST(HostCollectives, AllReduceInPlace) {
  const int g = 4;
  const int64_t count = 33333;
  HostGroup group(g);
  std::vector<Tensor> buffers;
  for (int r = 0; r < g; ++r)
    buffers.push_back(makeInput(proto::F32, {count}, r));
  onMembers(g, [&](int r) {
    ASSERT_TRUE(
        group.allReduce(r, Reduction::Sum, buffers[r].buffer, buffers[r].buffer)
            .ok());
  });
  for (int r = 0; r < g; ++r)
    for (int64_t i = 0; i < count; i += 101) {
      double expected = 0;
      for (int m = 0; m < g; ++m)
        expected += inputValue(proto::F32, m, i);
      ASSERT_EQ(buffers[r].at(i), expected);
    }
}

/// Index of element `coordinates` in a dense tensor of `dims`.
int64_t flatten(const std::vector<int64_t> &coordinates,
                const std::vector<int64_t> &dims) {
  int64_t index = 0;
  for (size_t d = 0; d < dims.size(); ++d)
    index = index * dims[d] + coordinates[d];
  return index;
}

/// Calls body(coordinates) for every element of `dims`.
void forEach(const std::vector<int64_t> &dims,
             const std::function<void(const std::vector<int64_t> &)> &body) {
  int64_t count = 1;
  for (int64_t d : dims)
    count *= d;
  std::vector<int64_t> coordinates(dims.size());
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t d = dims.size() - 1, rest = i; d >= 0; --d) {
      coordinates[d] = rest % dims[d];
      rest /= dims[d];
    }
    body(coordinates);
  }
}

TEST(HostCollectives, AllGatherAlongEachDimension) {
  const std::vector<int64_t> local = {2, 3, 5};
  for (proto::ElementType type : {proto::F32, proto::BF16, proto::I64})
    for (int g : {1, 2, 3, 4})
      for (int64_t dim = 0; dim < 3; ++dim) {
        std::vector<int64_t> global = local;
        global[dim] *= g;
        HostGroup group(g);
        std::vector<Tensor> ins, outs;
        for (int r = 0; r < g; ++r) {
          ins.push_back(makeInput(type, local, r));
          outs.emplace_back(type, global);
        }
        onMembers(g, [&](int r) {
          ASSERT_TRUE(
              group.allGather(r, dim, ins[r].buffer, outs[r].buffer).ok());
        });
        for (int r = 0; r < g; ++r)
          forEach(global, [&](const std::vector<int64_t> &at) {
            std::vector<int64_t> source = at;
            int member = at[dim] / local[dim];
            source[dim] %= local[dim];
            ASSERT_EQ(outs[r].at(flatten(at, global)),
                      inputValue(type, member, flatten(source, local)))
                << "g=" << g << " dim=" << dim;
          });
      }
}

TEST(HostCollectives, ReduceScatterAlongEachDimension) {
  for (Reduction reduction : kReductions)
    for (int g : {1, 2, 4})
      for (int64_t dim = 0; dim < 3; ++dim) {
        std::vector<int64_t> global = {4, 8, 12};
        std::vector<int64_t> local = global;
        local[dim] /= g;
        HostGroup group(g);
        std::vector<Tensor> ins, outs;
        for (int r = 0; r < g; ++r) {
          ins.push_back(makeInput(proto::F32, global, r));
          outs.emplace_back(proto::F32, local);
        }
        onMembers(g, [&](int r) {
          ASSERT_TRUE(group
                          .reduceScatter(r, reduction, dim, ins[r].buffer,
                                         outs[r].buffer)
                          .ok());
        });
        for (int r = 0; r < g; ++r)
          forEach(local, [&](const std::vector<int64_t> &at) {
            std::vector<int64_t> source = at;
            source[dim] += r * local[dim];
            int64_t i = flatten(source, global);
            double expected = inputValue(proto::F32, 0, i);
            for (int m = 1; m < g; ++m)
              expected = reduce(reduction, proto::F32, expected,
                                inputValue(proto::F32, m, i));
            ASSERT_EQ(outs[r].at(flatten(at, local)), expected)
                << "g=" << g << " dim=" << dim;
          });
      }
}

TEST(HostCollectives, AllToAllEveryPairOfDimensions) {
  const std::vector<int64_t> local = {4, 6, 8};
  for (int g : {1, 2})
    for (int64_t split = 0; split < 3; ++split)
      for (int64_t concat = 0; concat < 3; ++concat) {
        if (concat == split)
          continue; // An error: see UnevenPiecesArePaddedAndLeftOut.
        std::vector<int64_t> outDims = local;
        outDims[split] /= g;
        outDims[concat] *= g;
        HostGroup group(g);
        std::vector<Tensor> ins, outs;
        for (int r = 0; r < g; ++r) {
          ins.push_back(makeInput(proto::F16, local, r));
          outs.emplace_back(proto::F16, outDims);
        }
        onMembers(g, [&](int r) {
          ASSERT_TRUE(
              group.allToAll(r, split, concat, ins[r].buffer, outs[r].buffer)
                  .ok());
        });
        int64_t piece = local[split] / g;
        for (int r = 0; r < g; ++r)
          forEach(outDims, [&](const std::vector<int64_t> &at) {
            // Position `at` of member r's output came from member m's
            // piece r.
            std::vector<int64_t> source = at;
            int64_t pieceSize = outDims[concat] / g;
            int member = at[concat] / pieceSize;
            source[concat] %= pieceSize;
            source[split] += r * piece;
            ASSERT_EQ(outs[r].at(flatten(at, outDims)),
                      inputValue(proto::F16, member, flatten(source, local)))
                << "split=" << split << " concat=" << concat;
          });
      }
}

/// Piece `index` (ceil(whole / members) long along `dim`) of the dense
/// tensor `global` of `dims`, as a tensor of `type`; padding is `fill`.
Tensor pieceOf(proto::ElementType type, const std::vector<int64_t> &dims,
               const std::function<double(int64_t)> &global, int64_t dim,
               int members, int index, double fill) {
  std::vector<int64_t> local = dims;
  local[dim] = (dims[dim] + members - 1) / members;
  Tensor tensor(type, local);
  forEach(local, [&](const std::vector<int64_t> &at) {
    std::vector<int64_t> source = at;
    source[dim] += index * local[dim];
    tensor.set(flatten(at, local),
               source[dim] < dims[dim] ? global(flatten(source, dims)) : fill);
  });
  return tensor;
}

TEST(HostCollectives, UnevenPiecesArePaddedAndLeftOut) {
  // Sizes that do not divide among the members, some smaller than them:
  // pieces are ceil(size / g) long, the last ones (or whole ones) padding.
  auto value = [](int64_t i) { return static_cast<double>(i % 11) - 3; };
  for (int g : {2, 3, 4})
    for (int64_t size : {1, 5, 7, 10})
      for (int64_t dim = 0; dim < 2; ++dim) {
        std::vector<int64_t> dims = {3, 3};
        dims[dim] = size;
        int64_t piece = (size + g - 1) / g;
        // all_gather: pieces (padding 99) back to the whole.
        HostGroup group(g);
        std::vector<Tensor> ins, outs;
        for (int r = 0; r < g; ++r) {
          ins.push_back(pieceOf(proto::F32, dims, value, dim, g, r, 99));
          outs.emplace_back(proto::F32, dims);
        }
        onMembers(g, [&](int r) {
          absl::Status status =
              group.allGather(r, dim, ins[r].buffer, outs[r].buffer);
          ASSERT_TRUE(status.ok()) << status;
        });
        for (int r = 0; r < g; ++r)
          for (int64_t i = 0; i < outs[r].count(); ++i)
            ASSERT_EQ(outs[r].at(i), value(i))
                << "all_gather g=" << g << " size=" << size << " dim=" << dim;
        // reduce_scatter: member m holds m + value; piece r of the sum,
        // padding zeros.
        ins.clear();
        outs.clear();
        for (int r = 0; r < g; ++r) {
          ins.push_back(pieceOf(
              proto::F32, dims, [&](int64_t i) { return value(i) + r; }, dim, 1,
              0, 0));
          std::vector<int64_t> local = dims;
          local[dim] = piece;
          outs.emplace_back(proto::F32, local);
        }
        onMembers(g, [&](int r) {
          absl::Status status = group.reduceScatter(
              r, Reduction::Sum, dim, ins[r].buffer, outs[r].buffer);
          ASSERT_TRUE(status.ok()) << status;
        });
        double offsets = g * (g - 1) / 2.0;
        for (int r = 0; r < g; ++r) {
          Tensor expected = pieceOf(
              proto::F32, dims,
              [&](int64_t i) { return g * value(i) + offsets; }, dim, g, r, 0);
          for (int64_t i = 0; i < expected.count(); ++i)
            ASSERT_EQ(outs[r].at(i), expected.at(i))
                << "reduce_scatter g=" << g << " size=" << size;
        }
        // all_to_all: member m holds piece m of `other` (the dimension
        // that is not `dim`) whole along `dim`, and ends with piece m of
        // `dim`, whole along `other`.
        int64_t other = 1 - dim;
        std::vector<int64_t> both = {size + 1, size};
        ins.clear();
        outs.clear();
        for (int r = 0; r < g; ++r) {
          ins.push_back(pieceOf(proto::I32, both, value, other, g, r, 77));
          std::vector<int64_t> local = both;
          local[dim] = (both[dim] + g - 1) / g;
          outs.emplace_back(proto::I32, local);
        }
        onMembers(g, [&](int r) {
          absl::Status status =
              group.allToAll(r, dim, other, ins[r].buffer, outs[r].buffer);
          ASSERT_TRUE(status.ok()) << status;
        });
        for (int r = 0; r < g; ++r) {
          Tensor expected = pieceOf(proto::I32, both, value, dim, g, r, 0);
          ASSERT_EQ(outs[r].buffer.dims, expected.buffer.dims);
          for (int64_t i = 0; i < expected.count(); ++i)
            ASSERT_EQ(outs[r].at(i), expected.at(i))
                << "all_to_all g=" << g << " size=" << size << " dim=" << dim;
        }
      }
  // Splitting and joining one dimension moves nothing between dimensions.
  HostGroup group(2);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < 2; ++r) {
    ins.push_back(makeInput(proto::F32, {4}, r));
    outs.emplace_back(proto::F32, std::vector<int64_t>{4});
  }
  std::vector<absl::Status> statuses(2);
  onMembers(2, [&](int r) {
    statuses[r] = group.allToAll(r, 0, 0, ins[r].buffer, outs[r].buffer);
  });
  EXPECT_EQ(std::string(statuses[0].message()),
            "all_to_all: member 0: splits and concatenates dimension 0");
}

TEST(HostCollectives, HaloExchangeTakesNeighboursRows) {
  // Members hold consecutive parts of n rows (dimension 1) of one tensor;
  // out is the rows [rank n - low, (rank + 1) n + high) of it, -7 past its
  // ends.
  const int64_t n = 3;
  for (int g : {1, 2, 3, 4})
    for (int64_t low : {-1, 0, 1, 3})
      for (int64_t high : {-2, 0, 2}) {
        HostGroup group(g);
        std::vector<Tensor> ins, outs;
        std::vector<int64_t> local = {2, n, 2},
                             extended = {2, n + low + high, 2};
        for (int r = 0; r < g; ++r) {
          ins.push_back(makeInput(proto::F32, local, r));
          outs.emplace_back(proto::F32, extended);
        }
        onMembers(g, [&](int r) {
          absl::Status status = group.haloExchange(
              r, 1, low, high, -7.0, ins[r].buffer, outs[r].buffer);
          ASSERT_TRUE(status.ok()) << status;
        });
        for (int r = 0; r < g; ++r)
          forEach(extended, [&](const std::vector<int64_t> &at) {
            int64_t row = r * n - low + at[1];
            int member = row < 0 ? -1 : static_cast<int>(row / n);
            std::vector<int64_t> source = at;
            source[1] = row - member * n;
            double expected =
                member < 0 || member >= g
                    ? -7.0
                    : inputValue(proto::F32, member, flatten(source, local));
            ASSERT_EQ(outs[r].at(flatten(at, extended)), expected)
                << "g=" << g << " low=" << low << " high=" << high
                << " rank=" << r;
          });
      }
  // A halo wider than a part is an error on every member.
  HostGroup group(2);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < 2; ++r) {
    ins.push_back(makeInput(proto::F32, {2}, r));
    outs.emplace_back(proto::F32, std::vector<int64_t>{5});
  }
  std::vector<absl::Status> statuses(2);
  onMembers(2, [&](int r) {
    statuses[r] =
        group.haloExchange(r, 0, 3, 0, 0.0, ins[r].buffer, outs[r].buffer);
  });
  for (const absl::Status &status : statuses)
    EXPECT_EQ(std::string(status.message()),
              "halo_exchange: member 0: halos of 3 and 0 rows reach past the "
              "neighbours' 2");
}

TEST(HostCollectives, CollectivePermuteWithMissingSources) {
  const int g = 4;
  // A ring shift by one, except member 2, which receives nothing.
  const std::vector<int> sources = {3, 0, -1, 2};
  HostGroup group(g);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < g; ++r) {
    ins.push_back(makeInput(proto::I32, {5, 3}, r));
    outs.emplace_back(proto::I32, std::vector<int64_t>{5, 3});
  }
  onMembers(g, [&](int r) {
    ASSERT_TRUE(
        group.collectivePermute(r, sources, ins[r].buffer, outs[r].buffer)
            .ok());
  });
  for (int r = 0; r < g; ++r)
    for (int64_t i = 0; i < 15; ++i)
      ASSERT_EQ(outs[r].at(i),
                sources[r] < 0 ? 0 : inputValue(proto::I32, sources[r], i));
}

TEST(HostCollectives, MismatchedMembersAllFailWithoutHanging) {
  const int g = 3;
  HostGroup group(g);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < g; ++r) {
    int64_t count = r == 1 ? 5 : 4;
    ins.push_back(makeInput(proto::F32, {count}, r));
    outs.emplace_back(proto::F32, std::vector<int64_t>{count});
  }
  std::vector<absl::Status> statuses(g);
  onMembers(g, [&](int r) {
    statuses[r] =
        group.allReduce(r, Reduction::Sum, ins[r].buffer, outs[r].buffer);
  });
  for (int r = 0; r < g; ++r) {
    EXPECT_FALSE(statuses[r].ok());
    EXPECT_EQ(std::string(statuses[r].message()),
              "all_reduce: member 1 has input [5], member 0 [4]");
  }
  // The group is usable again afterwards.
  onMembers(g, [&](int r) {
    statuses[r] = group.allGather(r, 7, ins[0].buffer, outs[r].buffer);
  });
  for (int r = 0; r < g; ++r)
    EXPECT_EQ(std::string(statuses[r].message()),
              "all_gather: member 0: dimension 7 is out of range for [4]");
}

TEST(HostCollectives, GroupsOfAMeshRunConcurrently) {
  // A 2x4 mesh: the rows ("y" groups) all-reduce, then the columns ("x"
  // groups) all-gather, many times over, with no global lock between them.
  const int rows = 2, columns = 4, iterations = 200;
  std::vector<std::unique_ptr<HostGroup>> rowGroups, columnGroups;
  for (int i = 0; i < rows; ++i)
    rowGroups.push_back(std::make_unique<HostGroup>(columns));
  for (int j = 0; j < columns; ++j)
    columnGroups.push_back(std::make_unique<HostGroup>(rows));
  std::vector<bool> ok(rows * columns, true);
  onMembers(rows * columns, [&](int device) {
    int i = device / columns, j = device % columns;
    Tensor value(proto::I64, {16}), gathered(proto::I64, {32});
    for (int iteration = 0; iteration < iterations; ++iteration) {
      for (int64_t e = 0; e < 16; ++e)
        value.set(e, device + iteration + e);
      if (!rowGroups[i]
               ->allReduce(j, Reduction::Sum, value.buffer, value.buffer)
               .ok() ||
          !columnGroups[j]
               ->allGather(i, 0, value.buffer, gathered.buffer)
               .ok()) {
        ok[device] = false;
        return;
      }
      for (int64_t e = 0; e < 32; ++e) {
        int row = e / 16;
        // Sum over the row's devices row*4+0..3 of (device + iteration + e').
        double expected =
            (row * columns * columns + columns * (columns - 1) / 2) +
            columns * (iteration + e % 16);
        if (gathered.at(e) != expected)
          ok[device] = false;
      }
    }
  });
  for (int device = 0; device < rows * columns; ++device)
    EXPECT_TRUE(ok[device]) << "device " << device;
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

TEST(HostCollectives, CancelledWaitsEndWithAborted) {
  // Member 2 never arrives (its device failed): once the run is cancelled,
  // the others stop waiting.
  std::atomic<bool> cancel{false};
  HostGroup group(3, &cancel);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < 3; ++r) {
    ins.push_back(makeInput(proto::F32, {8}, r));
    outs.emplace_back(proto::F32, std::vector<int64_t>{8});
  }
  std::vector<absl::Status> statuses(2);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancel = true;
  });
  onMembers(2, [&](int r) {
    statuses[r] =
        group.allReduce(r, Reduction::Sum, ins[r].buffer, outs[r].buffer);
  });
  canceller.join();
  for (const absl::Status &status : statuses) {
    EXPECT_TRUE(absl::IsAborted(status)) << status;
    EXPECT_EQ(std::string(status.message()),
              "another device failed while this one waited in a collective");
  }
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

TEST(HostCollectives, NanWinsMaxAndMinAsInTheReduceKernel) {
  for (Reduction reduction : {Reduction::Max, Reduction::Min}) {
    HostGroup group(2);
    std::vector<Tensor> ins, outs;
    for (int r = 0; r < 2; ++r) {
      ins.push_back(makeInput(proto::F32, {2}, r));
      outs.emplace_back(proto::F32, std::vector<int64_t>{2});
    }
    ins[0].set(0, NAN); // First member.
    ins[1].set(1, NAN); // Second member.
    onMembers(2, [&](int r) {
      ASSERT_TRUE(
          group.allReduce(r, reduction, ins[r].buffer, outs[r].buffer).ok());
    });
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(std::isnan(outs[r].at(0)));
      EXPECT_TRUE(std::isnan(outs[r].at(1)));
    }
  }
}

} // namespace
} // namespace tessel
