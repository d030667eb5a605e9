//===- InsertExplicitReshards.cpp - Make ops agree with their rules -------===//
//
// Per op: the factors' axes (from the result, else from the operands'
// agreement), the operand and result shardings they imply, and a reshard
// wherever a value's sharding differs from what its consumer needs. Each
// reshard's location records why (and, with `spmd.origins` recorded, where
// each of the two layouts came from) and the plan entry that would remove
// it; the origins are dropped once used.
//
//===----------------------------------------------------------------------===//

#include <functional>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/partition/Passes.h"
#include "passes/propagation/ShardingProjection.h"

namespace tessel::partition {

#define GEN_PASS_DEF_INSERTEXPLICITRESHARDSPASS
#include "passes/partition/Passes.h.inc"

namespace {

using propagation::AxisList;
using spmd::AxisRefAttr;
using spmd::describeOp;
using spmd::MeshAttr;
using spmd::OpShardingRuleAttr;
using spmd::overlapsAny;
using spmd::PartialAxisAttr;
using spmd::ShardingAttr;

/// Dimension axes of `sharding` (none if null) for a tensor of `rank`.
llvm::SmallVector<AxisList> dimsOf(ShardingAttr sharding, int64_t rank) {
  llvm::SmallVector<AxisList> dims(rank);
  if (sharding)
    for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
      dims[d].assign(dim.getAxes().begin(), dim.getAxes().end());
  return dims;
}

/// Whether two shardings lay a tensor out alike: the same axes per
/// dimension and the same partial axes (open/closed and priorities aside).
bool sameLayout(ShardingAttr a, ShardingAttr b, int64_t rank) {
  if (dimsOf(a, rank) != dimsOf(b, rank))
    return false;
  llvm::ArrayRef<PartialAxisAttr> aPartial, bPartial;
  if (a)
    aPartial = a.getPartial();
  if (b)
    bPartial = b.getPartial();
  return aPartial == bPartial;
}

int64_t rankOf(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType()).getRank();
}

/// " ('x')" for a named tensor, else nothing.
std::string quotedName(mlir::Value value) {
  std::string name = spmd::tensorName(value);
  return name.empty() ? "" : " ('" + name + "')";
}

/// A side of a conflict: what a layout is called and, per dimension, why
/// it is so.
struct Side {
  llvm::StringRef label;
  ShardingAttr layout;
  std::function<std::string(int64_t)> why;
};

/// Per dimension where the two sides' layouts differ, one line: "dim 2:
/// wanted {} (graph.slice 'S' needs it whole); is {y} (the plan's entry
/// for tensor 'w', through graph.dot_general 'q')". Empty if nothing was
/// recorded (origins are written when asked for: --spmd-propagate's
/// `origins`).
std::string conflictLines(const Side &a, const Side &b, int64_t rank) {
  llvm::SmallVector<AxisList> aDims = dimsOf(a.layout, rank),
                              bDims = dimsOf(b.layout, rank);
  std::string text;
  for (int64_t d = 0; d < rank; ++d) {
    if (aDims[d] == bDims[d])
      continue;
    std::string aWhy = a.why(d), bWhy = b.why(d);
    if (aWhy.empty() && bWhy.empty())
      continue;
    auto part = [&](const Side &side, const AxisList &axes,
                    const std::string &why) {
      return side.label.str() + " " + spmd::describeAxes(axes) +
             (why.empty() ? "" : " (" + why + ")");
    };
    text += "\ndim " + std::to_string(d) + ": " + part(a, aDims[d], aWhy) +
            "; " + part(b, bDims[d], bWhy);
  }
  return text;
}

/// Where dimension `d` of `value` got its layout: its spmd.origins entry,
/// else what can be said without one.
std::string recordedOrigin(mlir::Value value, int64_t d) {
  llvm::SmallVector<std::string> origins = spmd::getOrigins(value);
  if (d < static_cast<int64_t>(origins.size()) && !origins[d].empty())
    return origins[d];
  if (value.getDefiningOp<spmd::ReshardOp>())
    return "an earlier reshard";
  ShardingAttr sharding = spmd::getSharding(value);
  bool split = sharding &&
               d < static_cast<int64_t>(sharding.getDims().size()) &&
               !sharding.getDims()[d].getAxes().empty();
  return split ? "origin not recorded" : "nothing split it";
}

/// Whether `function` records origins (--spmd-propagate's `origins`):
/// then the reasons of reshards say where each layout came from.
bool recordsOrigins(mlir::func::FuncOp function) {
  for (mlir::BlockArgument argument : function.getArguments())
    if (!spmd::getOrigins(argument).empty())
      return true;
  return function
      .walk([](mlir::Operation *op) {
        return op->hasAttr(spmd::SpmdDialect::kOriginsAttr)
                   ? mlir::WalkResult::interrupt()
                   : mlir::WalkResult::advance();
      })
      .wasInterrupted();
}

/// The op that made `value`'s partial sums: its producer, or, through ops
/// that carry partial sums (elementwise ops, reshapes), theirs.
mlir::Operation *reducingProducer(mlir::Value value) {
  mlir::Operation *producer = value.getDefiningOp();
  while (producer) {
    OpShardingRuleAttr rule = spmd::getShardingRule(producer);
    if (!rule || !rule.getReductionFactors().empty())
      return producer;
    mlir::Operation *next = nullptr;
    for (mlir::Value operand : producer->getOperands())
      if (ShardingAttr sharding = spmd::getSharding(operand);
          sharding && !sharding.getPartial().empty())
        next = operand.getDefiningOp();
    if (!next)
      return producer;
    producer = next;
  }
  return producer;
}

/// Where the split that left `producer`'s partial sums came from: the
/// first operand dimension split over one of `partial`'s axes, with its
/// origin ("; operand 1 dim 0 {y}: the plan's entry ..."); empty if none.
std::string splitReductionOrigin(mlir::Operation *producer,
                                 llvm::ArrayRef<PartialAxisAttr> partial) {
  for (auto [k, operand] : llvm::enumerate(producer->getOperands())) {
    ShardingAttr sharding = spmd::getSharding(operand);
    if (!sharding)
      continue;
    for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
      for (PartialAxisAttr axis : partial)
        if (overlapsAny(axis.getAxis(), dim.getAxes()))
          return "; operand " + std::to_string(k) + quotedName(operand) +
                 " dim " + std::to_string(d) + " is split over " +
                 spmd::axisName(axis.getAxis()) + ": " +
                 recordedOrigin(operand, static_cast<int64_t>(d));
  }
  return "";
}

class Inserter {
public:
  Inserter(mlir::FlatSymbolRefAttr meshRef, MeshAttr mesh, bool explain)
      : meshRef(meshRef), mesh(mesh), context(mesh.getContext()),
        explain(explain) {}

