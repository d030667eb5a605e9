//===- AutoShard.h - Choose shardings by the cost model ---------*- C++ -*-===//
//
// The work of --spmd-auto-shard as a function, for tools that also want
// the modeled cost of the plan it chose.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_AUTOSHARD_H
#define TESSEL_PASSES_AUTOSHARD_AUTOSHARD_H

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compiler/cost/CostModel.h"
#include "mlir/IR/BuiltinOps.h"

namespace tessel::autoshard {

struct AutoShardOptions {
  /// Bytes per device; 0: the profile's memory.
  int64_t memoryBudget = 0;
  /// Time limit of the search, seconds.
  double seconds = 10.0;
  /// Rounds of neighbourhood search without a better plan before it stops.
  int64_t patience = 2000;
  /// ... or seconds without one (a region's exact solve is far slower than
  /// a local round, so rounds alone let a large model's search run out
  /// its whole time limit).
  double staleSeconds = 1.0;
  /// Called with (seconds so far, modeled seconds of the best plan) as the
  /// search improves.
  std::function<void(double, double)> onProgress;
  /// A tensor whose candidates the report explains (null: none).
  mlir::Value explain;
  /// Record, per tensor chosen, --auto's modeled gain as the origin of its
  /// layout (spmd.origins), unless the plan fixed it.
  bool recordOrigins = false;
  /// How many next-best plans to list besides the best (0: none): each the
  /// best plan under another layout of the `alternativeDecisions` largest
  /// inputs and parameters, the rest the search's (Solver.h nextBest).
  int alternatives = 0;
  int alternativeDecisions = 4;
  /// Price the shardings the function has instead of choosing: every
  /// value keeps its layout exactly (open dimensions too; a value without
  /// one stays whole), so the report is the cost model's figure for a
  /// given plan (as propagation completed it).
  bool priceOnly = false;
};

/// A next-best plan: its modeled step and the layouts of the decisions it
/// differs in, as plan entries (name, spec) for all of the decisions.
struct AutoShardAlternative {
  double seconds = 0;
  int64_t peakBytes = 0;
  std::vector<std::pair<std::string, std::string>> layouts;
};

/// The plan's modeled step, per device.
struct AutoShardReport {
  double computeSeconds = 0, communicationSeconds = 0;
  /// The peak counts the runtime's own memory (runtimeBytes, the device
  /// profile's) with the program's.
  int64_t peakBytes = 0, budgetBytes = 0, runtimeBytes = 0;
  /// Of the peak, the largest workspace of the plan's collectives (the
  /// device profile's collective_workspace).
  int64_t workspaceBytes = 0;
  int64_t nodes = 0, strategies = 0, edges = 0;
  bool feasible = false, optimal = false;
  /// The plan was priced as given (AutoShardOptions::priceOnly).
  bool priced = false;
  double solveSeconds = 0;
  /// The solver's objective (the modeled step) and the lower bound it
  /// proved on any plan that fits, in seconds; no plan is cheaper under
  /// the cost model than the bound.
  double costSeconds = 0;
  std::optional<double> lowerBoundSeconds;
  std::string method;
  /// The device profile the plan was priced for.
  std::string profile;
  /// For AutoShardOptions::explain: one line per candidate layout.
  std::string explanation;
  /// When the memory budget binds (the best plan found without it does
  /// not fit): what fitting cost, in modeled time, and the tensors laid
  /// out to hold less than they would have been. Empty otherwise.
  std::string budgetNote;
  /// For a training step, how the plan fared without ZeRO and with each
  /// stage over each axis, and which was chosen (set by the API's
  /// ShardingOptions::zeroCandidates; empty otherwise).
  std::string zeroNote;
  /// Where the modeled peak is: the op it falls at (its name, or its
  /// location) and the largest tensors live there (name, bytes per
  /// device; unnamed ones by their op's name).
  std::string peakAt;
  std::vector<std::pair<std::string, int64_t>> peakLive;
  /// AutoShardOptions::alternatives of them, cheapest first; and the best
  /// plan's layouts of the same decisions.
  std::vector<AutoShardAlternative> alternatives;
  std::vector<std::pair<std::string, std::string>> decisionLayouts;
};

/// Chooses and writes shardings for the one function of `module` (which
/// holds one spmd.mesh); errors are diagnostics on the module.
mlir::FailureOr<AutoShardReport> autoShard(mlir::ModuleOp module,
                                           const cost::CostModel &model,
                                           const AutoShardOptions &options);

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_AUTOSHARD_H
