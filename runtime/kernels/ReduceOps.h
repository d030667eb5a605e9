//===- ReduceOps.h - What a reduction does with each element ----*- C++ -*-===//
//
// The reduce op's semantics, one definition for the host kernel and (through
// nvcc) the CUDA kernel: float types accumulate in double and NaN wins max
// and min; integer types accumulate in int64; a mean divides by the count
// (NaN, or 0 for integers, when it is 0). u64 accumulates as uint64
// (wrapping, compared unsigned).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_REDUCEOPS_H
#define TESSEL_RUNTIME_KERNELS_REDUCEOPS_H

#include <cstdint>

#include "runtime/kernels/HalfFloat.h"
#include "runtime/kernels/IntArithmetic.h"

namespace tessel::kernels {

enum class ReduceKind : int32_t { Sum, Max, Min, Mean, Prod };

/// The accumulator's start: double for float types, int64 for the others.
template <typename T> TESSEL_HD T reduceStart(ReduceKind kind);
template <> TESSEL_HD double reduceStart<double>(ReduceKind kind) {
  return kind == ReduceKind::Max    ? -INFINITY
         : kind == ReduceKind::Min  ? INFINITY
         : kind == ReduceKind::Prod ? 1.0
                                    : 0.0;
}
template <> TESSEL_HD int64_t reduceStart<int64_t>(ReduceKind kind) {
  return kind == ReduceKind::Max    ? INT64_MIN
         : kind == ReduceKind::Min  ? INT64_MAX
         : kind == ReduceKind::Prod ? 1
                                    : 0;
}

template <> TESSEL_HD uint64_t reduceStart<uint64_t>(ReduceKind kind) {
  return kind == ReduceKind::Max    ? 0
         : kind == ReduceKind::Min  ? UINT64_MAX
         : kind == ReduceKind::Prod ? 1
                                    : 0;
}

/// The accumulator after element `x`.
template <typename T> TESSEL_HD T reduceStep(ReduceKind kind, T acc, T x) {
  switch (kind) {
  case ReduceKind::Prod:
    return acc * x;
  case ReduceKind::Max:
    return (x > acc || x != x) ? x : acc; // NaN (x != x) wins.
  case ReduceKind::Min:
    return (x < acc || x != x) ? x : acc;
  default:
    return acc + x;
  }
}
/// Integers wrap on overflow.
template <>
TESSEL_HD int64_t reduceStep<int64_t>(ReduceKind kind, int64_t acc,
                                      int64_t x) {
  switch (kind) {
  case ReduceKind::Prod:
    return wrapMul(acc, x);
  case ReduceKind::Max:
    return x > acc ? x : acc;
  case ReduceKind::Min:
    return x < acc ? x : acc;
  default:
    return wrapAdd(acc, x);
  }
}

/// The result from the accumulator of `count` elements.
TESSEL_HD double reduceFinish(ReduceKind kind, double acc, int64_t count) {
  if (kind != ReduceKind::Mean)
    return acc;
  return count ? acc / count : NAN;
}
TESSEL_HD int64_t reduceFinish(ReduceKind kind, int64_t acc, int64_t count) {
  if (kind != ReduceKind::Mean)
    return acc;
  return count ? acc / count : 0;
}
TESSEL_HD uint64_t reduceFinish(ReduceKind kind, uint64_t acc,
                                int64_t count) {
  if (kind != ReduceKind::Mean)
    return acc;
  return count ? acc / static_cast<uint64_t>(count) : 0;
}

} // namespace tessel::kernels

#if !defined(__CUDACC__)
#include <string>

namespace tessel::kernels {
/// The reduction named `name` (sum, max, min, mean, prod); false if none.
inline bool reduceKindNamed(const std::string &name, ReduceKind &kind) {
  const char *names[] = {"sum", "max", "min", "mean", "prod"};
  for (int k = 0; k < 5; ++k)
    if (name == names[k]) {
      kind = static_cast<ReduceKind>(k);
      return true;
    }
  return false;
}
} // namespace tessel::kernels
#endif

#endif // TESSEL_RUNTIME_KERNELS_REDUCEOPS_H
