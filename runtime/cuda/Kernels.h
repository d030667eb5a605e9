//===- Kernels.h - Launching the element kernels on a stream ----*- C++ -*-===//

#ifndef TESSEL_RUNTIME_CUDA_KERNELS_H
#define TESSEL_RUNTIME_CUDA_KERNELS_H

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/cuda/DeviceOps.h"

namespace tessel::cuda {

/// Enqueues `count` threads of `kind` (DeviceOps.h) on `stream`, reading
/// their parameters at `params` (device memory).
cudaError_t launchElement(KernelKind kind, const void *params, int64_t count,
                          cudaStream_t stream);

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_KERNELS_H
