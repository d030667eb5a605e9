//===- Collectives.cpp - Collectives among host device threads ------------===//

#include "runtime/host/Collectives.h"
#include "runtime/host/CollectiveStream.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/kernels/IntArithmetic.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel {
namespace {

using kernels::BFloat16;
using kernels::Half;

template <typename T, typename Combine>
void combine(T *into, const T *from, int64_t count, Combine op) {
  for (int64_t i = 0; i < count; ++i)
    into[i] = op(into[i], from[i]);
}

template <typename T> bool isNan(T value) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(value);
  return false;
}

template <typename T>
void reduceTyped(Reduction reduction, T *into, const T *from, int64_t count) {
  switch (reduction) {
  case Reduction::Sum:
    // Integers wrap at their width, as the kernels' sums do.
    if constexpr (std::is_integral_v<T>)
      return combine(into, from, count, [](T a, T b) {
        return static_cast<T>(kernels::wrapAdd(a, b));
      });
    else
      return combine(into, from, count, [](T a, T b) { return a + b; });
  // NaN wins a max or min, as in the reduce kernel (runtime/kernels), so
  // that a split reduction gives the single-device answer.
  case Reduction::Max:
    return combine(into, from, count,
                   [](T a, T b) { return (b > a || isNan(b)) ? b : a; });
  case Reduction::Min:
    return combine(into, from, count,
                   [](T a, T b) { return (b < a || isNan(b)) ? b : a; });
  }
}

template <typename T, typename ToFloat, typename FromFloat>
void reduceAsFloat(Reduction reduction, T *into, const T *from, int64_t count,
                   ToFloat toFloat, FromFloat fromFloat) {
  float a[256], b[256];
  for (int64_t start = 0; start < count; start += 256) {
    int64_t n = std::min<int64_t>(256, count - start);
    for (int64_t i = 0; i < n; ++i) {
      a[i] = toFloat(into[start + i]);
      b[i] = toFloat(from[start + i]);
    }
    reduceTyped(reduction, a, b, n);
    for (int64_t i = 0; i < n; ++i)
      into[start + i] = fromFloat(a[i]);
  }
}

std::string shapeOf(const CollectiveBuffer &buffer) {
  return absl::StrCat("[", absl::StrJoin(buffer.dims, "x"), "]");
}

bool overlaps(const CollectiveBuffer &a, const CollectiveBuffer &b) {
  int64_t bytes = kernels::byteSize(a.type);
  const char *aStart = static_cast<const char *>(a.data);
  const char *bStart = static_cast<const char *>(b.data);
  return aStart < bStart + numElements(b) * bytes &&
         bStart < aStart + numElements(a) * bytes;
}

