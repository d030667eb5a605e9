//===- CollectiveTensors.h - Buffers for collective tests -------*- C++ -*-===//
//
// Shared by the host collectives' test and the MPI collectives' test: a
// local tensor with its storage, and each member's input.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_TESTS_UNIT_RUNTIME_COLLECTIVETENSORS_H
#define TESSEL_TESTS_UNIT_RUNTIME_COLLECTIVETENSORS_H

#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/host/Collectives.h"
#include "runtime/kernels/ElementTypes.h"

namespace tessel::testing {

/// A local tensor with its storage (zeros).
struct Tensor {
  CollectiveBuffer buffer;
  std::vector<char> storage;

  Tensor(proto::ElementType type, std::vector<int64_t> dims) {
    int64_t count = 1;
    for (int64_t d : dims)
      count *= d;
    storage.assign(std::max<int64_t>(count, 1) * kernels::byteSize(type), 0);
    buffer = {type, {dims.begin(), dims.end()}, storage.data()};
  }
  int64_t count() const {
    return static_cast<int64_t>(storage.size()) /
           kernels::byteSize(buffer.type);
  }
  /// Element i as a double (integers and bools too).
  double at(int64_t i) const {
    return kernels::loadDouble(buffer.data, buffer.type, i);
  }
  void set(int64_t i, double value) {
    if (kernels::isFloatType(buffer.type))
      kernels::storeDouble(buffer.data, buffer.type, i, value);
    else // Integers and bools.
      kernels::storeInt(buffer.data, buffer.type, i,
                        static_cast<int64_t>(value));
  }
};

/// Member `rank`'s input value at `i`: small integers, some negative
/// (unsigned types hold those wrapped: near their largest values).
inline double inputValue(proto::ElementType type, int rank, int64_t i) {
  if (type == proto::I1)
    return (rank + i) % 3 == 0;
  int64_t value = (rank * 7 + i * 3) % 13 - 6;
  if (!kernels::isFloatType(type))
    value = kernels::wrapInt(type, value);
  return static_cast<double>(value);
}

} // namespace tessel::testing

#endif // TESSEL_TESTS_UNIT_RUNTIME_COLLECTIVETENSORS_H
