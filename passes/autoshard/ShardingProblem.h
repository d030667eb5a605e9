//===- ShardingProblem.h - Strategies, edges, memory ------------*- C++ -*-===//
//
// The auto-sharding problem in the solver's terms, as Alpa and XLA state it
// (and the IOPDDL contest files store it): every node (an op or a tensor)
// picks one of its strategies, each with a cost and a memory use; every
// edge adds the cost of the pair its two ends picked (resharding); a node
// holds its memory over an interval of time steps, and at no step may the
// live nodes' memory exceed the limit. Minimise the total cost.
//
// Costs are integers (the auto-shard pass counts picoseconds), summed in
// 128 bits: a cost of kForbidden marks a choice never to make, and several
// of those overflow 64 bits.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_SHARDINGPROBLEM_H
#define TESSEL_PASSES_AUTOSHARD_SHARDINGPROBLEM_H

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::autoshard {

using Cost = __int128;

/// A choice the problem forbids (IOPDDL's convention).
constexpr int64_t kForbidden = 1000000000000000000;

struct ShardingProblem {
  struct Node {
    std::vector<int64_t> costs;  // Per strategy.
    std::vector<int64_t> usages; // Per strategy, while live.
    /// Live at time steps [start, end).
    int64_t start = 0, end = 0;
  };
  struct Edge {
    int32_t u = 0, v = 0;
    /// |S_u| x |S_v|, row-major over u's strategies.
    std::vector<int64_t> costs;
  };

  std::string name;
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  std::optional<int64_t> usageLimit;

  int32_t strategies(int32_t node) const {
    return static_cast<int32_t>(nodes[node].costs.size());
  }
  /// Where `edge`'s pair of strategies under `choice` is in its costs (and
  /// in whatever else is laid out like them).
  size_t pairOf(const Edge &edge, const std::vector<int32_t> &choice) const {
    return static_cast<size_t>(choice[edge.u]) * nodes[edge.v].costs.size() +
           choice[edge.v];
  }
};

/// A choice of strategy per node, and what it costs.
struct Evaluation {
  Cost cost = 0;
  /// The most memory live at one step, and whether it is within the limit.
  int64_t peakUsage = 0;
  bool feasible = true;
};

/// Checks that the sizes agree (strategies per node, edge matrices, node
/// indices, intervals); an error names the first node or edge that does
/// not.
absl::Status validate(const ShardingProblem &problem);

/// Cost and memory of `choice` (one strategy per node).
Evaluation evaluate(const ShardingProblem &problem,
                    const std::vector<int32_t> &choice);

/// The edges of `problem` between two distinct nodes, those joining the
/// same pair (either way round) merged into one over (u, v), u < v:
/// `costs[a * |S_v| + b]` accumulates, by `add(total, cost)`, every such
/// edge's cost for u at strategy a and v at b (a reversed edge
/// transposed). `T` is the total's type; `adjacency[i]` lists the merged
/// edges at node i. Self-loops are left to the caller (only their diagonal
/// can be chosen: a node cost).
template <typename T> struct MergedEdges {
  struct Edge {
    int32_t u, v;
    std::vector<T> costs;
  };
  std::vector<Edge> edges;
  std::vector<std::vector<int32_t>> adjacency;
};
template <typename T, typename Add>
MergedEdges<T> mergeEdges(const ShardingProblem &problem, Add add) {
  MergedEdges<T> merged;
  std::map<std::pair<int32_t, int32_t>, int32_t> index;
  for (const ShardingProblem::Edge &edge : problem.edges) {
    if (edge.u == edge.v)
      continue;
    int32_t u = std::min(edge.u, edge.v), v = std::max(edge.u, edge.v);
    int32_t su = problem.strategies(edge.u), sv = problem.strategies(edge.v);
    auto [it, inserted] =
        index.try_emplace({u, v}, static_cast<int32_t>(merged.edges.size()));
    if (inserted)
      merged.edges.push_back(
          {u, v, std::vector<T>(static_cast<size_t>(su) * sv, T(0))});
    std::vector<T> &costs = merged.edges[it->second].costs;
    for (int32_t a = 0; a < su; ++a)
      for (int32_t b = 0; b < sv; ++b) {
        size_t at = edge.u == u ? static_cast<size_t>(a) * sv + b
                                : static_cast<size_t>(b) * su + a;
        costs[at] = add(costs[at], edge.costs[static_cast<size_t>(a) * sv + b]);
      }
  }
  merged.adjacency.assign(problem.nodes.size(), {});
  for (int32_t e = 0; e < static_cast<int32_t>(merged.edges.size()); ++e) {
    merged.adjacency[merged.edges[e].u].push_back(e);
    merged.adjacency[merged.edges[e].v].push_back(e);
  }
  return merged;
}

/// Memory peaks where some interval starts, so those times are the only
/// steps to check: each node's live steps among them, [first, second)
/// ({0, 0} for a node never live), and how many steps there are.
struct LiveSteps {
  int64_t steps = 0;
  std::vector<std::pair<int64_t, int64_t>> spans;
};
LiveSteps liveSteps(const ShardingProblem &problem);

/// `problem` without the strategies no choice that fits can take: at some
/// step of a node's life, the strategy's usage with every other node live
/// there at its least would pass the limit. On the contest's transformer
/// instances this removes 1-2% of the strategies but every one that would
/// overfill memory 30 times, so the relaxations see the memory that can
/// matter. `kept[i]` lists node i's strategies that stay, in order.
struct Presolved {
  ShardingProblem problem;
  std::vector<std::vector<int32_t>> kept;
};
/// Nothing when nothing goes (no limit, or every strategy can fit) or when
/// nothing fits at all (a node would keep no strategy).
std::optional<Presolved>
withoutStrategiesThatCannotFit(const ShardingProblem &problem);

/// Reads an IOPDDL contest file (uncompressed JSON: {"problem": {"name",
/// "nodes": {"intervals", "costs", "usages"}, "edges": {"nodes", "costs"},
/// "usage_limit"}}).
absl::StatusOr<ShardingProblem> parseIopddlJson(const std::string &text);

/// A 128-bit cost in decimal.
std::string toString(Cost cost);

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_SHARDINGPROBLEM_H
