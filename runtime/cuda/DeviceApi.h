//===- DeviceApi.h - What the plan runner needs of a GPU and NCCL -*- C++
//-*-===//
//
// The CUDA backend's loader and runner (PlanBackend.h) talk to a device and
// to NCCL only through these interfaces. CudaApi.h implements them with the
// CUDA runtime, cuBLAS and NCCL; HostEmulation.h implements them on host
// memory (the kernels of DeviceOps.h run in loops, GEMMs as cuBLAS defines
// them, and a fake NCCL among threads), so that everything above them is
// tested on machines without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_DEVICEAPI_H
#define TESSEL_RUNTIME_CUDA_DEVICEAPI_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cuda/LaunchPlan.h"

namespace tessel::cuda {

/// One device: memory, two streams of work (compute and communication,
/// ordered by events), and a way to see how far they have got. Work is
/// enqueued in order on its stream; errors of enqueued work may surface at
/// a later call.
class DeviceApi {
public:
  virtual ~DeviceApi() = default;
  /// What the device is, for messages ("GPU 0 (NVIDIA H100)").
  virtual std::string describe() const = 0;
  virtual absl::StatusOr<char *> allocate(uint64_t bytes) = 0;
  virtual void free(char *data) = 0;
  /// Synchronous copies between host and device memory.
  virtual absl::Status toDevice(char *device, const void *host,
                                uint64_t bytes) = 0;
  virtual absl::Status toHost(void *host, const char *device,
                              uint64_t bytes) = 0;
  /// Calls `enqueue`, which enqueues work (the calls below, or NCCL's on
  /// stream()), with `stream` as the stream that work goes on. A GPU calls
  /// it at once; the host emulation calls communication work only when
  /// something waits for it (so that a missing wait gives wrong numbers).
  virtual absl::Status
  onStream(Stream stream, const std::function<absl::Status()> &enqueue) = 0;
  /// Records event `event` (numbered from 0 in the plan) on `stream` after
  /// the work enqueued there so far.
  virtual absl::Status record(int event, Stream stream) = 0;
  /// Makes the work enqueued on `stream` from now on wait for the last
  /// record of `event`.
  virtual absl::Status waitFor(int event, Stream stream) = 0;
  /// Enqueues `count` threads of `kind` reading their parameters at
  /// `deviceParams` (host copy: `hostParams`).
  virtual absl::Status element(KernelKind kind, const void *hostParams,
                               const void *deviceParams, int64_t count) = 0;
  virtual absl::Status gemm(const GemmLaunch &gemm) = 0;
  /// Whether convolution() takes ConvLaunches (cuDNN is there).
  virtual bool hasConvolution() const { return false; }
  virtual absl::Status convolution(const ConvLaunch &) {
    return absl::UnimplementedError("this device has no convolution");
  }
  virtual absl::Status deviceCopy(void *dst, const void *src,
                                  int64_t bytes) = 0;
  /// Marks the point after the work enqueued so far on the communication
  /// stream (after an NCCL call), as marker `marker` (markers are numbered
  /// from 0 in order, once per run).
  virtual absl::Status mark(int marker) = 0;
  /// The first marker of this run not yet passed (the number of markers
  /// when all are passed but work after them is not done), or -1 when all
  /// work enqueued so far on both streams is done. Errors of the device's
  /// work surface here.
  virtual absl::StatusOr<int> progress() = 0;
  /// The stream of the onStream call in progress, for NCCL calls (null on
  /// the host).
  virtual void *stream() = 0;
};

/// NCCL's unique id, as bytes (NCCL_UNIQUE_ID_BYTES).
struct NcclId {
  char bytes[128] = {};
};

/// The NCCL calls the backend makes. Communicators are opaque handles.
class NcclApi {
public:
  virtual ~NcclApi() = default;
  virtual absl::StatusOr<NcclId> uniqueId() = 0;
  /// Joins the communicator named by `id` of `members` (device ids, by
  /// rank) as `rank`; blocks until every member has joined. (NCCL needs
  /// only their number; implementations over other transports use them.)
  virtual absl::StatusOr<void *> join(const NcclId &id,
                                      const std::vector<int> &members, int rank,
                                      DeviceApi &device) = 0;
  /// The communicators of `members` (device ids, by rank) when one
  /// process drives them all, on `devices` (by rank): ncclCommInitAll.
  virtual absl::StatusOr<std::vector<void *>>
  joinAll(const std::vector<int> &members,
          const std::vector<DeviceApi *> &devices) = 0;
  virtual absl::Status groupStart() = 0;
  virtual absl::Status groupEnd() = 0;
  virtual absl::Status allReduce(const void *send, void *receive, int64_t count,
                                 DType type, NcclReduction reduction,
                                 void *comm, void *stream) = 0;
  virtual absl::Status allGather(const void *send, void *receive, int64_t count,
                                 DType type, void *comm, void *stream) = 0;
  virtual absl::Status reduceScatter(const void *send, void *receive,
                                     int64_t count, DType type,
                                     NcclReduction reduction, void *comm,
                                     void *stream) = 0;
  virtual absl::Status send(const void *data, int64_t bytes, int peer,
                            void *comm, void *stream) = 0;
  virtual absl::Status receive(void *data, int64_t bytes, int peer, void *comm,
                               void *stream) = 0;
  /// An error NCCL met asynchronously on `comm` (a peer gone, a network
  /// failure), or OK.
  virtual absl::Status asyncError(void *comm) = 0;
  /// Ends `comm` at once, releasing whoever waits on it locally.
  virtual void abort(void *comm) = 0;
  virtual void destroy(void *comm) = 0;
};

/// Gets each group's NCCL id from its first member to the others, when
/// the devices are in several processes. Every
/// participant calls share() for every group of the executable, in the same
/// order; `root` is true on the group's first member, which passes its id.
class IdExchange {
public:
  virtual ~IdExchange() = default;
  virtual absl::StatusOr<NcclId>
  share(int group, int rootDevice, int selfDevice, const NcclId &rootId) = 0;
};

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_DEVICEAPI_H
