//===- Propagate.cpp - Spread shardings through sharding rules ------------===//
//
// Every tensor of the function gets a sharding state (per dimension: axes,
// closed or open, user priority). Ops are visited forwards and backwards
// until no state changes; visiting an op:
//
//   1. projects each operand's and result's dimensions onto the op's factors
//      (ShardingProjection.h) — each tensor proposes axes for its factors;
//   2. picks one proposal per factor: the highest user priority, then the
//      most sharded, then the largest tensor's; need-replication factors
//      get none; an axis already given to another factor of the same tensor
//      (or replicated or partial there) cuts the proposal;
//   3. projects the factors back and refines every open dimension whose
//      axes are a prefix of the new ones. Closed dimensions, and open ones
//      that disagree, keep their axes: the partitioner reshards there.
//
// Rounds honour user priorities (p0 first, unprioritised annotations last);
// within a round, pass-through ops propagate first, then the others, then
// broadcasts, each stage to a fixed point.
//
// With `origins`, each dimension also carries where its axes came from
// (the annotation, and the op that last carried them), written out as
// `spmd.origins` for the partitioner's reasons.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "passes/propagation/Passes.h"
#include "passes/propagation/ShardingProjection.h"

namespace tessel::propagation {

#define GEN_PASS_DEF_PROPAGATEPASS
#include "passes/propagation/Passes.h.inc"

namespace {

using spmd::AxisRefAttr;
using spmd::DimensionShardingAttr;
using spmd::MeshAttr;
using spmd::OpShardingRuleAttr;
using spmd::overlapsAny;
using spmd::ShardingAttr;

/// Where a dimension's axes came from: the annotation they started at
/// (null: none) and the op that last carried them here (null: their own).
struct Origin {
  mlir::StringAttr root;
  mlir::Operation *via = nullptr;
};

struct DimState {
  AxisList axes;
  bool closed = false;
  int64_t priority = -1;
  Origin origin;
};

struct TensorState {
  llvm::SmallVector<DimState> dims;
  AxisList replicated;
  llvm::SmallVector<spmd::PartialAxisAttr> partial;
  int64_t elements = 1;
};

struct Proposal {
  AxisList axes;
  int64_t priority;
  int64_t elements;
  Origin origin;
};

class Propagator {
public:
  Propagator(mlir::func::FuncOp function, MeshAttr mesh,
             mlir::FlatSymbolRefAttr meshRef, bool recordOrigins)
      : function(function), mesh(mesh), meshRef(meshRef),
        recordOrigins(recordOrigins) {}

  void initialize();
  void run();
  void writeBack();

private:
  TensorState &stateOf(mlir::Value value);
  /// `label` names the annotation where it records no origin of its own
  /// ("the annotation of 'x'").
  void applyUserSharding(mlir::Value value, ShardingAttr sharding,
                         llvm::StringRef label);
  bool active(const DimState &dim) const {
    return dim.priority < 0 ? lastRound : dim.priority <= round;
  }
  int stageOf(mlir::Operation *op, OpShardingRuleAttr rule) const;
  OpShardingRuleAttr ruleOf(mlir::Operation *op);
  bool propagate(mlir::Operation *op);
  ShardingAttr toAttr(const TensorState &state) const;
  /// Per dimension, where its axes came from, as text.
  llvm::SmallVector<std::string> originsOf(const TensorState &state) const;
  /// The axes `op`'s results are partial over: those sharding a reduction
  /// factor in every operand that holds it, with the op's reduction.
  llvm::SmallVector<spmd::PartialAxisAttr> partialAxesOf(mlir::Operation *op);

