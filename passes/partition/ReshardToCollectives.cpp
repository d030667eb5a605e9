//===- ReshardToCollectives.cpp - spmd.reshard as collectives -------------===//
//
// A layout is, per dimension, its axes (major to minor), plus the partial
// axes. The chain from the source layout to the target's only ever removes
// a dimension's minor-most axes and appends axes, so that every
// intermediate layout is one the collectives can produce: after the
// reductions, axes that are not a prefix of their target dimension leave
// (to another dimension by all_to_all where the target wants them next
// there, else by all_gather), and what the target adds comes last, by a
// local all_slice.
//
// Uneven dimensions are padded to ceil(size / parts) per part, and parts of
// one split are not always made of parts of a finer one (7 in 3 parts is
// 3+3+1, in 6 parts 2+2+2+1+0+0, and pairs of the latter are not the
// former). Where that is so, the dimension goes through whole: all its axes
// are gathered and the target's sliced afresh.
//
//===----------------------------------------------------------------------===//

#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/partition/Passes.h"

namespace tessel::partition {

#define GEN_PASS_DEF_RESHARDTOCOLLECTIVESPASS
#include "passes/partition/Passes.h.inc"

namespace {

using spmd::AxisRefAttr;
using spmd::MeshAttr;
using spmd::PartialAxisAttr;
using spmd::ShardingAttr;

using Axes = llvm::SmallVector<std::string>;

struct Layout {
  llvm::SmallVector<Axes> dims;
  /// (axis, reduction) pairs.
  llvm::SmallVector<std::pair<std::string, std::string>> partial;
};

bool isPrefix(const Axes &prefix, const Axes &of) {
  return prefix.size() <= of.size() &&
         std::equal(prefix.begin(), prefix.end(), of.begin());
}

class Rewriter {
public:
  Rewriter(spmd::ReshardOp reshard, MeshAttr mesh)
      : reshard(reshard), mesh(mesh), builder(reshard),
        context(reshard.getContext()) {}

  mlir::LogicalResult run();

private:
  mlir::FailureOr<Layout> layoutOf(ShardingAttr sharding);
  int64_t parts(const Axes &axes) const;
  /// Whether dimension `d`, split by `axes`, can be split further by
  /// `more` (or joined from that) in place: each part of the coarser split
  /// is the finer split's parts, padding included.
  bool regroups(size_t d, const Axes &axes, const Axes &more) const;
  ShardingAttr toSharding(const Layout &layout);
  mlir::ArrayAttr perDimension(const llvm::SmallVector<Axes> &axes) const;
  mlir::ArrayAttr names(const Axes &axes) const;
  /// Emits a collective that leaves `layout`.
  template <typename OpTy, typename... Args>
  void emit(const Layout &layout, Args... args) {
    current = OpTy::create(builder, reshard.getLoc(), reshard.getType(),
                           current, args..., toSharding(layout));
  }

