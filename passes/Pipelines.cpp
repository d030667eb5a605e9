//===- Pipelines.cpp - Tessel's named pass pipelines ----------------------===//

#include "passes/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "passes/autoshard/Passes.h"
#include "passes/lowering/Passes.h"
#include "passes/partition/Passes.h"
#include "passes/propagation/Passes.h"

namespace tessel {

void buildPropagationPipeline(mlir::OpPassManager &manager, bool origins) {
  propagation::PropagatePassOptions options;
  options.origins = origins;
  manager.nest<mlir::func::FuncOp>().addPass(
      propagation::createPropagatePass(options));
}

void buildAutoShardPipeline(mlir::OpPassManager &manager,
                            const AutoShardPipelineOptions &options) {
  autoshard::AutoShardPassOptions pass;
  pass.profilePath = options.profile;
  pass.memoryBudget = options.memoryBudget;
  pass.seconds = options.seconds;
  manager.addPass(autoshard::createAutoShardPass(pass));
  buildPropagationPipeline(manager);
}

void buildCollectivesPipeline(mlir::OpPassManager &manager) {
  mlir::OpPassManager &functions = manager.nest<mlir::func::FuncOp>();
  functions.addPass(partition::createInsertExplicitReshardsPass());
  functions.addPass(partition::createReshardToCollectivesPass());
  // Equal constants laid out differently must stay apart: the folder would
  // merge them, ignoring their shardings.
  functions.addPass(mlir::createCanonicalizerPass(
      mlir::GreedyRewriteConfig().enableConstantCSE(false)));
  functions.addPass(mlir::createCSEPass());
}

void buildPartitionPipeline(mlir::OpPassManager &manager, bool ringAttention,
                            bool balanceCausal) {
  buildCollectivesPipeline(manager);
  manager.nest<mlir::func::FuncOp>().addPass(
      partition::createGlobalToLocalPass());
  if (ringAttention) {
    partition::RingAttentionPassOptions ring;
    ring.balanceCausal = balanceCausal;
    manager.nest<mlir::func::FuncOp>().addPass(
        partition::createRingAttentionPass(ring));
  }
}

void buildLoweringPipeline(mlir::OpPassManager &manager,
                           int64_t overlapCollectives) {
  manager.addPass(mlir::createCanonicalizerPass());
  manager.addPass(mlir::createCSEPass());
  mlir::OpPassManager &functions = manager.nest<mlir::func::FuncOp>();
  // After CSE, which merges a split weight's gathers into one copy kept
  // from its forward use to its backward one.
  functions.addPass(partition::createRegatherArgumentsPass());
  functions.addPass(partition::createHoistShrinkingCollectivesPass());
  functions.addPass(lowering::createDecomposeBatchNormPass());
  functions.addPass(lowering::createFuseElementwisePass());
  if (overlapCollectives > 0) {
    lowering::OverlapCollectivesPassOptions overlap;
    overlap.maxInFlight = overlapCollectives;
    functions.addPass(lowering::createOverlapCollectivesPass(overlap));
  }
  functions.addPass(lowering::createAssignBuffersPass());
}

void registerTesselPipelines() {
  mlir::PassPipelineRegistration<>(
      "tessel-propagation-pipeline",
      "Give every tensor a sharding, from the annotations",
      [](mlir::OpPassManager &manager) { buildPropagationPipeline(manager); });
  mlir::PassPipelineRegistration<AutoShardPipelineOptions>(
      "tessel-auto-shard-pipeline",
      "Choose shardings by the cost model, then propagate",
      buildAutoShardPipeline);
  mlir::PassPipelineRegistration<>(
      "tessel-collectives-pipeline",
      "Make communication explicit as collectives, on global shapes",
      buildCollectivesPipeline);
  mlir::PassPipelineRegistration<>(
      "tessel-partition-pipeline",
      "Collectives, then the program every device runs on local shapes",
      [](mlir::OpPassManager &manager) { buildPartitionPipeline(manager); });
  mlir::PassPipelineRegistration<LoweringPipelineOptions>(
      "tessel-lowering-pipeline",
      "Fuse elementwise ops and assign buffers, ready for export",
      [](mlir::OpPassManager &manager, const LoweringPipelineOptions &options) {
        buildLoweringPipeline(manager, options.overlapCollectives);
      });
}

} // namespace tessel