  mlir::func::FuncOp function;
  MeshAttr mesh;
  mlir::FlatSymbolRefAttr meshRef;
  bool recordOrigins;
  llvm::DenseMap<mlir::Value, TensorState> states;
  llvm::DenseMap<mlir::Operation *, OpShardingRuleAttr> rules;
  llvm::SmallVector<int64_t> priorities;
  int64_t round = 0;
  bool lastRound = false;
};

TensorState &Propagator::stateOf(mlir::Value value) {
  auto it = states.find(value);
  if (it != states.end())
    return it->second;
  TensorState &state = states[value];
  if (auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType())) {
    state.dims.resize(type.getRank());
    state.elements = type.getNumElements();
  }
  return state;
}

void Propagator::applyUserSharding(mlir::Value value, ShardingAttr sharding,
                                   llvm::StringRef label) {
  TensorState &state = stateOf(value);
  if (recordOrigins) {
    // The plan and --auto say where theirs came from; other annotations
    // are the input's own.
    llvm::SmallVector<std::string> recorded = spmd::getOrigins(value);
    std::string own = label.str();
    for (auto [d, dim] : llvm::enumerate(state.dims)) {
      auto annotation = sharding.getDims()[d];
      if (!annotation.getIsClosed() && annotation.getAxes().empty())
        continue;
      bool has = d < recorded.size() && !recorded[d].empty();
      dim.origin = {
          mlir::StringAttr::get(value.getContext(), has ? recorded[d] : own),
          nullptr};
    }
  }
  for (auto [dim, annotation] : llvm::zip(state.dims, sharding.getDims())) {
    dim.axes.assign(annotation.getAxes().begin(), annotation.getAxes().end());
    dim.closed = annotation.getIsClosed();
    dim.priority = annotation.getPriority();
    if (dim.priority >= 0 && !llvm::is_contained(priorities, dim.priority))
      priorities.push_back(dim.priority);
  }
  state.replicated.assign(sharding.getReplicated().begin(),
                          sharding.getReplicated().end());
  state.partial.assign(sharding.getPartial().begin(),
                       sharding.getPartial().end());
}

void Propagator::initialize() {
  auto annotationOf = [](mlir::Value value) {
    std::string name = spmd::tensorName(value);
    return "the annotation" + (name.empty() ? "" : " of '" + name + "'");
  };
  for (mlir::BlockArgument argument : function.getArguments())
    if (auto sharding = function.getArgAttrOfType<ShardingAttr>(
            argument.getArgNumber(), spmd::SpmdDialect::kShardingAttr))
      applyUserSharding(argument, sharding, annotationOf(argument));
  function.walk([&](mlir::Operation *op) {
    if (auto constraint = mlir::dyn_cast<spmd::ShardingConstraintOp>(op))
      applyUserSharding(constraint.getResult(), constraint.getSharding(),
                        "the sharding constraint at " + spmd::describeOp(op));
    else if (auto reshard = mlir::dyn_cast<spmd::ReshardOp>(op))
      applyUserSharding(reshard.getResult(), reshard.getSharding(),
                        "the reshard at " + spmd::describeOp(op));
    else if (auto shardings = op->getAttrOfType<mlir::ArrayAttr>(
                 spmd::SpmdDialect::kShardingsAttr))
      for (auto [result, sharding] : llvm::zip(op->getResults(), shardings))
        applyUserSharding(result, mlir::cast<ShardingAttr>(sharding),
                          annotationOf(result));
  });
  // A result's sharding constrains the value returned, unless that value
  // has its own.
  auto ret = mlir::cast<mlir::func::ReturnOp>(
      function.getBody().front().getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands()))
    if (auto sharding = function.getResultAttrOfType<ShardingAttr>(
            i, spmd::SpmdDialect::kShardingAttr)) {
      TensorState &state = stateOf(value);
      bool annotated = llvm::any_of(state.dims, [](const DimState &dim) {
        return dim.closed || !dim.axes.empty();
      });
      if (!annotated) {
        auto name = function.getResultAttrOfType<mlir::StringAttr>(
            i, graph::GraphDialect::kNameAttr);
        applyUserSharding(value, sharding,
                          "the annotation of output " + std::to_string(i) +
                              (name ? " ('" + name.str() + "')" : ""));
      }
    }
  llvm::sort(priorities);
}

