//===- Solver.h - Choose a strategy per node -------------------*- C++ -*-===//
//
// Solves a ShardingProblem within a time limit, always returning a choice
// for every node:
//
//  0. Strategies that no choice that fits can take (with every other node
//     live at a step at its least, they pass the limit) are removed
//     (withoutStrategiesThatCannotFit).
//  1. Parallel edges are merged. Where memory cannot bind (every node at its
//     largest use fits) and the edges form a forest (chains, trees), a
//     dynamic program over the trees is exact and that is the answer.
//  2. Otherwise a dynamic program over a spanning forest of the costliest
//     edges gives a start; local search (each node in turn takes its best
//     strategy given its neighbours', until none improves) ignores memory,
//     then memory is repaired at the fullest step by the moves that free
//     most per cost added, and local search continues with only moves that
//     keep every step within the limit. The smallest usages everywhere are
//     the fall-back start: if that does not fit, nothing does.
//  3. Message passing (the lower bound's TRW-S with memory prices) decodes
//     starts that local search and the memory relaxation finish.
//  4. Small problems (by ILP variable count) go to an IlpSolver (CBC),
//     started from that solution, for a proven optimum.
//  5. Until the time is up, regions of the best solution are solved anew
//     with the rest fixed (by the ILP where small enough), or perturbed and
//     searched again (large-neighbourhood search); better ones are kept.
//
// Meanwhile a second thread improves a lower bound (LowerBound.h); the
// search stops as soon as its best cost reaches it (proven optimal).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_SOLVER_H
#define TESSEL_PASSES_AUTOSHARD_SOLVER_H

#include <functional>
#include <optional>
#include <string>

#include "passes/autoshard/IlpSolver.h"
#include "passes/autoshard/ShardingProblem.h"
#include "passes/autoshard/WcspSolver.h"

namespace tessel::autoshard {

struct SolverProgress {
  double seconds = 0;
  Cost cost = 0;
  std::string method;
};

struct SolverOptions {
  /// Wall-clock limit for the whole solve.
  double seconds = 10.0;
  /// Problems whose exact ILP has at most this many variables go to `ilp`.
  int64_t ilpVariableLimit = 20000;
  /// The ILP solver; null: CBC.
  IlpSolver *ilp = nullptr;
  uint64_t seed = 1;
  /// Neighbourhood search stops after this many rounds without a better
  /// solution (0: it runs until the time is up).
  int64_t patience = 0;
  /// ... or after this many seconds without one (0: no such limit). Not
  /// deterministic, unlike `patience`: for compilers, whose users wait.
  double staleSeconds = 0;
  /// Improve a lower bound on a second thread while the search runs.
  bool lowerBound = true;
  /// Solve the problem with memory priced into its costs exactly, again
  /// and again (WcspPhase.cpp), for this share of the time left after the
  /// first answer: by `wcsp`, else toulbar2 where it is installed.
  double wcspShare = 0.6;
  WcspSolver *wcsp = nullptr;
  /// Called on every better feasible solution.
  std::function<void(const SolverProgress &)> onProgress;
};

struct Solution {
  std::vector<int32_t> choice;
  Cost cost = 0;
  int64_t peakUsage = 0;
  bool feasible = false;
  /// Proven optimal (a tree's dynamic program, the ILP, or the cost has
  /// reached the lower bound).
  bool optimal = false;
  /// No choice that fits costs less (the cost itself when optimal; unset
  /// if SolverOptions::lowerBound was off and the solve proved nothing).
  std::optional<Cost> lowerBound;
  /// When the first feasible solution was found, and the whole solve
  /// (seconds since the start; -1 if none was feasible).
  double firstFeasibleSeconds = -1, seconds = 0;
  /// What found the returned solution: "tree", "local search", "ilp",
  /// "neighbourhood search".
  std::string method;
};

/// Solves `problem`, which must be valid (see validate()).
Solution solve(const ShardingProblem &problem, const SolverOptions &options);

/// Up to `count` next-best solutions after `best` (solve()'s answer to
/// `problem`), cheapest first, each differing from `best` and from every
/// other in the strategy of at least one node of `decisions`: the best
/// plan under each of the next-cheapest choices of those decisions, the
/// rest free (Lawler's partitioning, KBest.cpp; every subproblem solved by
/// solve() with `options`). The list is exact when every solve is (trees,
/// the ILP); it costs up to `count` x |decisions| solves. Fewer than
/// `count` if the decisions allow fewer feasible choices. `keep`, if
/// given, says which solutions count (the others are passed over).
std::vector<Solution>
nextBest(const ShardingProblem &problem, const SolverOptions &options,
         const Solution &best, int count, const std::vector<int32_t> &decisions,
         const std::function<bool(const Solution &)> &keep = nullptr);

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_SOLVER_H
