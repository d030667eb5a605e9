//===- LowerBound.h - How far from optimal a plan can be -------*- C++ -*-===//
//
// A lower bound on the cost of every choice that fits, so that a plan's
// cost can be reported with its gap: a plan at the bound is proven
// optimal, and a gap of 3% says no plan is more than 3% cheaper.
//
// The bound is the dual of the problem's linear relaxation, improved by
// sequential tree-reweighted message passing (TRW-S, Kolmogorov 2006) in
// its reparametrization form: costs move between each node and its edges
// so that every choice keeps its total, and then the sum of each node's
// and each edge's cheapest entry is a bound. Exact on trees and chains
// without binding memory (one forward pass is their dynamic program).
// Memory enters by Lagrangian relaxation: each time step's limit has a
// price per byte, which nodes live at that step pay on their usage; the
// prices rise at steps that the nodes' cheapest choices overfill
// (subgradient steps). All arithmetic is on integers, so the bound is
// exact for the problem as given, not up to rounding.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_LOWERBOUND_H
#define TESSEL_PASSES_AUTOSHARD_LOWERBOUND_H

#include <atomic>
#include <functional>

#include "passes/autoshard/ShardingProblem.h"

namespace tessel::autoshard {

struct LowerBoundOptions {
  /// Wall-clock limit.
  double seconds = 1.0;
  /// At most this many rounds (0: until the time is up), so that what a
  /// caller does with each round is the same on a fast or slow machine.
  int64_t rounds = 0;
  /// Polled after every pass with the bound so far: true stops (the caller
  /// has a solution at the bound, or needs no more).
  std::function<bool(Cost bound)> done;
  /// Called on every better bound.
  std::function<void(Cost bound)> onBound;
  /// Where memory binds, called on every better bound with the memory
  /// prices that gave it: per byte and live step (as liveSteps numbers
  /// them), in cost units.
  std::function<void(const std::vector<double> &prices)> onPrices;
  /// Called after every forward pass with the choice message passing
  /// points to (each node its cheapest given the nodes before it, under
  /// the reparametrized costs and memory prices): a primal heuristic.
  std::function<void(const std::vector<int32_t> &choice)> onDecoded;
  /// Polled at every node: set, the bound so far is returned at once.
  const std::atomic<bool> *stop = nullptr;
};

struct LowerBoundResult {
  /// No choice that fits costs less. Forbidden choices count at the cost
  /// the problem gives them.
  Cost bound = 0;
  /// Message-passing rounds (a forward and a backward pass each).
  int64_t rounds = 0;
  double seconds = 0;
  /// The bound stopped improving before the time was up.
  bool converged = false;
};

/// A lower bound on the cost of `problem` (which must be valid).
LowerBoundResult lowerBound(const ShardingProblem &problem,
                            const LowerBoundOptions &options);

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_LOWERBOUND_H