OpShardingRuleAttr Propagator::ruleOf(mlir::Operation *op) {
  auto it = rules.find(op);
  if (it != rules.end())
    return it->second;
  OpShardingRuleAttr rule;
  if (mlir::isa<spmd::ShardingConstraintOp>(op)) {
    spmd::OpShardingRuleBuilder builder(op);
    builder.addPointwise(
        mlir::cast<mlir::RankedTensorType>(op->getResult(0).getType())
            .getShape());
    rule = builder.build();
  } else if (!mlir::isa<spmd::ReshardOp>(op)) {
    rule = spmd::getShardingRule(op);
  }
  rules[op] = rule;
  return rule;
}

int Propagator::stageOf(mlir::Operation *op, OpShardingRuleAttr rule) const {
  if (mlir::isa<graph::BroadcastInDimOp>(op))
    return 2;
  bool passThrough = rule.getReductionFactors().empty() &&
                     rule.getNeedReplicationFactors().empty() &&
                     rule.getPermutationFactors().empty();
  return passThrough ? 0 : 1;
}

bool Propagator::propagate(mlir::Operation *op) {
  OpShardingRuleAttr rule = ruleOf(op);
  if (!rule)
    return false;
  struct Tensor {
    mlir::Value value;
    bool isResult;
    int64_t index;
  };
  llvm::SmallVector<Tensor> tensors;
  for (auto [i, operand] : llvm::enumerate(op->getOperands()))
    tensors.push_back({operand, false, static_cast<int64_t>(i)});
  for (auto [i, result] : llvm::enumerate(op->getResults()))
    tensors.push_back({result, true, static_cast<int64_t>(i)});
  for (const Tensor &tensor : tensors)
    if (!mlir::isa<mlir::RankedTensorType>(tensor.value.getType()))
      return false;

  llvm::ArrayRef<int64_t> sizes = rule.getFactorSizes();
  int64_t numFactors = sizes.size();
  std::vector<std::vector<Proposal>> proposals(numFactors);
  // Which tensors hold each factor.
  std::vector<std::vector<size_t>> holders(numFactors);
  for (auto [t, tensor] : llvm::enumerate(tensors)) {
    TensorState &state = stateOf(tensor.value);
    for (auto [d, dim] : llvm::enumerate(state.dims)) {
      llvm::SmallVector<int64_t> factors =
          rule.factorsOf(tensor.isResult, tensor.index, d);
      for (int64_t f : factors)
        holders[f].push_back(t);
      if (factors.empty() || !active(dim))
        continue;
      llvm::SmallVector<int64_t> factorSizes;
      for (int64_t f : factors)
        factorSizes.push_back(sizes[f]);
      llvm::SmallVector<AxisList> projected =
          projectToFactors(dim.axes, factorSizes, mesh);
      for (auto [k, f] : llvm::enumerate(factors))
        proposals[f].push_back(
            {projected[k], dim.priority, state.elements, dim.origin});
    }
  }

  // The best proposal per factor.
  std::vector<AxisList> chosen(numFactors);
  std::vector<int64_t> chosenPriority(numFactors, -1);
  std::vector<Origin> chosenOrigin(numFactors);
  for (int64_t f = 0; f < numFactors; ++f) {
    if (rule.isNeedReplication(f) || proposals[f].empty())
      continue;
    auto better = [&](const Proposal &a, const Proposal &b) {
      bool aPrioritised = a.priority >= 0 && !a.axes.empty();
      bool bPrioritised = b.priority >= 0 && !b.axes.empty();
      if (aPrioritised != bPrioritised)
        return aPrioritised;
      if (aPrioritised && a.priority != b.priority)
        return a.priority < b.priority;
      int64_t aSize = totalSize(a.axes, mesh), bSize = totalSize(b.axes, mesh);
      if (aSize != bSize)
        return aSize > bSize;
      return a.elements > b.elements;
    };
    const Proposal &best =
        *std::min_element(proposals[f].begin(), proposals[f].end(), better);
    chosen[f] = best.axes;
    chosenPriority[f] = best.priority;
    chosenOrigin[f] = best.origin;
  }

  // No axis twice in one tensor: stronger factors keep theirs.
  std::vector<int64_t> order(numFactors);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return totalSize(chosen[a], mesh) > totalSize(chosen[b], mesh);
  });
  std::vector<AxisList> used(tensors.size());
  for (auto [t, tensor] : llvm::enumerate(tensors)) {
    TensorState &state = stateOf(tensor.value);
    used[t] = state.replicated;
    for (const spmd::PartialAxisAttr &partial : state.partial)
      used[t].push_back(partial.getAxis());
  }
  for (int64_t f : order) {
    size_t keep = 0;
    while (keep < chosen[f].size() && llvm::none_of(holders[f], [&](size_t t) {
             return overlapsAny(chosen[f][keep], used[t]);
           }))
      ++keep;
    chosen[f].resize(keep);
    for (size_t t : holders[f])
      used[t].append(chosen[f].begin(), chosen[f].end());
  }

  // Back to dimensions: refine open dimensions that agree.
  bool changed = false;
  for (const Tensor &tensor : tensors) {
    TensorState &state = stateOf(tensor.value);
    for (auto [d, dim] : llvm::enumerate(state.dims)) {
      if (dim.closed || !active(dim))
        continue;
      llvm::SmallVector<int64_t> factors =
          rule.factorsOf(tensor.isResult, tensor.index, d);
      if (factors.empty())
        continue;
      llvm::SmallVector<AxisList> factorAxes;
      llvm::SmallVector<int64_t> factorSizes;
      int64_t priority = dim.priority;
      Origin origin;
      for (int64_t f : factors) {
        if (!origin.root && !chosen[f].empty())
          origin = chosenOrigin[f];
        factorAxes.push_back(chosen[f]);
        factorSizes.push_back(sizes[f]);
        if (chosenPriority[f] >= 0 && !chosen[f].empty())
          priority = priority < 0 ? chosenPriority[f]
                                  : std::min(priority, chosenPriority[f]);
      }
      AxisList axes = projectToDimension(factorAxes, factorSizes, mesh);
      if (axes.size() <= dim.axes.size() || !isPrefix(dim.axes, axes))
        continue;
      // Nor an axis another dimension of this tensor already has (the
      // factors above only saw the axes of this op's choices).
      AxisList taken = state.replicated;
      for (const spmd::PartialAxisAttr &partial : state.partial)
        taken.push_back(partial.getAxis());
      for (auto [e, other] : llvm::enumerate(state.dims))
        if (e != d)
          taken.append(other.axes.begin(), other.axes.end());
      size_t keep = dim.axes.size();
      while (keep < axes.size() && !overlapsAny(axes[keep], taken))
        ++keep;
      axes.resize(keep);
      if (axes.size() <= dim.axes.size())
        continue;
      dim.axes = axes;
      dim.priority = priority;
      if (origin.root)
        dim.origin = {origin.root, op};
      changed = true;
    }
  }
  return changed;
}

