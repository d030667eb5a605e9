//===- CudaBackend.h - GPUs, through the cuda plugin ------------*- C++ -*-===//
//
// The cuda backend: a PlanBackend (plans shared with the host emulation)
// that drives GPU i for device i from its own thread, on the DeviceApi and
// NcclApi of the cuda plugin (CudaPlugin.h). The plugin's DeviceApi: device
// buffers from cudaMalloc, one non-blocking stream per device, element
// kernels from Kernels.cu, GEMMs on cuBLAS with f32 accumulation,
// convolutions on cuDNN where it was found, events after every NCCL call
// for the runner's deadlines; its NcclApi: ncclCommInitAll when one process
// drives every GPU, ncclCommInitRank under mpirun.
//
// Nothing here links CUDA: the plugin is loaded (dlopen) on the first call.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_CUDABACKEND_H
#define TESSEL_RUNTIME_CUDA_CUDABACKEND_H

#include <memory>
#include <string>

#include "runtime/Backend.h"
#include "runtime/cuda/CudaPlugin.h"

namespace tessel::cuda {

/// The GPU backend, or FailedPrecondition naming what is missing (the
/// plugin, a CUDA library, a GPU, the driver). `processPerDevice`: under
/// mpirun, rank r drives device r on GPU (local rank modulo the host's
/// GPUs), ids broadcast over MPI (MpiProcesses.h); MPI must be initialized.
/// `profile`: time each instruction (LoadedExecutable::profile).
absl::StatusOr<std::unique_ptr<Backend>>
makeCudaBackend(double collectiveTimeoutSeconds, bool processPerDevice = false,
                bool profile = false);

/// The same on a given driver (tests link the driver, not the plugin).
absl::StatusOr<std::unique_ptr<Backend>>
makeCudaBackend(const CudaPluginApi &driver, double collectiveTimeoutSeconds,
                bool processPerDevice = false, bool profile = false);

/// The plugin's table, loaded once: the file $TESSEL_CUDA_PLUGIN when set,
/// else libtessel_cuda.so in the running executable's directory. Errors
/// name the file and why it did not load (not built: no CUDA toolkit at
/// build time; a CUDA library missing on this machine; a stale plugin).
absl::StatusOr<const CudaPluginApi *> loadCudaPlugin();

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDABACKEND_H
