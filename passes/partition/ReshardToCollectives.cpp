//===- ReshardToCollectives.cpp - spmd.reshard as collectives -------------===//
//
// Each spmd.reshard becomes the chain of collectives planReshard
// (ReshardPlan.h) gives from its operand's layout to its own, each op
// carrying the sharding it leaves.
//
//===----------------------------------------------------------------------===//

#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/partition/Passes.h"
#include "passes/partition/ReshardPlan.h"

namespace tessel::partition {

#define GEN_PASS_DEF_RESHARDTOCOLLECTIVESPASS
#include "passes/partition/Passes.h.inc"

namespace {

using spmd::AxisRefAttr;
using spmd::MeshAttr;
using spmd::PartialAxisAttr;
using spmd::ShardingAttr;

class Rewriter {
public:
  Rewriter(spmd::ReshardOp reshard, MeshAttr mesh)
      : reshard(reshard), mesh(mesh), builder(reshard),
        context(reshard.getContext()) {}

  mlir::LogicalResult run();

private:
  ShardingAttr toSharding(const Layout &layout);
  mlir::ArrayAttr perDimension(const std::vector<Axes> &axes) const;
  mlir::ArrayAttr names(const Axes &axes) const;

  spmd::ReshardOp reshard;
  MeshAttr mesh;
  mlir::OpBuilder builder;
  mlir::MLIRContext *context;
};

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

mlir::ArrayAttr Rewriter::perDimension(const std::vector<Axes> &axes) const {
  llvm::SmallVector<mlir::Attribute> result;
  for (const Axes &dim : axes)
    result.push_back(names(dim));
  return mlir::ArrayAttr::get(context, result);
}

mlir::LogicalResult Rewriter::run() {
  ShardingAttr target = reshard.getSharding();
  ShardingAttr source = spmd::getSharding(reshard.getInput());
  auto type = mlir::cast<mlir::RankedTensorType>(reshard.getType());
  if (source && source.getMesh() != target.getMesh())
    return reshard.emitOpError()
           << "reshards from mesh " << source.getMesh() << " to "
           << target.getMesh() << "; moving between meshes is not supported";
  std::string error;
  mlir::FailureOr<std::vector<CollectiveStep>> steps = planReshard(
      layoutOf(source, type.getRank()), layoutOf(target, type.getRank()),
      type.getShape(), mesh, error);
  if (mlir::failed(steps))
    return reshard.emitOpError() << error;
  mlir::Value current = reshard.getInput();
  mlir::Location loc = reshard.getLoc();
  for (const CollectiveStep &step : *steps) {
    ShardingAttr after = toSharding(step.after);
    switch (step.kind) {
    case CollectiveStep::AllReduce:
      current = spmd::AllReduceOp::create(
          builder, loc, type, current, names(step.axes),
          mlir::StringAttr::get(context, step.reduction), after);
      break;
    case CollectiveStep::CollectivePermute:
      current = spmd::CollectivePermuteOp::create(
          builder, loc, type, current, toSharding(step.before), after);
      break;
    case CollectiveStep::AllToAll:
      current = spmd::AllToAllOp::create(
          builder, loc, type, current, names(step.axes),
          builder.getI64IntegerAttr(step.srcDim),
          builder.getI64IntegerAttr(step.tgtDim), after);
      break;
    case CollectiveStep::AllGather:
      current = spmd::AllGatherOp::create(builder, loc, type, current,
                                          perDimension(step.perDim), after);
      break;
    case CollectiveStep::AllSlice:
      current = spmd::AllSliceOp::create(builder, loc, type, current,
                                         perDimension(step.perDim), after);
      break;
    }
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
      // Both reasons stay with the collectives made.
      next->setLoc(mlir::FusedLoc::get(reshard.getContext(),
                                       {reshard.getLoc(), next.getLoc()}));
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
