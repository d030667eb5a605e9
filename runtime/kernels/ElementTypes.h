//===- ElementTypes.h - Element types of host kernels -----------*- C++ -*-===//
//
// Storage types of the six element types and conversions to the types
// kernels compute in: f16 and bf16 compute as float, i1 is one byte (0 or 1).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ELEMENTTYPES_H
#define TESSEL_RUNTIME_KERNELS_ELEMENTTYPES_H

#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/ElementType.h"
#include "runtime/proto/types.pb.h"

namespace tessel::kernels {

/// IEEE half precision, stored as bits.
struct Half {
  uint16_t bits;
};
/// bfloat16, stored as bits: the top half of a float.
struct BFloat16 {
  uint16_t bits;
};

inline float toFloat(Half h) {
  uint32_t sign = (h.bits & 0x8000u) << 16;
  uint32_t exponent = (h.bits >> 10) & 0x1f;
  uint32_t mantissa = h.bits & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { // Subnormal: normalise.
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

/// Round to nearest, ties to even, with overflow to infinity.
inline Half toHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) // Inf or NaN.
    return {static_cast<uint16_t>(sign | 0x7c00u |
                                  (magnitude > 0x7f800000u ? 0x200u : 0))};
  if (magnitude >= 0x477ff000u) // Rounds to beyond the largest half.
    return {static_cast<uint16_t>(sign | 0x7c00u)};
  if (magnitude < 0x38800000u) { // Subnormal or zero in half.
    // Multiples of 2^-24, rounded to nearest even; 1024 is the smallest
    // normal, whose encoding is also 1024.
    float absolute;
    std::memcpy(&absolute, &magnitude, 4);
    return {static_cast<uint16_t>(
        sign | static_cast<uint32_t>(std::nearbyint(absolute * 16777216.0f)))};
  }
  uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return {static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13))};
}

inline float toFloat(BFloat16 b) {
  uint32_t bits = static_cast<uint32_t>(b.bits) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

inline BFloat16 toBFloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN stays NaN.
    return {static_cast<uint16_t>((bits >> 16) | 0x40u)};
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return {static_cast<uint16_t>(bits >> 16)};
}

/// Bytes per element.
inline int64_t byteSize(proto::ElementType type) {
  return elementByteSize(type);
}

inline bool isFloatType(proto::ElementType type) {
  return type == proto::F32 || type == proto::F16 || type == proto::BF16;
}

/// Element `i` of `data` (of `type`) as float.
inline float loadFloat(const void *data, proto::ElementType type, int64_t i) {
  switch (type) {
  case proto::F32:
    return static_cast<const float *>(data)[i];
  case proto::F16:
    return toFloat(static_cast<const Half *>(data)[i]);
  case proto::BF16:
    return toFloat(static_cast<const BFloat16 *>(data)[i]);
  case proto::I32:
    return static_cast<float>(static_cast<const int32_t *>(data)[i]);
  case proto::I64:
    return static_cast<float>(static_cast<const int64_t *>(data)[i]);
  default:
    return static_cast<const uint8_t *>(data)[i];
  }
}

inline void storeFloat(void *data, proto::ElementType type, int64_t i,
                       float value) {
  switch (type) {
  case proto::F32:
    static_cast<float *>(data)[i] = value;
    break;
  case proto::F16:
    static_cast<Half *>(data)[i] = toHalf(value);
    break;
  case proto::BF16:
    static_cast<BFloat16 *>(data)[i] = toBFloat16(value);
    break;
  default:
    break;
  }
}

/// Element `i` of integer or bool data as int64.
inline int64_t loadInt(const void *data, proto::ElementType type, int64_t i) {
  switch (type) {
  case proto::I32:
    return static_cast<const int32_t *>(data)[i];
  case proto::I64:
    return static_cast<const int64_t *>(data)[i];
  default:
    return static_cast<const uint8_t *>(data)[i];
  }
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ELEMENTTYPES_H