/// Elements of block `index` when `count` is split into `blocks` parts as
/// evenly as possible: [begin, end).
std::pair<int64_t, int64_t> part(int64_t count, int64_t blocks, int64_t index) {
  int64_t base = count / blocks, extra = count % blocks;
  int64_t begin = index * base + std::min(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

absl::Status cancelled() {
  return absl::AbortedError(
      "another device failed while this one waited in a collective");
}

/// Reductions go through a small buffer: a block of one member's input is
/// copied in, the others' blocks reduced into it, and the result written
/// out, so inputs may alias outputs and the block stays in cache.
constexpr int64_t kBlockBytes = 64 * 1024;

} // namespace

void reduceInto(proto::ElementType type, Reduction reduction, void *into,
                const void *from, int64_t count) {
  switch (type) {
  case proto::F32:
    return reduceTyped(reduction, static_cast<float *>(into),
                       static_cast<const float *>(from), count);
  case proto::F64:
    return reduceTyped(reduction, static_cast<double *>(into),
                       static_cast<const double *>(from), count);
  case proto::I32:
    return reduceTyped(reduction, static_cast<int32_t *>(into),
                       static_cast<const int32_t *>(from), count);
  case proto::I64:
    return reduceTyped(reduction, static_cast<int64_t *>(into),
                       static_cast<const int64_t *>(from), count);
  case proto::I8:
    return reduceTyped(reduction, static_cast<int8_t *>(into),
                       static_cast<const int8_t *>(from), count);
  case proto::U8:
    return reduceTyped(reduction, static_cast<uint8_t *>(into),
                       static_cast<const uint8_t *>(from), count);
  case proto::I16:
    return reduceTyped(reduction, static_cast<int16_t *>(into),
                       static_cast<const int16_t *>(from), count);
  case proto::U16:
    return reduceTyped(reduction, static_cast<uint16_t *>(into),
                       static_cast<const uint16_t *>(from), count);
  case proto::U32:
    return reduceTyped(reduction, static_cast<uint32_t *>(into),
                       static_cast<const uint32_t *>(from), count);
  case proto::U64:
    return reduceTyped(reduction, static_cast<uint64_t *>(into),
                       static_cast<const uint64_t *>(from), count);
  case proto::F16:
    return reduceAsFloat(
        reduction, static_cast<Half *>(into), static_cast<const Half *>(from),
        count, [](Half h) { return kernels::toFloat(h); }, kernels::toHalf);
  case proto::BF16:
    return reduceAsFloat(
        reduction, static_cast<BFloat16 *>(into),
        static_cast<const BFloat16 *>(from), count,
        [](BFloat16 b) { return kernels::toFloat(b); }, kernels::toBFloat16);
  default: { // i1: sum and max are "or", min is "and".
    auto *a = static_cast<uint8_t *>(into);
    auto *b = static_cast<const uint8_t *>(from);
    for (int64_t i = 0; i < count; ++i)
      a[i] = reduction == Reduction::Min ? (a[i] && b[i]) : (a[i] || b[i]);
    return;
  }
  }
}

HostGroup::HostGroup(int size, const std::atomic<bool> *cancel)
    : slots(std::max(size, 1)), cancel(cancel) {}

bool HostGroup::barrier(int) {
  uint64_t current = phase.load(std::memory_order_acquire);
  if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == size()) {
    arrived.store(0, std::memory_order_relaxed);
    phase.fetch_add(1, std::memory_order_release);
    return true;
  }
  for (int spins = 0; phase.load(std::memory_order_acquire) == current;
       ++spins) {
    if (spins > 2000) {
      if (cancel && cancel->load(std::memory_order_relaxed))
        return false;
      pauseWhilePolling(spins);
    }
  }
  return true;
}

bool HostGroup::publish(int rank, const CollectiveBuffer &in,
                        const CollectiveBuffer &out) {
  slots[rank] = {&in, &out};
  return barrier(rank);
}

