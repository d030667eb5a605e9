//===- StridedCopy.h - Copy a block between strided layouts -----*- C++ -*-===//
//
// The one data-movement primitive of the host runtime: a block of `dims`
// elements, each `elementBytes` wide, copied from a strided source to a
// strided destination (strides in elements, negative allowed). Transpose,
// slice and reverse kernels are copies into a dense destination; the host
// collectives move pieces of tensors between devices with it.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_STRIDEDCOPY_H
#define TESSEL_RUNTIME_KERNELS_STRIDEDCOPY_H

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

namespace tessel::kernels {

/// Copies elements [first, last) of the block (in row-major order of
/// `dims`): element (i_0, ..., i_n) goes from src + sum(i_d * srcStrides_d)
/// to dst + sum(i_d * dstStrides_d). Dimensions dense on both sides are
/// merged first, and runs along the last dimension that are dense on both
/// sides are copied with memcpy (a source stride of 0 there: filled).
void stridedCopy(int64_t elementBytes, absl::Span<const int64_t> dims,
                 void *dst, absl::Span<const int64_t> dstStrides,
                 const void *src, absl::Span<const int64_t> srcStrides,
                 int64_t first, int64_t last);

/// memmove of `bytes` (> 0) bytes; nothing for none. Empty tensors may
/// have no storage (null data): memcpy, memmove and memset of a null
/// pointer are undefined even for 0 bytes.
inline void copyBytes(void *dst, const void *src, int64_t bytes) {
  if (bytes > 0)
    std::memmove(dst, src, static_cast<size_t>(bytes));
}
inline void zeroBytes(void *dst, int64_t bytes) {
  if (bytes > 0)
    std::memset(dst, 0, static_cast<size_t>(bytes));
}

/// Dimensions, strides or coordinates of a tensor, held inline up to the
/// runtime's largest rank (8): what a kernel or a copy builds while it runs
/// allocates nothing.
using Shape = absl::InlinedVector<int64_t, 8>;

/// Row-major strides (in elements) of a dense tensor of `dims`.
Shape rowMajorStrides(absl::Span<const int64_t> dims);

/// A block's dimensions and strides with the dimensions of one element
/// dropped and each merged into the one before where both layouts step
/// over it whole (row-major positions are the same in the merged block):
/// a dense block becomes one run, a block of whole rows one per outer
/// index. What stridedCopy and the cuda backend's planned copies walk.
struct MergedBlock {
  Shape dims, dstStrides, srcStrides;
};
MergedBlock mergeDenseDimensions(absl::Span<const int64_t> dims,
                                 absl::Span<const int64_t> dstStrides,
                                 absl::Span<const int64_t> srcStrides);

/// The same as a vector, for what is built once (at load).
std::vector<int64_t> denseStrides(const std::vector<int64_t> &dims);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_STRIDEDCOPY_H
