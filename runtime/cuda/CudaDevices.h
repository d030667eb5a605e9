//===- CudaDevices.h - The GPUs this process can use ------------*- C++ -*-===//
//
// Device discovery for the CUDA backend. A machine without a GPU or without a
// driver is not an error of the program but of the environment: it is reported
// as a FailedPrecondition status that says what was looked for.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_CUDADEVICES_H
#define TESSEL_RUNTIME_CUDA_CUDADEVICES_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::cuda {

struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int computeCapabilityMajor = 0;
  int computeCapabilityMinor = 0;
  int64_t memoryBytes = 0;
};

/// The visible GPUs, or FailedPrecondition when there are none (no driver, no
/// device, or CUDA_VISIBLE_DEVICES hides them all).
absl::StatusOr<std::vector<CudaDeviceInfo>> listCudaDevices();

/// NCCL's version as "major.minor.patch".
absl::StatusOr<std::string> ncclVersionString();

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDADEVICES_H
