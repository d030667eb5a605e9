//===- AutoShard.cpp - Choose shardings by the cost model -----------------===//
//
// Builds the ShardingProblem of a function (nodes: arguments and ops with
// sharding rules; strategies: which mesh axes shard which factors; edges:
// reshards priced by the partitioner's own chain), solves it, and writes
// the chosen layouts as closed shardings.
//
//===----------------------------------------------------------------------===//

#include "passes/autoshard/AutoShard.h"

#include <map>

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/DeviceGroups.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/autoshard/Passes.h"
#include "passes/autoshard/Solver.h"
#include "passes/partition/ReshardPlan.h"
#include "passes/propagation/ShardingProjection.h"

namespace tessel::autoshard {

#define GEN_PASS_DEF_AUTOSHARDPASS
#include "passes/autoshard/Passes.h.inc"

namespace {

using propagation::AxisList;
using spmd::AxisRefAttr;
using spmd::MeshAttr;
using spmd::OpShardingRuleAttr;
using spmd::ShardingAttr;

/// Per dimension, its axes.
using Dims = llvm::SmallVector<AxisList>;

constexpr double kPicoseconds = 1e12;

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

/// FLOPs of the whole op (the op's CostOpInterface; other dialects' ops
/// count one per result element).
double flopsOf(mlir::Operation *op) {
  if (auto cost = mlir::dyn_cast<graph::CostOpInterface>(op))
    return cost.getFlops();
  mlir::RankedTensorType type =
      op->getNumResults() ? tensorOf(op->getResult(0)) : nullptr;
  return type ? static_cast<double>(type.getNumElements()) : 0.0;
}

/// A node of the problem: a function argument, or an op and its first
/// result.
struct Node {
  mlir::Value value;
  mlir::Operation *op = nullptr;
  OpShardingRuleAttr rule;
  /// Per strategy: the factors' axes (ops), the result's (or argument's)
  /// layout, and each operand's.
  std::vector<llvm::SmallVector<AxisList>> factors;
  std::vector<Dims> result;
  std::vector<std::vector<Dims>> operands;
};

class Builder {
public:
  Builder(mlir::func::FuncOp function, MeshAttr mesh,
          mlir::FlatSymbolRefAttr meshRef, const cost::CostModel &model)
      : function(function), mesh(mesh), meshRef(meshRef), model(model),
        context(function.getContext()) {
    for (spmd::MeshAxisAttr axis : mesh.getAxes())
      axes.push_back(AxisRefAttr::get(context, axis.getName(), 0, 0));
  }

  mlir::FailureOr<AutoShardReport> run(const AutoShardOptions &options);

private:
  /// The layout `factors` imply for operand or result `index`.
  Dims implied(const Node &node, const llvm::SmallVector<AxisList> &factors,
               bool isResult, int64_t index) const;
  /// Whether every dimension can express `factors` (a minor factor of a
  /// merged dimension is split only below a fully split major one).
  bool expressible(const Node &node,
                   const llvm::SmallVector<AxisList> &factors) const;
  /// With `even`, only splits that divide their factors (an annotation
  /// may ask for an uneven one: then the others are enumerated too).
  void enumerateOp(Node &node, bool even = true) const;
  void enumerateArgument(Node &node) const;
  /// Keeps the strategies whose result layout is `wanted`'s closed
  /// dimensions; failure if none is left (an error if `report`).
  mlir::LogicalResult constrain(Node &node, ShardingAttr wanted,
                                bool report = true) const;

  int64_t localBytes(mlir::RankedTensorType type, const Dims &dims) const;
  partition::Layout layout(const Dims &dims) const;
  std::vector<int64_t> groupOf(const partition::Axes &names) const;
  /// Seconds to move a tensor of `type` from `from` to `to`.
  double reshardSeconds(mlir::RankedTensorType type, const Dims &from,
                        const Dims &to);
  /// Seconds of node `node`'s strategy `s`: compute, and the all-reduce
  /// of a partial result.
  std::pair<double, double> strategySeconds(const Node &node, size_t s) const;
  ShardingAttr toSharding(const Dims &dims) const;

