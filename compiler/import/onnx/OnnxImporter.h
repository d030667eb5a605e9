//===- OnnxImporter.h - ONNX models to the graph dialect --------*- C++ -*-===//
//
// Imports an ONNX ModelProto (opsets 9 to 17, as torch.onnx.export writes
// them) into a module with one func.func of graph ops and static shapes.
//
// - Dynamic input dimensions must be pinned (OnnxImportOptions::inputShapes,
//   `--input-shape x=1x3x224x224` on the command line); shape computations
//   are then evaluated at import time, so every shape is static.
// - Implicit broadcasting becomes explicit graph.broadcast_in_dim.
// - Initializers (weights) become function arguments marked graph.parameter
//   and named by graph.name; their data stays outside the IR and is written
//   by ImportedModel::writeParameterFile. Large constants do the same.
//
// Errors are MLIR diagnostics on the context, each naming the node (name and
// op type) and the reason; the import then returns failure.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H
#define TESSEL_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "runtime/params/ParameterFile.h"

namespace onnx {
class ModelProto;
} // namespace onnx

namespace tessel {

struct OnnxImportOptions {
  /// Full shapes for inputs, by ONNX input name; required for every input
  /// with a dynamic dimension, checked against the static ones.
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// The name of the imported function.
  std::string functionName = "main";
};

/// The imported program and the data of its parameters.
class ImportedModel {
public:
  ImportedModel();
  ImportedModel(ImportedModel &&);
  ImportedModel &operator=(ImportedModel &&);
  ~ImportedModel();

  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// For each input and weight (by name), the ONNX nodes that read it, as
  /// "node:operand": a plan may address a tensor through them.
  std::map<std::string, std::vector<std::string>> readers;

  /// Number of parameters (graph.parameter arguments).
  size_t numParameters() const;
  /// Writes every parameter's data to a parameter file at `path`
  /// (runtime/params/ParameterFile.h). Data held in ONNX external files is
  /// referenced there, not copied.
  absl::Status writeParameterFile(const std::string &path) const;
  /// Every parameter's data, in memory: entries point into this model
  /// (which must outlive the set) or name ONNX external files.
  absl::StatusOr<ParameterSet> parameters() const;

  struct Storage;
  std::unique_ptr<Storage> storage;
};

/// Whether the importer handles ONNX operator `opType` of `domain` (the
/// default domain, or ai.onnx.preview.training's optimizers), as graph ops
/// or evaluated at import time.
bool isSupportedOnnxOp(const std::string &opType,
                       const std::string &domain = "");

/// Parses and imports the ONNX file at `path`.
mlir::FailureOr<ImportedModel> importOnnxFile(const std::string &path,
                                              mlir::MLIRContext &context,
                                              const OnnxImportOptions &options);

/// Imports an already parsed model. `baseDirectory` is where its external
/// data files are; `sourceName` names the model in diagnostics.
mlir::FailureOr<ImportedModel>
importOnnxModel(std::shared_ptr<const onnx::ModelProto> model,
                const std::string &baseDirectory, const std::string &sourceName,
                mlir::MLIRContext &context, const OnnxImportOptions &options);

} // namespace tessel

#endif // TESSEL_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H
