//===- StridedCopy.cpp - Copy a block between strided layouts -------------===//

#include "runtime/kernels/StridedCopy.h"

#include <algorithm>
#include <cstring>

namespace tessel::kernels {
namespace {

template <typename T>
void copyTyped(absl::Span<const int64_t> dims, T *dst,
               absl::Span<const int64_t> dstStrides, const T *src,
               absl::Span<const int64_t> srcStrides, int64_t first,
               int64_t last) {
  int64_t rank = dims.size();
  if (rank == 0) {
    if (first < last)
      dst[0] = src[0];
    return;
  }
  Shape coordinates(rank);
  for (int64_t d = rank - 1, rest = first; d >= 0; --d) {
    coordinates[d] = dims[d] == 0 ? 0 : rest % dims[d];
    rest = dims[d] == 0 ? 0 : rest / dims[d];
  }
  int64_t srcInner = srcStrides[rank - 1], dstInner = dstStrides[rank - 1];
  for (int64_t position = first; position < last;) {
    int64_t run =
        std::min(dims[rank - 1] - coordinates[rank - 1], last - position);
    int64_t srcOffset = 0, dstOffset = 0;
    for (int64_t d = 0; d < rank; ++d) {
      srcOffset += coordinates[d] * srcStrides[d];
      dstOffset += coordinates[d] * dstStrides[d];
    }
    if (srcInner == 1 && dstInner == 1)
      std::memcpy(dst + dstOffset, src + srcOffset, run * sizeof(T));
    else if (srcInner == 0 && dstInner == 1) // A value broadcast along a row.
      std::fill_n(dst + dstOffset, run, src[srcOffset]);
    else
      for (int64_t j = 0; j < run; ++j)
        dst[dstOffset + j * dstInner] = src[srcOffset + j * srcInner];
    position += run;
    coordinates[rank - 1] += run;
    for (int64_t d = rank - 1; d > 0 && coordinates[d] == dims[d]; --d) {
      coordinates[d] = 0;
      ++coordinates[d - 1];
    }
  }
}

} // namespace

MergedBlock mergeDenseDimensions(absl::Span<const int64_t> dims,
                                 absl::Span<const int64_t> dstStrides,
                                 absl::Span<const int64_t> srcStrides) {
  MergedBlock merged;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1)
      continue;
    if (!merged.dims.empty() &&
        merged.dstStrides.back() == dstStrides[d] * dims[d] &&
        merged.srcStrides.back() == srcStrides[d] * dims[d]) {
      merged.dims.back() *= dims[d];
      merged.dstStrides.back() = dstStrides[d];
      merged.srcStrides.back() = srcStrides[d];
      continue;
    }
    merged.dims.push_back(dims[d]);
    merged.dstStrides.push_back(dstStrides[d]);
    merged.srcStrides.push_back(srcStrides[d]);
  }
  return merged;
}

void stridedCopy(int64_t elementBytes, absl::Span<const int64_t> blockDims,
                 void *dst, absl::Span<const int64_t> blockDstStrides,
                 const void *src, absl::Span<const int64_t> blockSrcStrides,
                 int64_t first, int64_t last) {
  if (first >= last)
    return;
  auto [dims, dstStrides, srcStrides] =
      mergeDenseDimensions(blockDims, blockDstStrides, blockSrcStrides);
  switch (elementBytes) {
  case 1:
    return copyTyped(dims, static_cast<uint8_t *>(dst), dstStrides,
                     static_cast<const uint8_t *>(src), srcStrides, first,
                     last);
  case 2:
    return copyTyped(dims, static_cast<uint16_t *>(dst), dstStrides,
                     static_cast<const uint16_t *>(src), srcStrides, first,
                     last);
  case 4:
    return copyTyped(dims, static_cast<uint32_t *>(dst), dstStrides,
                     static_cast<const uint32_t *>(src), srcStrides, first,
                     last);
  default:
    return copyTyped(dims, static_cast<uint64_t *>(dst), dstStrides,
                     static_cast<const uint64_t *>(src), srcStrides, first,
                     last);
  }
}

std::vector<int64_t> denseStrides(const std::vector<int64_t> &dims) {
  Shape strides = rowMajorStrides(dims);
  return std::vector<int64_t>(strides.begin(), strides.end());
}

Shape rowMajorStrides(absl::Span<const int64_t> dims) {
  Shape strides(dims.size());
  int64_t stride = 1;
  for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= dims[d];
  }
  return strides;
}

} // namespace tessel::kernels
