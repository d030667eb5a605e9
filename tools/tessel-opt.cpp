//===- tessel-opt.cpp - Tessel's mlir-opt ---------------------------------===//
//
// Runs passes on MLIR text or bytecode, with mlir-opt's conventions
// (--split-input-file, --verify-diagnostics, --pass-pipeline, ...), over
// Tessel's dialects and passes.
//
//===----------------------------------------------------------------------===//

#include "dialects/RegisterDialects.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "passes/RegisterPasses.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"

int main(int argc, char **argv) {
  // --help: LLVM's internal options (code generators, profiling...) are
  // all registered by now and hidden; MLIR's, the passes and pipelines
  // are registered below and shown.
  for (auto &[name, option] : llvm::cl::getRegisteredOptions())
    if (llvm::is_contained(option->Categories, &llvm::cl::getGeneralCategory()))
      option->setHiddenFlag(llvm::cl::ReallyHidden);
  tessel::registerTesselPasses();
  mlir::DialectRegistry registry;
  tessel::registerTesselDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Tessel modular optimizer driver\n", registry));
}