  void rewrite(mlir::Operation *op, OpShardingRuleAttr rule);
  void rewriteReturn(mlir::func::FuncOp function, mlir::Operation *ret);

private:
  ShardingAttr toSharding(llvm::ArrayRef<AxisList> dims,
                          llvm::ArrayRef<PartialAxisAttr> partial) const;
  /// Rewrites a mean whose reduced dimension is split into a sum scaled by
  /// one over the global count (laid out as `sharding`); returns the
  /// scaled value.
  mlir::Value splitMean(graph::ReduceOp reduce, ShardingAttr sharding);
  /// Reshards operand `i` of `op` to `sharding` unless it is laid out so;
  /// `why` (given the operand's layout) says why `op` needs it so.
  /// `wantedWhy` says per dimension why `op` wants that layout (empty: no
  /// more than `why` says); the operand's recorded origins say why it has
  /// its own.
  void reshardOperand(mlir::Operation *op, unsigned i, ShardingAttr sharding,
                      llvm::function_ref<std::string(llvm::StringRef from)> why,
                      std::function<std::string(int64_t)> wantedWhy = nullptr);

  mlir::FlatSymbolRefAttr meshRef;
  MeshAttr mesh;
  mlir::MLIRContext *context;
  /// Origins are recorded: reasons say where each layout came from.
  bool explain;
};

ShardingAttr
Inserter::toSharding(llvm::ArrayRef<AxisList> dims,
                     llvm::ArrayRef<PartialAxisAttr> partial) const {
  llvm::SmallVector<spmd::DimensionShardingAttr> dimAttrs;
  for (const AxisList &axes : dims)
    dimAttrs.push_back(spmd::DimensionShardingAttr::get(
        context, axes, /*isClosed=*/true, /*priority=*/-1));
  return ShardingAttr::get(context, meshRef, dimAttrs, {}, partial);
}

void Inserter::reshardOperand(
    mlir::Operation *op, unsigned i, ShardingAttr sharding,
    llvm::function_ref<std::string(llvm::StringRef from)> why,
    std::function<std::string(int64_t)> wantedWhy) {
  mlir::Value operand = op->getOperand(i);
  if (sameLayout(spmd::getSharding(operand), sharding, rankOf(operand)))
    return;
  mlir::OpBuilder builder(op);
  // A splat constant is made in the layout wanted, not moved into it.
  if (auto constant = operand.getDefiningOp<graph::ConstantOp>()) {
    auto value = mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue());
    if (value && value.isSplat() && sharding.getPartial().empty()) {
      mlir::Operation *copy = builder.clone(*constant);
      spmd::setSharding(copy->getResult(0), sharding);
      op->setOperand(i, copy->getResult(0));
      return;
    }
  }
  ShardingAttr has = spmd::getSharding(operand);
  std::string from = spmd::describeLayout(has, rankOf(operand));
  if (!wantedWhy)
    wantedWhy = [](int64_t) { return std::string(); };
  std::string text = why(from);
  if (explain)
    text += conflictLines(
        {"wanted", sharding, wantedWhy},
        {"is", has, [&](int64_t d) { return recordedOrigin(operand, d); }},
        rankOf(operand));
  // Partial sums come from the op that made them.
  if (explain && has && !has.getPartial().empty())
    if (mlir::Operation *producer = reducingProducer(operand))
      text += "\npartial sums: " + describeOp(producer) +
              " reduces over a dimension split over those axes" +
              splitReductionOrigin(producer, has.getPartial());
  // Laying the operand out as needed would remove it, unless it holds
  // partial sums (which some device must reduce).
  std::optional<spmd::PlanEntry> remedy;
  if (std::string name = spmd::tensorName(operand);
      !name.empty() && (!has || has.getPartial().empty()) &&
      sharding.getPartial().empty())
    remedy = spmd::PlanEntry{name, spmd::planSpecOf(sharding, rankOf(operand))};
  // Located at the consumer, named after the tensor moved.
  auto reshard = spmd::ReshardOp::create(
      builder, spmd::withCollectiveOrigin(op->getLoc(), text, operand, remedy),
      operand, sharding);
  op->setOperand(i, reshard.getResult());
}

