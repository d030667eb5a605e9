//===- LowerSelections.cpp - Picks by index as graph ops ------------------===//
//
// ArgMax/ArgMin, Hardmax, OneHot and EyeLike, composed of reductions,
// comparisons against an iota and selects: graph ops with sharding rules
// and kernels already, so each of these splits as its parts do (an arg
// reduction's axis is a reduction factor that stays whole; the others pass
// through).
//
//===----------------------------------------------------------------------===//

#include <optional>

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

/// Where an iota along `along` of `shape` equals `index` broadcast into
/// `shape` (its dimension i at indexDims[i]): the one-hot of the index, as
/// i1.
Value matches(NodeLowering &node, Value index, llvm::ArrayRef<int64_t> shape,
              int64_t along, llvm::ArrayRef<int64_t> indexDims) {
  auto type = mlir::RankedTensorType::get(shape, typeOf(index).getElementType());
  Value position = graph::IotaOp::create(node.builder, node.loc, type, along);
  Value spread = graph::BroadcastInDimOp::create(node.builder, node.loc, type,
                                                 index, indexDims);
  return graph::CompareOp::create(node.builder, node.loc,
                                  graph::ComparisonDirection::EQ, position,
                                  spread);
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

/// Indices of `type` with negative ones counted from `size`.
Value fromTheEnd(NodeLowering &node, Value index, int64_t size) {
  mlir::RankedTensorType type = typeOf(index);
  Shape shape(type.getShape());
  Value negative = graph::CompareOp::create(
      node.builder, node.loc, graph::ComparisonDirection::LT, index,
      node.splat(0, type.getElementType(), shape));
  return graph::SelectOp::create(
      node.builder, node.loc, negative,
      graph::AddOp::create(node.builder, node.loc, index,
                           node.splat(static_cast<double>(size),
                                      type.getElementType(), shape)),
      index);
}

/// `on` where the iota along `axis` equals `index` broadcast along it,
/// `off` elsewhere.
Value oneHot(NodeLowering &node, Value index, Shape shape, int64_t axis,
             Value on, Value off) {
  Value hot = matches(node, index, shape, axis,
                      allBut(static_cast<int64_t>(shape.size()), axis));
  return graph::SelectOp::create(node.builder, node.loc, hot, on, off);
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
  Value index =
      fromTheEnd(node, node.convert(*indices, b.getI64Type()), depth);
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

/// The linear index, over dimensions of `sizes` (row-major), of each
/// index tuple along the last dimension of `indices` (negative entries
/// counted from the end): an i64 tensor of indices' shape without its last
/// dimension.
FailureOr<Value> linearIndex(NodeLowering &node, Value indices,
                             llvm::ArrayRef<int64_t> sizes) {
  mlir::OpBuilder &b = node.builder;
  mlir::Type i64 = b.getI64Type();
  mlir::RankedTensorType type = typeOf(indices);
  int64_t q = type.getRank();
  Shape tuples(type.getShape().begin(), type.getShape().end() - 1);
  Value linear;
  int64_t stride = 1;
  for (int64_t j = static_cast<int64_t>(sizes.size()) - 1; j >= 0; --j) {
    llvm::SmallVector<int64_t> start(q, 0), limit(type.getShape()),
        step(q, 1);
    start[q - 1] = j;
    limit[q - 1] = j + 1;
    FailureOr<Value> entry =
        node.create<graph::SliceOp>(indices, start, limit, step);
    if (failed(entry))
      return failure();
    Value component = fromTheEnd(
        node, node.convert(node.reshape(*entry, tuples), i64), sizes[j]);
    Value scaled = graph::MulOp::create(
        b, node.loc, component,
        node.splat(static_cast<double>(stride), i64, tuples));
    linear = linear
                 ? graph::AddOp::create(b, node.loc, linear, scaled).getResult()
                 : scaled;
    stride *= sizes[j];
  }
  return linear;
}

/// out[i...] = data[i... with index[i...] along `axis`], `index` of data's
/// rank and at most its extent elsewhere, its values in [0, K) for K along
/// the axis. Composed so that it shards as its parts do: the indices
/// compared with an iota over a new trailing dimension of K select data
/// (broadcast along the indices' axis) into an [indices..., K] tensor
/// summed over K. This costs |indices| x K elements; a gather kernel of its
/// own would not.
FailureOr<Value> gatherAlong(NodeLowering &node, Value data, Value index,
                             int64_t axis) {
  mlir::RankedTensorType dataType = typeOf(data);
  mlir::RankedTensorType indicesType = typeOf(index);
  int64_t rank = dataType.getRank();
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  int64_t k = dataType.getDimSize(axis);
  // data cut to the indices' extent on every other dimension.
  llvm::SmallVector<int64_t> start(rank, 0), limit, step(rank, 1);
  bool cut = false;
  for (int64_t d = 0; d < rank; ++d) {
    limit.push_back(d == axis ? k : indicesType.getDimSize(d));
    cut |= limit.back() != dataType.getDimSize(d);
  }
  if (cut) {
    FailureOr<Value> sliced =
        node.create<graph::SliceOp>(data, start, limit, step);
    if (failed(sliced))
      return failure();
    data = *sliced;
  }
  Shape expanded(indicesType.getShape());
  expanded.push_back(k);
  llvm::SmallVector<int64_t> leading;
  for (int64_t d = 0; d < rank; ++d)
    leading.push_back(d);
  auto expandedOf = [&](mlir::Type element) {
    return mlir::RankedTensorType::get(expanded, element);
  };
  Value hit = matches(node, index, expanded, rank, leading);
  // data's axis goes to the new dimension; the indices' axis is free.
  llvm::SmallVector<int64_t> dataDims = leading;
  dataDims[axis] = rank;
  Value spread = graph::BroadcastInDimOp::create(
      b, loc, expandedOf(dataType.getElementType()), data, dataDims);
  bool isBool = dataType.getElementTypeBitWidth() == 1;
  Value zeros = node.splat(0, dataType.getElementType(), expanded);
  Value picked = graph::SelectOp::create(b, loc, hit, spread, zeros);
  return node.create<graph::ReduceOp>(
      isBool ? graph::ReduceKind::Max : graph::ReduceKind::Sum, picked,
      llvm::ArrayRef<int64_t>{rank});
}

/// GatherElements(data, indices, axis): gatherAlong, negative indices
/// counted from the end.
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
  return node.setOutput(gatherAlong(
      node, *data, fromTheEnd(node, *indices, dataType.getDimSize(*axis)),
      *axis));
}

/// ReverseSequence: along the time axis, each batch entry's first
/// sequence_lens[b] elements reversed, the rest kept: a gather along time
/// from t < len ? len - 1 - t : t.
LogicalResult lowerReverseSequence(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), lengths = node.input(1);
  if (failed(x) || failed(lengths))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  int64_t rank = type.getRank();
  if (rank < 2)
    return node.fail("the input must have a batch and a time axis");
  absl::StatusOr<int64_t> batchAxis =
      normalizeAxis(node.attributes.getInt("batch_axis", 1), rank);
  absl::StatusOr<int64_t> timeAxis =
      normalizeAxis(node.attributes.getInt("time_axis", 0), rank);
  if (!batchAxis.ok() || !timeAxis.ok() || *batchAxis == *timeAxis ||
      *batchAxis > 1 || *timeAxis > 1)
    return node.fail("batch_axis and time_axis must be 0 and 1, one each");
  mlir::RankedTensorType lengthType = typeOf(*lengths);
  if (lengthType.getRank() != 1 ||
      lengthType.getDimSize(0) != type.getDimSize(*batchAxis) ||
      !mlir::isa<mlir::IntegerType>(lengthType.getElementType()))
    return node.fail("sequence_lens must be one integer per batch entry");
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  auto indexType = type.clone(b.getI64Type());
  Shape shape(type.getShape());
  Value time = graph::IotaOp::create(b, loc, indexType, *timeAxis);
  Value length = graph::BroadcastInDimOp::create(
      b, loc, indexType, node.convert(*lengths, b.getI64Type()),
      llvm::ArrayRef<int64_t>{*batchAxis});
  Value inside = graph::CompareOp::create(
      b, loc, graph::ComparisonDirection::LT, time, length);
  Value mirrored = graph::SubOp::create(
      b, loc,
      graph::SubOp::create(b, loc, length,
                           node.splat(1, b.getI64Type(), shape)),
      time);
  Value source = graph::SelectOp::create(b, loc, inside, mirrored, time);
  return node.setOutput(gatherAlong(node, *x, source, *timeAxis));
}

