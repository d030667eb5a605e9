//===- Strategies.h - The candidate shardings of a node ---------*- C++ -*-===//
//
// Auto-sharding's choices: for a function argument, which mesh axes split
// which of its dimensions; for an op with a sharding rule, which mesh axes
// split which of its factors, and the layouts of its operands and result
// that follow. Each mesh axis goes to one eligible dimension or factor, or
// to none.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_STRATEGIES_H
#define TESSEL_PASSES_AUTOSHARD_STRATEGIES_H

#include <vector>

#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Operation.h"
#include "passes/propagation/ShardingProjection.h"

namespace tessel::autoshard {

using propagation::AxisList;
/// Per dimension of a tensor, the mesh axes that split it (major first).
using Dims = llvm::SmallVector<AxisList>;

/// A node of the problem: a function argument, or an op and its first
/// result, with its strategies.
struct StrategyNode {
  mlir::Value value;
  mlir::Operation *op = nullptr;
  spmd::OpShardingRuleAttr rule;
  /// Per strategy: the factors' axes (ops), the result's (or argument's)
  /// layout, and each operand's.
  std::vector<llvm::SmallVector<AxisList>> factors;
  std::vector<Dims> result;
  std::vector<std::vector<Dims>> operands;

  size_t size() const { return result.size(); }
  /// The mesh axes strategy `s` splits its reduction factors over (its
  /// result's partial axes), by name, in factor order.
  std::vector<std::string> reducedAxes(size_t s) const;
};

class StrategyEnumerator {
public:
  explicit StrategyEnumerator(spmd::MeshAttr mesh);

  /// An argument's node: every split of its dimensions that divides them.
  StrategyNode forArgument(mlir::BlockArgument argument) const;
  /// An op's node (`op` has a rule and tensor operands and results). With
  /// `even`, only splits that divide their factors (an annotation may ask
  /// for an uneven one: then those are enumerated too).
  StrategyNode forOp(mlir::Operation *op, spmd::OpShardingRuleAttr rule,
                     bool even = true) const;
  /// Keeps the strategies whose result layout is `wanted`'s closed
  /// dimensions (with `exactly`, all of its dimensions: open ones too,
  /// and no `wanted` at all means whole, and its partial axes are those
  /// the strategy reduces over); false (and `node` unchanged) if
  /// none would be left.
  bool constrain(StrategyNode &node, spmd::ShardingAttr wanted,
                 bool exactly = false) const;

private:
  /// The layout `factors` imply for operand or result `index`.
  Dims implied(const StrategyNode &node,
               const llvm::SmallVector<AxisList> &factors, bool isResult,
               int64_t index) const;
  /// Whether every dimension can express `factors` (a minor factor of a
  /// merged dimension is split only below a fully split major one).
  bool expressible(const StrategyNode &node,
                   const llvm::SmallVector<AxisList> &factors) const;

  spmd::MeshAttr mesh;
  AxisList axes;
};

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_STRATEGIES_H
