//===- MessagePassing.cpp - Starts from the lower bound's messages --------===//
//
// Message passing (LowerBound.cpp) reparametrizes the costs so that each
// node's cheapest strategy, given its neighbours decoded before it, points
// towards the optimum of the relaxation; with memory priced by the
// Lagrangian multipliers, towards choices that nearly fit. Those decoded
// choices are starts the local search and the memory repair finish. A
// fixed number of rounds keeps the phase deterministic.
//
//===----------------------------------------------------------------------===//

#include "passes/autoshard/LowerBound.h"
#include "passes/autoshard/Search.h"

namespace tessel::autoshard {

void Search::messagePassing(double seconds) {
  // The few decoded choices that promise most: cost, scaled by how far
  // they overfill memory (the repair pays about that much to fit them).
  struct Start {
    double score;
    std::vector<int32_t> choice;
  };
  constexpr size_t kStarts = 4;
  std::vector<Start> starts;
  LowerBoundOptions boundOptions;
  boundOptions.seconds = seconds;
  boundOptions.rounds = 200;
  // This run's bound is as good as the other thread's.
  boundOptions.onBound = [&](Cost bound) {
    if (shared)
      shared->raiseBound(bound);
  };
  boundOptions.onDecoded = [&](const std::vector<int32_t> &decoded) {
    Evaluation evaluation = evaluate(problem, decoded);
    double score = static_cast<double>(evaluation.cost);
    if (memoryMatters && evaluation.peakUsage > *problem.usageLimit) {
      double over = static_cast<double>(evaluation.peakUsage) /
                    static_cast<double>(*problem.usageLimit);
      score *= over * over;
    }
    for (const Start &start : starts)
      if (start.choice == decoded)
        return;
    if (starts.size() == kStarts && score >= starts.back().score)
      return;
    if (starts.size() == kStarts)
      starts.pop_back();
    auto at = std::upper_bound(
        starts.begin(), starts.end(), score,
        [](double score, const Start &start) { return score < start.score; });
    starts.insert(at, {score, decoded});
  };
  lowerBound(problem, boundOptions);

  for (const Start &start : starts) {
    if (!timeLeft() || proven())
      return;
    // Finishing a start costs a local search over every node: not for one
    // that promises much worse than what the search has.
    if (best.feasible && start.score > 1.5 * static_cast<double>(best.cost))
      continue;
    setChoice(start.choice);
    searchAndFit("message passing");
    offerAlternative();
  }
}

} // namespace tessel::autoshard
