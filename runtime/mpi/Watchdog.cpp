//===- Watchdog.cpp - One deadline on every wait of a multi-process job ---===//

#include "runtime/mpi/Watchdog.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tessel {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char *kPhases[] = {"mpi_init", "start",       "communicators",
                                   "nccl_ids", "inputs",      "collective",
                                   "outputs",  "mpi_finalize"};

struct Fault {
  int rank = -1;
  std::string action, phase;
  int occurrence = 1;
};

/// The process's watchdog: the waits in progress (of any thread) and the
/// thread that ends the process when the oldest outlasts the deadline.
/// Never destroyed: the thread may still watch while the process exits.
struct State {
  std::mutex mutex;
  std::condition_variable changed;
  double seconds = Watchdog::kDefaultSeconds;
  int rank = -1;
  bool watching = false;
  /// The waits in progress, newest first.
  Watchdog::Wait::Record *waits = nullptr;
  std::optional<Fault> fault;
  /// Whether `fault` is set, read by every wait without the lock (a
  /// collective begins one every call).
  std::atomic<bool> faulty{false};
  std::map<std::string, int> entered;

  void watch() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      if (waits == nullptr) {
        // Idle: looks again within a second, so that beginning a wait
        // needs no wake-up (a collective begins one every call; waking
        // this thread each time cost more than a small collective).
        changed.wait_for(lock, std::chrono::seconds(1));
        continue;
      }
      const Watchdog::Wait::Record *oldest = waits;
      for (const Watchdog::Wait::Record *w = waits; w; w = w->next)
        if (w->since < oldest->since)
          oldest = w;
      // (At most ~30 years: a longer deadline would overflow the clock.)
      Clock::time_point deadline =
          oldest->since +
          std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(std::min(seconds, 1e9)));
      if (Clock::now() < deadline) {
        changed.wait_until(lock, deadline);
        continue;
      }
      // Nothing can finish a wait for a peer that never comes: the job
      // ends, saying who waited where for whom.
      std::string line = absl::StrCat(
          "tessel: ", rank >= 0 ? absl::StrCat("rank ", rank) : "this process",
          " waited ", seconds, " s in ",
          oldest->label && !oldest->label->empty() ? *oldest->label : "",
          oldest->label && !oldest->label->empty() ? ": " : "", oldest->what,
          " for ", oldest->peers, "; ending the job (--timeout)\n");
      std::fputs(line.c_str(), stderr);
      std::fflush(stderr);
      _exit(124);
    }
  }

  void startThread() {
    if (watching)
      return;
    watching = true;
    std::thread([this] { watch(); }).detach();
  }
};

State &state() {
  static State *state = new State;
  return *state;
}

thread_local std::string label;

absl::StatusOr<Fault> parseFault(const char *text) {
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TESSEL_FAULT='", text, "': ", why,
        " (expected <rank>:freeze|kill|exit:<phase>[:<n>], phases ",
        absl::StrJoin(kPhases, ", "), ")"));
  };
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() < 3 || parts.size() > 4)
    return bad("not of four fields at most");
  Fault fault;
  if (!absl::SimpleAtoi(parts[0], &fault.rank) || fault.rank < 0)
    return bad("the rank is not a number");
  fault.action = parts[1];
  if (fault.action != "freeze" && fault.action != "kill" &&
      fault.action != "exit")
    return bad(absl::StrCat("unknown action '", fault.action, "'"));
  fault.phase = parts[2];
  if (std::find(std::begin(kPhases), std::end(kPhases), fault.phase) ==
      std::end(kPhases))
    return bad(absl::StrCat("unknown phase '", fault.phase, "'"));
  if (parts.size() == 4 &&
      (!absl::SimpleAtoi(parts[3], &fault.occurrence) || fault.occurrence < 1))
    return bad("the occurrence is not a positive number");
  return fault;
}

