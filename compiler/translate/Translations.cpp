//===- Translations.cpp - MLIR <-> Tessel executable translations ---------===//

#include "compiler/translate/Translations.h"

#include <string>

#include "compiler/translate/ExportExecutable.h"
#include "dialects/RegisterDialects.h"
#include "google/protobuf/text_format.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/Executable.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"

namespace tessel {

namespace {

llvm::cl::OptionCategory translateCategory("Tessel translation options");

llvm::cl::opt<bool> binaryOutput(
    "tessel-executable-binary",
    llvm::cl::desc("--mlir-to-tessel-executable: write the binary protobuf "
                   "tessel-run reads, not its text form"),
    llvm::cl::cat(translateCategory));

llvm::cl::opt<std::string> parameterFile(
    "tessel-parameter-file",
    llvm::cl::desc("--mlir-to-tessel-executable: the parameter file the "
                   "executable names (relative to the executable), where the "
                   "program has parameters"),
    llvm::cl::value_desc("file"), llvm::cl::init("model.params"),
    llvm::cl::cat(translateCategory));

mlir::LogicalResult toExecutable(mlir::ModuleOp module,
                                 llvm::raw_ostream &os) {
  mlir::FailureOr<proto::Executable> executable =
      translate::exportExecutable(module, parameterFile);
  if (mlir::failed(executable))
    return mlir::failure();
  if (binaryOutput) {
    absl::StatusOr<std::string> bytes = serializeExecutable(*executable);
    if (!bytes.ok())
      return module.emitError() << std::string(bytes.status().message());
    os << *bytes;
    return mlir::success();
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(*executable, &text))
    return module.emitError() << "the executable could not be printed";
  os << text;
  return mlir::success();
}

} // namespace

void registerTesselTranslations() {
  static mlir::TranslateFromMLIRRegistration toExecutableRegistration(
      "mlir-to-tessel-executable",
      "Translate a lowered module (after --tessel-lowering-pipeline) to a "
      "Tessel executable",
      toExecutable, registerTesselDialects);
}

} // namespace tessel
