//===- CollectiveStream.cpp - A device's collectives on a thread ----------===//

#include "runtime/host/CollectiveStream.h"

#include <chrono>
#include <thread>

namespace tessel {
namespace {

using Clock = std::chrono::steady_clock;

/// How long a waiter spins before it sleeps: collectives of a few KiB
/// finish in microseconds, sooner than a sleeping thread wakes.
constexpr auto kSpin = std::chrono::microseconds(50);

/// On a stream's thread: whether its device waits for it.
thread_local const std::atomic<bool> *deviceWaits = nullptr;

} // namespace

bool onCollectiveStream() { return deviceWaits != nullptr; }

void pauseWhilePolling(int spins) {
  if (deviceWaits && !deviceWaits->load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    return;
  }
  if (spins > 1000)
    std::this_thread::yield();
}

CollectiveStream::CollectiveStream(int capacity)
    : slots(std::max(capacity, 1)), thread([this] { loop(); }) {}

CollectiveStream::~CollectiveStream() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  submitted.notify_all();
  thread.join();
}

void CollectiveStream::begin(const RunFn *fn) {
  std::lock_guard<std::mutex> lock(mutex);
  run = fn;
  tickets = 0;
  done.store(0, std::memory_order_release);
}

int64_t CollectiveStream::submit(int index) {
  int64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex);
    ticket = tickets++;
    slots[ticket % slots.size()].index = index;
  }
  submitted.notify_one();
  return ticket;
}

absl::Status CollectiveStream::wait(int64_t ticket, double *seconds) {
  auto spinUntil = Clock::now() + kSpin;
  while (done.load(std::memory_order_acquire) <= ticket &&
         Clock::now() < spinUntil) {
  }
  if (done.load(std::memory_order_acquire) <= ticket) {
    // The stream's polling turns eager while the device waits.
    waitedFor.store(true, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock(mutex);
    finished.wait(
        lock, [&] { return done.load(std::memory_order_acquire) > ticket; });
    waitedFor.store(false, std::memory_order_relaxed);
  }
  const Slot &slot = slots[ticket % slots.size()];
  if (seconds)
    *seconds = slot.seconds;
  return slot.status;
}

bool CollectiveStream::idle() const {
  // Only the caller submits, so `tickets` does not move under it.
  return done.load(std::memory_order_acquire) == tickets;
}

void CollectiveStream::drain() {
  int64_t last;
  {
    std::lock_guard<std::mutex> lock(mutex);
    last = tickets - 1;
  }
  if (last >= 0)
    wait(last).IgnoreError();
}

void CollectiveStream::loop() {
  deviceWaits = &waitedFor;
  for (;;) {
    Slot *slot;
    const RunFn *fn;
    int64_t ticket;
    {
      // `done` is the next ticket to run: only this thread moves it on,
      // and begin() resets it only while nothing is in flight.
      std::unique_lock<std::mutex> lock(mutex);
      submitted.wait(lock, [&] {
        return stopping || done.load(std::memory_order_relaxed) < tickets;
      });
      if (stopping)
        return;
      ticket = done.load(std::memory_order_relaxed);
      slot = &slots[ticket % slots.size()];
      fn = run;
    }
    auto start = Clock::now();
    slot->status = (*fn)(slot->index);
    slot->seconds = std::chrono::duration<double>(Clock::now() - start).count();
    {
      std::lock_guard<std::mutex> lock(mutex);
      done.store(ticket + 1, std::memory_order_release);
    }
    finished.notify_all();
  }
}

} // namespace tessel