/// A scatter's `reduction` attribute: how the updates of one position
/// combine (a graph.reduce kind from its identity), and how they combine
/// with the data there.
struct ScatterReduction {
  std::string name;
  graph::ReduceKind kind;

  static FailureOr<ScatterReduction> of(NodeLowering &node,
                                        mlir::Type element) {
    std::string name = node.attributes.getString("reduction", "none");
    if (element.isInteger(1))
      return node.fail("data must be numeric, not booleans");
    if (name == "none" || name == "add")
      return ScatterReduction{name, graph::ReduceKind::Sum};
    if (name == "mul")
      return ScatterReduction{name, graph::ReduceKind::Prod};
    if (name == "max")
      return ScatterReduction{name, graph::ReduceKind::Max};
    if (name == "min")
      return ScatterReduction{name, graph::ReduceKind::Min};
    return node.fail("reduction '" + name +
                     "' is not one of none, add, mul, max, min");
  }

  bool needsData() const {
    return kind == graph::ReduceKind::Max || kind == graph::ReduceKind::Min;
  }

  /// What a position no update lands on holds before the updates of a
  /// target combine: the identity of a sum or product, or for max and min
  /// the target's own data (`targetData`, the data each position would
  /// write to), which the result keeps anyway (exact for every type,
  /// where an identity like the type's lowest value is not representable
  /// in every path).
  Value fill(NodeLowering &node, llvm::ArrayRef<int64_t> shape,
             mlir::Type element, Value targetData) const {
    if (needsData())
      return targetData;
    return node.splat(kind == graph::ReduceKind::Prod ? 1.0 : 0.0, element,
                      shape);
  }

