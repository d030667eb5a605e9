//===- HostEmulation.cpp - The CUDA backend run on the host ---------------===//

#include "runtime/cuda/HostEmulation.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/PlanBackend.h"
#include "runtime/host/Collectives.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::cuda {
using kernels::copyBytes;

std::string HostDeviceApi::describe() const {
  return absl::StrCat("emulated GPU ", device);
}

absl::StatusOr<char *> HostDeviceApi::allocate(uint64_t bytes) {
  char *data = static_cast<char *>(std::calloc(bytes ? bytes : 1, 1));
  if (!data)
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes"));
  return data;
}

void HostDeviceApi::free(char *data) { std::free(data); }

absl::Status HostDeviceApi::toDevice(char *device, const void *host,
                                     uint64_t bytes) {
  copyBytes(device, host, static_cast<int64_t>(bytes));
  return absl::OkStatus();
}

absl::Status HostDeviceApi::toHost(void *host, const char *device,
                                   uint64_t bytes) {
  copyBytes(host, device, static_cast<int64_t>(bytes));
  return absl::OkStatus();
}

absl::Status HostDeviceApi::element(KernelKind kind, const void *,
                                    const void *deviceParams, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    runElement(kind, deviceParams, i);
  return absl::OkStatus();
}

absl::Status
HostDeviceApi::onStream(Stream stream,
                        const std::function<absl::Status()> &enqueue) {
  if (stream == Stream::Compute)
    return enqueue();
  communication.push_back({enqueue, -1});
  return absl::OkStatus();
}

absl::Status HostDeviceApi::record(int event, Stream stream) {
  if (event < 0)
    return absl::InvalidArgumentError(absl::StrCat("event ", event));
  if (static_cast<size_t>(event) >= events.size())
    events.resize(event + 1, Event::Never);
  if (stream == Stream::Compute) {
    events[event] = Event::Reached;
  } else {
    events[event] = Event::Pending;
    communication.push_back({nullptr, event});
  }
  return absl::OkStatus();
}

absl::Status HostDeviceApi::waitFor(int event, Stream stream) {
  if (event < 0 || static_cast<size_t>(event) >= events.size() ||
      events[event] == Event::Never)
    return absl::InternalError(absl::StrCat(
        describe(), ": a stream waits for event ", event, ", never recorded"));
  // The communication stream's waits hold already: compute work ran when
  // it was enqueued, and the stream's own records come in order.
  if (stream == Stream::Communication || events[event] == Event::Reached)
    return absl::OkStatus();
  return runCommunication(event);
}

absl::StatusOr<int> HostDeviceApi::progress() {
  if (absl::Status status = runCommunication(-1); !status.ok())
    return status;
  return -1;
}

absl::Status HostDeviceApi::runCommunication(int event) {
  while (!communication.empty()) {
    Pending next = std::move(communication.front());
    communication.pop_front();
    if (next.event >= 0) {
      events[next.event] = Event::Reached;
      if (next.event == event)
        return absl::OkStatus();
      continue;
    }
    if (absl::Status status = next.work(); !status.ok()) {
      communication.clear();
      return status;
    }
  }
  return absl::OkStatus();
}

void emulateGemm(const GemmLaunch &g) {
  for (int64_t batch = 0; batch < g.batch; ++batch) {
    const void *a =
        static_cast<const char *>(g.a) + batch * g.strideA * dtypeBytes(g.type);
    const void *b =
        static_cast<const char *>(g.b) + batch * g.strideB * dtypeBytes(g.type);
    void *c = static_cast<char *>(g.c) + batch * g.strideC * dtypeBytes(g.type);
    for (int64_t j = 0; j < g.n; ++j)
      for (int64_t i = 0; i < g.m; ++i) {
        float sum = 0;
        for (int64_t p = 0; p < g.k; ++p) {
          float x =
              loadFloat(a, g.type, g.transA ? p + i * g.lda : i + p * g.lda);
          float y =
              loadFloat(b, g.type, g.transB ? j + p * g.ldb : p + j * g.ldb);
          sum += x * y;
        }
        storeFloat(c, g.type, i + j * g.ldc, sum);
      }
  }
}

