//===- WcspSolver.h - Exact weighted CSPs, for the solver -------*- C++ -*-===//
//
// Without its memory limit, the auto-sharding problem is a weighted
// constraint satisfaction problem: each node a variable over its
// strategies, a cost table per node and per edge, the least total wanted.
// With the memory limit priced into the node costs (Lagrangian
// relaxation), it still is one, and each solved exactly gives a lower
// bound and a candidate plan (WcspPhase.cpp). toulbar2 (INRAE's solver,
// Debian's toulbar2 package: branch and bound over soft arc consistency,
// variable elimination, hybrid best-first search) solves the contest's
// transformer instances' relaxations in seconds, 40,958 nodes included;
// it runs as a process (Debian ships no library of it).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_WCSPSOLVER_H
#define TESSEL_PASSES_AUTOSHARD_WCSPSOLVER_H

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::autoshard {

struct WcspProblem {
  /// Each variable's number of values.
  std::vector<int32_t> domains;
  /// A cost per value of variable u (v < 0), or per pair of values of u
  /// and v, row-major (u's value major).
  struct Table {
    int32_t u = 0, v = -1;
    std::vector<int64_t> costs;
  };
  std::vector<Table> tables;
  /// A cost of `top` or more is forbidden; every other cost is below it,
  /// and so is their sum over all tables.
  int64_t top = 0;
};

/// How long a solve may run.
struct WcspLimits {
  /// At most this long.
  double seconds = 0;
  /// Where > 0, the solve also ends once it has run this many times as
  /// long as its first answer took, and `atLeast` seconds in all (its
  /// answer then unproven): toulbar2's first answer to a large problem is
  /// near its last (on IOPDDL R the first, after 3.6 s, is within 1.5% of
  /// the one after 36 s), and what is left of the time has better uses.
  double firstAnswerMultiple = 0;
  double atLeast = 0;
};

struct WcspResult {
  /// The best assignment found (empty: none), and its cost.
  std::vector<int32_t> solution;
  int64_t cost = 0;
  /// No assignment costs less; equal to `cost` when `optimal`.
  int64_t lowerBound = 0;
  bool optimal = false;
  /// When the first answer came, counted from the call (< 0: none came).
  double firstAnswerSeconds = -1;
};

class WcspSolver {
public:
  virtual ~WcspSolver() = default;
  /// Solves within about `limits` (an error when the solver fails; a
  /// result without a solution when it found none in time).
  virtual absl::StatusOr<WcspResult> solve(const WcspProblem &problem,
                                           const WcspLimits &limits) = 0;
  /// Solves within about `seconds`.
  absl::StatusOr<WcspResult> solve(const WcspProblem &problem, double seconds) {
    WcspLimits limits;
    limits.seconds = seconds;
    return solve(problem, limits);
  }
};

/// toulbar2 as a process: $TESSEL_TOULBAR2 if set, else `toulbar2` on
/// PATH; null if there is none (setup.sh installs it).
std::unique_ptr<WcspSolver> createToulbar2Solver();
/// The toulbar2 at `program` (a path).
std::unique_ptr<WcspSolver> createToulbar2Solver(std::string program);

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_WCSPSOLVER_H
