//===- Search.h - The solver's state and its phases -------------*- C++ -*-===//
//
// Internal to the solver (Solver.h is the interface). One search holds the
// problem with its parallel edges merged, the current choice and the
// memory it uses over time; its phases live in files of their own:
//   Search.cpp       set-up, the driver of the phases (run), the incumbent
//   TreeProgram.cpp  construction: exact tree dynamic program, greedy
//   Reduction.cpp    elimination of nodes of degree one and two
//   LocalSearch.cpp  single, pair and star moves; memory repair and its
//                    Lagrangian relaxation
//   IlpPhase.cpp     the exact ILP for small problems and regions
//   MessagePassing.cpp  starts from the lower bound's message passing
//   WcspPhase.cpp    exact solves of the problem with memory priced in
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_SEARCH_H
#define TESSEL_PASSES_AUTOSHARD_SEARCH_H

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "passes/autoshard/Solver.h"
#include "passes/autoshard/UsageTree.h"
#include "passes/autoshard/WcspSolver.h"

namespace tessel::autoshard {

using Clock = std::chrono::steady_clock;

class Search {
public:
  Search(const ShardingProblem &problem, const SolverOptions &options)
      : problem(problem), options(options), rng(options.seed),
        start(Clock::now()) {}

  Solution run();

  /// What the search and the lower-bound thread share.
  struct Shared {
    std::mutex mutex;
    std::optional<Cost> bound, incumbent;
    /// The memory prices of the bound thread's best bound (per live step).
    std::vector<double> prices;
    std::atomic<bool> stop{false};
    /// Keeps the better of `next` and the bound so far (two message
    /// passings report: the bound thread's and the search's starts).
    void raiseBound(Cost next) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!bound || next > *bound)
        bound = next;
    }
  };