void emulateConvolution(const ConvLaunch &conv) {
  int64_t inPixels = 1, outPixels = 1, windowSize = 1;
  for (int d = 0; d < conv.spatial; ++d) {
    inPixels *= conv.inSize[d];
    outPixels *= conv.outSize[d];
    windowSize *= conv.window[d];
  }
  int64_t groupChannels = conv.c / conv.groups, groupOut = conv.k / conv.groups;
  int64_t o[3], w[3];
  for (int64_t image = 0; image < conv.n; ++image)
    for (int64_t k = 0; k < conv.k; ++k)
      for (int64_t q = 0; q < outPixels; ++q) {
        unravelIndex(q, conv.spatial, conv.outSize, o);
        int64_t group = k / groupOut;
        float sum = 0;
        for (int64_t c = 0; c < groupChannels; ++c)
          for (int64_t position = 0; position < windowSize; ++position) {
            unravelIndex(position, conv.spatial, conv.window, w);
            int64_t offset = 0;
            bool inside = true;
            for (int d = 0; d < conv.spatial; ++d) {
              int64_t at = o[d] * conv.strides[d] + w[d] * conv.dilations[d] -
                           conv.padding[d];
              inside = inside && at >= 0 && at < conv.inSize[d];
              offset = offset * conv.inSize[d] + at;
            }
            if (!inside)
              continue;
            int64_t channel = group * groupChannels + c;
            sum += loadFloat(conv.x, conv.type,
                             (image * conv.c + channel) * inPixels + offset) *
                   loadFloat(conv.w, conv.type,
                             (k * groupChannels + c) * windowSize + position);
          }
        storeFloat(conv.y, conv.type, (image * conv.k + k) * outPixels + q,
                   sum);
      }
}

absl::Status HostDeviceApi::convolution(const ConvLaunch &conv) {
  emulateConvolution(conv);
  return absl::OkStatus();
}

absl::Status HostDeviceApi::gemm(const GemmLaunch &gemm) {
  emulateGemm(gemm);
  return absl::OkStatus();
}

absl::Status HostDeviceApi::deviceCopy(void *dst, const void *src,
                                       int64_t bytes) {
  copyBytes(dst, src, bytes);
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// FakeNccl
//===----------------------------------------------------------------------===//

using Clock = std::chrono::steady_clock;

struct FakeNccl::Clique {
  int serial = 0, size = 0, joined = 0;
  std::mutex mutex;
  std::condition_variable changed;
  bool aborted = false;
  // Collectives: every rank's sent bytes, copied, for the current round.
  std::vector<std::vector<char>> slots;
  int arrived = 0;
  uint64_t round = 0;
  // Sends not yet received: (from, to) -> messages in order.
  std::map<std::pair<int, int>, std::deque<std::vector<char>>> mailboxes;
};

struct FakeNccl::Comm {
  std::shared_ptr<Clique> clique;
  int rank = 0;
};

namespace {

constexpr char kMagic[] = "tessel-fake-nccl";

/// Sends and receives between groupStart and groupEnd, per thread.
struct Pending {
  int depth = 0;
  struct Transfer {
    bool isSend;
    char *data;
    int64_t bytes;
    int peer;
    FakeNccl::Comm *comm;
  };
  std::vector<Transfer> transfers;
};
thread_local Pending pending;

} // namespace

FakeNccl::~FakeNccl() = default;

std::vector<FakeNccl::Joined> FakeNccl::joined() const {
  std::lock_guard<std::mutex> lock(mutex);
  return made;
}

absl::StatusOr<NcclId> FakeNccl::uniqueId() {
  std::lock_guard<std::mutex> lock(mutex);
  NcclId id;
  std::memcpy(id.bytes, kMagic, sizeof(kMagic));
  int serial = ++serials;
  std::memcpy(id.bytes + sizeof(kMagic), &serial, sizeof(serial));
  return id;
}

absl::StatusOr<void *> FakeNccl::join(const NcclId &id,
                                      const std::vector<int> &members, int rank,
                                      DeviceApi &) {
  int size = static_cast<int>(members.size());
  if (std::memcmp(id.bytes, kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError("not an id of this fake NCCL");
  int serial;
  std::memcpy(&serial, id.bytes + sizeof(kMagic), sizeof(serial));
  if (rank < 0 || rank >= size)
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " of a communicator of ", size));
  std::shared_ptr<Clique> clique;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::shared_ptr<Clique> &c : cliques)
      if (c->serial == serial)
        clique = c;
    if (!clique) {
      clique = std::make_shared<Clique>();
      clique->serial = serial;
      clique->size = size;
      clique->slots.resize(size);
      cliques.push_back(clique);
    }
    if (clique->size != size)
      return absl::InvalidArgumentError(
          absl::StrCat("ranks disagree on the size of communicator ", serial));
    made.push_back({serial, size, rank});
  }
  std::unique_lock<std::mutex> lock(clique->mutex);
  ++clique->joined;
  clique->changed.notify_all();
  auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(timeoutSeconds));
  if (!clique->changed.wait_until(lock, deadline, [&] {
        return clique->joined >= size || clique->aborted;
      }))
    return absl::DeadlineExceededError(
        absl::StrCat("only ", clique->joined, " of ", size,
                     " ranks joined within ", timeoutSeconds, " s"));
  if (clique->aborted)
    return absl::AbortedError("communicator aborted");
  auto *comm = new Comm;
  comm->clique = clique;
  comm->rank = rank;
  return static_cast<void *>(comm);
}

