//===- FusionSteps.h - The steps of a fused elementwise chain ---*- C++ -*-===//
//
// The ops a fusion step may be (executable.proto's FusionStep.op), shared by
// the host's fusion kernel and the CUDA backend's (nvcc includes this too).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_FUSIONSTEPS_H
#define TESSEL_RUNTIME_KERNELS_FUSIONSTEPS_H

#include <cstdint>

#include "runtime/kernels/HalfFloat.h"
#include "runtime/kernels/IntArithmetic.h"

namespace tessel::kernels {

enum class StepOp : int32_t {
  Load,
  Constant,
  Add,
  Sub,
  Mul,
  Div,
  Rem,
  Max,
  Min,
  Pow,
  And,
  Or,
  Xor,
  Not,
  Neg,
  Abs,
  Sign,
  Relu,
  Exp,
  Log,
  Tanh,
  Erf,
  Sqrt,
  Rsqrt,
  Reciprocal,
  Sigmoid,
  Sin,
  Cos,
  Floor,
  Ceil,
  Round,
  Compare,
  Select,
  Convert,
  Clamp,
  ShiftLeft,
  ShiftRight
};

/// A shift of an unsigned value (held in int64, non-negative) by `by`:
/// shifts of 64 or more (or negative) give 0; the store wraps to the width.
TESSEL_HD int64_t shiftLeft(int64_t value, int64_t by) {
  return by < 0 || by >= 64
             ? 0
             : static_cast<int64_t>(static_cast<uint64_t>(value) << by);
}
TESSEL_HD int64_t shiftRight(int64_t value, int64_t by) {
  return by < 0 || by >= 64
             ? 0
             : static_cast<int64_t>(static_cast<uint64_t>(value) >> by);
}

/// float or double to int64 as a convert step does: NaN to 0, saturating.
TESSEL_HD int64_t saturatingInt(double value) {
  if (value != value)
    return 0;
  if (value >= 9.2233720368547758e18)
    return INT64_MAX;
  if (value <= -9.2233720368547758e18)
    return INT64_MIN;
  return static_cast<int64_t>(value);
}

/// float or double to u64 (held as int64 bits) as a convert step does:
/// NaN to 0, saturating at 2^64 - 1; negative values wrap as their int64.
TESSEL_HD int64_t saturatingUnsigned(double value) {
  if (value >= 18446744073709551616.0)
    return -1; // All ones.
  if (value >= 9.2233720368547758e18)
    return static_cast<int64_t>(static_cast<uint64_t>(value));
  return saturatingInt(value);
}

/// base^exponent wrapping, for an unsigned exponent.
TESSEL_HD int64_t unsignedPower(int64_t base, uint64_t exponent) {
  int64_t result = 1;
  while (exponent) {
    if (exponent & 1)
      result = wrapMul(result, base);
    base = wrapMul(base, base);
    exponent >>= 1;
  }
  return result;
}

/// base^exponent in int64 (negative exponents: 0 unless base is +-1).
TESSEL_HD int64_t integerPower(int64_t base, int64_t exponent) {
  if (exponent < 0)
    return base == 1 ? 1 : base == -1 ? (exponent % 2 ? -1 : 1) : 0;
  return unsignedPower(base, static_cast<uint64_t>(exponent));
}

/// A compare step: direction 0..5 is eq, ne, lt, le, gt, ge.
template <typename T>
TESSEL_HD bool compareValues(int64_t direction, T a, T b) {
  switch (direction) {
  case 0:
    return a == b;
  case 1:
    return a != b;
  case 2:
    return a < b;
  case 3:
    return a <= b;
  case 4:
    return a > b;
  default:
    return a >= b;
  }
}

} // namespace tessel::kernels

#if !defined(__CUDACC__)
#include <string>

#include "runtime/proto/executable.pb.h"

namespace tessel::kernels {

/// A step's attributes: a constant's value, a compare's direction, a
/// clamp's bounds.
struct StepAttributes {
  double value = 0;
  int64_t direction = 0;
  bool hasMin = false, hasMax = false;
  double min = 0, max = 0;
};
StepAttributes stepAttributes(const proto::FusionStep &step);

/// The step op named `name` ("add", "exp", ...); false if there is none.
bool stepOpNamed(const std::string &name, StepOp &op);
/// How many earlier steps a step of `op` reads (a load reads an operand).
int stepArity(StepOp op);
} // namespace tessel::kernels
#endif

#endif // TESSEL_RUNTIME_KERNELS_FUSIONSTEPS_H
