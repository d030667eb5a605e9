//===- CudaPlugin.h - What the cuda plugin provides -------------*- C++ -*-===//
//
// The half of the cuda backend that calls CUDA (CudaDriver.cpp: a DeviceApi
// per GPU with cuBLAS, cuDNN and the kernels of Kernels.cu; NcclApi on NCCL)
// is a plugin, libtessel_cuda.so, as PJRT plugins and onnxruntime's
// execution providers are: tessel-run and programs embedding the runtime
// load the CUDA libraries only when asked for the cuda backend, and start
// and run on machines that have none. The plugin exports one C symbol,
// kCudaPluginSymbol, returning this table.
//
// Plugin and loader are built together from one tree and share C++ types
// (absl::Status, DeviceApi); `version` turns a stale plugin file into a
// clear error rather than a crash.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_CUDAPLUGIN_H
#define TESSEL_RUNTIME_CUDA_CUDAPLUGIN_H

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/CudaDevices.h"
#include "runtime/cuda/DeviceApi.h"

namespace tessel::cuda {

/// Bumped whenever CudaPluginApi, DeviceApi or NcclApi change.
inline constexpr int kCudaPluginVersion = 1;
inline constexpr const char *kCudaPluginSymbol = "tessel_cuda_plugin";
inline constexpr const char *kCudaPluginFile = "libtessel_cuda.so";

struct CudaPluginApi {
  int version;
  /// The GPUs, or FailedPrecondition naming what is missing.
  absl::StatusOr<std::vector<CudaDeviceInfo>> (*listDevices)();
  /// A DeviceApi driving GPU `ordinal`.
  absl::StatusOr<std::unique_ptr<DeviceApi>> (*makeDevice)(int ordinal);
  std::shared_ptr<NcclApi> (*makeNccl)();
};

/// The table of the driver this binary links, where it links one (the
/// plugin itself, and tests of the driver).
const CudaPluginApi &cudaPluginApi();

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDAPLUGIN_H
