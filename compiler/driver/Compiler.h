//===- Compiler.h - From graph IR to an executable --------------*- C++ -*-===//
//
// The compiler after import: sharding (propagation, or the cost model's
// choice), partitioning, lowering (fusion, buffer assignment), export to
// the executable protobuf. Each step runs a named pipeline of
// passes/Pipelines.h, the same that tessel-opt offers as flags. Tools
// compile through here, never by calling passes themselves.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_DRIVER_COMPILER_H
#define TESSEL_COMPILER_DRIVER_COMPILER_H

#include <string>
#include <vector>

#include "compiler/cost/CostModel.h"
#include "mlir/IR/BuiltinOps.h"
#include "passes/autoshard/AutoShard.h"
#include "runtime/Executable.h"
#include "runtime/proto/executable.pb.h"

namespace tessel {

/// --graph-view-fused-weights: fused projection weights (q/k/v in one
/// matrix) viewed per part, so that plans and --auto can split every part
/// alike. Run on a freshly loaded model, before any sharding.
mlir::LogicalResult viewFusedWeights(mlir::ModuleOp module);

/// Runs sharding propagation (--spmd-propagate) on `module` in place: every
/// op gets `spmd.shardings` from the user annotations on the module; with
/// `origins`, `spmd.origins` too (where each dimension's sharding came
/// from, for the reasons insertCollectives gives).
mlir::LogicalResult propagateShardings(mlir::ModuleOp module,
                                       bool origins = false);

/// Chooses the shardings of a module with a mesh by `model` (the
/// spmd-auto-shard pass's algorithm, with a report and progress), in place;
/// propagateShardings then completes them.
mlir::FailureOr<autoshard::AutoShardReport>
autoShard(mlir::ModuleOp module, const cost::CostModel &model,
          const autoshard::AutoShardOptions &options);

/// Makes communication explicit on a propagated module, in place:
/// --spmd-insert-explicit-reshards, --spmd-reshard-to-collectives, then
/// canonicalize and cse (reduce_scatter formation, no-op collectives
/// dropped, identical ones merged). Shapes stay global.
mlir::LogicalResult insertCollectives(mlir::ModuleOp module);

/// insertCollectives, then --spmd-global-to-local: the program every
/// device of the mesh runs, on local shapes.
mlir::LogicalResult partitionForDevices(mlir::ModuleOp module,
                                        bool ringAttention = true,
                                        bool balanceCausal = true);

/// The collectives of a module after insertCollectives (global shapes),
/// counted as runtime/Executable.h counts an executable's; all_slice, which
/// is local, moves no bytes.
std::vector<CollectiveCount> countCollectives(mlir::ModuleOp module);

/// Runs the lowering pipeline on `module` in place: canonicalize, cse,
/// --graph-decompose-batch-norm, --graph-fuse-elementwise,
/// --spmd-overlap-collectives (if `overlapCollectives` > 0, that many in
/// flight), --graph-assign-buffers.
mlir::LogicalResult lowerForExecution(mlir::ModuleOp module,
                                      int64_t overlapCollectives = 0);

/// How compileToExecutable makes the device programs.
struct ExecutableOptions {
  /// As partitionForDevices takes them.
  bool ringAttention = true;
  bool balanceCausal = true;
  /// Collectives started early and waited for late, at most this many in
  /// flight at once (--spmd-overlap-collectives); 0: each runs in line.
  int64_t overlapCollectives = 0;
};

/// lowerForExecution, then export. `parameterFile` is the name the
/// executable records for its parameters (relative to the executable). A
/// module with a mesh (after propagation) is partitioned first into one
/// program per device, and carries the single-device program as its
/// reference.
mlir::FailureOr<proto::Executable>
compileToExecutable(mlir::ModuleOp module, const std::string &parameterFile,
                    const ExecutableOptions &options = {});

} // namespace tessel

#endif // TESSEL_COMPILER_DRIVER_COMPILER_H
