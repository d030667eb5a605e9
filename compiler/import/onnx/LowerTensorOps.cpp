//===- LowerTensorOps.cpp - ONNX shape and data-movement ops --------------===//
//
// Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Split, Slice, Gather,
// Expand, Tile, Pad, Trilu, and the shape-computation ops whose inputs turned
// out not to be known at import time.
//
//===----------------------------------------------------------------------===//

#include <numeric>

#include "absl/strings/str_cat.h"
#include "compiler/import/onnx/ConstantFolding.h"
#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// Axes from the `axes` attribute (before `inputOpset`) or input 1.
FailureOr<std::vector<int64_t>> axesOf(NodeLowering &node, int64_t inputOpset) {
  if (node.opset >= inputOpset) {
    if (!node.hasInput(1))
      return std::vector<int64_t>();
    return node.staticInts(1, "axes");
  }
  return node.attributes.getInts("axes").value_or(std::vector<int64_t>());
}

LogicalResult reshapeTo(NodeLowering &node, absl::StatusOr<Shape> shape) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  if (!shape.ok())
    return node.fail(shape.status());
  node.setOutput(0, node.reshape(*x, *shape));
  return success();
}

LogicalResult lowerReshape(NodeLowering &node) {
  FailureOr<std::vector<int64_t>> requested = node.staticInts(1, "shape");
  if (failed(requested))
    return failure();
  return reshapeTo(node, reshapeTarget(node.inputShape(0), *requested,
                                       node.attributes.getInt("allowzero", 0)));
}

LogicalResult lowerFlatten(NodeLowering &node) {
  Shape shape = node.inputShape(0);
  int64_t rank = shape.size();
  int64_t axis = node.attributes.getInt("axis", 1);
  if (axis < -rank || axis > rank)
    return node.fail("axis " + std::to_string(axis) +
                     " is out of range for rank " + std::to_string(rank));
  if (axis < 0)
    axis += rank;
  int64_t outer = std::accumulate(shape.begin(), shape.begin() + axis,
                                  int64_t(1), std::multiplies<int64_t>());
  int64_t inner = std::accumulate(shape.begin() + axis, shape.end(), int64_t(1),
                                  std::multiplies<int64_t>());
  return reshapeTo(node, Shape{outer, inner});
}

LogicalResult lowerSqueeze(NodeLowering &node) {
  FailureOr<std::vector<int64_t>> axes = axesOf(node, 13);
  if (failed(axes))
    return failure();
  return reshapeTo(node, squeezeShape(node.inputShape(0), *axes));
}

LogicalResult lowerUnsqueeze(NodeLowering &node) {
  FailureOr<std::vector<int64_t>> axes = axesOf(node, 13);
  if (failed(axes))
    return failure();
  return reshapeTo(node, unsqueezeShape(node.inputShape(0), *axes));
}

LogicalResult lowerTranspose(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  int64_t rank = typeOf(*x).getRank();
  std::vector<int64_t> permutation(rank);
  for (int64_t d = 0; d < rank; ++d)
    permutation[d] = rank - 1 - d;
  if (auto attribute = node.attributes.getInts("perm"))
    permutation = *attribute;
  return node.setOutput(node.create<graph::TransposeOp>(*x, permutation));
}

LogicalResult lowerConcat(NodeLowering &node) {
  llvm::SmallVector<Value> inputs;
  for (size_t i = 0; i < node.numInputs(); ++i) {
    FailureOr<Value> input = node.input(i);
    if (failed(input))
      return failure();
    if (typeOf(*input).getElementType() !=
        typeOf(inputs.empty() ? *input : inputs[0]).getElementType())
      return node.fail("inputs have different element types");
    inputs.push_back(*input);
  }
  if (inputs.empty())
    return node.fail("has no inputs");
  absl::StatusOr<int64_t> axis = normalizeAxis(
      node.attributes.getInt("axis", 0), typeOf(inputs[0]).getRank());
  if (!axis.ok())
    return node.fail(axis.status());
  return node.setOutput(
      node.create<graph::ConcatenateOp>(mlir::ValueRange(inputs), *axis));
}

