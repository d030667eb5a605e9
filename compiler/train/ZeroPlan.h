//===- ZeroPlan.h - ZeRO stages as plan entries -----------------*- C++ -*-===//
//
// A plan's `zero { stage: N axis: "x" }` (compiler/plan/plan.proto) made
// the per-tensor entries it means for a training step: the optimizer
// state, the gradients and the parameters split over the data axis
// (docs/design/training.md, "ZeRO").
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TRAIN_ZEROPLAN_H
#define TESSEL_COMPILER_TRAIN_ZEROPLAN_H

#include <vector>

#include "absl/status/status.h"
#include "compiler/plan/plan.pb.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace tessel::train {

/// Adds to `plan` the entries of its ZeRO stage for the training step
/// `function` on `mesh` (the mesh the plan applies on), for every tensor
/// the plan does not name itself. Per trained parameter `p` (an argument
/// some result updates) split along dimension d (its first the plan leaves
/// whole that the axis divides):
///   stage >= 1: `p`'s optimizer state (`p.<state>`) and `p.updated` split
///               over the axis at d; `p` as the plan has it (whole if
///               unnamed), so that the update's parts are all-gathered;
///   stage >= 2: `p.grad` split alike (a reduce-scatter where the batch is
///               split), else `p.grad` laid out as `p` (an all-reduce);
///   stage 3:    `p` split alike too (all-gathered where it is used).
/// Parameters with no such dimension (scalars, biases shorter than the
/// axis) stay as they are: a few bytes, not worth padding.
/// Errors: a stage other than 1 to 3, an axis not of the mesh, or a
/// function that trains nothing.
/// The arguments of a training step that its results update: the trained
/// parameters, and the state inputs (optimizer state, step counters).
struct UpdatedArguments {
  std::vector<unsigned> parameters, stateInputs;
};
UpdatedArguments updatedArguments(mlir::func::FuncOp function);

absl::Status expandZero(mlir::func::FuncOp function,
                        const proto::PlanMesh &mesh, proto::Plan &plan);

} // namespace tessel::train

#endif // TESSEL_COMPILER_TRAIN_ZEROPLAN_H