private:
  struct MergedEdge {
    int32_t u, v;
    std::vector<int64_t> costs; // |S_u| x |S_v|
  };

  double elapsed() const {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  bool timeLeft() const { return elapsed() < options.seconds; }
  int32_t strategies(int32_t node) const { return problem.strategies(node); }
  int64_t edgeCost(int32_t e, int32_t a, int32_t b) const {
    return edges[e].costs[static_cast<size_t>(a) * strategies(edges[e].v) + b];
  }
  /// Node `i`'s cost and its edges' under `s`, the neighbours as chosen.
  Cost localCost(int32_t i, int32_t s) const {
    Cost cost = nodeCost(i, s);
    for (auto [e, isU] : adjacency[i]) {
      const MergedEdge &edge = edges[e];
      cost +=
          isU ? edgeCost(e, s, choice[edge.v]) : edgeCost(e, choice[edge.u], s);
    }
    return cost;
  }
  int64_t usage(int32_t i, int32_t s) const {
    return problem.nodes[i].usages[s];
  }
  /// Node `i`'s own cost under `s`, with the memory penalty it pays while
  /// memory is relaxed.
  Cost nodeCost(int32_t i, int32_t s) const {
    Cost cost = problem.nodes[i].costs[s];
    if (!penalty.empty() && penalty[i] > 0)
      cost += static_cast<Cost>(penalty[i] * static_cast<double>(usage(i, s)));
    return cost;
  }

  void mergeEdges();
  void compressTime();
  void setChoice(const std::vector<int32_t> &next);
  void move(int32_t i, int32_t s) {
    usageTree.add(span[i].first, span[i].second,
                  usage(i, s) - usage(i, choice[i]));
    choice[i] = s;
  }
  bool fits() const {
    return !memoryMatters || usageTree.max() <= *problem.usageLimit;
  }
  /// Greedy in node order: each node takes its cheapest strategy given
  /// the nodes before it (edges to later nodes ignored), `seed` fixed to
  /// `seedStrategy`. In a program's order, a layout chosen for an input
  /// flows through the ops that follow, as data parallelism does.
  std::vector<int32_t> greedyForward(int32_t seed, int32_t seedStrategy) const;
  /// Where memory cannot bind: eliminates nodes of one or two neighbours
  /// exactly (a leaf folds its best answer into its neighbour's costs; a
  /// node between two becomes the edge of its best answer to each pair),
  /// solves what is left by a search of its own with `seconds`, and
  /// answers the eliminated nodes back. The choice of every node.
  std::vector<int32_t> reduceAndSolve(double seconds);
  /// Exact dynamic program over the trees of `forest` (edge indices),
  /// node costs only elsewhere.
  std::vector<int32_t> treeProgram(const std::vector<int32_t> &forest) const;
  /// Local search from the current choice over the nodes in `work` (and
  /// those their changes affect); with `keepFit`, only moves that keep
  /// memory within the limit.
  void localSearch(std::vector<int32_t> work, bool keepFit);
  /// Moves until memory fits; false if no move frees more.
  bool repair();
  /// Lagrangian relaxation of the memory limit: nodes live at an overfull
  /// step pay for their memory, more each round, while single, pair and
  /// star moves run; true once everything fits.
  bool relaxMemory();
  /// For each edge in `work` whose ends' choices are forbidden together,
  /// the best pair of strategies for both ends at once (single moves
  /// cannot leave such a pair when each end's other edges hold it).
  void pairSearch(const std::vector<int32_t> &work, bool keepFit);
  /// Edges whose current pair, or either end's current strategy, is
  /// forbidden.
  std::vector<int32_t> forbiddenEdges() const;
  /// For each node in `centers`: each of its strategies with every
  /// neighbour's best response to it, the cheapest kept (a node tied to
  /// many neighbours that must agree with it moves with them).
  void starSearch(const std::vector<int32_t> &centers, bool keepFit);
  /// Lagrangian relaxation of the memory limit around an exact solver:
  /// each round prices every compressed step's bytes into the node costs,
  /// solves that problem by `solver` (its bound, less the prices of the
  /// limit, bounds every choice that fits), offers its answer (repaired
  /// where it overfills), and moves the prices by a subgradient step
  /// towards the best cost. For `seconds`.
  void wcspPhase(WcspSolver &solver, double seconds);
  /// The ends of forbiddenEdges().
  std::vector<int32_t> forbiddenNodes() const {
    std::vector<int32_t> nodes;
    for (int32_t e : forbiddenEdges()) {
      nodes.push_back(edges[e].u);
      nodes.push_back(edges[e].v);
    }
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    return nodes;
  }
  std::vector<int32_t> allNodes() const {
    std::vector<int32_t> nodes(problem.nodes.size());
    std::iota(nodes.begin(), nodes.end(), 0);
    return nodes;
  }
  /// From the current choice: single, pair and star moves with memory
  /// relaxed, then memory made to fit (relaxation, else repair) and the
  /// same moves within the limit; each result offered as `method`.
  void searchAndFit(const std::string &method);
  /// Records the current choice if it is feasible and better (true then).
  bool offer(const std::string &method);
  /// The best cost has reached the lower bound: optimal, nothing to search.
  bool proven();
  void runIlp();
  /// Solves the nodes of `region` anew, every other node fixed as chosen:
  /// a problem of their own (edges to fixed nodes folded into their costs,
  /// the memory the others use at each step as fixed nodes) that a solve
  /// of its own answers, exactly by the ILP when small enough. True if
  /// the region's answer was taken (it costs less).
  bool solveRegion(const std::vector<int32_t> &region, double seconds);
  /// Starts from message passing (LowerBound.h's decoded choices, memory
  /// priced by its Lagrangian multipliers): the cheapest few, each made
  /// to fit and searched locally.
  void messagePassing(double seconds);

  const ShardingProblem &problem;
  const SolverOptions &options;
  std::mt19937_64 rng;
  Clock::time_point start;

  std::vector<MergedEdge> edges;
  std::vector<std::vector<std::pair<int32_t, bool>>> adjacency;
  /// Per node, its live steps among the compressed ones: [first, second).
  std::vector<std::pair<int64_t, int64_t>> span;
  int64_t steps = 0;
  bool memoryMatters = false;
  UsageTree usageTree;
  std::vector<int32_t> choice;
  /// Per node, the price of a byte of its memory (empty: none).
  std::vector<double> penalty;
  /// This is the search of a part (a reduced problem, a region): it
  /// reduces no further, solves no regions, and runs no bound or message
  /// passing of its own.
  bool isReduced = false;
  /// With the lower-bound thread (not for a reduced problem's search).
  std::shared_ptr<Shared> shared;

  Solution best;
  /// When the search last found a better solution (seconds).
  double improvedAt = 0;
  /// A second incumbent in another basin (message passing's best, when
  /// an exact solve found a cheaper one): once the best stops improving,
  /// the neighbourhood search grows every other region from it, keeping
  /// what improves it, so that the search does not settle in the first
  /// basin alone.
  struct Incumbent {
    std::vector<int32_t> choice;
    Cost cost = 0;
  };
  std::optional<Incumbent> alternative;
  /// `choice` as the alternative, if it fits and costs less than it.
  void offerAlternative();
};

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_SEARCH_H