  /// The data where updates landed: replaced (none) or combined.
  Value apply(NodeLowering &node, Value data, Value updates) const {
    mlir::OpBuilder &b = node.builder;
    if (name == "add")
      return graph::AddOp::create(b, node.loc, data, updates);
    if (name == "mul")
      return graph::MulOp::create(b, node.loc, data, updates);
    if (name == "max")
      return graph::MaxOp::create(b, node.loc, data, updates);
    if (name == "min")
      return graph::MinOp::create(b, node.loc, data, updates);
    return updates;
  }
};

/// ScatterElements (and the older Scatter): data with updates written (or
/// combined by `reduction`) at indices along `axis`. As gatherAlong, the
/// indices compared with an iota over a new trailing dimension of K: each
/// update lands on its position of K, the updates of one position are
/// combined over the indices' axis, and where none landed data stays.
LogicalResult lowerScatterElements(NodeLowering &node) {
  FailureOr<Value> data = node.input(0), indices = node.input(1),
                   updates = node.input(2);
  if (failed(data) || failed(indices) || failed(updates))
    return failure();
  mlir::RankedTensorType dataType = typeOf(*data);
  mlir::RankedTensorType indicesType = typeOf(*indices);
  int64_t rank = dataType.getRank();
  if (indicesType.getRank() != rank ||
      typeOf(*updates).getShape() != indicesType.getShape() ||
      typeOf(*updates).getElementType() != dataType.getElementType())
    return node.fail("indices and updates must have one shape, of data's "
                     "rank, and updates data's element type");
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
  FailureOr<ScatterReduction> combine =
      ScatterReduction::of(node, dataType.getElementType());
  if (failed(combine))
    return failure();
  mlir::Type element = dataType.getElementType();
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  int64_t k = dataType.getDimSize(*axis);
  Value index = fromTheEnd(node, *indices, k);
  Shape expanded(indicesType.getShape());
  expanded.push_back(k);
  llvm::SmallVector<int64_t> leading;
  for (int64_t d = 0; d < rank; ++d)
    leading.push_back(d);
  auto expandedOf = [&](mlir::Type type) {
    return mlir::RankedTensorType::get(expanded, type);
  };
  Value lands = matches(node, index, expanded, rank, leading);
  Value spread = graph::BroadcastInDimOp::create(b, loc, expandedOf(element),
                                                 *updates, leading);
  Value targetData;
  if (combine->needsData()) {
    // data cut to the indices' extent off the axis; its axis to the new
    // dimension, the indices' axis free (as gatherAlong spreads it).
    llvm::SmallVector<int64_t> start(rank, 0), limit, step(rank, 1);
    for (int64_t d = 0; d < rank; ++d)
      limit.push_back(d == *axis ? k : indicesType.getDimSize(d));
    FailureOr<Value> cut =
        node.create<graph::SliceOp>(*data, start, limit, step);
    if (failed(cut))
      return failure();
    llvm::SmallVector<int64_t> dataDims = leading;
    dataDims[*axis] = rank;
    targetData = graph::BroadcastInDimOp::create(b, loc, expandedOf(element),
                                                 *cut, dataDims);
  }
  Value placed = graph::SelectOp::create(
      b, loc, lands, spread,
      combine->fill(node, expanded, element, targetData));
  // Over the indices' axis: the combined updates and whether any landed,
  // as [other dims..., K].
  FailureOr<Value> combined = node.create<graph::ReduceOp>(
      combine->kind, placed, llvm::ArrayRef<int64_t>{*axis});
  Value landed = graph::SelectOp::create(
      b, loc, lands, node.splat(1, b.getI32Type(), expanded),
      node.splat(0, b.getI32Type(), expanded));
  FailureOr<Value> anyLanded = node.create<graph::ReduceOp>(
      graph::ReduceKind::Max, landed, llvm::ArrayRef<int64_t>{*axis});
  if (failed(combined) || failed(anyLanded))
    return failure();
  // K back at the axis, then padded to data's extent elsewhere.
  auto toData = [&](Value value) -> FailureOr<Value> {
    FailureOr<Value> moved = node.moveLastTo(value, *axis);
    if (failed(moved))
      return failure();
    llvm::SmallVector<int64_t> low(rank, 0), high(rank, 0), interior(rank, 0);
    bool pad = false;
    for (int64_t d = 0; d < rank; ++d) {
      high[d] = dataType.getDimSize(d) - typeOf(*moved).getDimSize(d);
      pad |= high[d] != 0;
    }
    if (!pad)
      return moved;
    return node.create<graph::PadOp>(*moved, low, high, interior,
                                     llvm::APFloat(0.0));
  };
  FailureOr<Value> values = toData(*combined), mask = toData(*anyLanded);
  if (failed(values) || failed(mask))
    return failure();
  Value written = graph::CompareOp::create(
      b, loc, graph::ComparisonDirection::GT, *mask,
      node.splat(0, b.getI32Type(), dataType.getShape()));
  node.setOutput(0, graph::SelectOp::create(
                        b, loc, written, combine->apply(node, *data, *values),
                        *data));
  return success();
}

