//===- Frontend.h - Load a model in any supported format --------*- C++ -*-===//
//
// The compiler's entry: an ONNX model (binary `.onnx`, or protobuf text
// `.textproto`/`.pbtxt`, handy for tests and hand-written models) or MLIR
// text/bytecode in Tessel's dialects, loaded into a module of graph ops.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_FRONTEND_FRONTEND_H
#define TESSEL_COMPILER_FRONTEND_FRONTEND_H

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "compiler/import/onnx/OnnxImporter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

namespace tessel {

enum class ModelFormat { Onnx, OnnxText, Mlir };

/// The format of `path`, by its extension (.onnx, .textproto/.pbtxt/.onnxtxt,
/// .mlir/.mlirbc).
std::optional<ModelFormat> modelFormatOf(const std::string &path);

struct LoadedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// Parameter data of an imported ONNX model (none for MLIR input, whose
  /// parameters must come from an existing parameter file).
  std::optional<ImportedModel> imported;
};

/// Loads `path`; errors are diagnostics on `context` (MLIR input through
/// `sourceMgr`, so that they show the offending line).
mlir::FailureOr<LoadedModel> loadModel(const std::string &path,
                                       mlir::MLIRContext &context,
                                       llvm::SourceMgr &sourceMgr,
                                       const OnnxImportOptions &options);

/// Loads a model held in memory: the bytes of an ONNX ModelProto (`onnx`)
/// or MLIR text; `name` names it in diagnostics. An ONNX model's external
/// data files are looked for in the current folder.
mlir::FailureOr<LoadedModel>
loadModelFromMemory(bool onnx, const std::string &contents,
                    const std::string &name, mlir::MLIRContext &context,
                    llvm::SourceMgr &sourceMgr,
                    const OnnxImportOptions &options);

/// Parses `--input-shape` values: `name=d0xd1x...`, several separated by
/// commas. Errors name the malformed entry.
absl::StatusOr<std::map<std::string, std::vector<int64_t>>>
parseInputShapes(llvm::ArrayRef<std::string> values);

} // namespace tessel

#endif // TESSEL_COMPILER_FRONTEND_FRONTEND_H
