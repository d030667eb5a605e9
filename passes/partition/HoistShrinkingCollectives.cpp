//===- HoistShrinkingCollectives.cpp - Shrink a value once it is made -----===//
//
// reduce_scatter and all_slice move to just after their operand's producer
// (Passes.td, --spmd-hoist-shrinking-collectives).
//
//===----------------------------------------------------------------------===//

#include "dialects/spmd/SpmdOps.h"
#include "passes/partition/Passes.h"

namespace tessel::partition {

#define GEN_PASS_DEF_HOISTSHRINKINGCOLLECTIVESPASS
#include "passes/partition/Passes.h.inc"

namespace {

struct HoistShrinkingCollectivesPass
    : impl::HoistShrinkingCollectivesPassBase<HoistShrinkingCollectivesPass> {
  void runOnOperation() override {
    llvm::SmallVector<mlir::Operation *> shrinking;
    getOperation().walk([&](mlir::Operation *op) {
      if (mlir::isa<spmd::ReduceScatterOp, spmd::AllSliceOp>(op))
        shrinking.push_back(op);
    });
    // In program order, so that two hoisted after one producer keep their
    // order.
    for (mlir::Operation *op : shrinking) {
      mlir::Value operand = op->getOperand(0);
      if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(operand)) {
        if (argument.getOwner() != op->getBlock())
          continue;
        // After the other hoisted ones at the start of the body.
        mlir::Block &block = *op->getBlock();
        mlir::Operation *after = nullptr;
        for (mlir::Operation &other : block) {
          if (&other == op || !llvm::is_contained(shrinking, &other) ||
              !mlir::isa<mlir::BlockArgument>(other.getOperand(0)))
            break;
          after = &other;
        }
        if (after)
          op->moveAfter(after);
        else
          op->moveBefore(&block.front());
        continue;
      }
      mlir::Operation *producer = operand.getDefiningOp();
      if (producer->getBlock() != op->getBlock())
        continue;
      // After the producer and the shrinking ops already hoisted there.
      mlir::Operation *after = producer;
      while (after->getNextNode() && after->getNextNode() != op &&
             llvm::is_contained(shrinking, after->getNextNode()) &&
             after->getNextNode()->getOperand(0) == operand)
        after = after->getNextNode();
      if (after->getNextNode() != op)
        op->moveAfter(after);
    }
  }
};

} // namespace
} // namespace tessel::partition