void Propagator::run() {
  llvm::SmallVector<mlir::Operation *> ops;
  function.walk([&](mlir::Operation *op) {
    if (op != function && !mlir::isa<mlir::func::ReturnOp>(op))
      ops.push_back(op);
  });
  llvm::SmallVector<int64_t> rounds(priorities.begin(), priorities.end());
  rounds.push_back(-1); // Unprioritised annotations.
  for (int64_t r : rounds) {
    lastRound = r < 0;
    round = lastRound ? std::numeric_limits<int64_t>::max() : r;
    for (int stage = 0; stage <= 2; ++stage) {
      // Each sweep only refines (appends axes), so this terminates; the
      // bound is a safeguard.
      for (int sweep = 0; sweep < 64; ++sweep) {
        bool changed = false;
        for (mlir::Operation *op : ops)
          if (OpShardingRuleAttr rule = ruleOf(op);
              rule && stageOf(op, rule) <= stage)
            changed |= propagate(op);
        for (mlir::Operation *op : llvm::reverse(ops))
          if (OpShardingRuleAttr rule = ruleOf(op);
              rule && stageOf(op, rule) <= stage)
            changed |= propagate(op);
        if (!changed)
          break;
      }
    }
  }
}

ShardingAttr Propagator::toAttr(const TensorState &state) const {
  mlir::MLIRContext *context = mesh.getContext();
  llvm::SmallVector<DimensionShardingAttr> dims;
  for (const DimState &dim : state.dims)
    dims.push_back(DimensionShardingAttr::get(context, dim.axes, dim.closed,
                                              dim.priority));
  return ShardingAttr::get(context, meshRef, dims, state.replicated,
                           state.partial);
}