absl::StatusOr<std::vector<void *>>
FakeNccl::joinAll(const std::vector<int> &members,
                  const std::vector<DeviceApi *> &devices) {
  if (members.size() != devices.size())
    return absl::InvalidArgumentError("one device per member");
  auto clique = std::make_shared<Clique>();
  clique->size = static_cast<int>(members.size());
  clique->joined = clique->size;
  clique->slots.resize(clique->size);
  std::vector<void *> comms;
  std::lock_guard<std::mutex> lock(mutex);
  clique->serial = ++serials;
  cliques.push_back(clique);
  for (int rank = 0; rank < clique->size; ++rank) {
    auto *comm = new Comm;
    comm->clique = clique;
    comm->rank = rank;
    comms.push_back(comm);
    made.push_back({clique->serial, clique->size, rank});
  }
  return comms;
}

namespace {

/// Every rank deposits `send` (`bytes`), all wait for each other, and each
/// computes its output from all deposits with `work`; a second meeting
/// keeps the deposits until all are done.
template <typename Work>
absl::Status meet(FakeNccl::Clique &clique, int rank, const void *send,
                  int64_t bytes, double timeoutSeconds, const char *what,
                  Work work) {
  auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(timeoutSeconds));
  auto barrier = [&](std::unique_lock<std::mutex> &lock) -> absl::Status {
    uint64_t round = clique.round;
    if (++clique.arrived == clique.size) {
      clique.arrived = 0;
      ++clique.round;
      clique.changed.notify_all();
      return absl::OkStatus();
    }
    if (!clique.changed.wait_until(lock, deadline, [&] {
          return clique.round != round || clique.aborted;
        }))
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": rank ", rank, " waited ", timeoutSeconds,
                       " s for the other ranks"));
    if (clique.aborted)
      return absl::AbortedError(absl::StrCat(what, ": communicator aborted"));
    return absl::OkStatus();
  };
  std::unique_lock<std::mutex> lock(clique.mutex);
  if (clique.aborted)
    return absl::AbortedError(absl::StrCat(what, ": communicator aborted"));
  const char *from = static_cast<const char *>(send);
  clique.slots[rank].assign(from, from + bytes);
  if (absl::Status status = barrier(lock); !status.ok())
    return status;
  for (int r = 0; r < clique.size; ++r)
    if (clique.slots[r].size() != clique.slots[rank].size())
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ranks ", rank, " and ", r, " sent ",
                       clique.slots[rank].size(), " and ",
                       clique.slots[r].size(), " bytes"));
  lock.unlock();
  work(clique.slots);
  lock.lock();
  return barrier(lock);
}

} // namespace

absl::Status FakeNccl::allReduce(const void *send, void *receive, int64_t count,
                                 DType type, NcclReduction reduction,
                                 void *comm, void *) {
  Comm *c = static_cast<Comm *>(comm);
  int64_t bytes = count * dtypeBytes(type);
  return meet(*c->clique, c->rank, send, bytes, timeoutSeconds, "all_reduce",
              [&](const std::vector<std::vector<char>> &slots) {
                std::vector<char> sum = slots[0];
                for (size_t r = 1; r < slots.size(); ++r)
                  reduceInto(protoTypeOf(type), hostReduction(reduction),
                             sum.data(), slots[r].data(), count);
                copyBytes(receive, sum.data(), bytes);
              });
}

absl::Status FakeNccl::allGather(const void *send, void *receive, int64_t count,
                                 DType type, void *comm, void *) {
  Comm *c = static_cast<Comm *>(comm);
  int64_t bytes = count * dtypeBytes(type);
  return meet(*c->clique, c->rank, send, bytes, timeoutSeconds, "all_gather",
              [&](const std::vector<std::vector<char>> &slots) {
                for (size_t r = 0; r < slots.size(); ++r)
                  copyBytes(static_cast<char *>(receive) + r * bytes,
                            slots[r].data(), bytes);
              });
}

