//===- LowerSelections.cpp - Picks by index as graph ops ------------------===//
//
// ArgMax/ArgMin, Hardmax, OneHot and EyeLike, composed of reductions,
// comparisons against an iota and selects: graph ops with sharding rules
// and kernels already, so each of these splits as its parts do (an arg
// reduction's axis is a reduction factor that stays whole; the others pass
// through).
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// Every dimension of a tensor of `rank` but `skip`.
llvm::SmallVector<int64_t> allBut(int64_t rank, int64_t skip) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (d != skip)
      dims.push_back(d);
  return dims;
}

/// The index along `axis` of the largest (or smallest) element, the first
/// of equals or the last: the extreme by graph.reduce, the positions that
/// hold it by comparison, the first (or last) of them by a reduction of an
/// iota. The result has `x`'s shape without `axis`, of type i64.
FailureOr<Value> argExtreme(NodeLowering &node, Value x, int64_t axis,
                            bool largest, bool last) {
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  mlir::RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  FailureOr<Value> extreme = node.create<graph::ReduceOp>(
      largest ? graph::ReduceKind::Max : graph::ReduceKind::Min, x,
      llvm::ArrayRef<int64_t>{axis});
  if (failed(extreme))
    return failure();
  Value spread = graph::BroadcastInDimOp::create(b, loc, type, *extreme,
                                                 allBut(rank, axis));
  Value holds = graph::CompareOp::create(b, loc, graph::ComparisonDirection::EQ,
                                         x, spread);
  auto indexType = type.clone(b.getI64Type());
  Value position = graph::IotaOp::create(b, loc, indexType, axis);
  // Positions that do not hold it: past either end, so they never win.
  Value never = node.splat(last ? -1.0 : static_cast<double>(type.getDimSize(axis)),
                           b.getI64Type(), type.getShape());
  Value candidates = graph::SelectOp::create(b, loc, holds, position, never);
  return node.create<graph::ReduceOp>(last ? graph::ReduceKind::Max
                                           : graph::ReduceKind::Min,
                                      candidates,
                                      llvm::ArrayRef<int64_t>{axis});
}

template <bool largest> LogicalResult lowerArgReduce(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getElementTypeBitWidth() == 1)
    return node.fail("needs a numeric input, not booleans");
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", 0), type.getRank());
  if (!axis.ok())
    return node.fail(axis.status());
  if (type.getDimSize(*axis) == 0)
    return node.fail("the axis is empty: there is no element to pick");
  FailureOr<Value> index =
      argExtreme(node, *x, *axis, largest,
                 node.attributes.getInt("select_last_index", 0) != 0);
  if (failed(index))
    return failure();
  if (node.attributes.getInt("keepdims", 1)) {
    Shape kept(type.getShape());
    kept[*axis] = 1;
    return node.setOutput(node.reshape(*index, kept));
  }
  node.setOutput(0, *index);
  return success();
}

/// 1 where the iota along `axis` equals `index` broadcast along it, as
/// `elementType`.
Value oneHot(NodeLowering &node, Value index, Shape shape, int64_t axis,
             Value on, Value off) {
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  auto indexType = mlir::RankedTensorType::get(
      shape, typeOf(index).getElementType());
  Value position = graph::IotaOp::create(b, loc, indexType, axis);
  Value spread = graph::BroadcastInDimOp::create(
      b, loc, indexType, index, allBut(static_cast<int64_t>(shape.size()), axis));
  Value hot = graph::CompareOp::create(b, loc, graph::ComparisonDirection::EQ,
                                       position, spread);
  return graph::SelectOp::create(b, loc, hot, on, off);
}

/// Hardmax: 1 at the first largest element along the axis, 0 elsewhere.
/// Before opset 13 the input is seen as 2-D, flattened at the axis.
LogicalResult lowerHardmax(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  int64_t rank = type.getRank();
  absl::StatusOr<int64_t> axis = normalizeAxis(
      node.attributes.getInt("axis", node.opset >= 13 ? -1 : 1), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  Value input = *x;
  int64_t dimension = *axis;
  if (node.opset < 13) {
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d)
      outer *= type.getDimSize(d);
    input = node.reshape(input, {outer, type.getNumElements() / outer});
    dimension = 1;
  }
  FailureOr<Value> index =
      argExtreme(node, input, dimension, /*largest=*/true, /*last=*/false);
  if (failed(index))
    return failure();
  Shape shape(typeOf(input).getShape());
  mlir::Type element = type.getElementType();
  Value hot = oneHot(node, *index, shape, dimension,
                     node.splat(1, element, shape), node.splat(0, element, shape));
  node.setOutput(0, node.reshape(hot, type.getShape()));
  return success();
}

