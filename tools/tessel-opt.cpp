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
#include "tools/HideLlvmOptions.h"

int main(int argc, char **argv) {
  // --help: MLIR's options, the passes and pipelines; not LLVM's.
  tessel::hideLlvmOptions();
  tessel::registerTesselPasses();
  mlir::DialectRegistry registry;
  tessel::registerTesselDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Tessel modular optimizer driver\n", registry));
}