namespace {

/// Checks what every member published against what `expect` says of each;
/// the same verdict on every member, since all read the same slots.
template <typename Slots, typename Expect>
absl::Status checkMembers(const char *collective, const Slots &slots,
                          Expect expect) {
  const CollectiveBuffer &first = *slots[0].in;
  for (size_t m = 0; m < slots.size(); ++m) {
    const CollectiveBuffer &in = *slots[m].in, &out = *slots[m].out;
    if (in.type != first.type || out.type != first.type ||
        kernels::byteSize(first.type) == 0)
      return absl::InvalidArgumentError(absl::StrCat(
          collective, ": member ", m, " has another or no element type"));
    if (in.dims != first.dims)
      return absl::InvalidArgumentError(
          absl::StrCat(collective, ": member ", m, " has input ", shapeOf(in),
                       ", member 0 ", shapeOf(first)));
    if (absl::Status status = expect(in, out); !status.ok())
      return absl::InvalidArgumentError(absl::StrCat(
          collective, ": member ", m, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::Status expectDims(const CollectiveBuffer &out,
                        absl::Span<const int64_t> dims) {
  if (out.dims != dims)
    return absl::InvalidArgumentError(
        absl::StrCat("output is ", shapeOf(out), ", expected [",
                     absl::StrJoin(dims, "x"), "]"));
  return absl::OkStatus();
}

absl::Status checkDim(const CollectiveBuffer &in, int64_t dim) {
  if (dim < 0 || dim >= static_cast<int64_t>(in.dims.size()))
    return absl::InvalidArgumentError(
        absl::StrCat("dimension ", dim, " is out of range for ", shapeOf(in)));
  return absl::OkStatus();
}

/// Dimension `dim` of the pieces is the piece of the wholes' for `members`.
absl::Status checkPiece(const CollectiveBuffer &whole,
                        const CollectiveBuffer &pieces, int64_t dim,
                        int64_t members) {
  if (pieces.dims[dim] != pieceOf(whole.dims[dim], members))
    return absl::InvalidArgumentError(absl::StrCat(
        "dimension ", dim, " of ", shapeOf(pieces), " is not the piece of ",
        shapeOf(whole), " for ", members, " members (ceil(", whole.dims[dim],
        " / ", members, ") = ", pieceOf(whole.dims[dim], members), ")"));
  return absl::OkStatus();
}

} // namespace

template <typename Expect, typename Work>
absl::Status
HostGroup::run(int rank, const char *collective, const CollectiveBuffer &in,
               const CollectiveBuffer &out, Expect expect, Work work) {
  if (!publish(rank, in, out))
    return cancelled();
  absl::Status status = checkMembers(collective, slots, expect);
  if (status.ok())
    work();
  if (!barrier(rank))
    return cancelled();
  return status;
}

absl::Status HostGroup::allReduce(int rank, Reduction reduction,
                                  const CollectiveBuffer &in,
                                  const CollectiveBuffer &out) {
  return run(
      rank, "all_reduce", in, out,
      [](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        return expectDims(out, in.dims);
      },
      [&] {
        int64_t bytes = kernels::byteSize(in.type);
        auto [begin, end] = part(numElements(in), size(), rank);
        int64_t blockElements = std::max<int64_t>(1, kBlockBytes / bytes);
        // Each device thread's block, kept: a run allocates nothing.
        thread_local std::vector<char> block;
        block.resize(blockElements * bytes);
        for (int64_t start = begin; start < end; start += blockElements) {
          int64_t n = std::min(blockElements, end - start);
          std::memcpy(block.data(),
                      static_cast<const char *>(slots[0].in->data) +
                          start * bytes,
                      n * bytes);
          for (int m = 1; m < size(); ++m)
            reduceInto(in.type, reduction, block.data(),
                       static_cast<const char *>(slots[m].in->data) +
                           start * bytes,
                       n);
          for (int m = 0; m < size(); ++m)
            std::memcpy(static_cast<char *>(slots[m].out->data) + start * bytes,
                        block.data(), n * bytes);
        }
      });
}

absl::Status HostGroup::allGather(int rank, int64_t dim,
                                  const CollectiveBuffer &in,
                                  const CollectiveBuffer &out) {
  int g = size();
  return run(
      rank, "all_gather", in, out,
      [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        if (absl::Status status = checkDim(in, dim); !status.ok())
          return status;
        if (overlaps(in, out))
          return absl::InvalidArgumentError("output overlaps input");
        if (out.dims.size() != in.dims.size())
          return expectDims(out, in.dims);
        kernels::Shape dims = in.dims;
        dims[dim] = out.dims[dim];
        if (absl::Status status = expectDims(out, dims); !status.ok())
          return status;
        return checkPiece(out, in, dim, g);
      },
      [&] {
        // Member m's piece lands at m * piece; padding past the whole is
        // left out.
        int64_t bytes = kernels::byteSize(in.type);
        int64_t outer = product(in.dims, 0, dim);
        int64_t row = product(in.dims, dim + 1, in.dims.size()) * bytes;
        int64_t piece = in.dims[dim], whole = out.dims[dim];
        char *target = static_cast<char *>(out.data);
        for (int m = 0; m < g; ++m) {
          const char *source = static_cast<const char *>(slots[m].in->data);
          int64_t valid = validOf(whole, piece, m) * row;
          for (int64_t o = 0; o < outer; ++o)
            std::memcpy(target + (o * whole + m * piece) * row,
                        source + o * piece * row, valid);
        }
      });
}

absl::Status HostGroup::reduceScatter(int rank, Reduction reduction,
                                      int64_t dim, const CollectiveBuffer &in,
                                      const CollectiveBuffer &out) {
  int g = size();
  return run(
      rank, "reduce_scatter", in, out,
      [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        if (absl::Status status = checkDim(in, dim); !status.ok())
          return status;
        if (overlaps(in, out))
          return absl::InvalidArgumentError("output overlaps input");
        kernels::Shape dims = in.dims;
        dims[dim] = pieceOf(in.dims[dim], g);
        return expectDims(out, dims);
      },
      [&] {
        // This member's piece of the reduction; its padding is zeros.
        int64_t bytes = kernels::byteSize(in.type);
        int64_t outer = product(in.dims, 0, dim);
        int64_t row = product(in.dims, dim + 1, in.dims.size());
        int64_t whole = in.dims[dim], piece = out.dims[dim];
        int64_t valid = validOf(whole, piece, rank) * row;
        char *target = static_cast<char *>(out.data);
        for (int64_t o = 0; o < outer; ++o) {
          char *into = target + o * piece * row * bytes;
          int64_t offset = (o * whole + rank * piece) * row * bytes;
          std::memcpy(into,
                      static_cast<const char *>(slots[0].in->data) + offset,
                      valid * bytes);
          for (int m = 1; m < g; ++m)
            reduceInto(in.type, reduction, into,
                       static_cast<const char *>(slots[m].in->data) + offset,
                       valid);
          std::memset(into + valid * bytes, 0, (piece * row - valid) * bytes);
        }
      });
}

absl::Status HostGroup::allToAll(int rank, int64_t splitDim, int64_t concatDim,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out) {
  int g = size();
  return run(
      rank, "all_to_all", in, out,
      [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        if (absl::Status status = checkDim(in, splitDim); !status.ok())
          return status;
        if (absl::Status status = checkDim(in, concatDim); !status.ok())
          return status;
        if (splitDim == concatDim)
          return absl::InvalidArgumentError(
              absl::StrCat("splits and concatenates dimension ", splitDim));
        if (overlaps(in, out))
          return absl::InvalidArgumentError("output overlaps input");
        if (out.dims.size() != in.dims.size())
          return expectDims(out, in.dims);
        kernels::Shape dims = in.dims;
        dims[splitDim] = pieceOf(in.dims[splitDim], g);
        dims[concatDim] = out.dims[concatDim];
        if (absl::Status status = expectDims(out, dims); !status.ok())
          return status;
        return checkPiece(out, in, concatDim, g);
      },
      [&] {
        // From member m: its piece `rank` of splitDim, which lands at
        // m * piece of concatDim; padding is zeros on the way in and left
        // out on the way out.
        int64_t bytes = kernels::byteSize(in.type);
        int64_t splitPiece = out.dims[splitDim];
        int64_t splitValid = validOf(in.dims[splitDim], splitPiece, rank);
        int64_t concatPiece = in.dims[concatDim];
        kernels::Shape inStrides = kernels::rowMajorStrides(in.dims);
        kernels::Shape outStrides = kernels::rowMajorStrides(out.dims);
        if (splitValid < splitPiece)
          kernels::zeroBytes(out.data, numElements(out) * bytes);
        for (int m = 0; m < g; ++m) {
          kernels::Shape block = in.dims;
          block[splitDim] = splitValid;
          block[concatDim] = validOf(out.dims[concatDim], concatPiece, m);
          const char *source = static_cast<const char *>(slots[m].in->data) +
                               rank * splitPiece * inStrides[splitDim] * bytes;
          char *target = static_cast<char *>(out.data) +
                         m * concatPiece * outStrides[concatDim] * bytes;
          kernels::stridedCopy(bytes, block, target, outStrides, source,
                               inStrides, 0, product(block, 0, block.size()));
        }
      });
}

absl::Status HostGroup::haloExchange(int rank, int64_t dim, int64_t low,
                                     int64_t high, double value,
                                     const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  int g = size();
  return run(
      rank, "halo_exchange", in, out,
      [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        if (absl::Status status = checkDim(in, dim); !status.ok())
          return status;
        if (!kernels::isFloatType(in.type))
          return absl::InvalidArgumentError("needs a float element type");
        int64_t n = in.dims[dim];
        if (std::abs(low) > n || std::abs(high) > n || n + low + high < 0)
          return absl::InvalidArgumentError(
              absl::StrCat("halos of ", low, " and ", high,
                           " rows reach past the neighbours' ", n));
        if (overlaps(in, out))
          return absl::InvalidArgumentError("output overlaps input");
        kernels::Shape dims = in.dims;
        dims[dim] = n + low + high;
        return expectDims(out, dims);
      },
      [&] {
        // Output rows [begin, end) come from member q's rows starting at
        // `from`, for q the member before, this one and the one after.
        int64_t bytes = kernels::byteSize(in.type);
        int64_t n = in.dims[dim], first = rank * n - low;
        kernels::Shape inStrides = kernels::rowMajorStrides(in.dims);
        kernels::Shape outStrides = kernels::rowMajorStrides(out.dims);
        for (int q = rank - 1; q <= rank + 1; ++q) {
          int64_t begin = std::max<int64_t>(q * n, first) - first;
          int64_t end =
              std::min<int64_t>((q + 1) * n, first + out.dims[dim]) - first;
          if (begin >= end)
            continue;
          kernels::Shape block = out.dims;
          block[dim] = end - begin;
          char *target =
              static_cast<char *>(out.data) + begin * outStrides[dim] * bytes;
          int64_t count = product(block, 0, block.size());
          if (q >= 0 && q < g) {
            const char *source =
                static_cast<const char *>(slots[q].in->data) +
                (first + begin - q * n) * inStrides[dim] * bytes;
            kernels::stridedCopy(bytes, block, target, outStrides, source,
                                 inStrides, 0, count);
            continue;
          }
          // Past the ends: the padding value, written through a
          // one-element source of stride 0.
          char element[8];
          kernels::storeDouble(element, in.type, 0, value);
          kernels::stridedCopy(bytes, block, target, outStrides, element,
                               kernels::Shape(block.size(), 0), 0, count);
        }
      });
}

absl::Status HostGroup::collectivePermute(int rank,
                                          const std::vector<int> &sources,
                                          const CollectiveBuffer &in,
                                          const CollectiveBuffer &out) {
  int g = size();
  return run(
      rank, "collective_permute", in, out,
      [&](const CollectiveBuffer &in, const CollectiveBuffer &out) {
        if (static_cast<int>(sources.size()) != g)
          return absl::InvalidArgumentError(
              absl::StrCat(sources.size(), " sources for a group of ", g));
        for (int source : sources)
          if (source < -1 || source >= g)
            return absl::InvalidArgumentError(absl::StrCat(
                "source ", source, " is not a member of the group of ", g));
        if (overlaps(in, out))
          return absl::InvalidArgumentError("output overlaps input");
        return expectDims(out, in.dims);
      },
      [&] {
        int64_t total = numElements(in) * kernels::byteSize(in.type);
        if (sources[rank] < 0)
          kernels::zeroBytes(out.data, total);
        else
          kernels::copyBytes(out.data, slots[sources[rank]].in->data, total);
      });
}

} // namespace tessel
