//===- ShardingRules.h - Sharding rules and their builder -------*- C++ -*-===//
//
// A sharding rule maps every dimension of an op's operands and results to
// factors. OpShardingRuleBuilder writes rules as a few addFactor calls:
//
//   // dot_general [m, k] x [k, n] -> [m, n]
//   builder.addFactor({0, -1}, {0}, m);                       // m
//   builder.addFactor({-1, 1}, {1}, n);                       // n
//   builder.addFactor({1, 0}, {-1}, k, FactorKind::Reduction); // k
//
// A dimension that gets several factors is their product, major first (a
// reshape's merged dimension). Dimensions of size 1 need no factor.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_SPMD_SHARDINGRULES_H
#define TESSEL_DIALECTS_SPMD_SHARDINGRULES_H

#include <optional>

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/Operation.h"

#include "dialects/spmd/ShardingRuleInterface.h.inc"

namespace tessel::spmd {

enum class FactorKind { PassThrough, Reduction, NeedReplication, Permutation };

class OpShardingRuleBuilder {
public:
  explicit OpShardingRuleBuilder(mlir::Operation *op);

  /// A factor of `size` on dimension operandDims[i] of operand i and
  /// resultDims[j] of result j (-1: not on that tensor).
  OpShardingRuleBuilder &addFactor(llvm::ArrayRef<int64_t> operandDims,
                                   llvm::ArrayRef<int64_t> resultDims,
                                   int64_t size,
                                   FactorKind kind = FactorKind::PassThrough);
  /// One factor per dimension, shared by every operand and result (all of
  /// `shape`): elementwise ops.
  OpShardingRuleBuilder &addPointwise(llvm::ArrayRef<int64_t> shape);
  /// A factor on one dimension of one operand (or result) only.
  OpShardingRuleBuilder &addOperandFactor(int64_t operand, int64_t dim,
                                          int64_t size, FactorKind kind);
  OpShardingRuleBuilder &addResultFactor(int64_t result, int64_t dim,
                                         int64_t size, FactorKind kind);

  OpShardingRuleAttr build();

private:
  mlir::MLIRContext *context;
  llvm::SmallVector<llvm::SmallVector<llvm::SmallVector<int64_t>>> operands;
  llvm::SmallVector<llvm::SmallVector<llvm::SmallVector<int64_t>>> results;
  llvm::SmallVector<int64_t> sizes;
  llvm::SmallVector<int64_t> reduction, needReplication, permutation;
};

/// `op`'s sharding rule: its `spmd.sharding_rule` attribute if it has one,
/// else its interface's, else null.
OpShardingRuleAttr getShardingRule(mlir::Operation *op);

/// How the per-device results of `op` combine when one of its reduction
/// factors is sharded: "sum", "max" or "min"; empty if they cannot be
/// combined (then its rule makes those factors need-replication). Ops with
/// a custom rule combine by "sum". A partial result holds, per device, the
/// op over its shard of the reduced factor; for a float `graph.reduce mean`
/// that is the shard's sum divided by the full count (the partitioner
/// rewrites it so), and an integer mean keeps its dimension whole.
llvm::StringRef partialReductionOf(mlir::Operation *op);

/// How a windowed op (convolution, max_pool, avg_pool) can split spatial
/// dimension `d` (>= 2) of its input and result alike, with halos: output
/// row o reads input rows from o * stride - low on, and the input is stride
/// times the output long, so a device holding n output rows and the
/// matching stride * n input rows also needs `low` rows before them and
/// `high` after (either may be negative: fewer of its own) from its
/// neighbours, and `padding` past the ends (what the op pads with: 0, or
/// -inf for a max). Nullopt where the dimension cannot split so (sizes not
/// in that ratio, a dilated input, an average that does not count its
/// padding).
struct WindowHalo {
  int64_t stride = 1, low = 0, high = 0;
  double padding = 0.0;
};
std::optional<WindowHalo> windowHalo(mlir::Operation *op, int64_t d);

/// Attaches ShardingRuleOpInterface to the graph dialect's ops.
void registerGraphShardingRules(mlir::DialectRegistry &registry);

} // namespace tessel::spmd

#endif // TESSEL_DIALECTS_SPMD_SHARDINGRULES_H
