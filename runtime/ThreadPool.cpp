//===- ThreadPool.cpp - The cores kernels run on --------------------------===//
//
// Kernels call parallelFor hundreds of times per run, often for a fraction
// of a millisecond of work: waking a sleeping thread would cost more than
// the work. Workers therefore spin for a while on the task generation
// before they sleep, and chunks are claimed with an atomic counter.
//
//===----------------------------------------------------------------------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tessel {
namespace {

inline void pause() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

/// How long a worker spins for the next task before sleeping.
constexpr auto kSpin = std::chrono::microseconds(200);

} // namespace

ThreadPool::ThreadPool(int threads, std::function<void()> onStart) {
  if (threads <= 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < threads; ++i)
    tasks.push_back(std::make_unique<Task>());
  for (int i = 1; i < threads; ++i)
    workers.emplace_back([this, i, onStart] { workerLoop(i, onStart); });
  std::unique_lock<std::mutex> lock(mutex);
  wake.wait_for(lock, std::chrono::seconds(10),
                [&] { return started == static_cast<int>(workers.size()); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    generation.fetch_add(1);
  }
  wake.notify_all();
  for (std::thread &worker : workers)
    worker.join();
}

void ThreadPool::runChunks(Task &task) {
  while (true) {
    int64_t index = task.next.fetch_add(1, std::memory_order_relaxed);
    if (index >= task.chunks)
      return;
    (*task.body)(index * task.chunk,
                 std::min(task.size, (index + 1) * task.chunk));
    task.done.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::workerLoop(int, const std::function<void()> &onStart) {
  if (onStart)
    onStart();
  {
    std::lock_guard<std::mutex> lock(mutex);
    ++started;
  }
  wake.notify_all();
  uint64_t seen = 0;
  while (true) {
    // Spin, then sleep, until a new generation is published.
    auto deadline = std::chrono::steady_clock::now() + kSpin;
    while (generation.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < deadline)
      for (int i = 0; i < 4; ++i)
        pause();
    Task *task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] {
        return generation.load(std::memory_order_acquire) != seen;
      });
      seen = generation.load(std::memory_order_acquire);
      if (stopping)
        return;
      task = current;
      if (task)
        task->holders.fetch_add(1, std::memory_order_relaxed);
    }
    if (task) {
      runChunks(*task);
      task->holders.fetch_sub(1, std::memory_order_release);
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain,
                             absl::FunctionRef<void(int64_t, int64_t)> body) {
  if (n <= 0)
    return;
  grain = std::max<int64_t>(grain, 1);
  int64_t pieces = std::min<int64_t>((n + grain - 1) / grain, 4 * size());
  if (workers.empty() || pieces <= 1) {
    body(0, n);
    return;
  }
  Task *task = nullptr;
  {
    // Under the lock, so that a worker about to sleep sees the change, and
    // so that no worker takes a record while it is checked. A record is
    // free when no worker holds it; each worker holds at most one, and
    // there is one record more than workers.
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::unique_ptr<Task> &candidate : tasks)
      if (candidate->holders.load(std::memory_order_acquire) == 0) {
        task = candidate.get();
        break;
      }
    task->body = &body;
    task->size = n;
    task->chunk = (n + pieces - 1) / pieces;
    task->chunks = (n + task->chunk - 1) / task->chunk;
    task->next.store(0, std::memory_order_relaxed);
    task->done.store(0, std::memory_order_relaxed);
    current = task;
    generation.fetch_add(1, std::memory_order_release);
  }
  wake.notify_all();
  runChunks(*task);
  // Chunks a worker claimed may still run; none is left to claim.
  while (task->done.load(std::memory_order_acquire) != task->chunks)
    pause();
  std::lock_guard<std::mutex> lock(mutex);
  current = nullptr;
}

} // namespace tessel
