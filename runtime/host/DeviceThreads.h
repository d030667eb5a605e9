//===- DeviceThreads.h - One thread per host device, kept -------*- C++ -*-===//
//
// The host backend runs each device's program on a thread of its own,
// every run. Starting and joining those threads per run cost ~50-100 us
// (the tiny MLP on 2 devices: 121 us per run against 5 us on one); these
// threads are started once, at load, and woken per run. Device 0 runs on
// the caller. Each device needs a thread of its own (not a pool's chunk):
// devices wait for each other inside collectives.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_DEVICETHREADS_H
#define TESSEL_RUNTIME_HOST_DEVICETHREADS_H

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace tessel {

class DeviceThreads {
public:
  /// Threads for devices 1..devices-1.
  explicit DeviceThreads(int devices);
  ~DeviceThreads();
  DeviceThreads(const DeviceThreads &) = delete;
  DeviceThreads &operator=(const DeviceThreads &) = delete;

  /// Runs `body(d)` for every device d, device 0 on the calling thread,
  /// and returns when all have returned. One call at a time.
  void run(absl::FunctionRef<void(int)> body);

private:
  void loop(int device);

  std::mutex mutex;
  std::condition_variable wake, finished;
  const absl::FunctionRef<void(int)> *job = nullptr;
  uint64_t generation = 0;
  int remaining = 0;
  bool stopping = false;
  std::vector<std::thread> threads;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_DEVICETHREADS_H
