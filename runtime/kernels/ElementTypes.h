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
#include "runtime/kernels/HalfFloat.h"
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

inline float toFloat(Half h) { return halfToFloat(h.bits); }

/// Round to nearest, ties to even, with overflow to infinity.
inline Half toHalf(float value) { return {floatToHalf(value)}; }

inline float toFloat(BFloat16 b) { return bfloatToFloat(b.bits); }

inline BFloat16 toBFloat16(float value) { return {floatToBfloat(value)}; }

/// Bytes per element.
inline int64_t byteSize(proto::ElementType type) {
  return elementByteSize(type);
}

inline bool isFloatType(proto::ElementType type) {
  return type == proto::F32 || type == proto::F16 || type == proto::BF16 ||
         type == proto::F64;
}

/// Element `i` of integer or bool data as int64: signed types sign-extend,
/// unsigned ones (and bools) zero-extend.
inline int64_t loadInt(const void *data, proto::ElementType type, int64_t i) {
  switch (type) {
  case proto::I32:
    return static_cast<const int32_t *>(data)[i];
  case proto::I64:
    return static_cast<const int64_t *>(data)[i];
  case proto::I8:
    return static_cast<const int8_t *>(data)[i];
  case proto::I16:
    return static_cast<const int16_t *>(data)[i];
  case proto::U16:
    return static_cast<const uint16_t *>(data)[i];
  case proto::U32:
    return static_cast<const uint32_t *>(data)[i];
  case proto::U64: // Its bits: values past 2^63 read negative.
    return static_cast<int64_t>(static_cast<const uint64_t *>(data)[i]);
  default: // U8, I1
    return static_cast<const uint8_t *>(data)[i];
  }
}

/// `value` stored as element `i` of integer or bool data, wrapping to the
/// type's width (bools store value != 0).
inline void storeInt(void *data, proto::ElementType type, int64_t i,
                     int64_t value) {
  switch (type) {
  case proto::I32:
    static_cast<int32_t *>(data)[i] = static_cast<int32_t>(value);
    break;
  case proto::I64:
  case proto::U64:
    static_cast<int64_t *>(data)[i] = value;
    break;
  case proto::I8:
    static_cast<int8_t *>(data)[i] = static_cast<int8_t>(value);
    break;
  case proto::U8:
    static_cast<uint8_t *>(data)[i] = static_cast<uint8_t>(value);
    break;
  case proto::I16:
    static_cast<int16_t *>(data)[i] = static_cast<int16_t>(value);
    break;
  case proto::U16:
    static_cast<uint16_t *>(data)[i] = static_cast<uint16_t>(value);
    break;
  case proto::U32:
    static_cast<uint32_t *>(data)[i] = static_cast<uint32_t>(value);
    break;
  default: // I1
    static_cast<uint8_t *>(data)[i] = value != 0;
    break;
  }
}

/// `value` wrapped to what `type` holds (bools: value != 0), as storeInt
/// then loadInt would give.
inline int64_t wrapInt(proto::ElementType type, int64_t value) {
  switch (type) {
  case proto::I32:
    return static_cast<int32_t>(value);
  case proto::I8:
    return static_cast<int8_t>(value);
  case proto::U8:
    return static_cast<uint8_t>(value);
  case proto::I16:
    return static_cast<int16_t>(value);
  case proto::U16:
    return static_cast<uint16_t>(value);
  case proto::U32:
    return static_cast<uint32_t>(value);
  case proto::I1:
    return value != 0;
  default:
    return value;
  }
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
  case proto::F64: // Rounded: kernels that compute in float refuse f64.
    return static_cast<float>(static_cast<const double *>(data)[i]);
  case proto::U64:
    return static_cast<float>(static_cast<const uint64_t *>(data)[i]);
  default:
    return static_cast<float>(loadInt(data, type, i));
  }
}

/// Element `i` of `data` (of `type`) as double: exact for every type but
/// int64 values past 2^53.
inline double loadDouble(const void *data, proto::ElementType type,
                         int64_t i) {
  if (type == proto::F64)
    return static_cast<const double *>(data)[i];
  if (type == proto::U64)
    return static_cast<double>(static_cast<const uint64_t *>(data)[i]);
  if (isFloatType(type))
    return loadFloat(data, type, i);
  return static_cast<double>(loadInt(data, type, i));
}

/// `value` stored as element `i` of float data (nothing for other types:
/// integer results go through storeInt).
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
  case proto::F64:
    static_cast<double *>(data)[i] = value;
    break;
  default:
    break;
  }
}

/// `value` stored as element `i` of float data, rounded once to its type.
inline void storeDouble(void *data, proto::ElementType type, int64_t i,
                        double value) {
  if (type == proto::F64)
    static_cast<double *>(data)[i] = value;
  else
    storeFloat(data, type, i, static_cast<float>(value));
}

/// `value` converted to `type`, written to `bytes` (integers saturate: the
/// padding of a max over integers, -inf, is their lowest).
void encodeScalar(proto::ElementType type, double value, char *bytes);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ELEMENTTYPES_H
