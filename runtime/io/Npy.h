//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Reads and writes .npy (format versions 1.0 to 3.0, little-endian, C
// order) for the element types Tessel has a NumPy dtype for: float32,
// float16, int32, int64 and bool. bfloat16 has no NumPy dtype.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_IO_NPY_H
#define TESSEL_RUNTIME_IO_NPY_H

#include <string>

#include "absl/status/statusor.h"
#include "runtime/Backend.h"

namespace tessel {

absl::StatusOr<HostTensor> readNpy(const std::string &path);
absl::Status writeNpy(const std::string &path, const HostTensor &tensor);

} // namespace tessel

#endif // TESSEL_RUNTIME_IO_NPY_H
