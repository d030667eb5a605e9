//===- IntArithmetic.h - Wrapping int64 arithmetic --------------*- C++ -*-===//
//
// Integer tensors compute in int64 and store wrapped to their width; these
// are the operations, defined on every input, for the host kernels and
// (through nvcc) the CUDA ones.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_INTARITHMETIC_H
#define TESSEL_RUNTIME_KERNELS_INTARITHMETIC_H

#include <cstdint>

#include "runtime/kernels/HalfFloat.h"

namespace tessel::kernels {

/// int64 arithmetic as every integer kernel does it (fusion steps,
/// reductions, integer contractions): two's complement, wrapping
/// on overflow (as ONNX Runtime and NumPy do) instead of C++'s undefined
/// behaviour; division and remainder by 0 give 0 (ONNX leaves them
/// undefined), and INT64_MIN / -1 wraps to INT64_MIN.
TESSEL_HD int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
TESSEL_HD int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
TESSEL_HD int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}
TESSEL_HD int64_t wrapNeg(int64_t a) { return wrapSub(0, a); }
TESSEL_HD int64_t wrapAbs(int64_t a) { return a < 0 ? wrapNeg(a) : a; }
TESSEL_HD int64_t wrapDiv(int64_t a, int64_t b) {
  return b == 0 ? 0 : b == -1 ? wrapNeg(a) : a / b;
}
TESSEL_HD int64_t wrapRem(int64_t a, int64_t b) {
  return b == 0 || b == -1 ? 0 : a % b;
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_INTARITHMETIC_H