  mlir::func::FuncOp function;
  MeshAttr mesh;
  mlir::FlatSymbolRefAttr meshRef;
  const cost::CostModel &model;
  mlir::MLIRContext *context;
  AxisList axes;
  std::map<std::string, double> reshardCache;
};

Dims Builder::implied(const Node &node,
                      const llvm::SmallVector<AxisList> &factors, bool isResult,
                      int64_t index) const {
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

bool Builder::expressible(const Node &node,
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

void Builder::enumerateOp(Node &node, bool even) const {
  llvm::ArrayRef<int64_t> sizes = node.rule.getFactorSizes();
  int64_t numFactors = static_cast<int64_t>(sizes.size());
  // Each mesh axis goes to one eligible factor or to none.
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
      for (unsigned i = 0; i < node.op->getNumOperands(); ++i)
        operands.push_back(tensorOf(node.op->getOperand(i))
                               ? implied(node, factors, false, i)
                               : Dims());
      node.operands.push_back(std::move(operands));
      return;
    }
    for (int64_t f = -1; f < numFactors; ++f) {
      if (f >= 0 && (node.rule.isNeedReplication(f) ||
                     node.rule.isPermutation(f) || sizes[f] == 1))
        continue;
      assignment[a] = f;
      assign(a + 1);
    }
  };
  assign(0);
}

void Builder::enumerateArgument(Node &node) const {
  mlir::RankedTensorType type = tensorOf(node.value);
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
}

mlir::LogicalResult Builder::constrain(Node &node, ShardingAttr wanted,
                                       bool report) const {
  if (!wanted)
    return mlir::success();
  llvm::SmallVector<size_t> keep;
  for (size_t s = 0; s < node.result.size(); ++s) {
    bool matches = true;
    for (auto [d, dim] : llvm::enumerate(wanted.getDims()))
      if (dim.getIsClosed() &&
          AxisList(dim.getAxes().begin(), dim.getAxes().end()) !=
              node.result[s][d])
        matches = false;
    if (matches)
      keep.push_back(s);
  }
  if (keep.empty() && !report)
    return mlir::failure();
  if (keep.empty()) {
    mlir::InFlightDiagnostic diagnostic =
        (node.op ? node.op->emitError() : function->emitError())
        << "auto-sharding: no strategy gives the annotated sharding " << wanted;
    if (!node.op)
      diagnostic << " of argument "
                 << mlir::cast<mlir::BlockArgument>(node.value).getArgNumber();
    return diagnostic;
  }
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
  return mlir::success();
}

int64_t Builder::localBytes(mlir::RankedTensorType type,
                            const Dims &dims) const {
  int64_t elements = 1;
  for (int64_t d = 0; d < type.getRank(); ++d)
    elements *=
        llvm::divideCeil(type.getDimSize(d), spmd::totalSize(dims[d], mesh));
  return elements * elementBytes(type);
}

partition::Layout Builder::layout(const Dims &dims) const {
  partition::Layout result;
  for (const AxisList &dim : dims) {
    partition::Axes names;
    for (AxisRefAttr axis : dim)
      names.push_back(spmd::axisName(axis));
    result.dims.push_back(names);
  }
  return result;
}

std::vector<int64_t> Builder::groupOf(const partition::Axes &names) const {
  return spmd::deviceGroups(mesh, names).front();
}

double Builder::reshardSeconds(mlir::RankedTensorType type, const Dims &from,
                               const Dims &to) {
  if (from == to)
    return 0;
  partition::Layout source = layout(from), target = layout(to);
  std::string key = elementName(type);
  llvm::raw_string_ostream stream(key);
  for (int64_t size : type.getShape())
    stream << "x" << size;
  for (const partition::Layout *l : {&source, &target})
    for (const partition::Axes &dim : l->dims) {
      stream << "|";
      for (const std::string &axis : dim)
        stream << axis << ",";
    }
  if (auto it = reshardCache.find(key); it != reshardCache.end())
    return it->second;
  std::string error;
  mlir::FailureOr<std::vector<partition::CollectiveStep>> steps =
      partition::planReshard(source, target, type.getShape(), mesh, error);
  double seconds = 0;
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
        seconds +=
            model.collectiveSeconds(cost::Collective::AllReduce,
                                    bytesOf(step.before), groupOf(step.axes));
        break;
      case partition::CollectiveStep::AllGather:
        seconds += model.collectiveSeconds(cost::Collective::AllGather,
                                           bytesOf(step.after), groupOf(flat));
        break;
      case partition::CollectiveStep::AllToAll:
        seconds +=
            model.collectiveSeconds(cost::Collective::AllToAll,
                                    bytesOf(step.before), groupOf(step.axes));
        break;
      case partition::CollectiveStep::CollectivePermute: {
        std::vector<int64_t> all(mesh.numDevices());
        std::iota(all.begin(), all.end(), 0);
        seconds += model.collectiveSeconds(cost::Collective::CollectivePermute,
                                           bytesOf(step.before), all);
        break;
      }
      case partition::CollectiveStep::AllSlice:
        // Local: a copy of what is kept.
        seconds += model.computeSeconds(0, elementName(type.getElementType()),
                                        2 * bytesOf(step.after));
        break;
      }
    }
  reshardCache[key] = seconds;
  return seconds;
}

