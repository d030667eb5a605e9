//===- WindowOps.h - Resize's interpolation, host and device ----*- C++ -*-===//
//
// The resize op's per-element arithmetic, one definition for the host kernel
// and (through nvcc) the CUDA kernel; the taps themselves are computed once
// per op on the host (resizeTaps in KernelContext.h).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_WINDOWOPS_H
#define TESSEL_RUNTIME_KERNELS_WINDOWOPS_H

#include <cstdint>

#include "runtime/kernels/HalfFloat.h"

namespace tessel::kernels {

/// Along one dimension, for one output coordinate: the two input
/// neighbours and the weight of the second (nearest: one neighbour, weight
/// 0).
struct ResizeTap {
  int64_t low = 0, high = 0;
  float weight = 0;
};

/// The resized value at output coordinates `o`: the sum over the 2^rank
/// corners of the taps (`taps[d][o[d]]`), dimensions of weight 0
/// contributing only their low neighbour; `load(offset)` reads the input.
template <typename Load>
TESSEL_HD double resizeAt(int64_t rank, const int64_t *o,
                          const ResizeTap *const *taps,
                          const int64_t *inStrides, Load load) {
  double value = 0;
  for (int64_t corner = 0; corner < (int64_t(1) << rank); ++corner) {
    double weight = 1;
    int64_t offset = 0;
    for (int64_t d = 0; d < rank && weight != 0; ++d) {
      const ResizeTap &tap = taps[d][o[d]];
      bool high = (corner >> d) & 1;
      weight *= high ? tap.weight : 1 - tap.weight;
      offset += (high ? tap.high : tap.low) * inStrides[d];
    }
    if (weight != 0)
      value += weight * load(offset);
  }
  return value;
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_WINDOWOPS_H
