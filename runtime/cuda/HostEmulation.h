//===- HostEmulation.h - The CUDA backend run on the host -------*- C++ -*-===//
//
// DeviceApi and NcclApi on host memory, so that the CUDA backend's plans,
// kernels (DeviceOps.h, the same functions nvcc compiles), loader, runner
// and collective lowering run, and are tested, where there is no GPU:
//
// - HostDeviceApi: memory is malloc'd; an element launch runs the kernel's
//   function for every thread index in a loop; a GEMM is computed as
//   cublasGemmStridedBatchedEx defines it (column-major, op(A) x op(B),
//   f16/bf16 in f32). Compute work runs at once; communication work (a
//   collective's packing, NCCL calls and unpacking) is kept in order and
//   run only when the compute stream waits for an event recorded after
//   it, or when the run's end asks for progress(): as late as a GPU could
//   run it, so that a plan missing a wait reads stale results here. (A
//   plan missing the wait before a collective, which a GPU could run too
//   early, is caught by the planner's tests, not here.)
// - FakeNccl: communicators among the threads of this process with NCCL's
//   semantics (rank-major all_gather and reduce_scatter blocks, grouped
//   sends and receives that pair up by peer and order); calls block until
//   every rank has made them, or until the timeout, and abort() releases
//   the waiters. It records the communicators made, for tests.
//
// `tessel-run --backend cuda_emulation` runs executables this way.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_HOSTEMULATION_H
#define TESSEL_RUNTIME_CUDA_HOSTEMULATION_H

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/Backend.h"
#include "runtime/cuda/DeviceApi.h"

namespace tessel::cuda {

class HostDeviceApi : public DeviceApi {
public:
  /// `convolutions`: take ConvLaunches, as a device with cuDNN does (else
  /// the plans use im2col and GEMMs).
  explicit HostDeviceApi(int device, bool convolutions = true)
      : device(device), convolutions(convolutions) {}
  std::string describe() const override;
  absl::StatusOr<char *> allocate(uint64_t bytes) override;
  void free(char *data) override;
  absl::Status toDevice(char *device, const void *host,
                        uint64_t bytes) override;
  absl::Status toHost(void *host, const char *device, uint64_t bytes) override;
  absl::Status element(KernelKind kind, const void *hostParams,
                       const void *deviceParams, int64_t count) override;
  absl::Status gemm(const GemmLaunch &gemm) override;
  bool hasConvolution() const override { return convolutions; }
  absl::Status convolution(const ConvLaunch &conv) override;
  absl::Status deviceCopy(void *dst, const void *src, int64_t bytes) override;
  absl::Status onStream(Stream stream,
                        const std::function<absl::Status()> &enqueue) override;
  absl::Status record(int event, Stream stream) override;
  absl::Status waitFor(int event, Stream stream) override;
  absl::Status mark(int) override { return absl::OkStatus(); }
  /// Runs the communication work not yet run.
  absl::StatusOr<int> progress() override;
  void *stream() override { return nullptr; }

private:
  /// Runs communication work in order until event `event`'s record (-1:
  /// all); on an error, drops the rest.
  absl::Status runCommunication(int event);

  int device;
  bool convolutions;
  /// Communication work not yet run, in order: work, or (event >= 0) the
  /// record of an event.
  struct Pending {
    std::function<absl::Status()> work;
    int event = -1;
  };
  std::deque<Pending> communication;
  /// By event: never recorded, recorded on the communication stream and
  /// not yet reached, or reached.
  enum class Event : char { Never, Pending, Reached };
  std::vector<Event> events;
};

/// cudnnConvolutionForward's y = conv(x, w) (alpha 1, beta 0, cross-
/// correlation, float accumulation) on host memory.
void emulateConvolution(const ConvLaunch &conv);

/// cublasGemmStridedBatchedEx's C = op(A) x op(B) (alpha 1, beta 0) on host
/// memory.
void emulateGemm(const GemmLaunch &gemm);

class FakeNccl : public NcclApi {
public:
  explicit FakeNccl(double timeoutSeconds = 300)
      : timeoutSeconds(timeoutSeconds) {}
  ~FakeNccl() override;

  /// A communicator as made: its id's serial, size and the joiner's rank.
  struct Joined {
    int serial, size, rank;
  };
  std::vector<Joined> joined() const;

  absl::StatusOr<NcclId> uniqueId() override;
  absl::StatusOr<void *> join(const NcclId &id, const std::vector<int> &members,
                              int rank, DeviceApi &device) override;
  absl::StatusOr<std::vector<void *>>
  joinAll(const std::vector<int> &members,
          const std::vector<DeviceApi *> &devices) override;
  absl::Status groupStart() override;
  absl::Status groupEnd() override;
  absl::Status allReduce(const void *send, void *receive, int64_t count,
                         DType type, NcclReduction reduction, void *comm,
                         void *stream) override;
  absl::Status allGather(const void *send, void *receive, int64_t count,
                         DType type, void *comm, void *stream) override;
  absl::Status reduceScatter(const void *send, void *receive, int64_t count,
                             DType type, NcclReduction reduction, void *comm,
                             void *stream) override;
  absl::Status send(const void *data, int64_t bytes, int peer, void *comm,
                    void *stream) override;
  absl::Status receive(void *data, int64_t bytes, int peer, void *comm,
                       void *stream) override;
  absl::Status asyncError(void *comm) override;
  void abort(void *comm) override;
  void destroy(void *comm) override;

  struct Clique;
  struct Comm;

private:
  double timeoutSeconds;
  mutable std::mutex mutex;
  int serials = 0;
  std::vector<std::shared_ptr<Clique>> cliques;
  std::vector<Joined> made;
};

/// The CUDA backend on the host: devices are HostDeviceApi, collectives
/// FakeNccl, each device a thread.
/// `convolutions`: as on a GPU with cuDNN (else im2col + GEMM).
/// `profile`: time each instruction (LoadedExecutable::profile).
std::unique_ptr<Backend> makeEmulationBackend(double collectiveTimeoutSeconds,
                                              bool convolutions = true,
                                              bool profile = false);

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_HOSTEMULATION_H
