//===- FillKernel.h - Set a device buffer to one value ----------*- C++ -*-===//

#ifndef TESSEL_RUNTIME_CUDA_FILLKERNEL_H
#define TESSEL_RUNTIME_CUDA_FILLKERNEL_H

#include <cuda_runtime.h>

#include <cstdint>

namespace tessel::cuda {

/// Enqueues `buffer[0..count) = value` on `stream`. Used to initialise padding
/// with a reduction's identity and accumulators with zero.
cudaError_t launchFill(float *buffer, float value, int64_t count,
                       cudaStream_t stream);

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_FILLKERNEL_H
