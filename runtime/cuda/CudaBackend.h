//===- CudaBackend.h - GPUs with cuBLAS and NCCL ----------------*- C++ -*-===//
//
// DeviceApi on a GPU (device buffers from cudaMalloc, one non-blocking
// stream per device, element kernels from Kernels.cu, GEMMs on cuBLAS with
// f32 accumulation, convolutions on cuDNN where it was found, events after
// every NCCL call for the runner's deadlines) and NcclApi on NCCL
// (ncclCommInitAll when one process drives every GPU, ncclCommInitRank
// under mpirun). makeCudaBackend gives a PlanBackend that drives GPU i for
// device i from its own thread.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_CUDABACKEND_H
#define TESSEL_RUNTIME_CUDA_CUDABACKEND_H

#include <memory>

#include "runtime/Backend.h"
#include "runtime/cuda/DeviceApi.h"

namespace tessel::cuda {

/// The GPU backend, or FailedPrecondition naming what is missing (no GPU,
/// no driver). `processPerDevice`: under mpirun, rank r drives device r on
/// GPU (local rank modulo the host's GPUs), ids broadcast over MPI
/// (MpiProcesses.h); MPI must be initialized.
/// `profile`: time each instruction (LoadedExecutable::profile).
absl::StatusOr<std::unique_ptr<Backend>>
makeCudaBackend(double collectiveTimeoutSeconds, bool processPerDevice = false,
                bool profile = false);

/// GPU `ordinal` as a DeviceApi (for tests and tools).
absl::StatusOr<std::unique_ptr<DeviceApi>> makeCudaDevice(int ordinal);

/// NCCL itself.
std::shared_ptr<NcclApi> makeNccl();

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDABACKEND_H