llvm::SmallVector<spmd::PartialAxisAttr>
Propagator::partialAxesOf(mlir::Operation *op) {
  llvm::SmallVector<spmd::PartialAxisAttr> partial;
  OpShardingRuleAttr rule = ruleOf(op);
  if (!rule || rule.getReductionFactors().empty())
    return partial;
  llvm::StringRef reduction = spmd::partialReductionOf(op);
  if (reduction.empty())
    return partial;
  llvm::SmallVector<llvm::SmallVector<AxisList>> operandDims;
  for (mlir::Value operand : op->getOperands()) {
    operandDims.emplace_back();
    for (const DimState &dim : stateOf(operand).dims)
      operandDims.back().push_back(dim.axes);
  }
  for (int64_t f : rule.getReductionFactors())
    for (AxisRefAttr axis : agreedOperandAxes(rule, f, operandDims, mesh))
      partial.push_back(
          spmd::PartialAxisAttr::get(op->getContext(), axis, reduction));
  return partial;
}

llvm::SmallVector<std::string>
Propagator::originsOf(const TensorState &state) const {
  llvm::SmallVector<std::string> origins;
  for (const DimState &dim : state.dims) {
    std::string text = dim.origin.root ? dim.origin.root.str() : "";
    if (dim.origin.via)
      text += ", through " + spmd::describeOp(dim.origin.via);
    origins.push_back(text);
  }
  return origins;
}

void Propagator::writeBack() {
  mlir::Builder builder(function.getContext());
  for (mlir::BlockArgument argument : function.getArguments())
    if (mlir::isa<mlir::RankedTensorType>(argument.getType())) {
      function.setArgAttr(argument.getArgNumber(),
                          spmd::SpmdDialect::kShardingAttr,
                          toAttr(stateOf(argument)));
      if (recordOrigins)
        spmd::setOrigins(argument, originsOf(stateOf(argument)));
    }
  function.walk([&](mlir::Operation *op) {
    if (op == function || op->getNumResults() == 0 ||
        mlir::isa<spmd::ShardingConstraintOp, spmd::ReshardOp>(op))
      return;
    if (!llvm::all_of(op->getResultTypes(), [](mlir::Type type) {
          return mlir::isa<mlir::RankedTensorType>(type);
        }))
      return;
    llvm::SmallVector<spmd::PartialAxisAttr> partial = partialAxesOf(op);
    llvm::SmallVector<mlir::Attribute> shardings;
    for (mlir::Value result : op->getResults()) {
      TensorState state = stateOf(result);
      for (spmd::PartialAxisAttr axis : partial) {
        AxisList taken = state.replicated;
        for (const DimState &dim : state.dims)
          taken.append(dim.axes.begin(), dim.axes.end());
        for (spmd::PartialAxisAttr other : state.partial)
          taken.push_back(other.getAxis());
        if (overlapsAny(axis.getAxis(), taken))
          break;
        state.partial.push_back(axis);
      }
      shardings.push_back(toAttr(state));
    }
    op->setAttr(spmd::SpmdDialect::kShardingsAttr,
                builder.getArrayAttr(shardings));
    if (recordOrigins)
      for (mlir::Value result : op->getResults())
        spmd::setOrigins(result, originsOf(stateOf(result)));
  });
  auto ret = mlir::cast<mlir::func::ReturnOp>(
      function.getBody().front().getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands()))
    if (!function.getResultAttr(i, spmd::SpmdDialect::kShardingAttr))
      function.setResultAttr(i, spmd::SpmdDialect::kShardingAttr,
                             toAttr(stateOf(value)));
}

