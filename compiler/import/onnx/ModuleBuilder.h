//===- ModuleBuilder.h - The state of one ONNX import -----------*- C++ -*-===//
//
// Maps ONNX tensor names to what the import knows of them: an SSA value, a
// StaticTensor (known at import time), or an initializer not yet needed.
// Weights become function arguments when first read as data, so that an
// initializer only used in shape computations never reaches the program.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_MODULEBUILDER_H
#define TESSEL_COMPILER_IMPORT_ONNX_MODULEBUILDER_H

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/import/onnx/NodeLowering.h"
#include "compiler/import/onnx/OnnxImporter.h"
#include "compiler/import/onnx/StaticTensor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

namespace tessel {

/// A parameter's data: an initializer of the model, or a tensor the import
/// computed (a large constant).
struct ParameterData {
  std::string name;
  std::variant<const onnx::TensorProto *, onnx_import::StaticTensor> source;
};

struct ImportedModel::Storage {
  std::shared_ptr<const onnx::ModelProto> model;
  std::string baseDirectory;
  std::vector<ParameterData> parameters;
  std::string pinned;
  llvm::StringMap<std::vector<std::string>> uses;
};

namespace onnx_import {

/// Constants with more elements than this become parameters, not IR.
inline constexpr int64_t kMaxInlineConstantElements = 4096;

/// Floating-point initializers are weights: only tiny ones (scalars such as
/// an epsilon or a scale) are evaluated at import time, so that folding never
/// bakes a weight into the program. Integer and bool initializers (shapes,
/// indices, masks) are evaluated up to kMaxFoldedElements.
inline constexpr int64_t kMaxFoldedFloatInitializerElements = 16;

class ModuleBuilder {
public:
  ModuleBuilder(mlir::MLIRContext &context,
                std::shared_ptr<const onnx::ModelProto> model,
                std::string baseDirectory, std::string sourceName);

  mlir::FailureOr<ImportedModel> run(const OnnxImportOptions &options);

  // Used by NodeLowering.
  mlir::OpBuilder &builder() { return opBuilder; }
  mlir::Location errorLocation() const { return fileLoc; }
  bool isKnown(const std::string &name) const;
  mlir::FailureOr<mlir::Value> valueOf(const std::string &name,
                                       mlir::Location loc);
  /// The tensor's value if known at import time (initializers are decoded
  /// on first use here); nullptr if it depends on the model's inputs.
  const StaticTensor *staticValueOf(const std::string &name);
  Shape shapeOf(const std::string &name) const;
  int32_t dataTypeOf(const std::string &name) const;
  bool isRead(const std::string &name) const { return readCounts.count(name); }
  void define(const std::string &name, mlir::Value value);
  /// Notes that operand `operand` of ONNX node `node` reads tensor `name`
  /// (ImportedModel::readers).
  void noteUse(const std::string &name, const std::string &node,
               size_t operand);
  /// Whether `name` is a tensor the model stores (an initializer), rather
  /// than one computed.
  bool isInitializer(const std::string &name) const {
    return initializers.count(name);
  }
  /// The shapes pinned by --input-shape, as given ("ids=2x40"); empty if
  /// none.
  const std::string &pinnedShapes() const { return pinned; }
  mlir::FailureOr<mlir::Type> elementType(int32_t dataType,
                                          llvm::StringRef what);
  /// Imports `graph` (a control-flow op's body or branch) inline, its
  /// inputs bound to `inputs` in order, and returns its outputs. It reads
  /// the outer scope's tensors; the names it defines are forgotten
  /// afterwards (the outer ones they shadowed come back), so that a body
  /// can be imported once per iteration.
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  importSubgraph(const onnx::GraphProto &graph,
                 llvm::ArrayRef<mlir::Value> inputs, mlir::Location loc);

private:
  mlir::LogicalResult error(const llvm::Twine &message);
  mlir::LogicalResult declareInputs(const OnnxImportOptions &options);
  mlir::LogicalResult importNode(const onnx::NodeProto &node);
  mlir::LogicalResult defineShapeOf(const onnx::NodeProto &node);
  mlir::LogicalResult finish();
  mlir::Value addParameter(const std::string &name, mlir::RankedTensorType type,
                           ParameterData data);
  /// Marks the parameter added last with the band of diagonals its value
  /// holds (graph.diagonal_band), if it is one.
  void noteDiagonalBand(std::optional<DiagonalBand> band);

  mlir::MLIRContext &context;
  std::shared_ptr<const onnx::ModelProto> model;
  std::string baseDirectory;
  std::string sourceName;
  mlir::Location fileLoc;
  mlir::OpBuilder opBuilder;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::func::FuncOp function;
  int64_t opset = 0;

  llvm::StringMap<mlir::Value> values;
  llvm::StringMap<StaticTensor> statics;
  llvm::StringMap<const onnx::TensorProto *> initializers;
  llvm::StringMap<int> readCounts;
  std::vector<mlir::DictionaryAttr> argumentAttributes;
  std::vector<ParameterData> parameters;
  std::string pinned;
  llvm::StringMap<std::vector<std::string>> uses;
};

} // namespace onnx_import
} // namespace tessel

#endif // TESSEL_COMPILER_IMPORT_ONNX_MODULEBUILDER_H