/// ScatterND(data, indices, updates): each index tuple (the last dimension
/// of indices, m entries) names a slice of data past its first m
/// dimensions, which its update replaces (or combines with, by
/// `reduction`). The m dimensions become one of their product K, the tuples
/// linear indices, and each update lands by a one-hot over K; updates of
/// one slice combine over the tuples.
LogicalResult lowerScatterND(NodeLowering &node) {
  FailureOr<Value> data = node.input(0), indices = node.input(1),
                   updates = node.input(2);
  if (failed(data) || failed(indices) || failed(updates))
    return failure();
  mlir::RankedTensorType dataType = typeOf(*data);
  mlir::RankedTensorType indicesType = typeOf(*indices);
  int64_t q = indicesType.getRank(), r = dataType.getRank();
  int64_t m = q ? indicesType.getDimSize(q - 1) : 0;
  if (q < 1 || m < 1 || m > r)
    return node.fail("each index tuple must name between 1 and " +
                     std::to_string(r) + " dimensions");
  if (!mlir::isa<mlir::IntegerType>(indicesType.getElementType()) ||
      indicesType.getElementTypeBitWidth() == 1)
    return node.fail("indices must be integers");
  Shape tuples(indicesType.getShape().begin(), indicesType.getShape().end() - 1);
  Shape rest(dataType.getShape().begin() + m, dataType.getShape().end());
  Shape updateShape = tuples;
  updateShape.insert(updateShape.end(), rest.begin(), rest.end());
  if (Shape(typeOf(*updates).getShape()) != updateShape ||
      typeOf(*updates).getElementType() != dataType.getElementType())
    return node.fail("updates must be indices' shape without its last "
                     "dimension, then data's past the indexed ones, of "
                     "data's element type");
  mlir::Type element = dataType.getElementType();
  FailureOr<ScatterReduction> combine = ScatterReduction::of(node, element);
  if (failed(combine))
    return failure();
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  FailureOr<Value> linear = linearIndex(
      node, *indices, dataType.getShape().take_front(m));
  if (failed(linear))
    return failure();
  int64_t k = 1;
  for (int64_t j = 0; j < m; ++j)
    k *= dataType.getDimSize(j);
  // [tuples..., K, rest...]: each update at its position of K.
  int64_t t = static_cast<int64_t>(tuples.size());
  Shape expanded = tuples;
  expanded.push_back(k);
  expanded.insert(expanded.end(), rest.begin(), rest.end());
  llvm::SmallVector<int64_t> tupleDims, updateDims;
  for (int64_t d = 0; d < t; ++d) {
    tupleDims.push_back(d);
    updateDims.push_back(d);
  }
  for (int64_t d = 0; d < static_cast<int64_t>(rest.size()); ++d)
    updateDims.push_back(t + 1 + d);
  Value lands = matches(node, *linear, expanded, t, tupleDims);
  auto expandedOf = [&](mlir::Type type) {
    return mlir::RankedTensorType::get(expanded, type);
  };
  Value spread = graph::BroadcastInDimOp::create(b, loc, expandedOf(element),
                                                 *updates, updateDims);
  Shape flat = {k};
  flat.insert(flat.end(), rest.begin(), rest.end());
  Value source = node.reshape(*data, flat);
  Value targetData;
  if (combine->needsData()) {
    llvm::SmallVector<int64_t> flatDims;
    for (int64_t d = 0; d <= static_cast<int64_t>(rest.size()); ++d)
      flatDims.push_back(t + d);
    targetData = graph::BroadcastInDimOp::create(b, loc, expandedOf(element),
                                                 source, flatDims);
  }
  Value placed = graph::SelectOp::create(
      b, loc, lands, spread,
      combine->fill(node, expanded, element, targetData));
  Value landed = graph::SelectOp::create(
      b, loc, lands, node.splat(1, b.getI32Type(), expanded),
      node.splat(0, b.getI32Type(), expanded));
  FailureOr<Value> combined =
      node.create<graph::ReduceOp>(combine->kind, placed, tupleDims);
  FailureOr<Value> anyLanded =
      node.create<graph::ReduceOp>(graph::ReduceKind::Max, landed, tupleDims);
  if (failed(combined) || failed(anyLanded))
    return failure();
  Value written = graph::CompareOp::create(
      b, loc, graph::ComparisonDirection::GT, *anyLanded,
      node.splat(0, b.getI32Type(), flat));
  Value result = graph::SelectOp::create(
      b, loc, written, combine->apply(node, source, *combined), source);
  node.setOutput(0, node.reshape(result, dataType.getShape()));
  return success();
}