/// The mesh every sharding of `function` names; failure (with an error) if
/// they name several.
mlir::FailureOr<mlir::FlatSymbolRefAttr> findMesh(mlir::func::FuncOp function) {
  mlir::FlatSymbolRefAttr mesh;
  auto note = [&](ShardingAttr sharding) -> mlir::LogicalResult {
    if (mesh && mesh != sharding.getMesh())
      return function.emitError()
             << "propagation needs one mesh per function, found " << mesh
             << " and " << sharding.getMesh();
    mesh = sharding.getMesh();
    return mlir::success();
  };
  for (unsigned i = 0; i < function.getNumArguments(); ++i)
    if (auto s = function.getArgAttrOfType<ShardingAttr>(
            i, spmd::SpmdDialect::kShardingAttr))
      if (mlir::failed(note(s)))
        return mlir::failure();
  for (unsigned i = 0; i < function.getNumResults(); ++i)
    if (auto s = function.getResultAttrOfType<ShardingAttr>(
            i, spmd::SpmdDialect::kShardingAttr))
      if (mlir::failed(note(s)))
        return mlir::failure();
  mlir::WalkResult walk = function.walk([&](mlir::Operation *op) {
    ShardingAttr sharding;
    if (auto constraint = mlir::dyn_cast<spmd::ShardingConstraintOp>(op))
      sharding = constraint.getSharding();
    else if (auto reshard = mlir::dyn_cast<spmd::ReshardOp>(op))
      sharding = reshard.getSharding();
    if (sharding && mlir::failed(note(sharding)))
      return mlir::WalkResult::interrupt();
    if (auto shardings = op->getAttrOfType<mlir::ArrayAttr>(
            spmd::SpmdDialect::kShardingsAttr))
      for (mlir::Attribute s : shardings)
        if (mlir::failed(note(mlir::cast<ShardingAttr>(s))))
          return mlir::WalkResult::interrupt();
    return mlir::WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return mlir::failure();
  return mesh;
}

struct PropagatePass : impl::PropagatePassBase<PropagatePass> {
  using PropagatePassBase::PropagatePassBase;
  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    mlir::FailureOr<mlir::FlatSymbolRefAttr> meshRef = findMesh(function);
    if (mlir::failed(meshRef))
      return signalPassFailure();
    if (!*meshRef) {
      // Nothing is annotated: with a single mesh in the module, every
      // tensor is written out replicated on it; with none, there is
      // nothing to say.
      auto module = function->getParentOfType<mlir::ModuleOp>();
      auto meshes = llvm::to_vector(module.getOps<spmd::MeshOp>());
      if (meshes.size() != 1)
        return;
      meshRef = mlir::FlatSymbolRefAttr::get(meshes.front().getSymNameAttr());
    }
    mlir::FailureOr<MeshAttr> mesh = spmd::lookupMesh(function, *meshRef);
    if (mlir::failed(mesh))
      return signalPassFailure();
    Propagator propagator(function, *mesh, *meshRef, origins);
    propagator.initialize();
    propagator.run();
    propagator.writeBack();
  }
};

} // namespace
} // namespace tessel::propagation