/// The fault TESSEL_FAULT places at this wait of `phase`, if any: carried
/// out without the state's lock held.
void injectFault(State &s, const char *phase) {
  if (!s.faulty.load(std::memory_order_acquire))
    return;
  std::string action;
  int rank, occurrence;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.fault && s.fault->rank == s.rank &&
        std::string(phase) == "mpi_finalize" &&
        s.entered[s.fault->phase] < s.fault->occurrence &&
        s.fault->phase != phase) {
      // A test that placed a fault its run never reached says so, rather
      // than passing or failing without a word.
      std::string line = absl::StrCat(
          "tessel: rank ", s.rank, ": TESSEL_FAULT: ", s.fault->action,
          " at ", s.fault->phase, " (", s.fault->occurrence,
          ") never reached: the run waited ", s.entered[s.fault->phase],
          " times in that phase\n");
      std::fputs(line.c_str(), stderr);
      std::fflush(stderr);
    }
    if (!s.fault || s.fault->rank != s.rank || s.fault->phase != phase ||
        ++s.entered[phase] != s.fault->occurrence)
      return;
    action = s.fault->action;
    rank = s.rank;
    occurrence = s.fault->occurrence;
  }
  std::string line =
      absl::StrCat("tessel: rank ", rank, ": TESSEL_FAULT: ", action, " at ",
                   phase, " (", occurrence, ")\n");
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  if (action == "freeze")
    std::raise(SIGSTOP);
  else if (action == "kill")
    std::raise(SIGKILL);
  else
    _exit(3);
}

} // namespace

absl::Status Watchdog::start(double seconds, int rank) {
  if (!(seconds > 0))
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout must be positive, not ", seconds));
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.seconds = seconds;
  s.rank = rank;
  if (const char *text = std::getenv("TESSEL_FAULT"); text && *text) {
    absl::StatusOr<Fault> fault = parseFault(text);
    if (!fault.ok())
      return fault.status();
    s.fault = *fault;
    s.faulty.store(true, std::memory_order_release);
  }
  s.startThread();
  s.changed.notify_all();
  return absl::OkStatus();
}

namespace {
/// The first of the variables `names` that holds a number >= 0, else -1.
int numberFromEnvironment(std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (const char *value = std::getenv(name)) {
      int number;
      if (absl::SimpleAtoi(value, &number) && number >= 0)
        return number;
    }
  return -1;
}
} // namespace

int Watchdog::rankFromEnvironment() {
  return numberFromEnvironment(
      {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"});
}

std::string Watchdog::othersFromEnvironment() {
  int size = numberFromEnvironment({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
  if (size < 1)
    return "the other ranks";
  return absl::StrCat("the other ", size - 1, size == 2 ? " rank" : " ranks");
}

std::string Watchdog::describeRanks(const std::vector<int> &ranks,
                                    const std::string &none) {
  if (ranks.empty())
    return none;
  return absl::StrCat(ranks.size() == 1 ? "rank " : "ranks ",
                      absl::StrJoin(ranks, ", "));
}

Watchdog::Wait::Wait(const char *phase, std::string what, std::string peers)
    : ownWhat(std::move(what)), ownPeers(std::move(peers)) {
  record.what = ownWhat;
  record.peers = ownPeers;
  begin(phase);
}

Watchdog::Wait::Wait(const char *phase, const char *what,
                     const std::string *peers) {
  record.what = what;
  record.peers = *peers;
  begin(phase);
}

void Watchdog::Wait::begin(const char *phase) {
  State &s = state();
  injectFault(s, phase);
  record.since = Clock::now();
  record.label = &label;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.startThread();
  // No notification: the watch sleeps until the oldest wait's deadline,
  // which a new wait never moves earlier, or a second when idle.
  record.next = s.waits;
  if (s.waits)
    s.waits->previous = &record;
  s.waits = &record;
}

Watchdog::Wait::~Wait() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (record.previous)
    record.previous->next = record.next;
  else
    s.waits = record.next;
  if (record.next)
    record.next->previous = record.previous;
}

void Watchdog::Wait::setPeers(std::string peers) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ownPeers = std::move(peers);
  record.peers = ownPeers;
}

Watchdog::Label::Label(std::string text) : previous(std::move(label)) {
  label = std::move(text);
}

Watchdog::Label::~Label() { label = std::move(previous); }

} // namespace tessel