std::pair<double, double> Builder::strategySeconds(const Node &node,
                                                   size_t s) const {
  if (!node.op)
    return {0, 0};
  const llvm::SmallVector<AxisList> &factors = node.factors[s];
  // The devices that share the work: every axis any factor uses.
  double parts = 1;
  AxisList partialAxes;
  for (auto [f, list] : llvm::enumerate(factors)) {
    parts *= static_cast<double>(spmd::totalSize(list, mesh));
    if (node.rule.isReduction(f))
      partialAxes.append(list.begin(), list.end());
  }
  double bytes = 0;
  for (auto [i, operand] : llvm::enumerate(node.op->getOperands()))
    if (mlir::RankedTensorType type = tensorOf(operand))
      bytes += static_cast<double>(localBytes(type, node.operands[s][i]));
  mlir::RankedTensorType resultType = tensorOf(node.value);
  double resultBytes =
      static_cast<double>(localBytes(resultType, node.result[s]));
  bytes += resultBytes;
  double compute =
      model.computeSeconds(flopsOf(node.op) / parts,
                           elementName(resultType.getElementType()), bytes);
  double communication = 0;
  if (!partialAxes.empty()) {
    partition::Axes names;
    for (AxisRefAttr axis : partialAxes)
      names.push_back(spmd::axisName(axis));
    communication = model.collectiveSeconds(cost::Collective::AllReduce,
                                            resultBytes, groupOf(names));
  }
  return {compute, communication};
}

ShardingAttr Builder::toSharding(const Dims &dims) const {
  llvm::SmallVector<spmd::DimensionShardingAttr> result;
  for (const AxisList &axesOfDim : dims)
    result.push_back(spmd::DimensionShardingAttr::get(
        context, axesOfDim, /*isClosed=*/true, /*priority=*/-1));
  return ShardingAttr::get(context, meshRef, result, {}, {});
}

