//===- Compiler.cpp - From graph IR to an executable ----------------------===//

#include "compiler/driver/Compiler.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"
#include "passes/lowering/ExportExecutable.h"
#include "passes/lowering/Passes.h"
#include "passes/propagation/Passes.h"

namespace tessel {

/// Makes `manager` honour MLIR's command-line options where a tool
/// registered them (--mlir-timing, --mlir-print-ir-after-all, ...). The
/// library is also used without them: applyPassManagerCLOptions then fails
/// having done nothing, which is not an error here.
static void configure(mlir::PassManager &manager) {
  (void)mlir::applyPassManagerCLOptions(manager);
  mlir::applyDefaultTimingPassManagerCLOptions(manager);
}

mlir::LogicalResult propagateShardings(mlir::ModuleOp module) {
  mlir::PassManager manager(module->getName());
  configure(manager);
  manager.nest<mlir::func::FuncOp>().addPass(
      propagation::createPropagatePass());
  return manager.run(module);
}

mlir::LogicalResult lowerForExecution(mlir::ModuleOp module) {
  mlir::PassManager manager(module->getName());
  configure(manager);
  manager.addPass(mlir::createCanonicalizerPass());
  manager.addPass(mlir::createCSEPass());
  mlir::OpPassManager &functions = manager.nest<mlir::func::FuncOp>();
  functions.addPass(lowering::createFuseElementwisePass());
  functions.addPass(lowering::createAssignBuffersPass());
  return manager.run(module);
}

mlir::FailureOr<proto::Executable>
compileToExecutable(mlir::ModuleOp module, const std::string &parameterFile) {
  if (mlir::failed(lowerForExecution(module)))
    return mlir::failure();
  return lowering::exportExecutable(module, parameterFile);
}

} // namespace tessel