/// Ops whose local part no local computation gives (a non-splat constant
/// split anywhere): computed whole on every device, then sliced.
bool computedWhole(mlir::Operation *op) {
  auto cost = mlir::dyn_cast<graph::CostOpInterface>(op);
  if (!cost || op->getNumResults() != 1)
    return false;
  mlir::Value result = op->getResult(0);
  llvm::SmallVector<bool> split(rankOf(result), false);
  if (ShardingAttr wanted = spmd::getSharding(result))
    for (auto [dim, axes] : llvm::enumerate(dimsOf(wanted, rankOf(result))))
      split[dim] = !axes.empty();
  return cost.isComputedWhole(split);
}

/// The partial sums `op` can carry from its operands to its result without
/// reducing them first, because it is linear in the partial operands (its
/// linearity trait: a reshape or negation of a partial value, a sum of
/// values partial over the same axes, a product with one partial factor, a
/// quotient with a partial numerator). Returns the axes and which operands
/// carry them; empty if none. A partial value read by several ops is
/// carried by none: each reader would end in its own reduction (the
/// backward pass of a layer norm reads its partial gradient three
/// times), where reducing it once serves them all (the readers' reshards
/// are one after CSE).
std::pair<llvm::SmallVector<PartialAxisAttr>, llvm::SmallVector<bool>>
carriedPartial(mlir::Operation *op) {
  llvm::SmallVector<llvm::ArrayRef<PartialAxisAttr>> partials;
  for (mlir::Value operand : op->getOperands()) {
    ShardingAttr sharding = spmd::getSharding(operand);
    bool soleReader = llvm::all_of(
        operand.getUsers(), [&](mlir::Operation *user) { return user == op; });
    partials.push_back(sharding && soleReader
                           ? sharding.getPartial()
                           : llvm::ArrayRef<PartialAxisAttr>());
  }
  auto none = std::make_pair(llvm::SmallVector<PartialAxisAttr>(),
                             llvm::SmallVector<bool>());
  auto sums = [](llvm::ArrayRef<PartialAxisAttr> axes) {
    return !axes.empty() && llvm::all_of(axes, [](PartialAxisAttr axis) {
      return axis.getReduction() == "sum";
    });
  };
  llvm::SmallVector<bool> carries;
  for (llvm::ArrayRef<PartialAxisAttr> axes : partials)
    carries.push_back(!axes.empty());
  std::optional<unsigned> carried =
      graph::carriedPartialOperand(op, carries, llvm::all_equal(partials));
  if (!carried || !sums(partials[*carried]))
    return none;
  return {llvm::to_vector(partials[*carried]), carries};
}

