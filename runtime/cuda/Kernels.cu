//===- Kernels.cu - The element kernels on the GPU ------------------------===//
//
// One kernel runs every kind of DeviceOps.h: a grid-stride loop calling the
// same function the host emulation calls (the kind is uniform over a launch,
// so its switch does not diverge).
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/Kernels.h"

namespace tessel::cuda {

__global__ void elementKernel(KernelKind kind, const void *params,
                              int64_t count) {
  int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < count; i += step)
    runElement(kind, params, i);
}

cudaError_t launchElement(KernelKind kind, const void *params, int64_t count,
                          cudaStream_t stream) {
  if (count <= 0)
    return cudaSuccess;
  // Fusions keep their step values in local memory: smaller blocks.
  int threads = kind == KernelKind::Fusion ? 128 : 256;
  int64_t blocks = (count + threads - 1) / threads;
  if (blocks > (1 << 20))
    blocks = 1 << 20;
  elementKernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      kind, params, count);
  return cudaGetLastError();
}

} // namespace tessel::cuda
