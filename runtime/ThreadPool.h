//===- ThreadPool.h - The cores kernels run on ------------------*- C++ -*-===//
//
// A fixed set of worker threads and one primitive: split [0, n) into chunks
// and run them on all threads, the caller included, returning when all are
// done. Kernels parallelise through it rather than spawning threads. Idle
// workers spin briefly before sleeping, as kernels follow each other fast.
// The caller waits for the chunks, not for the workers: on a loaded machine
// a worker the scheduler has not run yet costs nothing, the caller running
// the chunks it would have taken. A call allocates nothing: the body is
// borrowed (absl::FunctionRef), and the task record is one of a fixed set
// made with the pool: one more than there are workers, so that even with
// every worker still holding an earlier record (woken late, about to find
// no chunk left), one is free.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_THREADPOOL_H
#define TESSEL_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace tessel {

class ThreadPool {
public:
  /// `threads` workers in all, the calling thread counted; 0 means one per
  /// hardware thread. Each worker calls `onStart` (when given) before its
  /// first task: a library's per-thread state made there is not made by
  /// whichever task a worker happens to pick up first. The constructor
  /// returns once every worker has (or after 10 s, on a machine too loaded
  /// to start them): their start-up is not part of the first run.
  explicit ThreadPool(int threads = 0, std::function<void()> onStart = nullptr);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int size() const { return static_cast<int>(workers.size()) + 1; }

  /// Runs `body(begin, end)` over chunks covering [0, n), each at least
  /// `grain` long (except the last), on all threads. Not reentrant: a body
  /// must not call parallelFor.
  void parallelFor(int64_t n, int64_t grain,
                   absl::FunctionRef<void(int64_t, int64_t)> body);

private:
  /// One parallelFor: its chunks, claimed with an atomic counter. Workers
  /// hold it while they look for chunks, so that one waking late finds
  /// none (and never touches the body, which may be gone) rather than a
  /// later task's.
  struct Task {
    const absl::FunctionRef<void(int64_t, int64_t)> *body = nullptr;
    int64_t size = 0, chunk = 0, chunks = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    /// Workers holding this record: taken under `mutex`, dropped without.
    std::atomic<int> holders{0};
  };

  void workerLoop(int index, const std::function<void()> &onStart);
  /// Claims and runs chunks of `task` until none is left.
  static void runChunks(Task &task);

  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake;
  /// workers.size() + 1 records, made with the pool and never moved.
  std::vector<std::unique_ptr<Task>> tasks;
  Task *current = nullptr; // Published under `mutex`.
  std::atomic<uint64_t> generation{0};
  bool stopping = false;
  /// Workers past `onStart` (under `mutex`; `wake` signals each).
  int started = 0;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_THREADPOOL_H