void Inserter::rewrite(mlir::Operation *op, OpShardingRuleAttr rule) {
  if (computedWhole(op)) {
    mlir::Value result = op->getResult(0);
    ShardingAttr wanted = spmd::getSharding(result);
    ShardingAttr whole =
        toSharding(llvm::SmallVector<AxisList>(rankOf(result)), {});
    spmd::setSharding(result, whole);
    if (wanted && !sameLayout(wanted, whole, rankOf(result))) {
      mlir::OpBuilder builder(op->getContext());
      builder.setInsertionPointAfter(op);
      std::string why =
          describeOp(op) +
          " is computed whole on every device (its values depend on their "
          "position), then laid out as " +
          spmd::describeLayout(wanted, rankOf(result));
      auto reshard = spmd::ReshardOp::create(
          builder, spmd::withCollectiveOrigin(op->getLoc(), why), result,
          wanted);
      result.replaceAllUsesExcept(reshard.getResult(), reshard);
    }
    return;
  }
  llvm::ArrayRef<int64_t> sizes = rule.getFactorSizes();
  int64_t numFactors = sizes.size();
  llvm::SmallVector<llvm::SmallVector<AxisList>> operandDims, resultDims;
  for (mlir::Value operand : op->getOperands())
    operandDims.push_back(dimsOf(spmd::getSharding(operand), rankOf(operand)));
  for (mlir::Value result : op->getResults())
    resultDims.push_back(dimsOf(spmd::getSharding(result), rankOf(result)));

  // Each factor's axes: the first result dimension holding it decides;
  // factors only operands hold take the operands' agreement.
  llvm::SmallVector<std::optional<AxisList>> factorAxes(numFactors);
  // Why each factor has its axes, for the reasons of the reshards made
  // (from the results' recorded origins; empty when none were recorded).
  llvm::SmallVector<std::string> factorWhy(numFactors);
  for (auto [j, dims] : llvm::enumerate(resultDims))
    for (auto [d, axes] : llvm::enumerate(dims)) {
      llvm::SmallVector<int64_t> factors = rule.factorsOf(true, j, d);
      llvm::SmallVector<int64_t> factorSizes;
      for (int64_t f : factors)
        factorSizes.push_back(sizes[f]);
      llvm::SmallVector<AxisList> projected =
          propagation::projectToFactors(axes, factorSizes, mesh);
      for (auto [k, f] : llvm::enumerate(factors))
        if (!factorAxes[f]) {
          factorAxes[f] = projected[k];
          if (explain)
            factorWhy[f] =
                (op->getNumResults() == 1 ? std::string("as the result")
                                          : "as result " + std::to_string(j)) +
                " is: " + recordedOrigin(op->getResult(j), d);
        }
    }
  // A result that propagation made partial says how its one reduction
  // factor is split.
  AxisList resultPartial;
  if (op->getNumResults() > 0)
    if (ShardingAttr sharding = spmd::getSharding(op->getResult(0)))
      for (PartialAxisAttr partial : sharding.getPartial())
        resultPartial.push_back(partial.getAxis());
  // Partial sums this op carries through keep their axes out of the
  // dimensions.
  auto [carried, carries] = carriedPartial(op);
  AxisList used;
  for (PartialAxisAttr axis : carried)
    used.push_back(axis.getAxis());
  for (int64_t f = 0; f < numFactors; ++f) {
    AxisList axes;
    // A permutation factor (a reversed dimension) moves data between
    // parts; it is computed whole (mirroring the parts by a
    // collective_permute would be cheaper).
    std::string why;
    if (rule.isNeedReplication(f) || rule.isPermutation(f)) {
      axes = {};
      why = describeOp(op) + (rule.isPermutation(f)
                                  ? " reverses it, computed whole"
                                  : " needs it whole");
    } else if (factorAxes[f]) {
      axes = *factorAxes[f];
      why = factorWhy[f];
    } else if (rule.isReduction(f) && rule.getReductionFactors().size() == 1 &&
               !resultPartial.empty()) {
      axes = resultPartial;
      why = "the result is partial over it";
    } else {
      axes = propagation::agreedOperandAxes(rule, f, operandDims, mesh);
      why = axes.empty() ? "the operands holding it disagree on its split, "
                           "so it is whole"
                         : "the split the operands agree on";
    }
    size_t keep = 0;
    while (keep < axes.size() && !overlapsAny(axes[keep], used))
      ++keep;
    if (keep < axes.size())
      why += "; an axis another dimension uses is dropped";
    axes.resize(keep);
    if (explain)
      factorWhy[f] = why;
    used.append(axes.begin(), axes.end());
    factorAxes[f] = axes;
  }

  // The chosen axes and the sizes of `factors` (those of one dimension).
  auto chosen = [&](llvm::ArrayRef<int64_t> factors) {
    std::pair<llvm::SmallVector<AxisList>, llvm::SmallVector<int64_t>> result;
    for (int64_t f : factors) {
      result.first.push_back(*factorAxes[f]);
      result.second.push_back(sizes[f]);
    }
    return result;
  };

  // A factor's axes must survive the round trip through every dimension
  // holding it: a minor factor cannot be split while the major one beside
  // it is not fully split (the parts would not be contiguous), and a factor
  // sharing its dimension splits evenly (padding would land between the
  // other factor's elements, as between a grouped convolution's groups).
  // Such axes are dropped until every dimension can express its factors.
  for (bool changed = true; changed;) {
    changed = false;
    auto check = [&](bool isResult, int64_t index, int64_t rank) {
      for (int64_t d = 0; d < rank; ++d) {
        llvm::SmallVector<int64_t> factors = rule.factorsOf(isResult, index, d);
        if (factors.size() > 1)
          for (int64_t f : factors)
            if (!factorAxes[f]->empty() &&
                sizes[f] % spmd::totalSize(*factorAxes[f], mesh) != 0) {
              factorAxes[f] = AxisList();
              if (explain)
                factorWhy[f] = "kept whole: it shares a dimension and does "
                               "not split evenly";
              changed = true;
            }
        auto [axes, factorSizes] = chosen(factors);
        llvm::SmallVector<AxisList> back = propagation::projectToFactors(
            propagation::projectToDimension(axes, factorSizes, mesh),
            factorSizes, mesh);
        for (auto [k, f] : llvm::enumerate(factors))
          if (back[k] != *factorAxes[f]) {
            factorAxes[f] = AxisList();
            if (explain)
              factorWhy[f] = "kept whole: a tensor holding it cannot "
                             "express its split";
            changed = true;
          }
      }
    };
    for (auto [i, operand] : llvm::enumerate(op->getOperands()))
      check(false, i, rankOf(operand));
    for (auto [j, result] : llvm::enumerate(op->getResults()))
      check(true, j, rankOf(result));
  }

  // A window split over devices takes its halos from the neighbours alone:
  // they must be no wider than a part. Otherwise that dimension is computed
  // whole. (spmd::windowHalo answers for the ops that have windows.)
  if (op->getNumResults() == 1 &&
      mlir::isa<mlir::RankedTensorType>(op->getResult(0).getType()))
    for (int64_t d = 2; d < rankOf(op->getResult(0)); ++d) {
      std::optional<spmd::WindowHalo> halo = spmd::windowHalo(op, d);
      if (!halo)
        continue;
      int64_t size =
          mlir::cast<mlir::RankedTensorType>(op->getResult(0).getType())
              .getDimSize(d);
      for (int64_t f : rule.factorsOf(true, 0, d)) {
        AxisList &axes = *factorAxes[f];
        if (axes.empty())
          continue;
        int64_t part =
            halo->stride * llvm::divideCeil(size, spmd::totalSize(axes, mesh));
        if (std::abs(halo->low) > part || std::abs(halo->high) > part) {
          axes.clear();
          if (explain)
            factorWhy[f] = "kept whole: its windows reach past a neighbour's "
                           "part";
        }
      }
    }

  auto implied = [&](bool isResult, int64_t index, int64_t rank) {
    llvm::SmallVector<AxisList> dims;
    for (int64_t d = 0; d < rank; ++d) {
      auto [axes, factorSizes] = chosen(rule.factorsOf(isResult, index, d));
      dims.push_back(propagation::projectToDimension(axes, factorSizes, mesh));
    }
    return dims;
  };

  // Why dimension `d` of operand or result `index` is laid out as the
  // factors imply.
  auto impliedWhy = [&](bool isResult, int64_t index) {
    return [&, isResult, index](int64_t d) {
      std::string text;
      for (int64_t f : rule.factorsOf(isResult, index, d))
        if (!factorWhy[f].empty() &&
            text.find(factorWhy[f]) == std::string::npos)
          text += (text.empty() ? "" : "; ") + factorWhy[f];
      return text;
    };
  };

  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    mlir::Value operand = op->getOperand(i);
    ShardingAttr needed =
        toSharding(implied(false, i, rankOf(operand)),
                   !carried.empty() && carries[i]
                       ? llvm::ArrayRef<PartialAxisAttr>(carried)
                       : llvm::ArrayRef<PartialAxisAttr>());
    reshardOperand(
        op, i, needed,
        [&](llvm::StringRef from) {
          return describeOp(op) + " needs operand " + std::to_string(i) +
                 quotedName(operand) + " as " +
                 spmd::describeLayout(needed, rankOf(operand)) +
                 " (its sharding rule, for the layouts chosen); it is " +
                 from.str();
        },
        impliedWhy(false, i));
  }

  // Results: partial over the sharded reduction factors, and over what the
  // op carries.
  llvm::SmallVector<PartialAxisAttr> partial(carried.begin(), carried.end());
  llvm::StringRef reduction = spmd::partialReductionOf(op);
  for (int64_t f : rule.getReductionFactors())
    for (AxisRefAttr axis : *factorAxes[f])
      partial.push_back(PartialAxisAttr::get(context, axis, reduction));
  for (mlir::OpResult opResult : op->getResults()) {
    mlir::Value result = opResult;
    ShardingAttr computed = toSharding(
        implied(true, opResult.getResultNumber(), rankOf(result)), partial);
    ShardingAttr wanted = spmd::getSharding(result);
    mlir::Value named = result;
    spmd::setSharding(result, computed);
    if (auto reduce = mlir::dyn_cast<graph::ReduceOp>(op);
        reduce && reduce.getKind() == graph::ReduceKind::Mean &&
        !partial.empty())
      result = splitMean(reduce, computed);
    if (!wanted)
      continue;
    // A value cannot be made partial: partial axes the op does not produce
    // are dropped (consumers then find the value already reduced). Carried
    // partial sums stay: whoever needs the value whole reduces it.
    llvm::SmallVector<PartialAxisAttr> keptPartial;
    for (PartialAxisAttr axis : wanted.getPartial())
      if (llvm::is_contained(partial, axis))
        keptPartial.push_back(axis);
    AxisList wantedAxes;
    for (spmd::DimensionShardingAttr dim : wanted.getDims())
      wantedAxes.append(dim.getAxes().begin(), dim.getAxes().end());
    for (PartialAxisAttr axis : carried)
      if (!llvm::is_contained(keptPartial, axis) &&
          !overlapsAny(axis.getAxis(), wantedAxes))
        keptPartial.push_back(axis);
    wanted = ShardingAttr::get(context, wanted.getMesh(), wanted.getDims(),
                               wanted.getReplicated(), keptPartial);
    if (sameLayout(wanted, computed, rankOf(result)))
      continue;
    mlir::OpBuilder builder(op->getContext());
    builder.setInsertionPointAfter(op);
    builder.setInsertionPointAfterValue(result);
    std::string why =
        "result of " + describeOp(op) + ": computed as " +
        spmd::describeLayout(computed, rankOf(result)) +
        (computed.getPartial().size() > keptPartial.size()
             ? " (a contraction or reduction over a split dimension leaves "
               "partial sums)"
             : "") +
        ", laid out as " + spmd::describeLayout(wanted, rankOf(result)) +
        " (the plan or propagation)";
    if (explain)
      why += conflictLines(
          {"laid out", wanted,
           [&](int64_t d) { return recordedOrigin(named, d); }},
          {"computed", computed, impliedWhy(true, opResult.getResultNumber())},
          rankOf(result));
    // Laying the result out as computed would remove it (partial sums
    // aside).
    std::optional<spmd::PlanEntry> remedy;
    if (std::string name = spmd::tensorName(named);
        !name.empty() && computed.getPartial().size() == keptPartial.size())
      remedy = spmd::PlanEntry{name, spmd::planSpecOf(computed, rankOf(named))};
    auto reshard = spmd::ReshardOp::create(
        builder, spmd::withCollectiveOrigin(op->getLoc(), why, {}, remedy),
        result, wanted);
    result.replaceAllUsesExcept(reshard.getResult(), reshard);
  }
}

