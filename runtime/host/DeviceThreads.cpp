//===- DeviceThreads.cpp - One thread per host device, kept ---------------===//

#include "runtime/host/DeviceThreads.h"

namespace tessel {

DeviceThreads::DeviceThreads(int devices) {
  for (int d = 1; d < devices; ++d)
    threads.emplace_back([this, d] { loop(d); });
}

DeviceThreads::~DeviceThreads() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread &thread : threads)
    thread.join();
}

void DeviceThreads::loop(int device) {
  uint64_t seen = 0;
  while (true) {
    const absl::FunctionRef<void(int)> *body;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      body = job;
    }
    (*body)(device);
    bool last;
    {
      std::lock_guard<std::mutex> lock(mutex);
      last = --remaining == 0;
    }
    if (last)
      finished.notify_one();
  }
}

void DeviceThreads::run(absl::FunctionRef<void(int)> body) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    job = &body;
    remaining = static_cast<int>(threads.size());
    ++generation;
  }
  wake.notify_all();
  body(0);
  std::unique_lock<std::mutex> lock(mutex);
  // Every device's program ends (a failing one cancels the others'
  // collectives), so this wait ends too.
  finished.wait(lock, [&] { return remaining == 0; });
  job = nullptr;
}

} // namespace tessel
