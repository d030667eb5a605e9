//===- Strategies.cpp - The candidate shardings of a node -----------------===//

#include "passes/autoshard/Strategies.h"

#include <functional>
#include <optional>
#include <set>

#include "dialects/spmd/ShardingRules.h"

namespace tessel::autoshard {

namespace {
mlir::RankedTensorType tensorOf(mlir::Value value) {
  return mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
}
} // namespace

std::vector<std::string> StrategyNode::reducedAxes(size_t s) const {
  std::vector<std::string> names;
  if (!op)
    return names;
  for (auto [f, list] : llvm::enumerate(factors[s]))
    if (rule.isReduction(f))
      for (spmd::AxisRefAttr axis : list)
        names.push_back(spmd::axisName(axis));
  return names;
}

StrategyEnumerator::StrategyEnumerator(spmd::MeshAttr mesh) : mesh(mesh) {
  for (spmd::MeshAxisAttr axis : mesh.getAxes())
    axes.push_back(
        spmd::AxisRefAttr::get(mesh.getContext(), axis.getName(), 0, 0));
}

Dims StrategyEnumerator::implied(const StrategyNode &node,
                                 const llvm::SmallVector<AxisList> &factors,
                                 bool isResult, int64_t index) const {
  mlir::Value value =
      isResult ? node.op->getResult(index) : node.op->getOperand(index);
  int64_t rank = tensorOf(value).getRank();
  llvm::ArrayRef<int64_t> sizes = node.rule.getFactorSizes();
  Dims dims;
  for (int64_t d = 0; d < rank; ++d) {
    llvm::SmallVector<AxisList> dimFactors;
    llvm::SmallVector<int64_t> factorSizes;
    for (int64_t f : node.rule.factorsOf(isResult, index, d)) {
      dimFactors.push_back(factors[f]);
      factorSizes.push_back(sizes[f]);
    }
    dims.push_back(
        propagation::projectToDimension(dimFactors, factorSizes, mesh));
  }
  return dims;
}

bool StrategyEnumerator::expressible(
    const StrategyNode &node,
    const llvm::SmallVector<AxisList> &factors) const {
  llvm::ArrayRef<int64_t> sizes = node.rule.getFactorSizes();
  auto check = [&](bool isResult, int64_t index, int64_t rank) {
    for (int64_t d = 0; d < rank; ++d) {
      llvm::SmallVector<int64_t> fs = node.rule.factorsOf(isResult, index, d);
      llvm::SmallVector<AxisList> dimFactors;
      llvm::SmallVector<int64_t> factorSizes;
      for (int64_t f : fs) {
        dimFactors.push_back(factors[f]);
        factorSizes.push_back(sizes[f]);
      }
      llvm::SmallVector<AxisList> back = propagation::projectToFactors(
          propagation::projectToDimension(dimFactors, factorSizes, mesh),
          factorSizes, mesh);
      if (back != dimFactors)
        return false;
    }
    return true;
  };
  for (auto [i, operand] : llvm::enumerate(node.op->getOperands()))
    if (!check(false, i, tensorOf(operand).getRank()))
      return false;
  for (auto [j, result] : llvm::enumerate(node.op->getResults()))
    if (!check(true, j, tensorOf(result).getRank()))
      return false;
  return true;
}

StrategyNode StrategyEnumerator::forOp(mlir::Operation *op,
                                       spmd::OpShardingRuleAttr rule,
                                       bool even) const {
  StrategyNode node;
  node.value = op->getResult(0);
  node.op = op;
  node.rule = rule;
  llvm::ArrayRef<int64_t> sizes = rule.getFactorSizes();
  int64_t numFactors = static_cast<int64_t>(sizes.size());
  std::vector<int64_t> assignment(axes.size(), -1);
  std::function<void(size_t)> assign = [&](size_t a) {
    if (a == axes.size()) {
      llvm::SmallVector<AxisList> factors(numFactors);
      for (size_t k = 0; k < axes.size(); ++k)
        if (assignment[k] >= 0)
          factors[assignment[k]].push_back(axes[k]);
      for (int64_t f = 0; even && f < numFactors; ++f)
        if (sizes[f] % spmd::totalSize(factors[f], mesh) != 0)
          return;
      if (!expressible(node, factors))
        return;
      node.factors.push_back(factors);
      node.result.push_back(implied(node, factors, true, 0));
      std::vector<Dims> operands;
      for (unsigned i = 0; i < op->getNumOperands(); ++i)
        operands.push_back(tensorOf(op->getOperand(i))
                               ? implied(node, factors, false, i)
                               : Dims());
      node.operands.push_back(std::move(operands));
      return;
    }
    for (int64_t f = -1; f < numFactors; ++f) {
      if (f >= 0 &&
          (rule.isNeedReplication(f) || rule.isPermutation(f) || sizes[f] == 1))
        continue;
      assignment[a] = f;
      assign(a + 1);
    }
  };
  assign(0);
  return node;
}

StrategyNode
StrategyEnumerator::forArgument(mlir::BlockArgument argument) const {
  StrategyNode node;
  node.value = argument;
  mlir::RankedTensorType type = tensorOf(argument);
  int64_t rank = type.getRank();
  std::vector<int64_t> assignment(axes.size(), -1);
  std::function<void(size_t)> assign = [&](size_t a) {
    if (a == axes.size()) {
      Dims dims(rank);
      for (size_t k = 0; k < axes.size(); ++k)
        if (assignment[k] >= 0)
          dims[assignment[k]].push_back(axes[k]);
      for (int64_t d = 0; d < rank; ++d)
        if (type.getDimSize(d) % spmd::totalSize(dims[d], mesh) != 0)
          return;
      node.result.push_back(dims);
      return;
    }
    for (int64_t d = -1; d < rank; ++d) {
      if (d >= 0 && type.getDimSize(d) == 1)
        continue;
      assignment[a] = d;
      assign(a + 1);
    }
  };
  assign(0);
  return node;
}

bool StrategyEnumerator::constrain(StrategyNode &node,
                                   spmd::ShardingAttr wanted,
                                   bool exactly) const {
  if (!wanted && !exactly)
    return true;
  // Exactly: the partial axes too (a product partial over the batch axis
  // and one reading its operands gathered give one result layout).
  std::optional<std::set<std::string>> partial;
  if (exactly && wanted && node.op) {
    partial.emplace();
    for (spmd::PartialAxisAttr axis : wanted.getPartial())
      partial->insert(spmd::axisName(axis.getAxis()));
  }
  llvm::SmallVector<size_t> keep;
  for (size_t s = 0; s < node.result.size(); ++s) {
    bool matches = true;
    if (partial) {
      std::vector<std::string> axes = node.reducedAxes(s);
      matches = std::set<std::string>(axes.begin(), axes.end()) == *partial;
    }
    for (auto [d, axes] : llvm::enumerate(node.result[s])) {
      spmd::DimensionShardingAttr dim =
          wanted ? wanted.getDims()[d] : spmd::DimensionShardingAttr();
      if (!dim ? !axes.empty()
               : (exactly || dim.getIsClosed()) &&
                     AxisList(dim.getAxes().begin(), dim.getAxes().end()) !=
                         axes)
        matches = false;
    }
    if (matches)
      keep.push_back(s);
  }
  if (keep.empty())
    return false;
  auto select = [&](auto &list) {
    std::decay_t<decltype(list)> kept;
    for (size_t s : keep)
      kept.push_back(list[s]);
    list = std::move(kept);
  };
  select(node.result);
  if (node.op) {
    select(node.factors);
    select(node.operands);
  }
  return true;
}

} // namespace tessel::autoshard