mlir::Value Inserter::splitMean(graph::ReduceOp reduce, ShardingAttr sharding) {
  // Each device's mean of its part, summed over devices, is not the mean:
  // a device sums its part and scales by 1 / (the global count), which
  // sums over devices to the mean.
  int64_t count = 1;
  auto operandType = reduce.getOperand().getType();
  for (int64_t d : reduce.getDimensions())
    count *= operandType.getDimSize(d);
  reduce.setKind(graph::ReduceKind::Sum);
  auto type = mlir::cast<mlir::RankedTensorType>(reduce.getType());
  mlir::OpBuilder builder(reduce->getContext());
  builder.setInsertionPointAfter(reduce);
  auto scale = graph::ConstantOp::create(
      builder, reduce.getLoc(),
      mlir::DenseElementsAttr::get(
          type, builder.getFloatAttr(type.getElementType(),
                                     1.0 / static_cast<double>(count))));
  spmd::setSharding(scale.getResult(),
                    toSharding(dimsOf(sharding, type.getRank()), {}));
  auto scaled = graph::MulOp::create(builder, reduce.getLoc(),
                                     reduce.getResult(), scale.getResult());
  spmd::setSharding(scaled.getResult(), sharding);
  reduce.getResult().replaceAllUsesExcept(scaled.getResult(), scaled);
  return scaled.getResult();
}

