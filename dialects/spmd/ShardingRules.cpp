//===- ShardingRules.cpp - Sharding rules and their builder ---------------===//

#include "dialects/spmd/ShardingRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include "dialects/spmd/ShardingRuleInterface.cpp.inc"

namespace tessel::spmd {

static int64_t rankOf(mlir::Type type) {
  auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
  return tensor ? tensor.getRank() : 0;
}

OpShardingRuleBuilder::OpShardingRuleBuilder(mlir::Operation *op)
    : context(op->getContext()) {
  for (mlir::Type type : op->getOperandTypes())
    operands.emplace_back(rankOf(type));
  for (mlir::Type type : op->getResultTypes())
    results.emplace_back(rankOf(type));
}

OpShardingRuleBuilder &
OpShardingRuleBuilder::addFactor(llvm::ArrayRef<int64_t> operandDims,
                                 llvm::ArrayRef<int64_t> resultDims,
                                 int64_t size, FactorKind kind) {
  int64_t factor = sizes.size();
  sizes.push_back(size);
  for (auto [i, dim] : llvm::enumerate(operandDims))
    if (dim >= 0 && i < operands.size())
      operands[i][dim].push_back(factor);
  for (auto [i, dim] : llvm::enumerate(resultDims))
    if (dim >= 0 && i < results.size())
      results[i][dim].push_back(factor);
  if (kind == FactorKind::Reduction)
    reduction.push_back(factor);
  else if (kind == FactorKind::NeedReplication)
    needReplication.push_back(factor);
  else if (kind == FactorKind::Permutation)
    permutation.push_back(factor);
  return *this;
}

OpShardingRuleBuilder &
OpShardingRuleBuilder::addPointwise(llvm::ArrayRef<int64_t> shape) {
  for (auto [d, size] : llvm::enumerate(shape)) {
    if (size == 1)
      continue;
    llvm::SmallVector<int64_t> operandDims(operands.size(), d);
    llvm::SmallVector<int64_t> resultDims(results.size(), d);
    addFactor(operandDims, resultDims, size);
  }
  return *this;
}

OpShardingRuleBuilder &
OpShardingRuleBuilder::addOperandFactor(int64_t operand, int64_t dim,
                                        int64_t size, FactorKind kind) {
  if (size == 1)
    return *this;
  llvm::SmallVector<int64_t> operandDims(operands.size(), -1);
  operandDims[operand] = dim;
  return addFactor(operandDims, {}, size, kind);
}

OpShardingRuleBuilder &OpShardingRuleBuilder::addResultFactor(int64_t result,
                                                              int64_t dim,
                                                              int64_t size,
                                                              FactorKind kind) {
  if (size == 1)
    return *this;
  llvm::SmallVector<int64_t> resultDims(results.size(), -1);
  resultDims[result] = dim;
  return addFactor({}, resultDims, size, kind);
}

OpShardingRuleAttr OpShardingRuleBuilder::build() {
  mlir::Builder builder(context);
  auto toAttr = [&](auto &tensors) {
    llvm::SmallVector<mlir::Attribute> tensorAttrs;
    for (auto &tensor : tensors) {
      llvm::SmallVector<mlir::Attribute> dims;
      for (auto &factors : tensor)
        dims.push_back(builder.getDenseI64ArrayAttr(factors));
      tensorAttrs.push_back(builder.getArrayAttr(dims));
    }
    return builder.getArrayAttr(tensorAttrs);
  };
  return OpShardingRuleAttr::get(context, sizes, toAttr(operands),
                                 toAttr(results), reduction, needReplication,
                                 permutation);
}

OpShardingRuleAttr getShardingRule(mlir::Operation *op) {
  if (auto custom =
          op->getAttrOfType<OpShardingRuleAttr>(SpmdDialect::kShardingRuleAttr))
    return custom;
  if (auto rule = mlir::dyn_cast<ShardingRuleOpInterface>(op))
    return rule.getShardingRule();
  return {};
}

} // namespace tessel::spmd
