//===- NodeLowering.cpp - What a lowering sees of one ONNX node -----------===//

#include "compiler/import/onnx/NodeLowering.h"

#include "compiler/import/onnx/ModuleBuilder.h"
#include "dialects/graph/GraphOps.h"
#include "llvm/ADT/APFloat.h"

namespace tessel::onnx_import {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// Ops a node lowers to are located at the node:
/// `loc(fused<"onnx.node">["/fc1/Gemm"])` (or `["Gemm -> y"]` for an unnamed
/// node). setOutput then gives the op that computes an ONNX tensor the plain
/// name of the tensor, `loc("/fc1/Gemm_output_0")`: a plain NameLoc on an op
/// is the name of the tensor it computes (see compiler/plan).
static mlir::Location nodeLocation(mlir::OpBuilder &builder,
                                   const onnx::NodeProto &node) {
  std::string name = node.name();
  if (name.empty())
    name = node.op_type() + " -> " +
           (node.output_size() > 0 ? node.output(0) : std::string("?"));
  return mlir::FusedLoc::get(builder.getContext(),
                             {mlir::NameLoc::get(builder.getStringAttr(name))},
                             builder.getStringAttr("onnx.node"));
}

NodeLowering::NodeLowering(ModuleBuilder &module, const onnx::NodeProto &node,
                           int64_t opset)
    : node(node), opset(opset), attributes(node), builder(module.builder()),
      loc(nodeLocation(module.builder(), node)), module(module) {}

bool NodeLowering::hasInput(size_t i) const {
  return i < numInputs() && !node.input(i).empty();
}

FailureOr<Value> NodeLowering::input(size_t i) {
  if (!hasInput(i))
    return fail("input " + std::to_string(i) + " is missing");
  FailureOr<Value> value = module.valueOf(node.input(i), loc);
  if (succeeded(value) && mlir::isa<mlir::BlockArgument>(*value) &&
      !node.name().empty())
    module.noteUse(node.input(i), node.name(), i);
  return value;
}

FailureOr<StaticTensor> NodeLowering::staticInput(size_t i,
                                                  llvm::StringRef role) {
  if (!hasInput(i))
    return fail(role + " (input " + std::to_string(i) + ") is missing");
  const StaticTensor *tensor = module.staticValueOf(node.input(i));
  if (!tensor)
    return fail(role + " ('" + node.input(i) +
                "') must be known at import time, but it is computed from "
                "the model's inputs");
  return *tensor;
}

const StaticTensor *NodeLowering::tryStaticInput(size_t i) {
  return hasInput(i) ? module.staticValueOf(node.input(i)) : nullptr;
}

FailureOr<std::vector<int64_t>> NodeLowering::staticInts(size_t i,
                                                         llvm::StringRef role) {
  FailureOr<StaticTensor> tensor = staticInput(i, role);
  if (failed(tensor))
    return failure();
  if (tensor->isFloat())
    return fail(role + " ('" + node.input(i) + "') must be integers, not " +
                dataTypeName(tensor->dataType));
  return tensor->ints;
}

bool NodeLowering::inputIsStored(size_t i) const {
  return hasInput(i) && module.isInitializer(node.input(i));
}

const std::string &NodeLowering::pinnedShapes() const {
  return module.pinnedShapes();
}

mlir::FailureOr<llvm::SmallVector<mlir::Value>>
NodeLowering::importSubgraph(const onnx::GraphProto &graph,
                             llvm::ArrayRef<mlir::Value> inputs) {
  return module.importSubgraph(graph, inputs, loc);
}

Shape NodeLowering::inputShape(size_t i) const {
  return module.shapeOf(node.input(i));
}

int32_t NodeLowering::inputDataType(size_t i) const {
  return module.dataTypeOf(node.input(i));
}

bool NodeLowering::outputUsed(size_t i) const {
  return i < numOutputs() && !node.output(i).empty() &&
         module.isRead(node.output(i));
}

void NodeLowering::setOutput(size_t i, Value value) {
  if (i >= numOutputs() || node.output(i).empty())
    return;
  // The op that computes an ONNX tensor is named after it, so that plans
  // and reports can find tensors by their ONNX names.
  if (mlir::Operation *op = value.getDefiningOp();
      op && op->getLoc() == loc && op->getNumResults() == 1)
    op->setLoc(mlir::NameLoc::get(builder.getStringAttr(node.output(i))));
  module.define(node.output(i), value);
}

LogicalResult NodeLowering::fail(const llvm::Twine &message) const {
  return mlir::emitError(module.errorLocation())
         << "node '" << node.name() << "' (" << node.op_type()
         << "): " << message;
}

LogicalResult NodeLowering::fail(const absl::Status &status) const {
  return fail(std::string(status.message()));
}

FailureOr<mlir::Type> NodeLowering::elementType(int32_t dataType,
                                                llvm::StringRef what) const {
  FailureOr<mlir::Type> type = module.elementType(dataType, what);
  if (failed(type))
    return fail("tensor '" + what + "' has element type " +
                dataTypeName(dataType) + ", which Tessel does not support " +
                supportedDataTypes());
  return type;
}

Value buildConstant(mlir::OpBuilder &builder, mlir::Location loc,
                    const StaticTensor &tensor, mlir::Type elementType) {
  auto type = mlir::RankedTensorType::get(tensor.shape, elementType);
  int64_t count = tensor.numElements();
  bool splat = true;
  for (int64_t i = 1; i < count && splat; ++i)
    splat = tensor.getDouble(i) == tensor.getDouble(0) &&
            tensor.getInt(i) == tensor.getInt(0);
  int64_t stored = splat ? std::min<int64_t>(count, 1) : count;
  mlir::DenseElementsAttr value;
  if (auto floatType = mlir::dyn_cast<mlir::FloatType>(elementType)) {
    llvm::SmallVector<llvm::APFloat> elements;
    for (int64_t i = 0; i < stored; ++i) {
      llvm::APFloat element(tensor.getDouble(i));
      bool losesInfo = false;
      element.convert(floatType.getFloatSemantics(),
                      llvm::APFloat::rmNearestTiesToEven, &losesInfo);
      elements.push_back(element);
    }
    value = mlir::DenseElementsAttr::get(type, elements);
  } else if (elementType.isInteger(1)) {
    llvm::SmallVector<bool> elements;
    for (int64_t i = 0; i < stored; ++i)
      elements.push_back(tensor.getDouble(i) != 0);
    value = mlir::DenseElementsAttr::get(type, elements);
  } else {
    unsigned width = elementType.getIntOrFloatBitWidth();
    llvm::SmallVector<llvm::APInt> elements;
    for (int64_t i = 0; i < stored; ++i)
      elements.push_back(llvm::APInt(width, tensor.getInt(i), /*isSigned=*/true,
                                     /*implicitTrunc=*/true));
    value = mlir::DenseElementsAttr::get(type, elements);
  }
  return graph::ConstantOp::create(builder, loc, value);
}

Value NodeLowering::constant(const StaticTensor &tensor,
                             mlir::Type elementType) {
  return buildConstant(builder, loc, tensor, elementType);
}

Value NodeLowering::splat(double value, mlir::Type elementType,
                          llvm::ArrayRef<int64_t> shape) {
  StaticTensor tensor =
      StaticTensor::ofFloats(onnx::TensorProto::DOUBLE, {}, {value});
  tensor.shape.assign(shape.begin(), shape.end());
  tensor.floats.assign(tensor.numElements(), value);
  return buildConstant(builder, loc, tensor, elementType);
}

FailureOr<Value> NodeLowering::broadcastTo(Value value,
                                           llvm::ArrayRef<int64_t> shape) {
  mlir::RankedTensorType type = typeOf(value);
  if (type.getShape() == shape)
    return value;
  int64_t rank = type.getRank(), target = shape.size();
  if (rank > target)
    return fail("cannot broadcast a rank-" + std::to_string(rank) +
                " tensor to rank " + std::to_string(target));
  llvm::SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t to = target - rank + d;
    if (type.getDimSize(d) != 1 && type.getDimSize(d) != shape[to])
      return fail("cannot broadcast dimension " + std::to_string(d) +
                  " of size " + std::to_string(type.getDimSize(d)) +
                  " to size " + std::to_string(shape[to]));
    dims.push_back(to);
  }
  return graph::BroadcastInDimOp::create(builder, loc, type.clone(shape), value,
                                         dims)
      .getResult();
}

