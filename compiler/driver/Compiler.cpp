//===- Compiler.cpp - From graph IR to an executable ----------------------===//

#include "compiler/driver/Compiler.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dialects/RegisterDialects.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "compiler/translate/ExportExecutable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "passes/Pipelines.h"
#include "passes/layout/Passes.h"

namespace tessel {

/// Makes `manager` honour MLIR's command-line options where a tool
/// registered them (--mlir-timing, --mlir-print-ir-after-all, ...). The
/// library is also used without them: applyPassManagerCLOptions then fails
/// having done nothing, which is not an error here.
static void configure(mlir::PassManager &manager) {
  (void)mlir::applyPassManagerCLOptions(manager);
  mlir::applyDefaultTimingPassManagerCLOptions(manager);
}

/// Runs the pipeline `build` makes on `module`.
static mlir::LogicalResult
runPipeline(mlir::ModuleOp module,
            llvm::function_ref<void(mlir::OpPassManager &)> build) {
  loadTesselDialects(*module.getContext());
  mlir::PassManager manager(module->getName());
  configure(manager);
  build(manager);
  return manager.run(module);
}

mlir::LogicalResult viewFusedWeights(mlir::ModuleOp module) {
  return runPipeline(module, [](mlir::OpPassManager &manager) {
    manager.nest<mlir::func::FuncOp>().addPass(
        layout::createViewFusedWeightsPass());
  });
}

mlir::LogicalResult propagateShardings(mlir::ModuleOp module, bool origins) {
  return runPipeline(module, [&](mlir::OpPassManager &manager) {
    buildPropagationPipeline(manager, origins);
  });
}

mlir::FailureOr<autoshard::AutoShardReport>
autoShard(mlir::ModuleOp module, const cost::CostModel &model,
          const autoshard::AutoShardOptions &options) {
  loadTesselDialects(*module.getContext());
  return autoshard::autoShard(module, model, options);
}

mlir::LogicalResult insertCollectives(mlir::ModuleOp module) {
  return runPipeline(module, buildCollectivesPipeline);
}

namespace {

/// Bytes of `value` on one device under `sharding` (parts rounded up, as
/// padded shards are).
int64_t localBytes(mlir::Operation *at, mlir::Value value,
                   spmd::ShardingAttr sharding) {
  auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
  int64_t elementBits = type.getElementTypeBitWidth();
  int64_t elements = 1;
  mlir::FailureOr<spmd::MeshAttr> mesh =
      sharding ? spmd::lookupMesh(at, sharding.getMesh())
               : mlir::FailureOr<spmd::MeshAttr>(mlir::failure());
  for (int64_t d = 0; d < type.getRank(); ++d) {
    int64_t parts =
        mlir::succeeded(mesh) ? sharding.getDims()[d].numParts(*mesh) : 1;
    elements *= (type.getDimSize(d) + parts - 1) / parts;
  }
  return elements * ((elementBits + 7) / 8);
}

} // namespace

std::vector<CollectiveCount> countCollectives(mlir::ModuleOp module) {
  std::map<std::string, CollectiveCount> counts;
  module.walk([&](mlir::Operation *op) {
    if (!mlir::isa<spmd::AllGatherOp, spmd::AllSliceOp, spmd::AllReduceOp,
                   spmd::ReduceScatterOp, spmd::AllToAllOp,
                   spmd::CollectivePermuteOp>(op))
      return;
    std::string kind = op->getName().stripDialect().str();
    CollectiveCount &count = counts[kind];
    count.kind = kind;
    ++count.count;
    if (mlir::isa<spmd::AllSliceOp>(op))
      return; // Local: each device keeps its part, nothing moves.
    mlir::Value input = op->getOperand(0), result = op->getResult(0);
    count.bytesPerDevice +=
        std::max(localBytes(op, input, spmd::getSharding(input)),
                 localBytes(op, result, spmd::getSharding(result)));
  });
  std::vector<CollectiveCount> result;
  for (auto &[kind, count] : counts)
    result.push_back(count);
  return result;
}

mlir::LogicalResult lowerForExecution(mlir::ModuleOp module,
                                      int64_t overlapCollectives) {
  return runPipeline(module, [&](mlir::OpPassManager &manager) {
    buildLoweringPipeline(manager, overlapCollectives);
  });
}

namespace {

/// Removes every trace of sharding: meshes, sharding attributes, and
/// constraints (replaced by their inputs).
void stripShardings(mlir::ModuleOp module) {
  for (spmd::MeshOp mesh :
       llvm::make_early_inc_range(module.getOps<spmd::MeshOp>()))
    mesh.erase();
  module.walk([](mlir::Operation *op) {
    if (auto constraint = mlir::dyn_cast<spmd::ShardingConstraintOp>(op)) {
      constraint.getResult().replaceAllUsesWith(constraint.getInput());
      constraint.erase();
      return;
    }
    op->removeAttr(spmd::SpmdDialect::kShardingsAttr);
    if (auto function = mlir::dyn_cast<mlir::func::FuncOp>(op)) {
      for (unsigned i = 0; i < function.getNumArguments(); ++i)
        function.removeArgAttr(i, spmd::SpmdDialect::kShardingAttr);
      for (unsigned i = 0; i < function.getNumResults(); ++i)
        function.removeResultAttr(
            i, mlir::StringAttr::get(op->getContext(),
                                     spmd::SpmdDialect::kShardingAttr));
    }
  });
}

} // namespace

mlir::LogicalResult partitionForDevices(mlir::ModuleOp module,
                                        bool ringAttention,
                                        bool balanceCausal) {
  return runPipeline(module, [&](mlir::OpPassManager &manager) {
    buildPartitionPipeline(manager, ringAttention, balanceCausal);
  });
}

mlir::FailureOr<proto::Executable>
compileToExecutable(mlir::ModuleOp module, const std::string &parameterFile,
                    const ExecutableOptions &options) {
  int64_t devices = 0;
  for (spmd::MeshOp mesh : module.getOps<spmd::MeshOp>())
    devices = std::max(devices, mesh.getMesh().numDevices());
  std::optional<proto::Executable> reference;
  if (devices > 1) {
    // The single-device program, for tessel-run --check.
    mlir::OwningOpRef<mlir::ModuleOp> single = module.clone();
    stripShardings(*single);
    mlir::FailureOr<proto::Executable> compiled =
        compileToExecutable(*single, parameterFile);
    if (mlir::failed(compiled))
      return mlir::failure();
    reference = std::move(*compiled);
  }
  if (devices > 0 && mlir::failed(partitionForDevices(
                         module, options.ringAttention, options.balanceCausal)))
    return mlir::failure();
  if (mlir::failed(lowerForExecution(
          module, devices > 1 ? options.overlapCollectives : 0)))
    return mlir::failure();
  mlir::FailureOr<proto::Executable> executable =
      translate::exportExecutable(module, parameterFile);
  if (mlir::succeeded(executable) && reference)
    *executable->mutable_reference() = std::move(*reference);
  return executable;
}

} // namespace tessel
