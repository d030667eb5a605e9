//===- Watchdog.h - One deadline on every wait of a multi-process job -*- C++
//-*-===//
//
// A process of a multi-process run (one rank per device under mpirun) waits
// for the others in many places: MPI_Init, the comparison of executables,
// communicator creation, the NCCL id broadcast, the inputs, each
// collective, the outputs, MPI_Finalize. A peer that freezes or dies in any
// of them must not hold the others forever. Each such wait is a
// Watchdog::Wait; one thread per process, armed before MPI_Init, ends the
// process when a wait outlasts the deadline, after one line on stderr:
//
//   tessel: rank 1 waited 20 s in start-up (MPI_Init) for the other 3 ranks;
//   ending the job (--timeout)
//
// and exit code 124. mpirun then ends the whole job (a rank that exits
// non-zero aborts it), so no phase hangs, whatever MPI itself does. Only
// waits are timed, never local computation.
//
// Faults for tests: TESSEL_FAULT=<rank>:<action>:<phase>[:<n>] makes rank
// <rank> (of mpirun's world) freeze (SIGSTOP), die (SIGKILL) or exit (code
// 3) when it enters its <n>th wait (default 1) of <phase>, after a line
// saying so. Phases: mpi_init, start, communicators, nccl_ids, inputs,
// collective, outputs, mpi_finalize. Tests thereby place a fault at a point
// of the run, never after a sleep.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_MPI_WATCHDOG_H
#define TESSEL_RUNTIME_MPI_WATCHDOG_H

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tessel {

class Watchdog {
public:
  /// The default deadline, in seconds, of every wait.
  static constexpr double kDefaultSeconds = 300;

  /// Arms this process's watchdog with `seconds` per wait (> 0), for the
  /// process of mpirun's world rank `rank` (-1: not under mpirun), and
  /// reads TESSEL_FAULT: a malformed one is an error. Call before
  /// MPI_Init. Waits made before (in tests) use kDefaultSeconds.
  static absl::Status start(double seconds, int rank);

  /// mpirun's world rank of this process from its environment, before
  /// MPI_Init (-1 when not started by mpirun).
  static int rankFromEnvironment();
  /// "the other 7 ranks" from mpirun's environment (MPI cannot say which
  /// of them a process still waits for in MPI_Init or MPI_Finalize).
  static std::string othersFromEnvironment();

  /// "ranks 0, 2, 3" or "rank 2" (or `none` when `ranks` is empty).
  static std::string describeRanks(const std::vector<int> &ranks,
                                   const std::string &none = "nobody");

  /// A wait for other processes, timed from construction to destruction.
  /// `phase`: one of the phases above; `what`: what is waited in, for the
  /// message ("start-up (MPI_Init)"); `peers`: whom ("ranks 0, 2").
  class Wait {
  public:
    Wait(const char *phase, std::string what, std::string peers);
    /// The same with borrowed text, which must outlive the wait: what a
    /// collective passes every call (its name, its group's other members),
    /// so that beginning the wait copies nothing.
    Wait(const char *phase, const char *what, const std::string *peers);
    ~Wait();
    Wait(const Wait &) = delete;
    Wait &operator=(const Wait &) = delete;
    /// Narrows whom the wait is still for (as transfers complete).
    void setPeers(std::string peers);

    /// A wait as the watchdog's thread sees it: linked into the process's
    /// list of waits while it lasts (no allocation per wait: a collective
    /// begins one every call).
    struct Record {
      std::chrono::steady_clock::time_point since;
      /// The thread's label at the start (see Label, whose scope encloses
      /// the wait), read only if the deadline passes.
      const std::string *label = nullptr;
      /// What and whom, borrowed or pointing into the wait's own copies.
      absl::string_view what, peers;
      Record *previous = nullptr, *next = nullptr;
    };

  private:
    /// Links the record into the process's list (after any fault).
    void begin(const char *phase);

    std::string ownWhat, ownPeers;
    Record record;
  };

  /// What this thread is doing, added to the message of its waits
  /// ("step 2, collective for tensor 'h'"), for the label's scope.
  class Label {
  public:
    explicit Label(std::string text);
    ~Label();
    Label(const Label &) = delete;
    Label &operator=(const Label &) = delete;

  private:
    std::string previous;
  };
};

} // namespace tessel

#endif // TESSEL_RUNTIME_MPI_WATCHDOG_H