/// A slice of `x` along each dimension by `ranges` (negative steps reverse).
FailureOr<Value> sliceByRanges(NodeLowering &node, Value x,
                               llvm::ArrayRef<SliceRange> ranges) {
  mlir::RankedTensorType type = typeOf(x);
  llvm::SmallVector<int64_t> reversed, starts, limits, steps;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    SliceRange range = ranges[d];
    if (range.step < 0 && range.size > 1) {
      reversed.push_back(d);
      range.start = type.getDimSize(d) - 1 - range.start;
      range.step = -range.step;
    }
    int64_t step = std::max<int64_t>(range.step, 1);
    starts.push_back(range.size == 0 ? 0 : range.start);
    limits.push_back(
        range.size == 0 ? 0 : range.start + (range.size - 1) * step + 1);
    steps.push_back(step);
  }
  if (!reversed.empty())
    x = graph::ReverseOp::create(node.builder, node.loc, x, reversed);
  return node.create<graph::SliceOp>(x, starts, limits, steps);
}

LogicalResult lowerSlice(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  std::vector<int64_t> starts, ends, axes, steps;
  if (node.opset < 10) {
    starts = node.attributes.getInts("starts").value_or(starts);
    ends = node.attributes.getInts("ends").value_or(ends);
    axes = node.attributes.getInts("axes").value_or(axes);
  } else {
    FailureOr<std::vector<int64_t>> s = node.staticInts(1, "starts");
    FailureOr<std::vector<int64_t>> e = node.staticInts(2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    for (auto [index, target, role] :
         {std::tuple{3, &axes, "axes"}, std::tuple{4, &steps, "steps"}}) {
      if (!node.hasInput(index))
        continue;
      FailureOr<std::vector<int64_t>> values = node.staticInts(index, role);
      if (failed(values))
        return failure();
      *target = *values;
    }
  }
  absl::StatusOr<std::vector<SliceRange>> ranges =
      sliceRanges(typeOf(*x).getShape(), starts, ends, axes, steps);
  if (!ranges.ok())
    return node.fail(ranges.status());
  return node.setOutput(sliceByRanges(node, *x, *ranges));
}

LogicalResult lowerSplit(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", 0), type.getRank());
  if (!axis.ok())
    return node.fail(axis.status());
  int64_t size = type.getDimSize(*axis);
  int64_t parts = node.numOutputs();
  std::vector<int64_t> sizes;
  if (node.opset >= 13 && node.hasInput(1)) {
    FailureOr<std::vector<int64_t>> split = node.staticInts(1, "split");
    if (failed(split))
      return failure();
    sizes = *split;
  } else if (auto split = node.attributes.getInts("split")) {
    sizes = *split;
  } else {
    if (size % parts != 0)
      return node.fail("cannot split dimension " + std::to_string(*axis) +
                       " of size " + std::to_string(size) + " into " +
                       std::to_string(parts) + " equal parts");
    sizes.assign(parts, size / parts);
  }
  if (static_cast<int64_t>(sizes.size()) != parts ||
      std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != size)
    return node.fail("split sizes do not add up to dimension " +
                     std::to_string(*axis) + " of size " +
                     std::to_string(size) + " over " + std::to_string(parts) +
                     " outputs");
  int64_t offset = 0;
  for (int64_t i = 0; i < parts; ++i) {
    std::vector<SliceRange> ranges;
    for (int64_t d = 0; d < type.getRank(); ++d)
      ranges.push_back(d == *axis ? SliceRange{offset, sizes[i], 1}
                                  : SliceRange{0, type.getDimSize(d), 1});
    offset += sizes[i];
    FailureOr<Value> part = sliceByRanges(node, *x, ranges);
    if (failed(part))
      return failure();
    node.setOutput(i, *part);
  }
  return success();
}

LogicalResult lowerGather(NodeLowering &node) {
  FailureOr<Value> data = node.input(0);
  if (failed(data))
    return failure();
  int64_t rank = typeOf(*data).getRank();
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", 0), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  Value indices;
  if (const StaticTensor *known = node.tryStaticInput(1)) {
    // Known indices are checked and made non-negative now.
    int64_t size = typeOf(*data).getDimSize(*axis);
    StaticTensor normalized = *known;
    for (int64_t &index : normalized.ints) {
      if (index < -size || index >= size) {
        std::string message = absl::StrCat(
            "index ", index, " is out of range for axis ", *axis, " of '",
            node.node.input(0), "', which has ", size, " entries there");
        // Indices computed from the pinned shapes (positions 0..n-1 of a
        // sequence, say): the pin asks more than the model holds.
        if (!node.inputIsStored(1) && !node.pinnedShapes().empty())
          absl::StrAppend(&message,
                          "; the indices were computed from the input shapes "
                          "(--input-shape ",
                          node.pinnedShapes(),
                          "): is a pinned dimension larger than the model "
                          "supports (a sequence longer than its ",
                          size, " positions)?");
        return node.fail(message);
      }
      if (index < 0)
        index += size;
    }
    indices = node.constant(normalized, node.builder.getI64Type());
  } else {
    FailureOr<Value> dynamic = node.input(1);
    if (failed(dynamic))
      return failure();
    indices = *dynamic;
  }
  if (!mlir::isa<mlir::IntegerType>(typeOf(indices).getElementType()) ||
      typeOf(indices).getElementType().isInteger(1))
    return node.fail("indices must be int32 or int64");
  return node.setOutput(node.create<graph::GatherOp>(*data, indices, *axis));
}

LogicalResult lowerExpand(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  FailureOr<std::vector<int64_t>> shape = node.staticInts(1, "shape");
  if (failed(x) || failed(shape))
    return failure();
  absl::StatusOr<Shape> target = broadcastShapes(typeOf(*x).getShape(), *shape);
  if (!target.ok())
    return node.fail(target.status());
  return node.setOutput(node.broadcastTo(*x, *target));
}

LogicalResult lowerTile(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  FailureOr<std::vector<int64_t>> repeats = node.staticInts(1, "repeats");
  if (failed(x) || failed(repeats))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (static_cast<int64_t>(repeats->size()) != type.getRank())
    return node.fail("repeats has " + std::to_string(repeats->size()) +
                     " entries for a rank-" + std::to_string(type.getRank()) +
                     " input");
  // [d0, d1] tiled by [r0, r1] is [r0, d0, r1, d1] reshaped to [r0*d0, r1*d1].
  llvm::SmallVector<int64_t> expanded, dims, tiled;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if ((*repeats)[d] < 0)
      return node.fail("repeats must not be negative");
    expanded.push_back((*repeats)[d]);
    expanded.push_back(type.getDimSize(d));
    dims.push_back(2 * d + 1);
    tiled.push_back((*repeats)[d] * type.getDimSize(d));
  }
  Value broadcast = graph::BroadcastInDimOp::create(
      node.builder, node.loc, type.clone(expanded), *x, dims);
  node.setOutput(0, node.reshape(broadcast, tiled));
  return success();
}

