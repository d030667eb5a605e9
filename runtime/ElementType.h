//===- ElementType.h - Sizes of Tessel's element types ----------*- C++ -*-===//

#ifndef TESSEL_RUNTIME_ELEMENTTYPE_H
#define TESSEL_RUNTIME_ELEMENTTYPE_H

#include <cstdint>

#include "runtime/proto/types.pb.h"

namespace tessel {

/// Bytes per element of `type` (i1 takes a byte), or 0 for an unspecified
/// type.
inline int64_t elementByteSize(proto::ElementType type) {
  switch (type) {
  case proto::F32:
  case proto::I32:
  case proto::U32:
    return 4;
  case proto::F16:
  case proto::BF16:
  case proto::I16:
  case proto::U16:
    return 2;
  case proto::I64:
  case proto::U64:
  case proto::F64:
    return 8;
  case proto::I1:
  case proto::I8:
  case proto::U8:
    return 1;
  default:
    return 0;
  }
}

/// The product of `values` times `scale` (the element count, or with
/// `scale` the bytes, of a shape read from a file), or -1 when a value is
/// negative or the product does not fit in int64_t.
template <typename Range>
int64_t checkedProduct(const Range &values, int64_t scale = 1) {
  int64_t product = scale;
  for (int64_t value : values)
    if (value < 0 || __builtin_mul_overflow(product, value, &product))
      return -1;
  return product;
}

} // namespace tessel

#endif // TESSEL_RUNTIME_ELEMENTTYPE_H