LogicalResult
NodeLowering::broadcastTogether(llvm::MutableArrayRef<Value> values) {
  Shape shape(typeOf(values.front()).getShape());
  for (Value value : values.drop_front()) {
    absl::StatusOr<Shape> common =
        broadcastShapes(shape, typeOf(value).getShape());
    if (!common.ok())
      return fail(common.status());
    shape = *common;
  }
  for (Value &value : values) {
    FailureOr<Value> broadcast = broadcastTo(value, shape);
    if (failed(broadcast))
      return failure();
    value = *broadcast;
  }
  return success();
}

Value NodeLowering::reshape(Value value, llvm::ArrayRef<int64_t> shape) {
  mlir::RankedTensorType type = typeOf(value);
  if (type.getShape() == shape)
    return value;
  return graph::ReshapeOp::create(builder, loc, type.clone(shape), value);
}

Value NodeLowering::sliceAlong(Value value, int64_t dim, int64_t first,
                               int64_t last) {
  mlir::RankedTensorType type = typeOf(value);
  llvm::SmallVector<int64_t> start(type.getRank(), 0), limit(type.getShape()),
      steps(type.getRank(), 1);
  start[dim] = first;
  limit[dim] = last;
  Shape shape(type.getShape());
  shape[dim] = last - first;
  return graph::SliceOp::create(builder, loc, type.clone(shape), value, start,
                                limit, steps);
}