/// Edge and reflect padding, dimension by dimension: the borders are slices
/// of the input (broadcast for edge, reversed for reflect) concatenated on.
FailureOr<Value> padFromInput(NodeLowering &node, Value x, bool reflect,
                              llvm::ArrayRef<int64_t> low,
                              llvm::ArrayRef<int64_t> high) {
  int64_t rank = typeOf(x).getRank();
  for (int64_t d = 0; d < rank; ++d) {
    if (low[d] == 0 && high[d] == 0)
      continue;
    mlir::RankedTensorType type = typeOf(x);
    int64_t size = type.getDimSize(d);
    if (low[d] < 0 || high[d] < 0)
      return node.fail("edge and reflect padding must not be negative");
    if (size == 0 || (reflect && (low[d] >= size || high[d] >= size)))
      return node.fail("cannot " + std::string(reflect ? "reflect" : "extend") +
                       " dimension " + std::to_string(d) + " of size " +
                       std::to_string(size) + " by " + std::to_string(low[d]) +
                       "/" + std::to_string(high[d]));
    auto border = [&](int64_t start, int64_t count) -> FailureOr<Value> {
      std::vector<SliceRange> ranges;
      for (int64_t e = 0; e < rank; ++e)
        ranges.push_back(e == d ? SliceRange{start, reflect ? count : 1, 1}
                                : SliceRange{0, type.getDimSize(e), 1});
      FailureOr<Value> part = sliceByRanges(node, x, ranges);
      if (failed(part))
        return failure();
      if (reflect)
        return graph::ReverseOp::create(node.builder, node.loc, *part,
                                        llvm::ArrayRef<int64_t>{d})
            .getResult();
      llvm::SmallVector<int64_t> shape(type.getShape());
      shape[d] = count;
      llvm::SmallVector<int64_t> dims =
          llvm::to_vector(llvm::seq<int64_t>(0, rank));
      return graph::BroadcastInDimOp::create(node.builder, node.loc,
                                             type.clone(shape), *part, dims)
          .getResult();
    };
    llvm::SmallVector<Value> parts;
    if (low[d] > 0) {
      FailureOr<Value> before = border(reflect ? 1 : 0, low[d]);
      if (failed(before))
        return failure();
      parts.push_back(*before);
    }
    parts.push_back(x);
    if (high[d] > 0) {
      FailureOr<Value> after =
          border(reflect ? size - 1 - high[d] : size - 1, high[d]);
      if (failed(after))
        return failure();
      parts.push_back(*after);
    }
    FailureOr<Value> joined =
        node.create<graph::ConcatenateOp>(mlir::ValueRange(parts), d);
    if (failed(joined))
      return failure();
    x = *joined;
  }
  return x;
}