/// GatherND(data, indices, batch_dims): each index tuple (the last
/// dimension of indices, m entries) picks a slice of data past its batch
/// dimensions. The m indexed dimensions become one of their product K, the
/// tuple one linear index, and the pick is gatherAlong's one-hot over K.
LogicalResult lowerGatherND(NodeLowering &node) {
  FailureOr<Value> data = node.input(0), indices = node.input(1);
  if (failed(data) || failed(indices))
    return failure();
  mlir::RankedTensorType dataType = typeOf(*data);
  mlir::RankedTensorType indicesType = typeOf(*indices);
  int64_t batchDims = node.attributes.getInt("batch_dims", 0);
  int64_t q = indicesType.getRank(), r = dataType.getRank();
  if (q < 1 || batchDims < 0 || batchDims >= q || batchDims >= r)
    return node.fail("batch_dims must be below the ranks of data and indices");
  int64_t m = indicesType.getDimSize(q - 1);
  if (m < 1 || batchDims + m > r)
    return node.fail("each index tuple must name between 1 and " +
                     std::to_string(r - batchDims) + " dimensions");
  if (!mlir::isa<mlir::IntegerType>(indicesType.getElementType()) ||
      indicesType.getElementTypeBitWidth() == 1)
    return node.fail("indices must be integers");
  for (int64_t d = 0; d < batchDims; ++d)
    if (indicesType.getDimSize(d) != dataType.getDimSize(d))
      return node.fail("the batch dimensions of data and indices differ");
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  // The linear index of each tuple, [batch..., n...].
  Shape tupleShape(indicesType.getShape().begin(),
                   indicesType.getShape().end() - 1);
  FailureOr<Value> linear = linearIndex(
      node, *indices, dataType.getShape().slice(batchDims, m));
  if (failed(linear))
    return failure();
  int64_t k = 1;
  for (int64_t j = 0; j < m; ++j)
    k *= dataType.getDimSize(batchDims + j);
  // data as [batch..., K, rest...].
  Shape flat(dataType.getShape().begin(),
             dataType.getShape().begin() + batchDims);
  flat.push_back(k);
  Shape rest(dataType.getShape().begin() + batchDims + m,
             dataType.getShape().end());
  flat.insert(flat.end(), rest.begin(), rest.end());
  Value source = node.reshape(*data, flat);
  // [batch..., n..., K, rest...]: the tuples' one-hot over K times data.
  int64_t t = static_cast<int64_t>(tupleShape.size());
  Shape expanded = tupleShape;
  expanded.push_back(k);
  expanded.insert(expanded.end(), rest.begin(), rest.end());
  auto expandedOf = [&](mlir::Type type) {
    return mlir::RankedTensorType::get(expanded, type);
  };
  llvm::SmallVector<int64_t> tupleDims;
  for (int64_t d = 0; d < t; ++d)
    tupleDims.push_back(d);
  Value hit = matches(node, *linear, expanded, t, tupleDims);
  llvm::SmallVector<int64_t> sourceDims;
  for (int64_t d = 0; d < batchDims; ++d)
    sourceDims.push_back(d);
  for (int64_t d = 0; d <= static_cast<int64_t>(rest.size()); ++d)
    sourceDims.push_back(t + d);
  mlir::Type element = dataType.getElementType();
  Value spread = graph::BroadcastInDimOp::create(b, loc, expandedOf(element),
                                                 source, sourceDims);
  Value picked = graph::SelectOp::create(b, loc, hit, spread,
                                         node.splat(0, element, expanded));
  return node.setOutput(node.create<graph::ReduceOp>(
      element.isInteger(1) ? graph::ReduceKind::Max : graph::ReduceKind::Sum,
      picked, llvm::ArrayRef<int64_t>{t}));
}

