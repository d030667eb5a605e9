//===- nccl_bandwidth.cpp - NCCL bus bandwidth per collective -------------===//
//
// The way nccl-tests reports it: for each collective kind Tessel's cuda
// backend uses (all_reduce, all_gather, reduce_scatter, all_to_all as
// grouped sends and receives, and a ring of send/receive as a
// collective_permute), over message sizes from --min_bytes to --max_bytes,
// the time per call (mean of --iterations after --warmup), the algorithm
// bandwidth (bytes / time) and the bus bandwidth (algbw times the
// collective's factor: 2(n-1)/n for all_reduce, (n-1)/n for all_gather,
// reduce_scatter and all_to_all, 1 for send/receive), on the GPUs of this
// machine, one communicator per GPU from ncclCommInitAll, driven from one
// thread inside NCCL groups. Sizes are nccl-tests': the all_reduce buffer,
// all_gather's received buffer, reduce_scatter's sent buffer, all_to_all's
// per-GPU buffer, each send.
//
//===----------------------------------------------------------------------===//

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/cuda/CudaDevices.h"

ABSL_FLAG(int64_t, min_bytes, 1 << 10, "Smallest message");
ABSL_FLAG(int64_t, max_bytes, 256 << 20, "Largest message");
ABSL_FLAG(int, factor, 4, "Step between sizes");
ABSL_FLAG(int, warmup, 5, "Calls before timing");
ABSL_FLAG(int, iterations, 20, "Timed calls");
ABSL_FLAG(int, gpus, 0, "GPUs to use (0: all)");