LogicalResult lowerPad(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  std::string mode = node.attributes.getString("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    return node.fail("pad mode '" + mode +
                     "' is not supported (constant, edge, reflect)");
  int64_t rank = typeOf(*x).getRank();
  std::vector<int64_t> pads;
  double value = 0;
  if (node.opset < 11) {
    pads = node.attributes.getInts("pads").value_or(pads);
    value = node.attributes.getFloat("value", 0);
  } else {
    FailureOr<std::vector<int64_t>> known = node.staticInts(1, "pads");
    if (failed(known))
      return failure();
    pads = *known;
    if (node.hasInput(2)) {
      FailureOr<StaticTensor> constant = node.staticInput(2, "constant_value");
      if (failed(constant))
        return failure();
      if (constant->numElements() != 1)
        return node.fail("constant_value must be a scalar");
      value = constant->getDouble(0);
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    return node.fail("pads has " + std::to_string(pads.size()) +
                     " entries, expected " + std::to_string(2 * rank));
  std::vector<int64_t> low(pads.begin(), pads.begin() + rank);
  std::vector<int64_t> high(pads.begin() + rank, pads.end());
  if (mode != "constant") {
    FailureOr<Value> padded =
        padFromInput(node, *x, mode == "reflect", low, high);
    if (failed(padded))
      return failure();
    node.setOutput(0, *padded);
    return success();
  }
  return node.setOutput(node.create<graph::PadOp>(
      *x, low, high, std::vector<int64_t>(rank, 0), llvm::APFloat(value)));
}

LogicalResult lowerTrilu(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getRank() < 2)
    return node.fail("needs a tensor of rank 2 or more");
  int64_t k = 0;
  if (node.hasInput(1)) {
    FailureOr<std::vector<int64_t>> known = node.staticInts(1, "k");
    if (failed(known))
      return failure();
    k = known->empty() ? 0 : (*known)[0];
  }
  bool upper = node.attributes.getInt("upper", 1) != 0;
  int64_t rank = type.getRank();
  int64_t rows = type.getDimSize(rank - 2), columns = type.getDimSize(rank - 1);
  // Keep element (i, j) when j - i >= k (upper) or j - i <= k (lower).
  StaticTensor mask;
  mask.dataType = onnx::TensorProto::BOOL;
  mask.shape = {rows, columns};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < columns; ++j)
      mask.ints.push_back(upper ? j - i >= k : j - i <= k);
  FailureOr<Value> keep = node.broadcastTo(
      node.constant(mask, node.builder.getI1Type()), type.getShape());
  if (failed(keep))
    return failure();
  Value zero = node.splat(0, type.getElementType(), type.getShape());
  node.setOutput(
      0, graph::SelectOp::create(node.builder, node.loc, *keep, *x, zero));
  return success();
}

