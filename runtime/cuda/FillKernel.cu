//===- FillKernel.cu - Set a device buffer to one value -------------------===//

#include "runtime/cuda/FillKernel.h"

namespace tessel::cuda {
namespace {

__global__ void fillKernel(float *buffer, float value, int64_t count) {
  // Grid-stride loop: any grid size covers any count.
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    buffer[i] = value;
}

} // namespace

cudaError_t launchFill(float *buffer, float value, int64_t count,
                       cudaStream_t stream) {
  if (count <= 0)
    return cudaSuccess;
  constexpr int kThreads = 256;
  constexpr int64_t kMaxBlocks = 4096;
  int64_t blocks = (count + kThreads - 1) / kThreads;
  if (blocks > kMaxBlocks)
    blocks = kMaxBlocks;
  fillKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      buffer, value, count);
  return cudaGetLastError();
}

} // namespace tessel::cuda