/// OneHot(indices, depth, values = [off, on]): the depth dimension
/// inserted at `axis`; negative indices count from depth.
LogicalResult lowerOneHot(NodeLowering &node) {
  FailureOr<Value> indices = node.input(0), values = node.input(2);
  FailureOr<StaticTensor> depthTensor = node.staticInput(1, "depth");
  if (failed(indices) || failed(values) || failed(depthTensor))
    return failure();
  if (depthTensor->numElements() != 1)
    return node.fail("depth must be a scalar");
  int64_t depth = static_cast<int64_t>(depthTensor->getDouble(0));
  if (depth < 1)
    return node.fail("depth must be at least 1, not " + std::to_string(depth));
  mlir::RankedTensorType valuesType = typeOf(*values);
  if (valuesType.getRank() != 1 || valuesType.getDimSize(0) != 2)
    return node.fail("values must be [off, on]");
  mlir::RankedTensorType indicesType = typeOf(*indices);
  int64_t rank = indicesType.getRank() + 1;
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", -1), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  mlir::OpBuilder &b = node.builder;
  // Indices as i64 (floats truncate), negative ones from the end.
  Value index = node.convert(*indices, b.getI64Type());
  Value negative = graph::CompareOp::create(
      b, node.loc, graph::ComparisonDirection::LT, index,
      node.splat(0, b.getI64Type(), indicesType.getShape()));
  index = graph::SelectOp::create(
      b, node.loc, negative,
      graph::AddOp::create(b, node.loc, index,
                           node.splat(static_cast<double>(depth), b.getI64Type(),
                                      indicesType.getShape())),
      index);
  Shape shape(indicesType.getShape());
  shape.insert(shape.begin() + *axis, depth);
  auto pick = [&](int64_t i) -> FailureOr<Value> {
    FailureOr<Value> one = node.create<graph::SliceOp>(
        *values, llvm::ArrayRef<int64_t>{i}, llvm::ArrayRef<int64_t>{i + 1},
        llvm::ArrayRef<int64_t>{1});
    if (failed(one))
      return failure();
    return graph::BroadcastInDimOp::create(
               b, node.loc,
               mlir::RankedTensorType::get(shape, valuesType.getElementType()),
               node.reshape(*one, {}), llvm::ArrayRef<int64_t>{})
        .getResult();
  };
  FailureOr<Value> off = pick(0), on = pick(1);
  if (failed(off) || failed(on))
    return failure();
  node.setOutput(0, oneHot(node, index, shape, *axis, *on, *off));
  return success();
}

/// EyeLike: ones on the k-th diagonal of a 2-D tensor of the input's shape.
LogicalResult lowerEyeLike(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getRank() != 2)
    return node.fail("the input must be 2-D");
  mlir::Type element = type.getElementType();
  if (node.attributes.has("dtype")) {
    FailureOr<mlir::Type> given = node.elementType(
        static_cast<int32_t>(node.attributes.getInt("dtype", 1)), "dtype");
    if (failed(given))
      return failure();
    element = *given;
  }
  mlir::OpBuilder &b = node.builder;
  auto indexType = type.clone(b.getI64Type());
  Value row = graph::IotaOp::create(b, node.loc, indexType, 0);
  Value column = graph::IotaOp::create(b, node.loc, indexType, 1);
  double k = static_cast<double>(node.attributes.getInt("k", 0));
  Value shifted = graph::AddOp::create(
      b, node.loc, row, node.splat(k, b.getI64Type(), type.getShape()));
  Value diagonal = graph::CompareOp::create(
      b, node.loc, graph::ComparisonDirection::EQ, column, shifted);
  node.setOutput(0, node.convert(diagonal, element));
  return success();
}