/// TopK: graph.top_k (sorted, of equal values the lower index first);
/// `sorted = 0` leaves the order to the implementation, which sorts.
LogicalResult lowerTopK(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getElementTypeBitWidth() == 1)
    return node.fail("needs a numeric input, not booleans");
  int64_t k;
  if (node.opset < 10) {
    k = node.attributes.getInt("k", 0);
  } else {
    FailureOr<StaticTensor> given = node.staticInput(1, "K");
    if (failed(given))
      return failure();
    if (given->numElements() != 1)
      return node.fail("K must hold one value");
    k = given->getInt(0);
  }
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", -1), type.getRank());
  if (!axis.ok())
    return node.fail(axis.status());
  if (k < 1 || k > type.getDimSize(*axis))
    return node.fail("K = " + std::to_string(k) + " must be in [1, " +
                     std::to_string(type.getDimSize(*axis)) +
                     "], the size of the axis");
  bool largest = node.attributes.getInt("largest", 1) != 0;
  auto topK = graph::TopKOp::create(node.builder, node.loc, *x, k, *axis,
                                    largest);
  node.setOutput(0, topK.getValues());
  if (node.numOutputs() > 1)
    node.setOutput(1, topK.getIndices());
  return success();
}

} // namespace

/// MaxUnpool(X, I[, output_shape]): zeros of the output's shape, with X's
/// values written at I's flat positions (as MaxPool's Indices give them),
/// by a one-hot of each index over the output's elements, as the scatters
/// above (so its cost is X's elements times the output's; values written
/// twice to one position sum). Indices count in the unpooled shape,
/// (in - 1) * stride - pads + kernel; an output_shape (known at import
/// time) at least that large extends it with zeros at the end, as ONNX's
/// reference does.
LogicalResult lowerMaxUnpool(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), indices = node.input(1);
  if (failed(x) || failed(indices))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  int64_t rank = type.getRank();
  if (rank < 3 || typeOf(*indices).getShape() != type.getShape() ||
      !typeOf(*indices).getElementType().isInteger(64))
    return node.fail("X must be [N, C, spatial...] and I int64 indices of "
                     "its shape");
  size_t spatial = rank - 2;
  std::optional<std::vector<int64_t>> kernel =
      node.attributes.getInts("kernel_shape");
  if (!kernel || kernel->size() != spatial)
    return node.fail("kernel_shape must give each spatial dimension");
  std::vector<int64_t> strides =
      node.attributes.getInts("strides").value_or(
          std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pads = node.attributes.getInts("pads").value_or(
      std::vector<int64_t>(2 * spatial, 0));
  if (strides.size() != spatial || pads.size() != 2 * spatial)
    return node.fail("strides and pads must give each spatial dimension");
  Shape shape(type.getShape());
  for (size_t d = 0; d < spatial; ++d)
    shape[d + 2] = (shape[d + 2] - 1) * strides[d] - pads[d] -
                   pads[d + spatial] + (*kernel)[d];
  Shape outputShape = shape;
  if (node.hasInput(2)) {
    FailureOr<std::vector<int64_t>> given =
        node.staticInts(2, "output_shape");
    if (failed(given))
      return failure();
    bool fits = given->size() == static_cast<size_t>(rank) &&
                (*given)[0] == shape[0] && (*given)[1] == shape[1];
    for (int64_t d = 2; fits && d < rank; ++d)
      fits = (*given)[d] >= shape[d];
    if (!fits)
      return node.fail("output_shape must be X's batch and channels, then "
                       "spatial sizes at least the unpooled ones");
    outputShape = Shape(given->begin(), given->end());
  }
  int64_t count = type.getNumElements(), total = 1;
  for (int64_t dim : shape)
    total *= dim;
  auto pairs = mlir::RankedTensorType::get({count, total},
                                           node.builder.getI64Type());
  Value flatIndices = node.reshape(*indices, {count});
  Value hot = graph::CompareOp::create(
      node.builder, node.loc, graph::ComparisonDirection::EQ,
      graph::IotaOp::create(node.builder, node.loc, pairs, 1),
      graph::BroadcastInDimOp::create(node.builder, node.loc, pairs,
                                      flatIndices,
                                      llvm::ArrayRef<int64_t>{0}));
  Value values = graph::BroadcastInDimOp::create(
      node.builder, node.loc, pairs.clone(type.getElementType()),
      node.reshape(*x, {count}), llvm::ArrayRef<int64_t>{0});
  Value placed = graph::SelectOp::create(node.builder, node.loc, hot, values,
                                         node.splatLike(0, values));
  FailureOr<Value> summed = node.create<graph::ReduceOp>(
      graph::ReduceKind::Sum, placed, llvm::SmallVector<int64_t>{0});
  if (failed(summed))
    return failure();
  Value unpooled = node.reshape(*summed, shape);
  if (outputShape == shape)
    return node.setOutput(unpooled);
  std::vector<int64_t> low(rank, 0), high(rank, 0), interior(rank, 0);
  for (int64_t d = 2; d < rank; ++d)
    high[d] = outputShape[d] - shape[d];
  return node.setOutput(node.create<graph::PadOp>(unpooled, low, high,
                                                  interior,
                                                  llvm::APFloat(0.0)));
}

void registerSelectionLowerings(LoweringTable &table) {
  table["MaxUnpool"] = lowerMaxUnpool;
  table["TopK"] = lowerTopK;
  table["GatherElements"] = lowerGatherElements;
  table["GatherND"] = lowerGatherND;
  table["ScatterElements"] = lowerScatterElements;
  table["Scatter"] = lowerScatterElements;
  table["ScatterND"] = lowerScatterND;
  table["ReverseSequence"] = lowerReverseSequence;
  table["ArgMax"] = lowerArgReduce<true>;
  table["ArgMin"] = lowerArgReduce<false>;
  table["Hardmax"] = lowerHardmax;
  table["OneHot"] = lowerOneHot;
  table["EyeLike"] = lowerEyeLike;
}

} // namespace tessel::onnx_import