void Inserter::rewriteReturn(mlir::func::FuncOp function,
                             mlir::Operation *ret) {
  for (unsigned i = 0; i < ret->getNumOperands(); ++i) {
    mlir::Value value = ret->getOperand(i);
    auto wanted = function.getResultAttrOfType<ShardingAttr>(
        i, spmd::SpmdDialect::kShardingAttr);
    if (!mlir::isa<mlir::RankedTensorType>(value.getType()))
      continue;
    // An argument's next value is laid out as the argument is, so that a
    // runtime running steps writes each device's part over its own.
    if (std::optional<unsigned> argument =
            graph::GraphDialect::updatedArgument(function, i)) {
      wanted = spmd::getSharding(function.getArgument(*argument));
      if (wanted)
        function.setResultAttr(i, spmd::SpmdDialect::kShardingAttr, wanted);
      else
        function.removeResultAttr(
            i,
            mlir::StringAttr::get(context, spmd::SpmdDialect::kShardingAttr));
    }
    // A result without a sharding is returned whole.
    if (!wanted)
      wanted = ShardingAttr::get(
          context, meshRef,
          llvm::SmallVector<spmd::DimensionShardingAttr>(
              rankOf(value), spmd::DimensionShardingAttr::get(
                                 context, {}, /*isClosed=*/true, -1)),
          {}, {});
    bool updates =
        graph::GraphDialect::updatedArgument(function, i).has_value();
    auto name = function.getResultAttrOfType<mlir::StringAttr>(i, "graph.name");
    reshardOperand(ret, i, wanted, [&](llvm::StringRef from) {
      return "output " + std::to_string(i) +
             (name ? " ('" + name.str() + "')" : std::string()) +
             " is returned as " + spmd::describeLayout(wanted, rankOf(value)) +
             (updates ? " (the layout of the argument it updates)"
                      : " (the plan's layout; whole where none is given)") +
             "; it is computed as " + from.str();
    });
  }
}