mlir::FailureOr<AutoShardReport> Builder::run(const AutoShardOptions &options) {
  std::vector<Node> nodes;
  llvm::DenseMap<mlir::Value, int32_t> nodeOf;
  mlir::Block &body = function.getBody().front();
  for (mlir::BlockArgument argument : body.getArguments()) {
    if (!tensorOf(argument))
      continue;
    Node node;
    node.value = argument;
    // An annotated argument has the one layout it is given, even or not
    // (open dimensions stay whole).
    if (ShardingAttr given = spmd::getSharding(argument);
        given && llvm::any_of(given.getDims(), [](auto dim) {
          return !dim.getAxes().empty();
        })) {
      Dims dims;
      for (spmd::DimensionShardingAttr dim : given.getDims())
        dims.emplace_back(dim.getAxes().begin(), dim.getAxes().end());
      node.result.push_back(dims);
    } else {
      enumerateArgument(node);
    }
    nodeOf[argument] = static_cast<int32_t>(nodes.size());
    nodes.push_back(std::move(node));
  }
  for (mlir::Operation &op : body) {
    OpShardingRuleAttr rule = spmd::getShardingRule(&op);
    if (!rule || op.getNumResults() == 0 || !tensorOf(op.getResult(0)) ||
        !llvm::all_of(op.getOperands(),
                      [](mlir::Value v) { return tensorOf(v); }))
      continue;
    Node node;
    node.value = op.getResult(0);
    node.op = &op;
    node.rule = rule;
    enumerateOp(node);
    ShardingAttr given = spmd::getSharding(op.getResult(0));
    if (given && mlir::failed(constrain(node, given, /*report=*/false))) {
      // The annotation may split unevenly: look among those splits too.
      node = Node{node.value, node.op, node.rule, {}, {}, {}};
      enumerateOp(node, /*even=*/false);
    }
    if (node.result.empty())
      continue;
    if (mlir::failed(constrain(node, given)))
      return mlir::failure();
    nodeOf[op.getResult(0)] = static_cast<int32_t>(nodes.size());
    nodes.push_back(std::move(node));
  }

  // The problem: strategy costs, reshards on edges, memory by liveness
  // (time: arguments at 0, then ops in program order).
  ShardingProblem problem;
  problem.name = function.getName().str();
  std::map<mlir::Operation *, int64_t> position;
  int64_t step = 0;
  for (mlir::Operation &op : body)
    position[&op] = ++step;
  for (const Node &node : nodes) {
    ShardingProblem::Node entry;
    for (size_t s = 0; s < node.result.size(); ++s) {
      auto [compute, communication] = strategySeconds(node, s);
      entry.costs.push_back(
          static_cast<int64_t>((compute + communication) * kPicoseconds));
      entry.usages.push_back(localBytes(tensorOf(node.value), node.result[s]));
    }
    entry.start = node.op ? position[node.op] : 0;
    entry.end = entry.start + 1;
    for (mlir::Operation *user : node.value.getUsers())
      entry.end = std::max(entry.end, position[user] + 1);
    problem.nodes.push_back(std::move(entry));
  }
  for (auto [c, node] : llvm::enumerate(nodes)) {
    if (!node.op)
      continue;
    for (auto [i, operand] : llvm::enumerate(node.op->getOperands())) {
      auto producer = nodeOf.find(operand);
      if (producer == nodeOf.end())
        continue;
      const Node &from = nodes[producer->second];
      ShardingProblem::Edge edge;
      edge.u = producer->second;
      edge.v = static_cast<int32_t>(c);
      for (size_t a = 0; a < from.result.size(); ++a)
        for (size_t b = 0; b < node.result.size(); ++b)
          edge.costs.push_back(static_cast<int64_t>(
              reshardSeconds(tensorOf(operand), from.result[a],
                             node.operands[b][i]) *
              kPicoseconds));
      problem.edges.push_back(std::move(edge));
    }
  }
  int64_t budget =
      options.memoryBudget > 0 ? options.memoryBudget : model.memoryBytes();
  problem.usageLimit = budget;

  SolverOptions solverOptions;
  solverOptions.seconds = options.seconds;
  solverOptions.patience = options.patience;
  if (options.onProgress)
    solverOptions.onProgress = [&](const SolverProgress &progress) {
      options.onProgress(progress.seconds,
                         static_cast<double>(progress.cost) / kPicoseconds);
    };
  Solution solution = solve(problem, solverOptions);

  AutoShardReport report;
  report.nodes = static_cast<int64_t>(nodes.size());
  report.edges = static_cast<int64_t>(problem.edges.size());
  for (const Node &node : nodes)
    report.strategies += static_cast<int64_t>(node.result.size());
  report.feasible = solution.feasible;
  report.optimal = solution.optimal;
  report.solveSeconds = solution.seconds;
  report.method = solution.method;
  report.peakBytes = solution.peakUsage;
  report.budgetBytes = budget;
  if (!solution.feasible)
    return function.emitError()
           << "auto-sharding: no plan fits the memory budget of " << budget
           << " bytes per device (the least needs " << solution.peakUsage
           << ")";

  if (options.explain) {
    auto found = nodeOf.find(options.explain);
    if (found == nodeOf.end()) {
      report.explanation = "  (no choice to explain: the tensor is not an "
                           "argument or the result of an op with a rule)\n";
    } else {
      int32_t n = found->second;
      const Node &node = nodes[n];
      llvm::raw_string_ostream out(report.explanation);
      // Each candidate with everything else as chosen: its own cost, and
      // its reshards to and from its neighbours.
      for (size_t s = 0; s < node.result.size(); ++s) {
        auto [compute, communication] = strategySeconds(node, s);
        double reshards = 0;
        for (const ShardingProblem::Edge &edge : problem.edges) {
          if (edge.u != n && edge.v != n)
            continue;
          size_t a = edge.u == n ? s : solution.choice[edge.u];
          size_t b = edge.v == n ? s : solution.choice[edge.v];
          reshards += static_cast<double>(
                          edge.costs[a * nodes[edge.v].result.size() + b]) /
                      kPicoseconds;
        }
        std::vector<std::string> dims;
        for (const AxisList &dim : node.result[s]) {
          std::vector<std::string> names;
          for (AxisRefAttr axis : dim)
            names.push_back("\"" + spmd::axisName(axis) + "\"");
          dims.push_back(names.empty() ? "null"
                         : names.size() == 1
                             ? names[0]
                             : "[" + llvm::join(names, ", ") + "]");
        }
        out << llvm::format(
            "  %-24s compute %9.4f ms  all-reduce %9.4f ms  "
            "reshards %9.4f ms  memory %9.2f MiB%s\n",
            ("[" + llvm::join(dims, ", ") + "]").c_str(), compute * 1e3,
            communication * 1e3, reshards * 1e3,
            static_cast<double>(problem.nodes[n].usages[s]) / (1 << 20),
            static_cast<int32_t>(s) == solution.choice[n] ? "  <- chosen" : "");
      }
    }
  }

  for (auto [n, node] : llvm::enumerate(nodes)) {
    int32_t s = solution.choice[n];
    auto [compute, communication] = strategySeconds(node, s);
    report.computeSeconds += compute;
    report.communicationSeconds += communication;
    spmd::setSharding(node.value, toSharding(node.result[s]));
  }
  for (const ShardingProblem::Edge &edge : problem.edges)
    report.communicationSeconds +=
        static_cast<double>(
            edge.costs[static_cast<size_t>(solution.choice[edge.u]) *
                           nodes[edge.v].result.size() +
                       solution.choice[edge.v]]) /
        kPicoseconds;
  return report;
}

} // namespace