/// GatherElements(data, indices, axis): out[i...] = data[i... with
/// indices[i...] along axis]. Composed so that it shards as its parts do:
/// with K = data's size along the axis, the indices compared with an iota
/// over a new trailing dimension of K select data (broadcast along the
/// indices' axis) into an [indices..., K] tensor summed over K. This costs
/// |indices| x K elements; a gather kernel of its own would not.
LogicalResult lowerGatherElements(NodeLowering &node) {
  FailureOr<Value> data = node.input(0), indices = node.input(1);
  if (failed(data) || failed(indices))
    return failure();
  mlir::RankedTensorType dataType = typeOf(*data);
  mlir::RankedTensorType indicesType = typeOf(*indices);
  int64_t rank = dataType.getRank();
  if (indicesType.getRank() != rank)
    return node.fail("data and indices must have the same rank");
  if (!mlir::isa<mlir::IntegerType>(indicesType.getElementType()) ||
      indicesType.getElementTypeBitWidth() == 1)
    return node.fail("indices must be integers");
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", 0), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && indicesType.getDimSize(d) > dataType.getDimSize(d))
      return node.fail("indices dimension " + std::to_string(d) +
                       " exceeds data's");
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  int64_t k = dataType.getDimSize(*axis);
  // data cut to the indices' extent on every other dimension.
  Value source = *data;
  llvm::SmallVector<int64_t> start(rank, 0), limit, step(rank, 1);
  bool cut = false;
  for (int64_t d = 0; d < rank; ++d) {
    limit.push_back(d == *axis ? k : indicesType.getDimSize(d));
    cut |= limit.back() != dataType.getDimSize(d);
  }
  if (cut) {
    FailureOr<Value> sliced =
        node.create<graph::SliceOp>(source, start, limit, step);
    if (failed(sliced))
      return failure();
    source = *sliced;
  }
  // Negative indices count from the end.
  mlir::Type indexElement = indicesType.getElementType();
  Shape indexShape(indicesType.getShape());
  Value index = *indices;
  Value negative = graph::CompareOp::create(
      b, loc, graph::ComparisonDirection::LT, index,
      node.splat(0, indexElement, indexShape));
  index = graph::SelectOp::create(
      b, loc, negative,
      graph::AddOp::create(b, loc, index,
                           node.splat(static_cast<double>(k), indexElement,
                                      indexShape)),
      index);
  Shape expanded = indexShape;
  expanded.push_back(k);
  llvm::SmallVector<int64_t> leading;
  for (int64_t d = 0; d < rank; ++d)
    leading.push_back(d);
  auto expandedOf = [&](mlir::Type element) {
    return mlir::RankedTensorType::get(expanded, element);
  };
  Value position = graph::IotaOp::create(b, loc, expandedOf(indexElement), rank);
  Value wanted = graph::BroadcastInDimOp::create(
      b, loc, expandedOf(indexElement), index, leading);
  Value hit = graph::CompareOp::create(b, loc, graph::ComparisonDirection::EQ,
                                       position, wanted);
  // data's axis goes to the new dimension; the indices' axis is free.
  llvm::SmallVector<int64_t> dataDims = leading;
  dataDims[*axis] = rank;
  Value spread = graph::BroadcastInDimOp::create(
      b, loc, expandedOf(dataType.getElementType()), source, dataDims);
  bool isBool = dataType.getElementTypeBitWidth() == 1;
  Value zeros = node.splat(0, dataType.getElementType(), expanded);
  Value picked = graph::SelectOp::create(b, loc, hit, spread, zeros);
  return node.setOutput(node.create<graph::ReduceOp>(
      isBool ? graph::ReduceKind::Max : graph::ReduceKind::Sum, picked,
      llvm::ArrayRef<int64_t>{rank}));
}

} // namespace

void registerSelectionLowerings(LoweringTable &table) {
  table["GatherElements"] = lowerGatherElements;
  table["ArgMax"] = lowerArgReduce<true>;
  table["ArgMin"] = lowerArgReduce<false>;
  table["Hardmax"] = lowerHardmax;
  table["OneHot"] = lowerOneHot;
  table["EyeLike"] = lowerEyeLike;
}

} // namespace tessel::onnx_import
