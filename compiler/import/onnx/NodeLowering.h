//===- NodeLowering.h - What a lowering sees of one ONNX node ---*- C++ -*-===//
//
// Each supported ONNX op has a lowering function that turns one node into
// graph ops through a NodeLowering: typed access to the node's inputs (as
// SSA values or, where the op needs them at import time, as StaticTensors),
// its attributes, helpers that build ops with checked type inference, and
// error reporting that names the node. Lowerings are registered by op type in
// the Lower*.cpp files.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_NODELOWERING_H
#define TESSEL_COMPILER_IMPORT_ONNX_NODELOWERING_H

#include <string>

#include "compiler/import/onnx/OnnxSemantics.h"
#include "compiler/import/onnx/StaticTensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Value.h"
#include "onnx/onnx_pb.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

namespace tessel::onnx_import {

class ModuleBuilder;

class NodeLowering {
public:
  NodeLowering(ModuleBuilder &module, const onnx::NodeProto &node,
               int64_t opset);

  const onnx::NodeProto &node;
  const int64_t opset;
  const NodeAttributes attributes;
  mlir::OpBuilder &builder;
  /// Location of the ops built for this node: its first output's name.
  const mlir::Location loc;

  //===--------------------------------------------------------------------===//
  // Inputs and outputs
  //===--------------------------------------------------------------------===//

  size_t numInputs() const { return node.input_size(); }
  /// Whether optional input `i` is given (present and not the empty name).
  bool hasInput(size_t i) const;
  /// Input `i` as an SSA value (constants and parameters are materialised).
  mlir::FailureOr<mlir::Value> input(size_t i);
  /// Input `i` as a value known at import time; an error naming `role` if
  /// it is missing or computed from the model's inputs.
  mlir::FailureOr<StaticTensor> staticInput(size_t i, llvm::StringRef role);
  /// Input `i`'s value if it is known at import time, else null.
  const StaticTensor *tryStaticInput(size_t i);
  /// Input `i` as integers known at import time (shapes, axes, pads).
  mlir::FailureOr<std::vector<int64_t>> staticInts(size_t i,
                                                   llvm::StringRef role);
  Shape inputShape(size_t i) const;
  int32_t inputDataType(size_t i) const;

  size_t numOutputs() const { return node.output_size(); }
  /// Whether output `i` exists and something reads it.
  bool outputUsed(size_t i) const;
  void setOutput(size_t i, mlir::Value value);
  /// The end of a one-output lowering: output 0 is `value`, or the lowering
  /// fails (its diagnostic already given).
  mlir::LogicalResult setOutput(mlir::FailureOr<mlir::Value> value) {
    if (mlir::failed(value))
      return mlir::failure();
    setOutput(0, *value);
    return mlir::success();
  }

  //===--------------------------------------------------------------------===//
  // Diagnostics
  //===--------------------------------------------------------------------===//

  /// Reports "node '<name>' (<op>): <message>" and returns failure.
  mlir::LogicalResult fail(const llvm::Twine &message) const;
  /// fail() with the message of a non-OK status.
  mlir::LogicalResult fail(const absl::Status &status) const;

  //===--------------------------------------------------------------------===//
  // Building ops
  //===--------------------------------------------------------------------===//

  mlir::MLIRContext *context() const { return builder.getContext(); }

  /// The graph element type of an ONNX element type, or an error naming
  /// `what` (a tensor) when Tessel does not support it.
  mlir::FailureOr<mlir::Type> elementType(int32_t dataType,
                                          llvm::StringRef what) const;

  /// Builds an op whose result type the op infers; when inference rejects
  /// the operands or attributes, its message becomes this node's error.
  template <typename OpTy, typename... Args>
  mlir::FailureOr<mlir::Value> create(Args &&...args) {
    mlir::OperationState state(loc, OpTy::getOperationName());
    OpTy::build(builder, state, mlir::Type(), std::forward<Args>(args)...);
    state.types.clear();
    llvm::SmallVector<mlir::Type, 1> types;
    std::string message;
    mlir::LogicalResult inferred = mlir::failure();
    {
      mlir::ScopedDiagnosticHandler capture(context(),
                                            [&](mlir::Diagnostic &diagnostic) {
                                              message += diagnostic.str();
                                              return mlir::success();
                                            });
      inferred = OpTy::inferReturnTypes(
          context(), loc, state.operands,
          state.attributes.getDictionary(context()), state.getRawProperties(),
          state.regions, types);
    }
    if (mlir::failed(inferred))
      return fail(message.empty() ? std::string("invalid operands") : message);
    state.addTypes(types);
    return builder.create(state)->getResult(0);
  }

