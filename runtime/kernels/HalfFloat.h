//===- HalfFloat.h - f16 and bf16 bits to and from float --------*- C++ -*-===//
//
// The one definition of Tessel's f16 and bf16 rounding (to nearest, ties to
// even, overflow to infinity, NaN kept), for the host kernels
// (ElementTypes.h) and, compiled by nvcc, the CUDA kernels
// (runtime/cuda/DeviceOps.h).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_HALFFLOAT_H
#define TESSEL_RUNTIME_KERNELS_HALFFLOAT_H

#include <cstdint>

#if defined(__CUDACC__)
#define TESSEL_HD __host__ __device__ inline
#else
#define TESSEL_HD inline
#include <cmath>
#endif

namespace tessel {

TESSEL_HD uint32_t floatBits(float value) {
  union {
    float f;
    uint32_t u;
  } bits{value};
  return bits.u;
}

TESSEL_HD float bitsFloat(uint32_t value) {
  union {
    uint32_t u;
    float f;
  } bits{value};
  return bits.f;
}

TESSEL_HD float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent == 0) {
    if (mantissa == 0)
      return bitsFloat(sign);
    exponent = 127 - 15 + 1; // Subnormal: normalise.
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    return bitsFloat(sign | (exponent << 23) | ((mantissa & 0x3ff) << 13));
  }
  if (exponent == 31)
    return bitsFloat(sign | 0x7f800000u | (mantissa << 13));
  return bitsFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

TESSEL_HD uint16_t floatToHalf(float value) {
  uint32_t bits = floatBits(value);
  uint32_t sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) // Inf or NaN.
    return static_cast<uint16_t>(sign | 0x7c00u |
                                 (magnitude > 0x7f800000u ? 0x200u : 0));
  if (magnitude >= 0x477ff000u) // Rounds to beyond the largest half.
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {
    // Subnormal or zero in half: multiples of 2^-24, rounded to nearest
    // even (rint's default); 1024 is the smallest normal, encoded so too.
    float scaled = bitsFloat(magnitude) * 16777216.0f;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(rintf(scaled)));
  }
  uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

TESSEL_HD float bfloatToFloat(uint16_t b) {
  return bitsFloat(static_cast<uint32_t>(b) << 16);
}

TESSEL_HD uint16_t floatToBfloat(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN stays NaN.
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

} // namespace tessel

#endif // TESSEL_RUNTIME_KERNELS_HALFFLOAT_H
