//===- tessel-compile.cpp - Compile a model for a device mesh -------------===//
//
//   tessel-compile model.onnx --input-shape x=4x64 --emit=mlir
//
// Loads an ONNX model (or MLIR in Tessel's dialects) and emits the program.
// Weights never appear in the IR: they are graph.parameter arguments whose
// data --params-out writes to a parameter file.
//
//===----------------------------------------------------------------------===//

#include <string>
#include <vector>

#include "compiler/frontend/Frontend.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;

static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model>"),
                                      cl::Required);
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"));
enum class Emit { Mlir };
static cl::opt<Emit>
    emit("emit", cl::desc("What to produce"), cl::init(Emit::Mlir),
         cl::values(clEnumValN(Emit::Mlir, "mlir",
                               "the program in the graph dialect")));
static cl::list<std::string>
    inputShapes("input-shape",
                cl::desc("Pin an input's shape: name=d0xd1x... (repeatable, "
                         "or comma-separated)"),
                cl::value_desc("name=shape"));
static cl::opt<std::string>
    paramsOut("params-out",
              cl::desc("Write the model's parameters (weights) to this file"),
              cl::value_desc("file"));

/// Diagnostics as "file: error: message" (ONNX locations have no line).
static void printDiagnostic(mlir::Diagnostic &diagnostic) {
  std::string where;
  if (auto file =
          mlir::dyn_cast<mlir::FileLineColLoc>(diagnostic.getLocation())) {
    where = file.getFilename().str();
    if (file.getLine() > 0)
      where += ":" + std::to_string(file.getLine()) + ":" +
               std::to_string(file.getColumn());
  } else {
    llvm::raw_string_ostream os(where);
    diagnostic.getLocation().print(os);
  }
  const char *severity =
      diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error ? "error"
      : diagnostic.getSeverity() == mlir::DiagnosticSeverity::Warning
          ? "warning"
          : "note";
  llvm::errs() << where << ": " << severity << ": " << diagnostic.str() << "\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "Tessel: compile a model for a device mesh\n");
  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  // MLIR input gets source-line diagnostics; ONNX input plain ones.
  std::optional<mlir::SourceMgrDiagnosticHandler> sourceHandler;
  std::optional<mlir::ScopedDiagnosticHandler> plainHandler;
  if (tessel::modelFormatOf(inputPath) == tessel::ModelFormat::Mlir)
    sourceHandler.emplace(sourceMgr, &context);
  else
    plainHandler.emplace(&context, [](mlir::Diagnostic &diagnostic) {
      printDiagnostic(diagnostic);
      return mlir::success();
    });

  absl::StatusOr<std::map<std::string, std::vector<int64_t>>> shapes =
      tessel::parseInputShapes(inputShapes);
  if (!shapes.ok()) {
    llvm::WithColor::error(llvm::errs(), "tessel-compile")
        << std::string(shapes.status().message()) << "\n";
    return 1;
  }
  tessel::OnnxImportOptions options;
  options.inputShapes = *shapes;
  mlir::FailureOr<tessel::LoadedModel> model =
      tessel::loadModel(inputPath, context, sourceMgr, options);
  if (failed(model))
    return 1;

  if (!paramsOut.empty()) {
    if (!model->imported) {
      llvm::WithColor::error(llvm::errs(), "tessel-compile")
          << "--params-out needs an ONNX model; MLIR input has no weights\n";
      return 1;
    }
    absl::Status status = model->imported->writeParameterFile(paramsOut);
    if (!status.ok()) {
      llvm::WithColor::error(llvm::errs(), "tessel-compile")
          << std::string(status.message()) << "\n";
      return 1;
    }
  }

  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::WithColor::error(llvm::errs(), "tessel-compile") << error << "\n";
    return 1;
  }
  switch (emit) {
  case Emit::Mlir:
    model->module->print(output->os());
    output->os() << "\n";
    break;
  }
  output->keep();
  return 0;
}
