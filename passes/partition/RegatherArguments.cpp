//===- RegatherArguments.cpp - A split argument gathered per use ----------===//
//
// An all_gather of a function argument read by several ops becomes one
// all_gather before each of them (Passes.td, --spmd-regather-arguments).
//
//===----------------------------------------------------------------------===//

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "passes/partition/Passes.h"

namespace tessel::partition {

#define GEN_PASS_DEF_REGATHERARGUMENTSPASS
#include "passes/partition/Passes.h.inc"

namespace {

/// The ops from a function argument to `value` when `value` is the
/// argument moved only by transposes and reshapes (first op first), so
/// that cloning them is free; nullopt otherwise.
std::optional<llvm::SmallVector<mlir::Operation *>>
movesOfArgument(mlir::Value value) {
  llvm::SmallVector<mlir::Operation *> chain;
  while (!mlir::isa<mlir::BlockArgument>(value)) {
    mlir::Operation *op = value.getDefiningOp();
    if (!mlir::isa<graph::TransposeOp, graph::ReshapeOp>(op) ||
        op->getNumOperands() != 1)
      return std::nullopt;
    chain.push_back(op);
    value = op->getOperand(0);
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

struct RegatherArgumentsPass
    : impl::RegatherArgumentsPassBase<RegatherArgumentsPass> {
  void runOnOperation() override {
    llvm::SmallVector<
        std::pair<spmd::AllGatherOp, llvm::SmallVector<mlir::Operation *>>>
        gathers;
    getOperation().walk([&](spmd::AllGatherOp gather) {
      if (gather.getResult().hasOneUse())
        return;
      if (auto chain = movesOfArgument(gather.getOperand()))
        gathers.emplace_back(gather, std::move(*chain));
    });
    for (auto &[gather, chain] : gathers) {
      // Each reading op, once, in program order.
      llvm::SetVector<mlir::Operation *> users;
      for (mlir::OpOperand &use : gather.getResult().getUses())
        users.insert(use.getOwner());
      llvm::SmallVector<mlir::Operation *> ordered(users.begin(), users.end());
      llvm::sort(ordered, [](mlir::Operation *a, mlir::Operation *b) {
        return a->getBlock() == b->getBlock() ? a->isBeforeInBlock(b) : a < b;
      });
      for (mlir::Operation *user : ordered) {
        if (user->getBlock() != gather->getBlock())
          continue; // Inside a region: the gather where it is serves it.
        // The moves and the gather again, just before the user.
        mlir::OpBuilder builder(user);
        mlir::IRMapping mapping;
        for (mlir::Operation *move : chain)
          builder.clone(*move, mapping);
        mlir::Operation *copy = builder.clone(*gather, mapping);
        user->replaceUsesOfWith(gather.getResult(), copy->getResult(0));
      }
      if (gather.getResult().use_empty()) {
        gather.erase();
        for (mlir::Operation *move : llvm::reverse(chain))
          if (move->use_empty())
            move->erase();
      }
    }
  }
};

} // namespace
} // namespace tessel::partition