Value NodeLowering::convert(Value value, mlir::Type elementType) {
  mlir::RankedTensorType type = typeOf(value);
  if (type.getElementType() == elementType)
    return value;
  return graph::ConvertOp::create(builder, loc, type.clone(elementType), value);
}

Value NodeLowering::add(Value a, Value b) {
  return graph::AddOp::create(builder, loc, a, b);
}
Value NodeLowering::sub(Value a, Value b) {
  return graph::SubOp::create(builder, loc, a, b);
}
Value NodeLowering::mul(Value a, Value b) {
  return graph::MulOp::create(builder, loc, a, b);
}
Value NodeLowering::splatLike(double value, Value like) {
  return splat(value, typeOf(like).getElementType(), typeOf(like).getShape());
}

FailureOr<Value> NodeLowering::moveLastTo(Value value, int64_t dim) {
  int64_t rank = typeOf(value).getRank();
  if (dim == rank - 1)
    return value;
  llvm::SmallVector<int64_t> order;
  for (int64_t d = 0; d < rank - 1; ++d) {
    if (d == dim)
      order.push_back(rank - 1);
    order.push_back(d);
  }
  return create<graph::TransposeOp>(value, order);
}

LoweringFn findLowering(llvm::StringRef opType, llvm::StringRef domain) {
  if (domain == kTrainingDomain) {
    static const LoweringTable training = [] {
      LoweringTable table;
      registerOptimizerLowerings(table);
      return table;
    }();
    return training.lookup(opType);
  }
  if (!domain.empty() && domain != "ai.onnx")
    return nullptr;
  static const LoweringTable table = [] {
    LoweringTable table;
    registerElementwiseLowerings(table);
    registerTensorLowerings(table);
    registerNeuralLowerings(table);
    registerLossLowerings(table);
    registerSelectionLowerings(table);
    registerRecurrentLowerings(table);
    registerEinsumLowerings(table);
    registerQuantizationLowerings(table);
    registerSignalLowerings(table);
    registerControlFlowLowerings(table);
    return table;
  }();
  return table.lookup(opType);
}

} // namespace tessel::onnx_import
