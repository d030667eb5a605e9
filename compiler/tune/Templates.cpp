//===- Templates.cpp - Expert partition plans for tessel-tune -------------===//

#include "compiler/tune/Templates.h"

#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_join.h"
#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/ShardingRules.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace tessel::tune {
namespace {

/// A parameter and, per dimension of the value traced to it, the
/// parameter's dimension.
struct Traced {
  mlir::BlockArgument parameter;
  llvm::SmallVector<int64_t> dims;
};

/// The one factor of dimension `dim` of operand (or result) `index`, or -1
/// (none, or several).
int64_t soleFactor(spmd::OpShardingRuleAttr rule, bool isResult, int64_t index,
                   int64_t dim) {
  llvm::SmallVector<int64_t> factors = rule.factorsOf(isResult, index, dim);
  return factors.size() == 1 ? factors.front() : -1;
}

/// `value` as a parameter whose dimensions only moved on the way (a
/// transpose, a type conversion: one operand, one result, every result
/// dimension one operand dimension's factor); nullopt otherwise.
std::optional<Traced> traceParameter(mlir::Value value) {
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
  if (!type)
    return std::nullopt;
  llvm::SmallVector<int64_t> dims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    dims.push_back(d);
  while (mlir::Operation *op = value.getDefiningOp()) {
    spmd::OpShardingRuleAttr rule = spmd::getShardingRule(op);
    if (!rule || op->getNumOperands() != 1 || op->getNumResults() != 1 ||
        rule.numOperands() != 1)
      return std::nullopt;
    auto operandType =
        mlir::dyn_cast<mlir::RankedTensorType>(op->getOperand(0).getType());
    if (!operandType || operandType.getRank() != type.getRank())
      return std::nullopt;
    std::map<int64_t, int64_t> operandDimOf;
    for (int64_t d = 0; d < operandType.getRank(); ++d)
      if (int64_t factor = soleFactor(rule, false, 0, d); factor >= 0)
        operandDimOf[factor] = d;
    for (int64_t &dim : dims) {
      int64_t factor = soleFactor(rule, true, 0, dim);
      auto it = operandDimOf.find(factor);
      if (factor < 0 || it == operandDimOf.end() ||
          rule.isPermutation(factor) || rule.isReduction(factor))
        return std::nullopt;
      dim = it->second;
    }
    value = op->getOperand(0);
  }
  auto argument = mlir::dyn_cast<mlir::BlockArgument>(value);
  auto function = argument ? mlir::dyn_cast<mlir::func::FuncOp>(
                                 argument.getOwner()->getParentOp())
                           : nullptr;
  if (!function ||
      !function.getArgAttr(argument.getArgNumber(),
                           graph::GraphDialect::kParameterAttr) ||
      !function.getArgAttr(argument.getArgNumber(),
                           graph::GraphDialect::kNameAttr))
    return std::nullopt;
  return Traced{argument, dims};
}

/// The contraction `op` as a weight use, if one operand is a parameter and
/// another is not.
std::optional<WeightUse> weightUseOf(mlir::Operation *op,
                                     mlir::func::FuncOp function) {
  spmd::OpShardingRuleAttr rule = spmd::getShardingRule(op);
  if (!rule || rule.getReductionFactors().empty() || op->getNumResults() != 1)
    return std::nullopt;
  std::optional<Traced> weight;
  int64_t weightIndex = -1;
  std::vector<int64_t> activations;
  for (int64_t i = 0; i < static_cast<int64_t>(op->getNumOperands()); ++i) {
    std::optional<Traced> traced = traceParameter(op->getOperand(i));
    if (traced && !weight) {
      weight = traced;
      weightIndex = i;
    } else if (!traced) {
      activations.push_back(i);
    }
  }
  if (!weight || activations.empty())
    return std::nullopt;
  auto onActivation = [&](int64_t factor) {
    for (int64_t a : activations) {
      auto type =
          mlir::cast<mlir::RankedTensorType>(op->getOperand(a).getType());
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (llvm::is_contained(rule.factorsOf(false, a, d), factor))
          return true;
    }
    return false;
  };
  auto onResult = [&](int64_t factor) {
    auto type = mlir::cast<mlir::RankedTensorType>(op->getResult(0).getType());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (llvm::is_contained(rule.factorsOf(true, 0, d), factor))
        return true;
    return false;
  };
  // A contraction sums over a factor the weight shares with an activation;
  // a gather from a table (whose rows' factor is a reduction too: each
  // device picks the rows it holds) shares none.
  auto weightType =
      mlir::cast<mlir::RankedTensorType>(op->getOperand(weightIndex).getType());
  bool contracts = false;
  for (int64_t d = 0; d < weightType.getRank(); ++d)
    for (int64_t factor : rule.factorsOf(false, weightIndex, d))
      contracts |= rule.isReduction(factor) && onActivation(factor);
  if (!contracts)
    return std::nullopt;
  WeightUse use;
  use.parameter = mlir::cast<mlir::StringAttr>(
                      function.getArgAttr(weight->parameter.getArgNumber(),
                                          graph::GraphDialect::kNameAttr))
                      .str();
  use.rank = static_cast<int64_t>(weight->dims.size());
  for (int64_t d = 0; d < use.rank; ++d) {
    int64_t factor = soleFactor(rule, false, weightIndex, d);
    if (factor < 0 || rule.isNeedReplication(factor) ||
        rule.isPermutation(factor))
      continue;
    if (rule.isReduction(factor) && onActivation(factor) &&
        use.contractedDim < 0)
      use.contractedDim = weight->dims[d];
    else if (!rule.isReduction(factor) && !onActivation(factor) &&
             onResult(factor))
      // The innermost: a fused weight viewed as [parts, features, inputs]
      // (--graph-view-fused-weights) splits each part's features.
      use.outputDim = weight->dims[d];
  }
  if (use.outputDim < 0 && use.contractedDim < 0)
    return std::nullopt;
  return use;
}

} // namespace

