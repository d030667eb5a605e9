//===- Pipelines.h - Tessel's named pass pipelines --------------*- C++ -*-===//
//
// The pipelines the compiler runs, each a flag of tessel-opt and the one
// definition the driver (compiler/driver) and the lit tests share:
//
//   --tessel-propagation-pipeline   shardings for every tensor
//   --tessel-auto-shard-pipeline    choose shardings by the cost model, then
//                                   propagate (options: profile,
//                                   memory-budget, seconds)
//   --tessel-collectives-pipeline   communication made explicit, on global
//                                   shapes (what --emit=spmd prints)
//   --tessel-partition-pipeline     the program every device runs, on local
//                                   shapes
//   --tessel-lowering-pipeline      fusion and buffer assignment, ready for
//                                   export
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_PIPELINES_H
#define TESSEL_PASSES_PIPELINES_H

#include <string>

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace tessel {

/// --spmd-propagate on every function (recording origins, --spmd-propagate's
/// `origins` option, if asked).
void buildPropagationPipeline(mlir::OpPassManager &manager,
                              bool origins = false);

struct AutoShardPipelineOptions
    : public mlir::PassPipelineOptions<AutoShardPipelineOptions> {
  Option<std::string> profile{
      *this, "profile",
      llvm::cl::desc("Device profile: host, h100_sxm, a100_sxm or a file"),
      llvm::cl::init("host")};
  Option<int64_t> memoryBudget{
      *this, "memory-budget",
      llvm::cl::desc("Bytes per device (0: the profile's memory)"),
      llvm::cl::init(0)};
  Option<double> seconds{*this, "seconds",
                         llvm::cl::desc("Time limit of the search"),
                         llvm::cl::init(10.0)};
};

/// --spmd-auto-shard with `options`, then propagation.
void buildAutoShardPipeline(mlir::OpPassManager &manager,
                            const AutoShardPipelineOptions &options);

/// On a propagated module: --spmd-insert-explicit-reshards,
/// --spmd-reshard-to-collectives, then canonicalize (without merging equal
/// constants, which may be laid out differently) and cse, which form
/// reduce_scatters, drop no-op collectives and merge identical ones.
void buildCollectivesPipeline(mlir::OpPassManager &manager);

/// The collectives pipeline, then --spmd-global-to-local, then (unless
/// `ringAttention` is false) --spmd-ring-attention, balancing causal
/// attention unless `balanceCausal` is false.
void buildPartitionPipeline(mlir::OpPassManager &manager,
                            bool ringAttention = true,
                            bool balanceCausal = true);

struct LoweringPipelineOptions
    : public mlir::PassPipelineOptions<LoweringPipelineOptions> {
  Option<int64_t> overlapCollectives{
      *this, "overlap-collectives",
      llvm::cl::desc("Collectives in flight at once "
                     "(--spmd-overlap-collectives); 0: none overlapped"),
      llvm::cl::init(0)};
};

/// canonicalize, cse, --graph-decompose-batch-norm, --graph-fuse-elementwise,
/// (given `overlapCollectives` > 0) --spmd-overlap-collectives with that
/// many in flight, --graph-assign-buffers.
void buildLoweringPipeline(mlir::OpPassManager &manager,
                           int64_t overlapCollectives = 0);

/// Registers the pipelines as tessel-opt flags.
void registerTesselPipelines();

} // namespace tessel

#endif // TESSEL_PASSES_PIPELINES_H