LogicalResult lowerConstantOfShape(NodeLowering &node) {
  FailureOr<std::vector<int64_t>> shape = node.staticInts(0, "shape");
  if (failed(shape))
    return failure();
  StaticTensor fill = StaticTensor::ofFloats(onnx::TensorProto::FLOAT, {}, {0});
  if (const onnx::TensorProto *value = node.attributes.getTensor("value")) {
    absl::StatusOr<StaticTensor> decoded = decodeTensor(*value, ".");
    if (!decoded.ok())
      return node.fail(decoded.status());
    fill = *decoded;
  }
  FailureOr<mlir::Type> type =
      node.elementType(fill.dataType, node.node.output(0));
  if (failed(type))
    return failure();
  node.setOutput(0, node.splat(fill.getDouble(0), *type, *shape));
  return success();
}

/// Shape computations that could not be folded: their inputs depend on the
/// model's inputs, which Tessel does not support for these ops.
LogicalResult lowerImportTimeOnly(NodeLowering &node) {
  for (size_t i = 0; i < node.numInputs(); ++i)
    if (node.hasInput(i) && !node.tryStaticInput(i))
      return node.fail("input '" + node.node.input(i) +
                       "' must be known at import time, but it is computed "
                       "from the model's inputs");
  return node.fail("the result is larger than " +
                   std::to_string(kMaxFoldedElements) +
                   " elements, which Tessel does not compute at import time");
}

/// DepthToSpace and SpaceToDepth on [N, C, H, W]: a reshape that exposes
/// the blocks, a transpose that moves them, a reshape that merges them.
LogicalResult lowerDepthSpace(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getRank() != 4)
    return node.fail("the input must be [N, C, H, W]");
  int64_t b = node.attributes.getInt("blocksize", 0);
  if (b < 1)
    return node.fail("blocksize must be positive");
  int64_t n = type.getDimSize(0), c = type.getDimSize(1),
          h = type.getDimSize(2), w = type.getDimSize(3);
  Shape exposed, merged;
  llvm::SmallVector<int64_t> order;
  if (node.node.op_type() == "DepthToSpace") {
    if (c % (b * b) != 0)
      return node.fail("the channels (" + std::to_string(c) +
                       ") must be a multiple of blocksize^2");
    if (node.attributes.getString("mode", "DCR") == "CRD") {
      exposed = {n, c / (b * b), b, b, h, w};
      order = {0, 1, 4, 2, 5, 3};
    } else {
      exposed = {n, b, b, c / (b * b), h, w};
      order = {0, 3, 4, 1, 5, 2};
    }
    merged = {n, c / (b * b), h * b, w * b};
  } else {
    if (h % b != 0 || w % b != 0)
      return node.fail("the height and width must be multiples of blocksize");
    exposed = {n, c, h / b, b, w / b, b};
    order = {0, 3, 5, 1, 2, 4};
    merged = {n, c * b * b, h / b, w / b};
  }
  FailureOr<Value> moved =
      node.create<graph::TransposeOp>(node.reshape(*x, exposed), order);
  if (failed(moved))
    return failure();
  node.setOutput(0, node.reshape(*moved, merged));
  return success();
}

} // namespace

void registerTensorLowerings(LoweringTable &table) {
  table["DepthToSpace"] = lowerDepthSpace;
  table["SpaceToDepth"] = lowerDepthSpace;
  table["Reshape"] = lowerReshape;
  table["Flatten"] = lowerFlatten;
  table["Squeeze"] = lowerSqueeze;
  table["Unsqueeze"] = lowerUnsqueeze;
  table["Transpose"] = lowerTranspose;
  table["Concat"] = lowerConcat;
  table["Split"] = lowerSplit;
  table["Slice"] = lowerSlice;
  table["Gather"] = lowerGather;
  table["Expand"] = lowerExpand;
  table["Tile"] = lowerTile;
  table["Pad"] = lowerPad;
  table["Trilu"] = lowerTrilu;
  table["ConstantOfShape"] = lowerConstantOfShape;
  table["Range"] = lowerImportTimeOnly;
  table["HannWindow"] = lowerImportTimeOnly;
  table["HammingWindow"] = lowerImportTimeOnly;
  table["BlackmanWindow"] = lowerImportTimeOnly;
  table["MelWeightMatrix"] = lowerImportTimeOnly;
}

} // namespace tessel::onnx_import
