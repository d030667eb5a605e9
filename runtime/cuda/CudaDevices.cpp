//===- CudaDevices.cpp - The GPUs this process can use --------------------===//

#include "runtime/cuda/CudaDevices.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include "absl/strings/str_cat.h"

namespace tessel::cuda {

absl::StatusOr<std::vector<CudaDeviceInfo>> listCudaDevices() {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    std::string reason = error == cudaSuccess
                             ? std::string("the driver reports 0 devices")
                             : absl::StrCat(cudaGetErrorName(error), ": ",
                                            cudaGetErrorString(error));
    // Leave no sticky error behind for later CUDA calls of this thread.
    cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device available (", reason,
                     "); the cuda backend needs an NVIDIA GPU and driver"));
  }
  std::vector<CudaDeviceInfo> devices;
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    cudaDeviceProp properties;
    error = cudaGetDeviceProperties(&properties, ordinal);
    if (error != cudaSuccess)
      return absl::InternalError(
          absl::StrCat("cudaGetDeviceProperties(", ordinal,
                       ") failed: ", cudaGetErrorString(error)));
    devices.push_back({ordinal, properties.name, properties.major,
                       properties.minor,
                       static_cast<int64_t>(properties.totalGlobalMem)});
  }
  return devices;
}

absl::StatusOr<std::string> ncclVersionString() {
  int version = 0;
  ncclResult_t result = ncclGetVersion(&version);
  if (result != ncclSuccess)
    return absl::InternalError(
        absl::StrCat("ncclGetVersion failed: ", ncclGetErrorString(result)));
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return absl::StrCat(version / 10000, ".", (version / 100) % 100, ".",
                      version % 100);
}

} // namespace tessel::cuda
