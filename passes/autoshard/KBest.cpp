//===- KBest.cpp - The next-best solutions, distinct in their decisions ---===//
//
// Lawler's partitioning (as Murty's ranked assignments): the solutions not
// yet listed are split, after each listed one S, into disjoint subproblems:
// the i-th fixes the decisions before the i-th to S's strategies and
// forbids S's strategy at the i-th. The cheapest subproblem's solution is
// the next in the list, and is split in turn. Every subproblem is the
// whole problem with the strategies it excludes priced kForbidden, solved
// by solve() from scratch. A solution the caller does not keep is split
// all the same (its subproblems hold solutions it may keep).
//
//===----------------------------------------------------------------------===//

#include <map>
#include <set>

#include "passes/autoshard/Solver.h"

namespace tessel::autoshard {
namespace {

/// Which strategies of the decisions a subproblem excludes: a fixed
/// decision excludes all but one.
struct Constraints {
  std::map<int32_t, int32_t> fixed;
  std::map<int32_t, std::set<int32_t>> forbidden;
};

struct Subproblem {
  Constraints constraints;
  Solution solution;
};

/// `problem` with what `constraints` exclude priced kForbidden.
ShardingProblem restricted(const ShardingProblem &problem,
                           const Constraints &constraints) {
  ShardingProblem result = problem;
  for (auto [node, kept] : constraints.fixed)
    for (int32_t s = 0; s < problem.strategies(node); ++s)
      if (s != kept)
        result.nodes[node].costs[s] = kForbidden;
  for (const auto &[node, strategies] : constraints.forbidden)
    for (int32_t s : strategies)
      result.nodes[node].costs[s] = kForbidden;
  return result;
}

bool allowed(const Solution &solution) {
  return solution.feasible && solution.cost < kForbidden;
}

} // namespace

std::vector<Solution>
nextBest(const ShardingProblem &problem, const SolverOptions &options,
         const Solution &best, int count, const std::vector<int32_t> &decisions,
         const std::function<bool(const Solution &)> &keep) {
  std::vector<Solution> listed;
  if (count <= 0 || !allowed(best))
    return listed;
  // Open subproblems, cheapest solution first (ties: the order found).
  std::multimap<Cost, Subproblem> open;
  auto split = [&](const Constraints &parent, const Solution &solution) {
    Constraints prefix = parent;
    for (int32_t decision : decisions) {
      if (prefix.fixed.count(decision))
        continue;
      Constraints child = prefix;
      std::set<int32_t> &excluded = child.forbidden[decision];
      excluded.insert(solution.choice[decision]);
      if (static_cast<int32_t>(excluded.size()) <
          problem.strategies(decision)) {
        SolverOptions quiet = options;
        quiet.onProgress = nullptr;
        Solution found = solve(restricted(problem, child), quiet);
        if (allowed(found))
          open.emplace(found.cost, Subproblem{child, std::move(found)});
      }
      prefix.fixed[decision] = solution.choice[decision];
      prefix.forbidden.erase(decision);
    }
  };
  split(Constraints{}, best);
  while (static_cast<int>(listed.size()) < count && !open.empty()) {
    Subproblem next = std::move(open.begin()->second);
    open.erase(open.begin());
    if (!keep || keep(next.solution))
      listed.push_back(next.solution);
    if (static_cast<int>(listed.size()) < count)
      split(next.constraints, next.solution);
  }
  return listed;
}

} // namespace tessel::autoshard