mlir::FailureOr<AutoShardReport> autoShard(mlir::ModuleOp module,
                                           const cost::CostModel &model,
                                           const AutoShardOptions &options) {
  llvm::SmallVector<spmd::MeshOp> meshes(module.getOps<spmd::MeshOp>());
  if (meshes.size() != 1)
    return module.emitError() << "auto-sharding needs exactly one spmd.mesh, "
                                 "found "
                              << meshes.size();
  llvm::SmallVector<mlir::func::FuncOp> functions(
      module.getOps<mlir::func::FuncOp>());
  if (functions.size() != 1)
    return module.emitError()
           << "auto-sharding needs exactly one function, found "
           << functions.size();
  MeshAttr mesh = meshes[0].getMesh();
  auto meshRef = mlir::FlatSymbolRefAttr::get(meshes[0].getSymNameAttr());
  return Builder(functions[0], mesh, meshRef, model).run(options);
}

namespace {

struct AutoShardPass : impl::AutoShardPassBase<AutoShardPass> {
  using AutoShardPassBase::AutoShardPassBase;
  void runOnOperation() override {
    absl::StatusOr<cost::CostModel> model = cost::CostModel::named(profilePath);
    if (!model.ok()) {
      getOperation().emitError()
          << "auto-sharding: " << std::string(model.status().message());
      return signalPassFailure();
    }
    AutoShardOptions options;
    options.memoryBudget = memoryBudget;
    options.seconds = seconds;
    if (mlir::failed(autoShard(getOperation(), *model, options)))
      signalPassFailure();
  }
};

} // namespace
} // namespace tessel::autoshard