namespace {

#define CHECK_CUDA(call)                                                       \
  do {                                                                         \
    cudaError_t error = (call);                                                \
    if (error != cudaSuccess) {                                                \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(error));      \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)
#define CHECK_NCCL(call)                                                       \
  do {                                                                         \
    ncclResult_t result = (call);                                              \
    if (result != ncclSuccess) {                                               \
      std::fprintf(stderr, "%s: %s\n", #call, ncclGetErrorString(result));     \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

struct Gpu {
  int ordinal;
  ncclComm_t comm;
  cudaStream_t stream;
  float *send = nullptr, *receive = nullptr;
};

struct Kind {
  const char *name;
  /// busbw / algbw.
  double busFactor;
  /// Enqueues one call on GPU g with `count` floats (the size / 4).
  std::function<void(Gpu &, int g, int64_t count)> call;
};

} // namespace

int main(int argc, char **argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<tessel::cuda::CudaDeviceInfo>> devices =
      tessel::cuda::listCudaDevices();
  if (!devices.ok()) {
    std::printf("nccl_bandwidth: skipped: %s\n",
                std::string(devices.status().message()).c_str());
    return 0;
  }
  int n = static_cast<int>(devices->size());
  if (absl::GetFlag(FLAGS_gpus) > 0 && absl::GetFlag(FLAGS_gpus) < n)
    n = absl::GetFlag(FLAGS_gpus);
  int64_t maxBytes = absl::GetFlag(FLAGS_max_bytes);
  std::vector<Gpu> gpus(n);
  std::vector<ncclComm_t> comms(n);
  std::vector<int> ordinals(n);
  for (int g = 0; g < n; ++g)
    ordinals[g] = g;
  CHECK_NCCL(ncclCommInitAll(comms.data(), n, ordinals.data()));
  for (int g = 0; g < n; ++g) {
    gpus[g].ordinal = g;
    gpus[g].comm = comms[g];
    CHECK_CUDA(cudaSetDevice(g));
    CHECK_CUDA(
        cudaStreamCreateWithFlags(&gpus[g].stream, cudaStreamNonBlocking));
    // all_gather receives and all_to_all moves up to max_bytes per GPU.
    CHECK_CUDA(cudaMalloc(&gpus[g].send, maxBytes));
    CHECK_CUDA(cudaMalloc(&gpus[g].receive, maxBytes));
    CHECK_CUDA(cudaMemset(gpus[g].send, 0, maxBytes));
  }
  double part = static_cast<double>(n - 1) / n;
  std::vector<Kind> kinds = {
      {"all_reduce", 2 * part,
       [](Gpu &gpu, int, int64_t count) {
         CHECK_NCCL(ncclAllReduce(gpu.send, gpu.receive, count, ncclFloat32,
                                  ncclSum, gpu.comm, gpu.stream));
       }},
      {"all_gather", part,
       [n](Gpu &gpu, int, int64_t count) {
         CHECK_NCCL(ncclAllGather(gpu.send, gpu.receive, count / n, ncclFloat32,
                                  gpu.comm, gpu.stream));
       }},
      {"reduce_scatter", part,
       [n](Gpu &gpu, int, int64_t count) {
         CHECK_NCCL(ncclReduceScatter(gpu.send, gpu.receive, count / n,
                                      ncclFloat32, ncclSum, gpu.comm,
                                      gpu.stream));
       }},
      {"all_to_all", part,
       [n](Gpu &gpu, int, int64_t count) {
         int64_t piece = count / n;
         for (int peer = 0; peer < n; ++peer) {
           CHECK_NCCL(ncclSend(gpu.send + peer * piece, piece, ncclFloat32,
                               peer, gpu.comm, gpu.stream));
           CHECK_NCCL(ncclRecv(gpu.receive + peer * piece, piece, ncclFloat32,
                               peer, gpu.comm, gpu.stream));
         }
       }},
      {"send_recv", 1.0,
       [n](Gpu &gpu, int g, int64_t count) {
         CHECK_NCCL(ncclSend(gpu.send, count, ncclFloat32, (g + 1) % n,
                             gpu.comm, gpu.stream));
         CHECK_NCCL(ncclRecv(gpu.receive, count, ncclFloat32, (g + n - 1) % n,
                             gpu.comm, gpu.stream));
       }},
  };
  std::printf("# nccl_bandwidth: %d GPUs (%s), float32, %d warmup + %d timed "
              "calls\n",
              n, devices->front().name.c_str(), absl::GetFlag(FLAGS_warmup),
              absl::GetFlag(FLAGS_iterations));
  std::printf("%-15s %12s %12s %12s %12s\n", "collective", "size (B)",
              "time (us)", "algbw GB/s", "busbw GB/s");
  for (const Kind &kind : kinds) {
    for (int64_t bytes = absl::GetFlag(FLAGS_min_bytes); bytes <= maxBytes;
         bytes *= absl::GetFlag(FLAGS_factor)) {
      int64_t count = bytes / 4 / n * n; // Divisible among the GPUs.
      if (count == 0)
        continue;
      auto round = [&] {
        CHECK_NCCL(ncclGroupStart());
        for (int g = 0; g < n; ++g)
          kind.call(gpus[g], g, count);
        CHECK_NCCL(ncclGroupEnd());
      };
      auto sync = [&] {
        for (Gpu &gpu : gpus) {
          CHECK_CUDA(cudaSetDevice(gpu.ordinal));
          CHECK_CUDA(cudaStreamSynchronize(gpu.stream));
        }
      };
      for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i)
        round();
      sync();
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < absl::GetFlag(FLAGS_iterations); ++i)
        round();
      sync();
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count() /
                       absl::GetFlag(FLAGS_iterations);
      double algbw = count * 4.0 / seconds / 1e9;
      std::printf("%-15s %12lld %12.1f %12.2f %12.2f\n", kind.name,
                  static_cast<long long>(count * 4), seconds * 1e6, algbw,
                  algbw * kind.busFactor);
    }
  }
  for (Gpu &gpu : gpus) {
    CHECK_CUDA(cudaSetDevice(gpu.ordinal));
    cudaFree(gpu.send);
    cudaFree(gpu.receive);
    cudaStreamDestroy(gpu.stream);
    ncclCommDestroy(gpu.comm);
  }
  return 0;
}