std::vector<WeightUse> weightUses(mlir::ModuleOp module) {
  std::vector<WeightUse> uses;
  // The rules are spmd attributes.
  module.getContext()->getOrLoadDialect<spmd::SpmdDialect>();
  for (mlir::func::FuncOp function : module.getOps<mlir::func::FuncOp>()) {
    function.walk([&](mlir::Operation *op) {
      if (std::optional<WeightUse> use = weightUseOf(op, function))
        uses.push_back(*use);
    });
    break; // Tessel's modules hold one function.
  }
  return uses;
}

std::string splitSpec(int64_t rank, int64_t dim,
                      const std::vector<std::string> &axes) {
  std::vector<std::string> entries(rank, "null");
  if (dim >= 0 && dim < rank && !axes.empty()) {
    std::vector<std::string> quoted;
    for (const std::string &axis : axes)
      quoted.push_back("\"" + axis + "\"");
    entries[dim] = quoted.size() == 1 ? quoted[0]
                                      : "[" + absl::StrJoin(quoted, ", ") + "]";
  }
  return "[" + absl::StrJoin(entries, ", ") + "]";
}

proto::Plan megatronPlan(const std::vector<WeightUse> &uses,
                         const std::vector<std::string> &axes) {
  proto::Plan plan;
  std::set<std::string> planned;
  bool columnTurn = true;
  for (const WeightUse &use : uses) {
    bool column = columnTurn ? use.outputDim >= 0 : use.contractedDim < 0;
    if (planned.insert(use.parameter).second) {
      proto::TensorPlan *tensor = plan.add_tensors();
      tensor->set_name(use.parameter);
      tensor->set_spec(splitSpec(
          use.rank, column ? use.outputDim : use.contractedDim, axes));
    }
    columnTurn = !column;
  }
  return plan;
}

} // namespace tessel::tune
