//===- CollectiveStream.h - A device's collectives on a thread --*- C++ -*-===//
//
// What runs a device's asynchronous collectives (proto::Collective::async)
// while the device runs its kernels: a thread of its own that takes the
// collectives in the order they are submitted, each to the end, as a CUDA
// stream runs its work. Every device submits the same collectives in the
// same order, so two streams never wait for each other crosswise. A
// collective that is not asynchronous runs on the device's thread when
// nothing is in flight, and is otherwise submitted too and waited for at
// once: a device's collectives run in program order and never two at a
// time (the backends' groups are not made for concurrent calls from one
// member, nor MPI, initialised serialized).
//
// Nothing is allocated per run: the queue holds at most `capacity`
// collectives (the program's count), and the function that runs them is
// borrowed for the run (begin .. drain).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_COLLECTIVESTREAM_H
#define TESSEL_RUNTIME_HOST_COLLECTIVESTREAM_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace tessel {

/// What a collective's loop waiting for its peers calls between polls
/// (`spins` so far): after a few thousand, it yields the core; on a
/// stream's thread while its device is still computing (not yet waiting
/// for the stream), it sleeps a little instead, leaving the core to the
/// kernels rather than polling against them.
void pauseWhilePolling(int spins);
/// Whether the calling thread is a stream's, running collectives beside
/// its device's kernels: a blocking call that polls inside MPI would take
/// a core from them; a non-blocking one polled with pauseWhilePolling
/// does not.
bool onCollectiveStream();

class CollectiveStream {
public:
  /// Runs the collective of instruction `index`.
  using RunFn = std::function<absl::Status(int index)>;

  /// A stream for at most `capacity` collectives submitted per run.
  explicit CollectiveStream(int capacity);
  ~CollectiveStream();
  CollectiveStream(const CollectiveStream &) = delete;
  CollectiveStream &operator=(const CollectiveStream &) = delete;

  /// Starts a run: `run` runs each collective submitted until drain().
  void begin(const RunFn *run);
  /// Queues instruction `index`'s collective; returns its ticket.
  int64_t submit(int index);
  /// Waits until the collective of `ticket` has run: its status, and the
  /// seconds it took on the stream.
  absl::Status wait(int64_t ticket, double *seconds = nullptr);
  /// Whether everything submitted has run: a collective that is not
  /// asynchronous may then run on the caller's thread, in order.
  bool idle() const;
  /// Waits for everything submitted (as a run ends, also after a failure:
  /// the run's buffers must outlive its collectives).
  void drain();

private:
  void loop();

  struct Slot {
    int index = -1;
    absl::Status status;
    double seconds = 0;
  };
  std::vector<Slot> slots; // Ring of `capacity`, by ticket.
  const RunFn *run = nullptr;
  std::mutex mutex;
  std::condition_variable submitted, finished;
  /// Tickets handed out this run, and how many have finished (the next
  /// to run), under `mutex`; `done` is also read without it.
  int64_t tickets = 0;
  std::atomic<int64_t> done{0};
  /// Whether the device waits for this stream (in wait()).
  std::atomic<bool> waitedFor{false};
  bool stopping = false;
  std::thread thread;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_COLLECTIVESTREAM_H