/// The mesh the function's shardings name; null if none does.
mlir::FlatSymbolRefAttr meshOf(mlir::func::FuncOp function) {
  mlir::FlatSymbolRefAttr mesh;
  function.walk([&](mlir::Operation *op) {
    for (mlir::Value result : op->getResults())
      if (ShardingAttr sharding = spmd::getSharding(result))
        mesh = sharding.getMesh();
    return mesh ? mlir::WalkResult::interrupt() : mlir::WalkResult::advance();
  });
  for (mlir::BlockArgument argument : function.getArguments())
    if (ShardingAttr sharding = spmd::getSharding(argument))
      mesh = sharding.getMesh();
  return mesh;
}

struct InsertExplicitReshardsPass
    : impl::InsertExplicitReshardsPassBase<InsertExplicitReshardsPass> {
  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    mlir::FlatSymbolRefAttr meshRef = meshOf(function);
    if (!meshRef)
      return; // Nothing is sharded.
    mlir::FailureOr<MeshAttr> mesh = spmd::lookupMesh(function, meshRef);
    if (mlir::failed(mesh))
      return signalPassFailure();
    bool explain = recordsOrigins(function);
    Inserter inserter(meshRef, *mesh, explain);
    llvm::SmallVector<mlir::Operation *> ops;
    for (mlir::Operation &op : function.getBody().front())
      ops.push_back(&op);
    for (mlir::Operation *op : ops) {
      // A constraint is a reshard to its sharding (one that changes
      // nothing disappears as collectives are made).
      if (auto constraint = mlir::dyn_cast<spmd::ShardingConstraintOp>(op)) {
        mlir::OpBuilder builder(op);
        mlir::Value input = constraint.getInput();
        std::string why =
            "sharding constraint" + quotedName(input) + ": laid out as " +
            spmd::describeLayout(constraint.getSharding(), rankOf(input)) +
            ", computed as " +
            spmd::describeLayout(spmd::getSharding(input), rankOf(input));
        if (explain)
          why += conflictLines(
              {"laid out", constraint.getSharding(),
               [](int64_t) { return std::string(); }},
              {"computed", spmd::getSharding(input),
               [&](int64_t d) { return recordedOrigin(input, d); }},
              rankOf(input));
        auto reshard = spmd::ReshardOp::create(
            builder, spmd::withCollectiveOrigin(op->getLoc(), why), input,
            constraint.getSharding());
        constraint.getResult().replaceAllUsesWith(reshard.getResult());
        constraint.erase();
        continue;
      }
      if (op->hasTrait<mlir::OpTrait::IsTerminator>()) {
        inserter.rewriteReturn(function, op);
        continue;
      }
      OpShardingRuleAttr rule = spmd::getShardingRule(op);
      if (!rule && op->getDialect() &&
          op->getDialect()->getNamespace() == "graph") {
        op->emitOpError() << "has no sharding rule, so it cannot be "
                             "partitioned (are the graph ops' rules "
                             "registered in this context?)";
        return signalPassFailure();
      }
      bool ranked =
          llvm::all_of(op->getOperandTypes(),
                       [](mlir::Type type) {
                         return mlir::isa<mlir::RankedTensorType>(type);
                       }) &&
          llvm::all_of(op->getResultTypes(), [](mlir::Type type) {
            return mlir::isa<mlir::RankedTensorType>(type);
          });
      if (rule && ranked)
        inserter.rewrite(op, rule);
    }
    // The origins are in the reasons now.
    spmd::dropOrigins(function);
  }
};

} // namespace
} // namespace tessel::partition