absl::Status FakeNccl::reduceScatter(const void *send, void *receive,
                                     int64_t count, DType type,
                                     NcclReduction reduction, void *comm,
                                     void *) {
  Comm *c = static_cast<Comm *>(comm);
  int64_t bytes = count * dtypeBytes(type);
  int size = c->clique->size;
  return meet(
      *c->clique, c->rank, send, bytes * size, timeoutSeconds, "reduce_scatter",
      [&](const std::vector<std::vector<char>> &slots) {
        std::vector<char> sum(slots[0].begin() + c->rank * bytes,
                              slots[0].begin() + (c->rank + 1) * bytes);
        for (size_t r = 1; r < slots.size(); ++r)
          reduceInto(protoTypeOf(type), hostReduction(reduction), sum.data(),
                     slots[r].data() + c->rank * bytes, count);
        copyBytes(receive, sum.data(), bytes);
      });
}

absl::Status FakeNccl::groupStart() {
  ++pending.depth;
  return absl::OkStatus();
}

absl::Status FakeNccl::groupEnd() {
  if (pending.depth == 0)
    return absl::FailedPreconditionError("groupEnd without groupStart");
  if (--pending.depth > 0)
    return absl::OkStatus();
  std::vector<Pending::Transfer> transfers;
  transfers.swap(pending.transfers);
  // Sends never wait (they are buffered), so grouped calls cannot deadlock.
  for (const Pending::Transfer &t : transfers) {
    if (!t.isSend)
      continue;
    Clique &clique = *t.comm->clique;
    std::lock_guard<std::mutex> lock(clique.mutex);
    clique.mailboxes[{t.comm->rank, t.peer}].emplace_back(t.data,
                                                          t.data + t.bytes);
    clique.changed.notify_all();
  }
  for (const Pending::Transfer &t : transfers) {
    if (t.isSend)
      continue;
    Clique &clique = *t.comm->clique;
    std::unique_lock<std::mutex> lock(clique.mutex);
    auto &box = clique.mailboxes[{t.peer, t.comm->rank}];
    auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(timeoutSeconds));
    if (!clique.changed.wait_until(
            lock, deadline, [&] { return !box.empty() || clique.aborted; }))
      return absl::DeadlineExceededError(
          absl::StrCat("receive: rank ", t.comm->rank, " waited ",
                       timeoutSeconds, " s for rank ", t.peer));
    if (clique.aborted)
      return absl::AbortedError("receive: communicator aborted");
    if (static_cast<int64_t>(box.front().size()) != t.bytes)
      return absl::InvalidArgumentError(absl::StrCat(
          "receive: rank ", t.comm->rank, " expected ", t.bytes,
          " bytes from rank ", t.peer, ", which sent ", box.front().size()));
    copyBytes(t.data, box.front().data(), t.bytes);
    box.pop_front();
  }
  return absl::OkStatus();
}

absl::Status FakeNccl::send(const void *data, int64_t bytes, int peer,
                            void *comm, void *) {
  Comm *c = static_cast<Comm *>(comm);
  if (peer < 0 || peer >= c->clique->size)
    return absl::InvalidArgumentError(absl::StrCat("send to rank ", peer));
  ++pending.depth;
  pending.transfers.push_back(
      {true, const_cast<char *>(static_cast<const char *>(data)), bytes, peer,
       c});
  return groupEnd();
}

absl::Status FakeNccl::receive(void *data, int64_t bytes, int peer, void *comm,
                               void *) {
  Comm *c = static_cast<Comm *>(comm);
  if (peer < 0 || peer >= c->clique->size)
    return absl::InvalidArgumentError(absl::StrCat("receive from rank ", peer));
  ++pending.depth;
  pending.transfers.push_back(
      {false, static_cast<char *>(data), bytes, peer, c});
  return groupEnd();
}

absl::Status FakeNccl::asyncError(void *comm) {
  Comm *c = static_cast<Comm *>(comm);
  std::lock_guard<std::mutex> lock(c->clique->mutex);
  return c->clique->aborted ? absl::AbortedError("communicator aborted")
                            : absl::OkStatus();
}

void FakeNccl::abort(void *comm) {
  Comm *c = static_cast<Comm *>(comm);
  std::lock_guard<std::mutex> lock(c->clique->mutex);
  c->clique->aborted = true;
  c->clique->changed.notify_all();
}

void FakeNccl::destroy(void *comm) { delete static_cast<Comm *>(comm); }

std::unique_ptr<Backend> makeEmulationBackend(double collectiveTimeoutSeconds,
                                              bool convolutions, bool profile) {
  return std::make_unique<PlanBackend>(
      "cuda_emulation",
      [convolutions](int device,
                     int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<HostDeviceApi>(device, convolutions);
      },
      std::make_shared<FakeNccl>(collectiveTimeoutSeconds),
      collectiveTimeoutSeconds, nullptr, profile);
}

} // namespace tessel::cuda