  /// A constant of `tensor`'s value converted to `elementType`.
  mlir::Value constant(const StaticTensor &tensor, mlir::Type elementType);
  /// A tensor of `shape` filled with `value`.
  mlir::Value splat(double value, mlir::Type elementType,
                    llvm::ArrayRef<int64_t> shape = {});
  /// `value` broadcast to `shape` by ONNX's right-aligned rules (no op if the
  /// shape is already right).
  mlir::FailureOr<mlir::Value> broadcastTo(mlir::Value value,
                                           llvm::ArrayRef<int64_t> shape);
  /// Both operands broadcast to their common shape.
  mlir::LogicalResult
  broadcastTogether(llvm::MutableArrayRef<mlir::Value> values);
  mlir::Value reshape(mlir::Value value, llvm::ArrayRef<int64_t> shape);
  /// Elements [first, last) of `value` along `dim` (0 <= first <= last <=
  /// its size there), all of the other dimensions.
  mlir::Value sliceAlong(mlir::Value value, int64_t dim, int64_t first,
                         int64_t last);
  mlir::Value convert(mlir::Value value, mlir::Type elementType);
  /// Elementwise arithmetic on operands of one type, for formulas.
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  /// `value` in a tensor of `like`'s type.
  mlir::Value splatLike(double value, mlir::Value like);
  /// `value` with its last dimension moved to position `dim`, the others
  /// keeping their order (a contraction puts its new dimension last; this
  /// gives it its place). No op when `dim` is already last.
  mlir::FailureOr<mlir::Value> moveLastTo(mlir::Value value, int64_t dim);
  /// Whether input `i` is a tensor the model stores, not one computed.
  bool inputIsStored(size_t i) const;
  /// The shapes pinned by --input-shape ("ids=2x40"), for messages.
  const std::string &pinnedShapes() const;

  /// `graph` imported inline with its inputs bound to `inputs`
  /// (ModuleBuilder::importSubgraph).
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  importSubgraph(const onnx::GraphProto &graph,
                 llvm::ArrayRef<mlir::Value> inputs);

private:
  ModuleBuilder &module;
};

using LoweringFn = mlir::LogicalResult (*)(NodeLowering &);
using LoweringTable = llvm::StringMap<LoweringFn>;

/// The domain of ONNX's training operators (optimizers).
inline constexpr llvm::StringLiteral kTrainingDomain =
    "ai.onnx.preview.training";

/// The lowering of `opType` in `domain` (empty or "ai.onnx": the default
/// domain; kTrainingDomain), or null.
LoweringFn findLowering(llvm::StringRef opType, llvm::StringRef domain = "");

void registerElementwiseLowerings(LoweringTable &table);
void registerTensorLowerings(LoweringTable &table);
void registerNeuralLowerings(LoweringTable &table);
void registerLossLowerings(LoweringTable &table);
void registerSelectionLowerings(LoweringTable &table);
void registerRecurrentLowerings(LoweringTable &table);
void registerEinsumLowerings(LoweringTable &table);
void registerQuantizationLowerings(LoweringTable &table);
void registerSignalLowerings(LoweringTable &table);
void registerControlFlowLowerings(LoweringTable &table);
/// kTrainingDomain's operators, keyed by their names.
void registerOptimizerLowerings(LoweringTable &table);

/// numpy's matmul of two values of one element type (LowerNeuralOps.cpp).
mlir::FailureOr<mlir::Value> matmul(NodeLowering &node, mlir::Value lhs,
                                    mlir::Value rhs);
/// ONNX's Conv of x by w without its bias, the window from the node's
/// attributes (LowerNeuralOps.cpp).
mlir::FailureOr<mlir::Value> convolve(NodeLowering &node, mlir::Value x,
                                      mlir::Value w);

/// A graph.constant holding `tensor` converted to `elementType`.
mlir::Value buildConstant(mlir::OpBuilder &builder, mlir::Location loc,
                          const StaticTensor &tensor, mlir::Type elementType);

/// Shape and element type of a value built by a lowering.
inline mlir::RankedTensorType typeOf(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType());
}

} // namespace tessel::onnx_import

#endif // TESSEL_COMPILER_IMPORT_ONNX_NODELOWERING_H
