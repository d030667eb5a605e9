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

#include <cstdint>
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
