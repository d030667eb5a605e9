//===- ThreadPool.cpp - The cores kernels run on --------------------------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <atomic>

namespace tessel {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < threads; ++i)
    workers.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread &worker : workers)
    worker.join();
}

void ThreadPool::workerLoop(int) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int64_t, int64_t)> *body;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      body = task;
    }
    while (true) {
      int64_t index;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (nextChunk >= chunks)
          break;
        index = nextChunk++;
      }
      (*body)(index * chunk, std::min(taskSize, (index + 1) * chunk));
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0)
        done.notify_one();
    }
  }
}

void ThreadPool::parallelFor(
    int64_t n, int64_t grain,
    const std::function<void(int64_t, int64_t)> &body) {
  if (n <= 0)
    return;
  grain = std::max<int64_t>(grain, 1);
  int64_t pieces = std::min<int64_t>((n + grain - 1) / grain, 4 * size());
  if (workers.empty() || pieces <= 1) {
    body(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    task = &body;
    taskSize = n;
    chunk = (n + pieces - 1) / pieces;
    chunks = (n + chunk - 1) / chunk;
    nextChunk = 0;
    pending = static_cast<int>(workers.size());
    ++generation;
  }
  wake.notify_all();
  while (true) {
    int64_t index;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (nextChunk >= chunks)
        break;
      index = nextChunk++;
    }
    body(index * chunk, std::min(n, (index + 1) * chunk));
  }
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return pending == 0; });
  task = nullptr;
}

} // namespace tessel
