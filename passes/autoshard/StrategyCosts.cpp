//===- StrategyCosts.cpp - What a strategy and a reshard cost -------------===//

#include "passes/autoshard/StrategyCosts.h"

#include <algorithm>
#include <numeric>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/DeviceGroups.h"
#include "passes/partition/ReshardPlan.h"

namespace tessel::autoshard {

namespace {

mlir::RankedTensorType tensorOf(mlir::Value value) {
  return mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
}

std::string elementName(mlir::Type type) {
  std::string name;
  llvm::raw_string_ostream stream(name);
  type.print(stream);
  return name;
}

int64_t elementBytes(mlir::RankedTensorType type) {
  return std::max<int64_t>(1, (type.getElementTypeBitWidth() + 7) / 8);
}

/// The partitioner's form of a layout: axis names per dimension.
partition::Layout layoutOf(const Dims &dims) {
  partition::Layout result;
  for (const AxisList &dim : dims) {
    partition::Axes names;
    for (spmd::AxisRefAttr axis : dim)
      names.push_back(spmd::axisName(axis));
    result.dims.push_back(names);
  }
  return result;
}

} // namespace

std::string kernelFamilyOf(mlir::Operation *op) {
  // Ops without a kernel of their own (elementwise ops, broadcasts) run in
  // a fused chain.
  if (!op->hasTrait<graph::OpTrait::HostKernel>())
    return "fusion";
  return op->getName().stripDialect().str();
}

double flopsOf(mlir::Operation *op) {
  if (auto cost = mlir::dyn_cast<graph::CostOpInterface>(op))
    return cost.getFlops();
  mlir::RankedTensorType type =
      op->getNumResults() ? tensorOf(op->getResult(0)) : nullptr;
  return type ? static_cast<double>(type.getNumElements()) : 0.0;
}

int64_t StrategyCosts::localBytes(mlir::RankedTensorType type,
                                  const Dims &dims) const {
  int64_t elements = 1;
  for (int64_t d = 0; d < type.getRank(); ++d)
    elements *=
        llvm::divideCeil(type.getDimSize(d), spmd::totalSize(dims[d], mesh));
  return elements * elementBytes(type);
}

std::vector<int64_t>
StrategyCosts::groupOf(const std::vector<std::string> &names) const {
  return spmd::deviceGroups(mesh, names).front();
}

const StrategyCosts::Reshard &
StrategyCosts::reshard(mlir::RankedTensorType type, const Dims &from,
                       const Dims &to) {
  static const Reshard none;
  if (from == to)
    return none;
  // Types and axes are uniqued: their pointers name them. A null opens
  // each dimension's axes (both layouts have the type's rank).
  std::vector<const void *> key = {type.getAsOpaquePointer()};
  for (const Dims *dims : {&from, &to})
    for (const AxisList &dim : *dims) {
      key.push_back(nullptr);
      for (spmd::AxisRefAttr axis : dim)
        key.push_back(axis.getAsOpaquePointer());
    }
  if (auto it = reshardCache.find(key); it != reshardCache.end())
    return it->second;
  partition::Layout source = layoutOf(from), target = layoutOf(to);
  std::string error;
  mlir::FailureOr<std::vector<partition::CollectiveStep>> steps =
      partition::planReshard(source, target, type.getShape(), mesh, error);
  double seconds = 0;
  int64_t workspace = 0;
  // A collective's price, and its workspace with `bytes` passed in.
  auto collective = [&](cost::Collective kind, double bytes, double in,
                        const std::vector<int64_t> &group) {
    seconds += model.collectiveSeconds(kind, bytes, group);
    if (group.size() > 1)
      workspace = std::max(workspace, model.collectiveWorkspaceBytes(kind, in));
  };
  if (mlir::succeeded(steps))
    for (const partition::CollectiveStep &step : *steps) {
      auto bytesOf = [&](const partition::Layout &l) {
        int64_t elements = 1;
        for (int64_t d = 0; d < type.getRank(); ++d)
          elements *= llvm::divideCeil(type.getDimSize(d),
                                       partition::partsOf(l.dims[d], mesh));
        return static_cast<double>(elements * elementBytes(type));
      };
      partition::Axes flat;
      for (const partition::Axes &dim : step.perDim)
        flat.insert(flat.end(), dim.begin(), dim.end());
      switch (step.kind) {
      case partition::CollectiveStep::AllReduce:
        collective(cost::Collective::AllReduce, bytesOf(step.before),
                   bytesOf(step.before), groupOf(step.axes));
        break;
      case partition::CollectiveStep::AllGather:
        collective(cost::Collective::AllGather, bytesOf(step.after),
                   bytesOf(step.before), groupOf(flat));
        break;
      case partition::CollectiveStep::AllToAll:
        collective(cost::Collective::AllToAll, bytesOf(step.before),
                   bytesOf(step.before), groupOf(step.axes));
        break;
      case partition::CollectiveStep::CollectivePermute: {
        std::vector<int64_t> all(mesh.numDevices());
        std::iota(all.begin(), all.end(), 0);
        collective(cost::Collective::CollectivePermute, bytesOf(step.before),
                   bytesOf(step.before), all);
        break;
      }
      case partition::CollectiveStep::AllSlice:
        // Local: a copy of what is kept (exported as a pad).
        seconds +=
            model.computeShare(mesh.numDevices()) *
            model.kernelSeconds("pad", 0, elementName(type.getElementType()),
                                2 * bytesOf(step.after));
        break;
      }
    }
  Reshard priced{seconds, workspace, {}};
  if (mlir::succeeded(steps) && steps->size() == 1 &&
      steps->front().kind == partition::CollectiveStep::AllSlice &&
      llvm::count_if(steps->front().perDim, [](const partition::Axes &axes) {
        return !axes.empty();
      }) == 1) {
    for (const partition::Axes &axes : steps->front().perDim)
      priced.sliceAlone.insert(priced.sliceAlone.end(), axes.begin(),
                               axes.end());
    llvm::sort(priced.sliceAlone);
  }
  return reshardCache[key] = std::move(priced);
}

int64_t
StrategyCosts::reduceScatterWorkspaceBytes(const StrategyNode &node, size_t s,
                                           const std::vector<std::string> &axes,
                                           const Dims &to) {
  if (axes.empty() ||
      reshard(tensorOf(node.value), node.result[s], to).sliceAlone != axes)
    return 0;
  return model.collectiveWorkspaceBytes(
      cost::Collective::ReduceScatter,
      static_cast<double>(localBytes(tensorOf(node.value), node.result[s])));
}

std::pair<std::vector<std::string>, double>
StrategyCosts::partialOf(const StrategyNode &node, size_t s) const {
  mlir::RankedTensorType resultType = tensorOf(node.value);
  return {node.reducedAxes(s),
          static_cast<double>(localBytes(resultType, node.result[s]))};
}

std::pair<double, double>
StrategyCosts::strategySeconds(const StrategyNode &node, size_t s) const {
  if (!node.op)
    return {0, 0};
  // The devices that share the work: every axis any factor uses.
  double parts = 1;
  for (const AxisList &list : node.factors[s])
    parts *= static_cast<double>(spmd::totalSize(list, mesh));
  auto [partialAxes, resultBytes] = partialOf(node, s);
  double bytes = 0;
  for (auto [i, operand] : llvm::enumerate(node.op->getOperands()))
    if (mlir::RankedTensorType type = tensorOf(operand))
      bytes += static_cast<double>(localBytes(type, node.operands[s][i]));
  bytes += resultBytes;
  mlir::RankedTensorType resultType = tensorOf(node.value);
  double compute =
      model.computeShare(mesh.numDevices()) *
      model.kernelSeconds(kernelFamilyOf(node.op), flopsOf(node.op) / parts,
                          elementName(resultType.getElementType()), bytes);
  double communication = 0;
  if (!partialAxes.empty())
    communication = model.collectiveSeconds(cost::Collective::AllReduce,
                                            resultBytes, groupOf(partialAxes));
  return {compute, communication};
}

std::vector<std::string> StrategyCosts::partialAxes(const StrategyNode &node,
                                                    size_t s) const {
  if (!node.op)
    return {};
  std::vector<std::string> axes = partialOf(node, s).first;
  if (axes.empty() || groupOf(axes).size() <= 1)
    return {};
  llvm::sort(axes);
  return axes;
}

int64_t StrategyCosts::strategyWorkspaceBytes(const StrategyNode &node,
                                              size_t s) const {
  if (partialAxes(node, s).empty())
    return 0;
  return model.collectiveWorkspaceBytes(cost::Collective::AllReduce,
                                        partialOf(node, s).second);
}

} // namespace tessel::autoshard