  spmd::ReshardOp reshard;
  MeshAttr mesh;
  mlir::OpBuilder builder;
  mlir::MLIRContext *context;
  mlir::Value current;
};

mlir::FailureOr<Layout> Rewriter::layoutOf(ShardingAttr sharding) {
  Layout layout;
  for (spmd::DimensionShardingAttr dim : sharding.getDims()) {
    Axes axes;
    for (AxisRefAttr axis : dim.getAxes())
      axes.push_back(spmd::axisName(axis));
    layout.dims.push_back(axes);
  }
  for (PartialAxisAttr partial : sharding.getPartial())
    layout.partial.emplace_back(spmd::axisName(partial.getAxis()),
                                partial.getReduction().str());
  return layout;
}

int64_t Rewriter::parts(const Axes &axes) const {
  int64_t result = 1;
  for (const std::string &name : axes)
    if (AxisRefAttr axis = spmd::parseAxisName(context, name))
      result *= axis.size(mesh);
  return result;
}

bool Rewriter::regroups(size_t d, const Axes &axes, const Axes &more) const {
  int64_t size =
      mlir::cast<mlir::RankedTensorType>(reshard->getResult(0).getType())
          .getDimSize(d);
  int64_t coarse = parts(axes), factor = parts(more);
  // From whole, a split pads the end; to whole, a gather drops it.
  return coarse == 1 || llvm::divideCeil(size, coarse) ==
                            factor * llvm::divideCeil(size, coarse * factor);
}

ShardingAttr Rewriter::toSharding(const Layout &layout) {
  llvm::SmallVector<spmd::DimensionShardingAttr> dims;
  for (const Axes &axes : layout.dims) {
    llvm::SmallVector<AxisRefAttr> refs;
    for (const std::string &axis : axes)
      refs.push_back(spmd::parseAxisName(context, axis));
    dims.push_back(spmd::DimensionShardingAttr::get(context, refs,
                                                    /*isClosed=*/true, -1));
  }
  llvm::SmallVector<PartialAxisAttr> partial;
  for (const auto &[axis, reduction] : layout.partial)
    partial.push_back(PartialAxisAttr::get(
        context, spmd::parseAxisName(context, axis), reduction));
  return ShardingAttr::get(context, reshard.getSharding().getMesh(), dims, {},
                           partial);
}

mlir::ArrayAttr Rewriter::names(const Axes &axes) const {
  llvm::SmallVector<mlir::Attribute> result;
  for (const std::string &axis : axes)
    result.push_back(mlir::StringAttr::get(context, axis));
  return mlir::ArrayAttr::get(context, result);
}

mlir::ArrayAttr
Rewriter::perDimension(const llvm::SmallVector<Axes> &axes) const {
  llvm::SmallVector<mlir::Attribute> result;
  for (const Axes &dim : axes)
    result.push_back(names(dim));
  return mlir::ArrayAttr::get(context, result);
}

mlir::LogicalResult Rewriter::run() {
  ShardingAttr target = reshard.getSharding();
  ShardingAttr source = spmd::getSharding(reshard.getInput());
  if (!source)
    source = ShardingAttr::getOpen(
        context, target.getMesh(),
        mlir::cast<mlir::RankedTensorType>(reshard.getType()).getRank());
  if (source.getMesh() != target.getMesh())
    return reshard.emitOpError()
           << "reshards from mesh " << source.getMesh() << " to "
           << target.getMesh() << "; moving between meshes is not supported";
  mlir::FailureOr<Layout> from = layoutOf(source);
  mlir::FailureOr<Layout> to = layoutOf(target);
  if (mlir::failed(from) || mlir::failed(to))
    return mlir::failure();
  Layout layout = *from;
  current = reshard.getInput();

  // 1. Reduce the partial axes the target does not keep, one all_reduce per
  // reduction kind.
  for (const auto &[axis, reduction] : to->partial)
    if (!llvm::is_contained(layout.partial, std::make_pair(axis, reduction)))
      return reshard.emitOpError()
             << "cannot make a value partial over \"" << axis << "\" ("
             << reduction << "): only reductions remove partial axes";
  while (true) {
    auto pending = llvm::find_if(layout.partial, [&](const auto &partial) {
      return !llvm::is_contained(to->partial, partial);
    });
    if (pending == layout.partial.end())
      break;
    std::string reduction = pending->second;
    Axes axes;
    llvm::erase_if(layout.partial, [&](const auto &partial) {
      if (partial.second != reduction ||
          llvm::is_contained(to->partial, partial))
        return false;
      axes.push_back(partial.first);
      return true;
    });
    emit<spmd::AllReduceOp>(layout, names(axes),
                            mlir::StringAttr::get(context, reduction));
  }

  // 2. The same number of parts per dimension: devices swap whole parts.
  if (layout.dims != to->dims &&
      llvm::all_of(llvm::seq<size_t>(0, layout.dims.size()), [&](size_t d) {
        return parts(layout.dims[d]) == parts(to->dims[d]);
      })) {
    ShardingAttr before = toSharding(layout);
    layout.dims = to->dims;
    emit<spmd::CollectivePermuteOp>(layout, before);
  }

  // 3. Move or gather what is out of place, then slice what is missing.
  size_t rank = layout.dims.size();
  auto rest = [&](size_t d) {
    return Axes(to->dims[d].begin() + layout.dims[d].size(), to->dims[d].end());
  };
  auto misplaced = [&](size_t d) {
    return !isPrefix(layout.dims[d], to->dims[d]) ||
           !regroups(d, layout.dims[d], rest(d));
  };
  while (llvm::any_of(llvm::seq<size_t>(0, rank), misplaced)) {
    bool moved = false;
    for (size_t d = 0; d < rank && !moved; ++d) {
      if (!misplaced(d))
        continue;
      const std::string &axis = layout.dims[d].back();
      for (size_t e = 0; e < rank; ++e) {
        if (e == d || misplaced(e))
          continue;
        const Axes &want = to->dims[e];
        size_t next = layout.dims[e].size();
        Axes remaining(layout.dims[d].begin(), layout.dims[d].end() - 1);
        if (next < want.size() && want[next] == axis &&
            regroups(d, remaining, {axis}) &&
            regroups(e, layout.dims[e], {axis})) {
          std::string name = axis;
          layout.dims[d].pop_back();
          layout.dims[e].push_back(name);
          emit<spmd::AllToAllOp>(layout, names({name}),
                                 builder.getI64IntegerAttr(d),
                                 builder.getI64IntegerAttr(e));
          moved = true;
          break;
        }
      }
    }
    if (moved)
      continue;
    // Nothing can move: gather every misplaced dimension's axes beyond its
    // common prefix with the target, one all_gather per dimension (each
    // concatenates along one dimension, as runtimes do).
    for (size_t d = 0; d < rank; ++d) {
      size_t keep = 0;
      while (keep < layout.dims[d].size() && keep < to->dims[d].size() &&
             layout.dims[d][keep] == to->dims[d][keep])
        ++keep;
      Axes prefix(layout.dims[d].begin(), layout.dims[d].begin() + keep);
      if (!regroups(
              d, prefix,
              Axes(layout.dims[d].begin() + keep, layout.dims[d].end())) ||
          !regroups(d, prefix,
                    Axes(to->dims[d].begin() + keep, to->dims[d].end())))
        keep = 0;
      if (keep == layout.dims[d].size())
        continue;
      llvm::SmallVector<Axes> gathered(rank);
      gathered[d].assign(layout.dims[d].begin() + keep, layout.dims[d].end());
      layout.dims[d].resize(keep);
      emit<spmd::AllGatherOp>(layout, perDimension(gathered));
    }
  }
  if (layout.dims != to->dims) {
    llvm::SmallVector<Axes> sliced(rank);
    for (size_t d = 0; d < rank; ++d)
      sliced[d].assign(to->dims[d].begin() + layout.dims[d].size(),
                       to->dims[d].end());
    layout.dims = to->dims;
    emit<spmd::AllSliceOp>(layout, perDimension(sliced));
  }

  reshard.getResult().replaceAllUsesWith(current);
  reshard.erase();
  return mlir::success();
}

struct ReshardToCollectivesPass
    : impl::ReshardToCollectivesPassBase<ReshardToCollectivesPass> {
  void runOnOperation() override {
    llvm::SmallVector<spmd::ReshardOp> reshards;
    getOperation().walk(
        [&](spmd::ReshardOp reshard) { reshards.push_back(reshard); });
    // Reshards in a row (an op's result moved to what propagation wanted,
    // then to what its consumer needs) are one reshard, from the first
    // layout straight to the last.
    llvm::erase_if(reshards, [](spmd::ReshardOp reshard) {
      if (!reshard->hasOneUse())
        return false;
      auto next = mlir::dyn_cast<spmd::ReshardOp>(*reshard->getUsers().begin());
      if (!next)
        return false;
      next.getInputMutable().assign(reshard.getInput());
      reshard.erase();
      return true;
    });
    for (spmd::ReshardOp reshard : reshards) {
      mlir::FailureOr<MeshAttr> mesh =
          spmd::lookupMesh(reshard, reshard.getSharding().getMesh());
      if (mlir::failed(mesh) || mlir::failed(Rewriter(reshard, *mesh).run()))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace tessel::partition
