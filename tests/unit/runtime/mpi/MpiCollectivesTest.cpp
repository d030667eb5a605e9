//===- MpiCollectivesTest.cpp - MPI collectives against the host's --------===//
//
// Run under mpirun (run_mpi_test.sh, 2 to 4 ranks). Every rank knows every
// rank's input (a function of the rank), so each computes the expected
// output with the host collectives on threads and compares its own: the
// MPI backend must give the host backend's numbers, padding included.
//
//===----------------------------------------------------------------------===//

#include "runtime/mpi/MpiCollectives.h"

#include <cmath>
#include <functional>
#include <thread>

#include "runtime/kernels/ElementTypes.h"
#include "tests/unit/runtime/CollectiveTensors.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

int worldRank() {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int worldSize() {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

using testing::inputValue;
using testing::Tensor;

/// Member `rank`'s input: small values, some negative, a NaN in floats.
Tensor input(proto::ElementType type, const std::vector<int64_t> &dims,
             int rank) {
  Tensor tensor(type, dims);
  for (int64_t i = 0; i < tensor.count(); ++i)
    tensor.set(i, kernels::isFloatType(type) && i == 5 && rank == 1
                      ? NAN
                      : inputValue(type, rank, i));
  return tensor;
}

/// What member `me` of a group of `g` gets from `collective`, computed by
/// the host collectives on g threads.
Tensor onHost(
    int g, int me, const std::vector<int64_t> &inDims,
    const std::vector<int64_t> &outDims, proto::ElementType type,
    const std::function<absl::Status(HostGroup &, int, const CollectiveBuffer &,
                                     const CollectiveBuffer &)> &collective) {
  HostGroup group(g);
  std::vector<Tensor> ins, outs;
  for (int r = 0; r < g; ++r) {
    ins.push_back(input(type, inDims, r));
    outs.emplace_back(type, outDims);
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < g; ++r)
    threads.emplace_back([&, r] {
      EXPECT_TRUE(collective(group, r, ins[r].buffer, outs[r].buffer).ok());
    });
  for (std::thread &thread : threads)
    thread.join();
  return std::move(outs[me]);
}

void expectSame(const Tensor &got, const Tensor &want,
                const std::string &what) {
  ASSERT_EQ(got.buffer.dims, want.buffer.dims) << what;
  // Bytes: NaNs compare equal as bytes, as results must be bit-identical.
  EXPECT_EQ(got.storage, want.storage) << what << " on rank " << worldRank();
}

std::unique_ptr<MpiGroup> everyone() {
  std::vector<int> members(worldSize());
  for (int r = 0; r < worldSize(); ++r)
    members[r] = r;
  return *MpiGroup::create(members);
}

TEST(MpiCollectives, AllReduceEveryTypeAndReduction) {
  std::unique_ptr<MpiGroup> group = everyone();
  int g = group->size(), me = group->rank();
  for (proto::ElementType type :
       {proto::F32, proto::F64, proto::F16, proto::BF16, proto::I32, proto::I64,
        proto::I1, proto::I8, proto::U8, proto::I16, proto::U16, proto::U32,
        proto::U64})
    for (Reduction reduction :
         {Reduction::Sum, Reduction::Max, Reduction::Min}) {
      Tensor in = input(type, {3, 7}, me), out(type, {3, 7});
      ASSERT_TRUE(group->allReduce(reduction, in.buffer, out.buffer).ok());
      Tensor want =
          onHost(g, me, {3, 7}, {3, 7}, type,
                 [&](HostGroup &host, int r, const CollectiveBuffer &i,
                     const CollectiveBuffer &o) {
                   return host.allReduce(r, reduction, i, o);
                 });
      expectSame(out, want, "all_reduce " + proto::ElementType_Name(type));
      // In place, too.
      ASSERT_TRUE(group->allReduce(reduction, in.buffer, in.buffer).ok());
      expectSame(in, want, "in-place all_reduce");
    }
}

TEST(MpiCollectives, UnevenPiecesAsOnTheHost) {
  std::unique_ptr<MpiGroup> group = everyone();
  int g = group->size(), me = group->rank();
  for (int64_t size : {1, 5, 7}) {
    int64_t piece = (size + g - 1) / g;
    // all_gather along dimension 1: pieces back to the whole.
    {
      Tensor in = input(proto::F32, {2, piece, 3}, me),
             out(proto::F32, {2, size, 3});
      ASSERT_TRUE(group->allGather(1, in.buffer, out.buffer).ok());
      expectSame(out,
                 onHost(g, me, {2, piece, 3}, {2, size, 3}, proto::F32,
                        [](HostGroup &h, int r, const CollectiveBuffer &i,
                           const CollectiveBuffer &o) {
                          return h.allGather(r, 1, i, o);
                        }),
                 "all_gather");
    }
    // reduce_scatter along dimension 0.
    {
      Tensor in = input(proto::BF16, {size, 4}, me),
             out(proto::BF16, {piece, 4});
      ASSERT_TRUE(
          group->reduceScatter(Reduction::Sum, 0, in.buffer, out.buffer).ok());
      expectSame(out,
                 onHost(g, me, {size, 4}, {piece, 4}, proto::BF16,
                        [](HostGroup &h, int r, const CollectiveBuffer &i,
                           const CollectiveBuffer &o) {
                          return h.reduceScatter(r, Reduction::Sum, 0, i, o);
                        }),
                 "reduce_scatter");
    }
    // all_to_all: split dimension 0 (whole), join dimension 1 (pieces).
    {
      int64_t join = size + 1, joinPiece = (join + g - 1) / g;
      Tensor in = input(proto::I32, {size, joinPiece}, me),
             out(proto::I32, {piece, join});
      ASSERT_TRUE(group->allToAll(0, 1, in.buffer, out.buffer).ok());
      expectSame(out,
                 onHost(g, me, {size, joinPiece}, {piece, join}, proto::I32,
                        [](HostGroup &h, int r, const CollectiveBuffer &i,
                           const CollectiveBuffer &o) {
                          return h.allToAll(r, 0, 1, i, o);
                        }),
                 "all_to_all");
    }
  }
}

// The paths chosen by size and layout: pieces MPI reads and writes in
// place (even: one outer slice, or a strided datatype) or through the
// scratch, blocking calls below MpiGroup::kBlockingBelow
// (kReduceScatterBlockingBelow for reduce_scatter) and polled ones above
// (all-reduces too where ranks share cores): the same bytes as the host
// collectives in every case, also for a group that trusts its members' shapes
// (as the MPI backend's do).
TEST(MpiCollectives, LargeAndInPlaceAsOnTheHost) {
  std::unique_ptr<MpiGroup> group = everyone();
  group->trustShapes();
  int g = group->size(), me = group->rank();
  int64_t large = MpiGroup::kBlockingBelow / 4 + 3; // f32 elements
  // all_reduce, polled where ranks share cores.
  {
    Tensor in = input(proto::F32, {large}, me), out(proto::F32, {large});
    ASSERT_TRUE(group->allReduce(Reduction::Sum, in.buffer, out.buffer).ok());
    expectSame(out,
               onHost(g, me, {large}, {large}, proto::F32,
                      [](HostGroup &h, int r, const CollectiveBuffer &i,
                         const CollectiveBuffer &o) {
                        return h.allReduce(r, Reduction::Sum, i, o);
                      }),
               "large all_reduce");
  }
  int64_t rows = MpiGroup::kReduceScatterBlockingBelow / 4 / 8 + 1;
  for (int64_t whole : {int64_t{g * 4}, g * rows, g * rows + 1}) {
    int64_t piece = (whole + g - 1) / g;
    // reduce_scatter along 0: small (blocking), large and even (polled,
    // from the input itself), large and uneven (packed).
    Tensor in = input(proto::F32, {whole, 8}, me), out(proto::F32, {piece, 8});
    ASSERT_TRUE(
        group->reduceScatter(Reduction::Sum, 0, in.buffer, out.buffer).ok());
    expectSame(out,
               onHost(g, me, {whole, 8}, {piece, 8}, proto::F32,
                      [](HostGroup &h, int r, const CollectiveBuffer &i,
                         const CollectiveBuffer &o) {
                        return h.reduceScatter(r, Reduction::Sum, 0, i, o);
                      }),
               "reduce_scatter of " + std::to_string(whole) + " rows");
    // all_gather along 0: in place where even.
    Tensor part = input(proto::F32, {piece, 8}, me),
           gathered(proto::F32, {whole, 8});
    ASSERT_TRUE(group->allGather(0, part.buffer, gathered.buffer).ok());
    expectSame(gathered,
               onHost(g, me, {piece, 8}, {whole, 8}, proto::F32,
                      [](HostGroup &h, int r, const CollectiveBuffer &i,
                         const CollectiveBuffer &o) {
                        return h.allGather(r, 0, i, o);
                      }),
               "all_gather of " + std::to_string(whole) + " rows");
  }
  // all_gather along an inner dimension without padding: written in place
  // through a strided datatype, small (blocking) and large (polled).
  for (int64_t outer : {int64_t{3}, large / 10 + 1}) {
    Tensor part = input(proto::F32, {outer, 2, 5}, me),
           gathered(proto::F32, {outer, 2 * g, 5});
    ASSERT_TRUE(group->allGather(1, part.buffer, gathered.buffer).ok());
    expectSame(gathered,
               onHost(g, me, {outer, 2, 5}, {outer, 2 * g, 5}, proto::F32,
                      [](HostGroup &h, int r, const CollectiveBuffer &i,
                         const CollectiveBuffer &o) {
                        return h.allGather(r, 1, i, o);
                      }),
               "all_gather along dimension 1, " + std::to_string(outer) +
                   " outer rows");
  }
  // all_to_all as MPI lays it out ([g, k] to [1, g * k]): both in place.
  for (int64_t k : {int64_t{5}, large / g}) {
    Tensor in = input(proto::F32, {g, k}, me), out(proto::F32, {1, g * k});
    ASSERT_TRUE(group->allToAll(0, 1, in.buffer, out.buffer).ok());
    expectSame(out,
               onHost(g, me, {g, k}, {1, g * k}, proto::F32,
                      [](HostGroup &h, int r, const CollectiveBuffer &i,
                         const CollectiveBuffer &o) {
                        return h.allToAll(r, 0, 1, i, o);
                      }),
               "all_to_all in place");
  }
}

TEST(MpiCollectives, PermuteAndHalos) {
  std::unique_ptr<MpiGroup> group = everyone();
  int g = group->size(), me = group->rank();
  // A shift by one; member 0 receives nothing.
  std::vector<int> sources(g);
  for (int r = 0; r < g; ++r)
    sources[r] = r - 1;
  Tensor in = input(proto::F32, {4, 3}, me), out(proto::F32, {4, 3});
  ASSERT_TRUE(group->collectivePermute(sources, in.buffer, out.buffer).ok());
  expectSame(out,
             onHost(g, me, {4, 3}, {4, 3}, proto::F32,
                    [&](HostGroup &h, int r, const CollectiveBuffer &i,
                        const CollectiveBuffer &o) {
                      return h.collectivePermute(r, sources, i, o);
                    }),
             "collective_permute");
  for (auto [low, high] :
       {std::pair<int64_t, int64_t>{1, 1}, {2, 0}, {-1, 2}}) {
    Tensor halo(proto::F32, {2, 3 + low + high, 2});
    Tensor part = input(proto::F32, {2, 3, 2}, me);
    ASSERT_TRUE(
        group->haloExchange(1, low, high, -7.0, part.buffer, halo.buffer).ok());
    expectSame(halo,
               onHost(g, me, {2, 3, 2}, {2, 3 + low + high, 2}, proto::F32,
                      [&](HostGroup &h, int r, const CollectiveBuffer &i,
                          const CollectiveBuffer &o) {
                        return h.haloExchange(r, 1, low, high, -7.0, i, o);
                      }),
               "halo_exchange");
  }
  // Zero padding (memset) and another value in half precision (its bytes
  // replicated), inside the tensor.
  for (auto [type, value] :
       {std::pair<proto::ElementType, double>{proto::F32, 0.0},
        {proto::F16, 2.5}}) {
    Tensor halo(type, {3, 6, 5});
    Tensor part = input(type, {3, 3, 5}, me);
    ASSERT_TRUE(
        group->haloExchange(1, 2, 1, value, part.buffer, halo.buffer).ok());
    expectSame(halo,
               onHost(g, me, {3, 3, 5}, {3, 6, 5}, type,
                      [&](HostGroup &h, int r, const CollectiveBuffer &i,
                          const CollectiveBuffer &o) {
                        return h.haloExchange(r, 1, 2, 1, value, i, o);
                      }),
               "halo_exchange padded with a value");
  }
  // Along the outermost dimension, where MPI reads and writes the tensors.
  for (auto [low, high] :
       {std::pair<int64_t, int64_t>{1, 1}, {3, -2}, {0, 3}, {-3, 1}}) {
    Tensor halo(proto::F32, {3 + low + high, 4});
    Tensor part = input(proto::F32, {3, 4}, me);
    ASSERT_TRUE(
        group->haloExchange(0, low, high, 5.0, part.buffer, halo.buffer).ok());
    expectSame(halo,
               onHost(g, me, {3, 4}, {3 + low + high, 4}, proto::F32,
                      [&](HostGroup &h, int r, const CollectiveBuffer &i,
                          const CollectiveBuffer &o) {
                        return h.haloExchange(r, 0, low, high, 5.0, i, o);
                      }),
               "halo_exchange along the outermost dimension");
  }
}

TEST(MpiCollectives, GroupsOfTheWorldAndMismatches) {
  // Pairs of ranks {0, 1}, {2, 3}, ... (an odd last rank alone).
  int me = worldRank(), n = worldSize();
  std::vector<int> members = {me - me % 2};
  if (members[0] + 1 < n)
    members.push_back(members[0] + 1);
  std::unique_ptr<MpiGroup> pair = *MpiGroup::create(members);
  EXPECT_EQ(pair->size(), static_cast<int>(members.size()));
  Tensor value = input(proto::I64, {5}, me);
  ASSERT_TRUE(pair->allReduce(Reduction::Max, value.buffer, value.buffer).ok());
  // A member passing another shape: an error on every member, no hang.
  std::unique_ptr<MpiGroup> group = everyone();
  Tensor odd = input(proto::F32, {me == 1 ? 5 : 4}, me);
  absl::Status status =
      group->allReduce(Reduction::Sum, odd.buffer, odd.buffer);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(std::string(status.message()),
            "all_reduce: member 1 passes other tensors than member 0 (types, "
            "shapes or parameters differ)");
}

} // namespace
} // namespace tessel

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int result = RUN_ALL_TESTS();
  // Every rank's verdict: the test fails if any rank's did.
  int worst = 0;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
