//===- FuseElementwise.cpp - Group elementwise ops into fusions -----------===//

#include "dialects/graph/GraphOps.h"
#include "mlir/IR/IRMapping.h"
#include "passes/lowering/Passes.h"
#include "llvm/ADT/SetVector.h"

namespace tessel::lowering {

#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "passes/lowering/Passes.h.inc"

namespace {

bool isCheapToDuplicate(mlir::Operation *op) {
  return mlir::isa<graph::BroadcastInDimOp, graph::ConstantOp>(op);
}

/// The values the ops `ordered` of `group` read from outside it, in order.
llvm::SetVector<mlir::Value>
inputsOf(llvm::ArrayRef<mlir::Operation *> ordered,
         const llvm::SetVector<mlir::Operation *> &group) {
  llvm::SetVector<mlir::Value> inputs;
  for (mlir::Operation *op : ordered)
    for (mlir::Value operand : op->getOperands())
      if (!group.contains(operand.getDefiningOp()))
        inputs.insert(operand);
  return inputs;
}

/// Whether `op` repeats each element of its operand: a producer behind it
/// would be evaluated once per copy inside a fusion, so only constants join
/// through it (a computed vector, say a batch norm's scale, is a fusion of
/// its own, evaluated once).
bool expands(mlir::Operation *op) {
  if (!mlir::isa<graph::BroadcastInDimOp>(op))
    return false;
  auto in = mlir::cast<mlir::ShapedType>(op->getOperand(0).getType());
  auto out = mlir::cast<mlir::ShapedType>(op->getResult(0).getType());
  return out.getNumElements() > in.getNumElements();
}

/// The ops of the fusion rooted at `root`: producers join while they are
/// fusible and read only by the group (cheap ones always join; behind an
/// expanding broadcast, only constants), and the group stays within
/// `maxOperands` inputs and `maxOps` ops plus loads.
llvm::SetVector<mlir::Operation *>
collectGroup(mlir::Operation *root, int64_t maxOperands, int64_t maxOps) {
  llvm::SetVector<mlir::Operation *> group;
  group.insert(root);
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < group.size(); ++i) {
      for (mlir::Value operand : group[i]->getOperands()) {
        mlir::Operation *producer = operand.getDefiningOp();
        if (!producer || group.contains(producer) ||
            producer->getBlock() != root->getBlock() ||
            !graph::isFusible(producer) ||
            (expands(group[i]) && !mlir::isa<graph::ConstantOp>(producer)))
          continue;
        bool onlyGroupReads =
            llvm::all_of(producer->getUsers(), [&](mlir::Operation *user) {
              return group.contains(user);
            });
        if (!isCheapToDuplicate(producer) && !onlyGroupReads)
          continue;
        group.insert(producer);
        int64_t inputs = inputsOf(group.getArrayRef(), group).size();
        if (inputs > maxOperands ||
            static_cast<int64_t>(group.size()) + inputs > maxOps) {
          group.pop_back();
          continue;
        }
        changed = true;
      }
    }
  }
  return group;
}

/// Replaces the group by a graph.fusion; adds the ops it erased (all but the
/// cheap ones that something outside still reads) to `erased`.
void fuse(mlir::Operation *root, llvm::SetVector<mlir::Operation *> &group,
          llvm::DenseSet<mlir::Operation *> &erased) {
  llvm::SmallVector<mlir::Operation *> ordered(group.begin(), group.end());
  llvm::sort(ordered, [](mlir::Operation *a, mlir::Operation *b) {
    return a->isBeforeInBlock(b);
  });
  llvm::SetVector<mlir::Value> inputs = inputsOf(ordered, group);

  mlir::OpBuilder builder(root);
  auto fusion = graph::FusionOp::create(builder, root->getLoc(),
                                        root->getResult(0).getType(),
                                        inputs.getArrayRef());
  mlir::Block *body = builder.createBlock(&fusion.getBody());
  mlir::IRMapping mapping;
  for (mlir::Value input : inputs)
    mapping.map(input, body->addArgument(input.getType(), input.getLoc()));
  for (mlir::Operation *op : ordered)
    builder.clone(*op, mapping);
  graph::YieldOp::create(builder, root->getLoc(),
                         mapping.lookup(root->getResult(0)));

  // The fusion computes the root's value, laid out as the root's was (the
  // partitioner's collectives read their operands' shardings).
  if (mlir::Attribute shardings = root->getDiscardableAttr("spmd.shardings"))
    fusion->setDiscardableAttr("spmd.shardings", shardings);
  root->getResult(0).replaceAllUsesWith(fusion.getResult());
  for (mlir::Operation *op : llvm::reverse(ordered)) {
    if (!op->use_empty())
      continue;
    erased.insert(op);
    op->erase();
  }
}

struct FuseElementwisePass
    : impl::FuseElementwisePassBase<FuseElementwisePass> {
  using FuseElementwisePassBase::FuseElementwisePassBase;

  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.getBody().empty())
      return;
    mlir::Block &block = function.getBody().front();
    // Consumers first, so that each fusion grows upward from its root.
    llvm::SmallVector<mlir::Operation *> roots;
    for (mlir::Operation &op : llvm::reverse(block))
      roots.push_back(&op);
    llvm::DenseSet<mlir::Operation *> erased;
    for (mlir::Operation *root : roots) {
      if (erased.contains(root) || !graph::isFusible(root) ||
          mlir::isa<graph::ConstantOp>(root) || root->use_empty())
        continue;
      llvm::SetVector<mlir::Operation *> group =
          collectGroup(root, maxOperands, maxOps);
      fuse(root, group, erased);
    }
    // Broadcasts and splat constants every reader of which was fused.
    for (mlir::Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
      if (isCheapToDuplicate(&op) && op.use_empty())
        op.erase();
  }
};

} // namespace
} // namespace tessel::lowering
