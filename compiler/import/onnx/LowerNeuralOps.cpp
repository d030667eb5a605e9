//===- LowerNeuralOps.cpp - ONNX contractions, windows, normalisations ----===//
//
// MatMul and Gemm (as dot_general, without transposing or broadcasting
// weights), Conv and ConvTranspose (as convolution), pools, reductions,
// Softmax, the normalisations, and Resize/Upsample.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <numeric>

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

std::vector<int64_t> iotaVector(int64_t from, int64_t to) {
  std::vector<int64_t> values;
  for (int64_t i = from; i < to; ++i)
    values.push_back(i);
  return values;
}

/// `value` broadcast into `shape`, its dimension i landing on `dims[i]`.
Value broadcastAlong(NodeLowering &node, Value value,
                     llvm::ArrayRef<int64_t> shape,
                     llvm::ArrayRef<int64_t> dims) {
  mlir::RankedTensorType type = typeOf(value);
  if (type.getShape() == shape)
    return value;
  return graph::BroadcastInDimOp::create(node.builder, node.loc,
                                         type.clone(shape), value, dims);
}

LogicalResult sameElementType(NodeLowering &node, Value a, Value b) {
  if (typeOf(a).getElementType() == typeOf(b).getElementType())
    return success();
  return node.fail("inputs have different element types (" +
                   dataTypeName(node.inputDataType(0)) + " and " +
                   dataTypeName(node.inputDataType(1)) + ")");
}

FailureOr<Value> dot(NodeLowering &node, Value lhs, Value rhs,
                     llvm::ArrayRef<int64_t> lhsBatch,
                     llvm::ArrayRef<int64_t> rhsBatch,
                     llvm::ArrayRef<int64_t> lhsContract,
                     llvm::ArrayRef<int64_t> rhsContract) {
  return node.create<graph::DotGeneralOp>(lhs, rhs, lhsBatch, rhsBatch,
                                          lhsContract, rhsContract);
}

LogicalResult lowerMatMul(NodeLowering &node) {
  FailureOr<Value> a = node.input(0), b = node.input(1);
  if (failed(a) || failed(b) || failed(sameElementType(node, *a, *b)))
    return failure();
  return node.setOutput(matmul(node, *a, *b));
}

} // namespace

/// numpy matmul. A rank-2 right operand (a weight) is contracted directly,
/// never broadcast over the batch, so that it can be sharded as it is.
FailureOr<Value> matmul(NodeLowering &node, Value lhs, Value rhs) {
  bool vectorLhs = typeOf(lhs).getRank() == 1;
  bool vectorRhs = typeOf(rhs).getRank() == 1;
  if (typeOf(lhs).getRank() == 0 || typeOf(rhs).getRank() == 0)
    return node.fail("inputs must have rank 1 or more");
  if (vectorLhs)
    lhs = node.reshape(lhs, {1, typeOf(lhs).getDimSize(0)});
  if (vectorRhs)
    rhs = node.reshape(rhs, {typeOf(rhs).getDimSize(0), 1});
  int64_t lhsRank = typeOf(lhs).getRank(), rhsRank = typeOf(rhs).getRank();
  FailureOr<Value> product;
  if (rhsRank == 2) {
    product = dot(node, lhs, rhs, {}, {}, {lhsRank - 1}, {0});
  } else {
    Shape lhsShape(typeOf(lhs).getShape()), rhsShape(typeOf(rhs).getShape());
    absl::StatusOr<Shape> batch =
        broadcastShapes(llvm::ArrayRef(lhsShape).drop_back(2),
                        llvm::ArrayRef(rhsShape).drop_back(2));
    if (!batch.ok())
      return node.fail(batch.status());
    auto withBatch = [&](Value value) -> FailureOr<Value> {
      Shape shape = *batch;
      llvm::append_range(shape, typeOf(value).getShape().take_back(2));
      return node.broadcastTo(value, shape);
    };
    FailureOr<Value> l = withBatch(lhs), r = withBatch(rhs);
    if (failed(l) || failed(r))
      return failure();
    int64_t batchRank = batch->size();
    std::vector<int64_t> batchDims = iotaVector(0, batchRank);
    product =
        dot(node, *l, *r, batchDims, batchDims, {batchRank + 1}, {batchRank});
  }
  if (failed(product))
    return failure();
  Value result = *product;
  if (vectorLhs || vectorRhs) {
    Shape shape(typeOf(result).getShape());
    if (vectorRhs)
      shape.pop_back();
    if (vectorLhs)
      shape.erase(shape.end() - (vectorRhs ? 1 : 2));
    result = node.reshape(result, shape);
  }
  return result;
}

namespace {

LogicalResult lowerGemm(NodeLowering &node) {
  FailureOr<Value> a = node.input(0), b = node.input(1);
  if (failed(a) || failed(b) || failed(sameElementType(node, *a, *b)))
    return failure();
  if (typeOf(*a).getRank() != 2 || typeOf(*b).getRank() != 2)
    return node.fail("A and B must be matrices");
  int64_t transA = node.attributes.getInt("transA", 0);
  int64_t transB = node.attributes.getInt("transB", 0);
  FailureOr<Value> product =
      dot(node, *a, *b, {}, {}, {transA ? 0 : 1}, {transB ? 1 : 0});
  if (failed(product))
    return failure();
  mlir::RankedTensorType type = typeOf(*product);
  Value result = *product;
  double alpha = node.attributes.getFloat("alpha", 1.0f);
  if (alpha != 1.0)
    result = graph::MulOp::create(
        node.builder, node.loc, result,
        node.splat(alpha, type.getElementType(), type.getShape()));
  if (node.hasInput(2)) {
    FailureOr<Value> c = node.input(2);
    if (failed(c))
      return failure();
    FailureOr<Value> bias = node.broadcastTo(*c, type.getShape());
    if (failed(bias))
      return failure();
    double beta = node.attributes.getFloat("beta", 1.0f);
    Value scaled = *bias;
    if (beta != 1.0)
      scaled = graph::MulOp::create(
          node.builder, node.loc, scaled,
          node.splat(beta, type.getElementType(), type.getShape()));
    result = graph::AddOp::create(node.builder, node.loc, result, scaled);
  }
  node.setOutput(0, result);
  return success();
}

/// Per-spatial-dimension window attributes of Conv, ConvTranspose and pools.
struct Window {
  std::vector<int64_t> kernel, strides, dilations, padLow, padHigh;
};

/// Reads strides, dilations and pads (or auto_pad) for `spatial` input
/// sizes and `kernel` sizes.
FailureOr<Window> readWindow(NodeLowering &node,
                             llvm::ArrayRef<int64_t> spatial,
                             std::vector<int64_t> kernel) {
  size_t rank = spatial.size();
  Window window;
  window.kernel = std::move(kernel);
  window.strides = node.attributes.getInts("strides").value_or(
      std::vector<int64_t>(rank, 1));
  window.dilations = node.attributes.getInts("dilations")
                         .value_or(std::vector<int64_t>(rank, 1));
  std::vector<int64_t> pads = node.attributes.getInts("pads").value_or(
      std::vector<int64_t>(2 * rank, 0));
  if (window.kernel.size() != rank || window.strides.size() != rank ||
      window.dilations.size() != rank || pads.size() != 2 * rank)
    return node.fail("kernel_shape, strides, dilations and pads must have "
                     "one entry per spatial dimension (" +
                     std::to_string(rank) + ", pads twice that)");
  window.padLow.assign(pads.begin(), pads.begin() + rank);
  window.padHigh.assign(pads.begin() + rank, pads.end());
  std::string autoPad = node.attributes.getString("auto_pad", "NOTSET");
  if (autoPad == "VALID") {
    window.padLow.assign(rank, 0);
    window.padHigh.assign(rank, 0);
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (size_t d = 0; d < rank; ++d) {
      int64_t stride = window.strides[d];
      int64_t out = (spatial[d] + stride - 1) / stride;
      int64_t extent = (window.kernel[d] - 1) * window.dilations[d] + 1;
      int64_t total =
          std::max<int64_t>((out - 1) * stride + extent - spatial[d], 0);
      int64_t small = total / 2, large = total - small;
      window.padLow[d] = autoPad == "SAME_UPPER" ? small : large;
      window.padHigh[d] = autoPad == "SAME_UPPER" ? large : small;
    }
  } else if (autoPad != "NOTSET") {
    return node.fail("auto_pad '" + autoPad + "' is not valid");
  }
  return window;
}

/// Adds Conv's bias [M] along the channel dimension.
FailureOr<Value> addChannelBias(NodeLowering &node, Value value, size_t input) {
  if (!node.hasInput(input))
    return value;
  FailureOr<Value> bias = node.input(input);
  if (failed(bias))
    return failure();
  mlir::RankedTensorType type = typeOf(value);
  if (typeOf(*bias).getRank() != 1 ||
      typeOf(*bias).getDimSize(0) != type.getDimSize(1))
    return node.fail("bias must be a vector of " +
                     std::to_string(type.getDimSize(1)) + " channels");
  Value broadcast = broadcastAlong(node, *bias, type.getShape(), {1});
  return graph::AddOp::create(node.builder, node.loc, value, broadcast)
      .getResult();
}

LogicalResult lowerConv(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), w = node.input(1);
  if (failed(x) || failed(w) || failed(sameElementType(node, *x, *w)))
    return failure();
  FailureOr<Value> conv = convolve(node, *x, *w);
  if (failed(conv))
    return failure();
  return node.setOutput(addChannelBias(node, *conv, 2));
}

} // namespace

/// ONNX's Conv of x by w, without the bias, its window from the node's
/// attributes.
FailureOr<Value> convolve(NodeLowering &node, Value x, Value w) {
  mlir::RankedTensorType input = typeOf(x), kernel = typeOf(w);
  if (input.getRank() < 3 || kernel.getRank() != input.getRank())
    return node.fail("X must be [N, C, spatial...] and W [M, C/group, "
                     "kernel...] of the same rank");
  std::vector<int64_t> kernelShape(kernel.getShape().begin() + 2,
                                   kernel.getShape().end());
  if (auto declared = node.attributes.getInts("kernel_shape");
      declared && *declared != kernelShape)
    return node.fail("kernel_shape disagrees with the shape of W");
  FailureOr<Window> window =
      readWindow(node, input.getShape().drop_front(2), kernelShape);
  if (failed(window))
    return failure();
  size_t spatial = kernelShape.size();
  return node.create<graph::ConvolutionOp>(
      x, w, window->strides, window->padLow, window->padHigh,
      std::vector<int64_t>(spatial, 1), window->dilations,
      node.attributes.getInt("group", 1));
}

namespace {

/// ConvTranspose as a convolution of the input dilated by the stride with
/// the kernel flipped and its channel dimensions swapped within each group.
LogicalResult lowerConvTranspose(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), w = node.input(1);
  if (failed(x) || failed(w) || failed(sameElementType(node, *x, *w)))
    return failure();
  mlir::RankedTensorType input = typeOf(*x), kernel = typeOf(*w);
  int64_t rank = input.getRank();
  if (rank < 3 || kernel.getRank() != rank)
    return node.fail("X must be [N, C, spatial...] and W [C, M/group, "
                     "kernel...] of the same rank");
  size_t spatial = rank - 2;
  int64_t groups = node.attributes.getInt("group", 1);
  int64_t channels = input.getDimSize(1);
  if (groups < 1 || kernel.getDimSize(0) != channels || channels % groups)
    return node.fail("W must have the input's " + std::to_string(channels) +
                     " channels first, divisible by group " +
                     std::to_string(groups));
  std::vector<int64_t> kernelShape(kernel.getShape().begin() + 2,
                                   kernel.getShape().end());
  std::vector<int64_t> strides = node.attributes.getInts("strides").value_or(
      std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> dilations =
      node.attributes.getInts("dilations")
          .value_or(std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> outputPadding =
      node.attributes.getInts("output_padding")
          .value_or(std::vector<int64_t>(spatial, 0));
  std::vector<int64_t> pads = node.attributes.getInts("pads").value_or(
      std::vector<int64_t>(2 * spatial, 0));
  if (strides.size() != spatial || dilations.size() != spatial ||
      outputPadding.size() != spatial || pads.size() != 2 * spatial)
    return node.fail("strides, dilations, output_padding and pads must have "
                     "one entry per spatial dimension");
  std::string autoPad = node.attributes.getString("auto_pad", "NOTSET");
  std::optional<std::vector<int64_t>> outputShape =
      node.attributes.getInts("output_shape");
  if (outputShape && outputShape->size() == spatial + 2)
    outputShape->erase(outputShape->begin(), outputShape->begin() + 2);
  for (size_t d = 0; d < spatial; ++d) {
    int64_t in = input.getDimSize(d + 2);
    int64_t extent = (kernelShape[d] - 1) * dilations[d] + 1;
    int64_t full = strides[d] * (in - 1) + outputPadding[d] + extent;
    std::optional<int64_t> out;
    if (outputShape) {
      if (outputShape->size() != spatial)
        return node.fail("output_shape must give the spatial dimensions");
      out = (*outputShape)[d];
    } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      out = in * strides[d];
    } else if (autoPad == "VALID") {
      out = full;
    }
    if (out) {
      // Floor division, as ONNX's reference: a negative total (an output
      // larger than the full transposed convolution) extends the end.
      int64_t total = full - *out;
      int64_t small = total >= 0 ? total / 2 : -((-total + 1) / 2);
      int64_t large = total - small;
      pads[d] = autoPad == "SAME_UPPER" ? small : large;
      pads[d + spatial] = autoPad == "SAME_UPPER" ? large : small;
    }
  }
  // W [C, M/g, k...] -> [g, C/g, M/g, k...] -> [g, M/g, C/g, k...]
  //   -> [M, C/g, k...], then flipped along the kernel's dimensions.
  int64_t perGroupOut = kernel.getDimSize(1);
  Shape grouped = {groups, channels / groups, perGroupOut};
  grouped.insert(grouped.end(), kernelShape.begin(), kernelShape.end());
  std::vector<int64_t> permutation = {0, 2, 1};
  for (size_t d = 0; d < spatial; ++d)
    permutation.push_back(3 + d);
  FailureOr<Value> swapped =
      node.create<graph::TransposeOp>(node.reshape(*w, grouped), permutation);
  if (failed(swapped))
    return failure();
  Shape flat = {groups * perGroupOut, channels / groups};
  flat.insert(flat.end(), kernelShape.begin(), kernelShape.end());
  Value flipped = graph::ReverseOp::create(node.builder, node.loc,
                                           node.reshape(*swapped, flat),
                                           iotaVector(2, rank));
  std::vector<int64_t> low, high;
  for (size_t d = 0; d < spatial; ++d) {
    int64_t reach = dilations[d] * (kernelShape[d] - 1);
    low.push_back(reach - pads[d]);
    high.push_back(reach - pads[d + spatial] + outputPadding[d]);
  }
  FailureOr<Value> conv = node.create<graph::ConvolutionOp>(
      *x, flipped, std::vector<int64_t>(spatial, 1), low, high, strides,
      dilations, groups);
  if (failed(conv))
    return failure();
  return node.setOutput(addChannelBias(node, *conv, 2));
}

/// MaxPool with its Indices output, or of integers (the pool kernels
/// compute in float): one strided slice of the padded input per kernel
/// offset, the running maximum taking a later offset only where it is
/// larger (the first maximum in the window's row-major order wins, as in
/// ONNX's reference; a NaN wins over numbers). Indices are flat positions
/// in X (storage_order 0: row-major; 1: the spatial dimensions column-
/// major), sliced alongside.
LogicalResult lowerComposedMaxPool(NodeLowering &node, Value x,
                                   const Window &window) {
  if (node.attributes.getInt("ceil_mode", 0) != 0)
    return node.fail("ceil_mode is not supported with the Indices output or "
                     "integer inputs");
  mlir::RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  size_t spatial = rank - 2;
  bool columnMajor = node.attributes.getInt("storage_order", 0) != 0;
  // Flat index of every element of X.
  auto indexType = type.clone(node.builder.getI64Type());
  Value index;
  int64_t stride = 1;
  std::vector<int64_t> order = iotaVector(0, rank);
  if (columnMajor)
    std::reverse(order.begin() + 2, order.end());
  for (int64_t i = rank - 1; i >= 0; --i) {
    int64_t d = order[i];
    Value along = graph::IotaOp::create(node.builder, node.loc, indexType, d);
    Value term = node.mul(along, node.splatLike(stride, along));
    index = index ? node.add(index, term) : term;
    stride *= type.getDimSize(d);
  }
  std::vector<int64_t> low(2, 0), high(2, 0), interior(rank, 0);
  for (size_t d = 0; d < spatial; ++d) {
    low.push_back(window.padLow[d]);
    high.push_back(window.padHigh[d]);
  }
  FailureOr<Value> padded = node.create<graph::PadOp>(x, low, high, interior,
                                                      llvm::APFloat(-INFINITY));
  FailureOr<Value> paddedIndex = node.create<graph::PadOp>(
      index, low, high, interior, llvm::APFloat(-1.0));
  if (failed(padded) || failed(paddedIndex))
    return failure();
  std::vector<int64_t> outSizes;
  for (size_t d = 0; d < spatial; ++d) {
    int64_t extent = (window.kernel[d] - 1) * window.dilations[d] + 1;
    int64_t span = typeOf(*padded).getDimSize(d + 2) - extent;
    if (span < 0)
      return node.fail("the window is larger than the padded input");
    outSizes.push_back(span / window.strides[d] + 1);
  }
  bool isFloat = mlir::isa<mlir::FloatType>(type.getElementType());
  Value best, bestIndex;
  std::vector<int64_t> offset(spatial, 0);
  for (bool more = true; more;) {
    std::vector<int64_t> start(2, 0),
        limit = {type.getDimSize(0), type.getDimSize(1)}, steps(2, 1);
    for (size_t d = 0; d < spatial; ++d) {
      start.push_back(offset[d] * window.dilations[d]);
      limit.push_back(start.back() + (outSizes[d] - 1) * window.strides[d] + 1);
      steps.push_back(window.strides[d]);
    }
    FailureOr<Value> candidate =
        node.create<graph::SliceOp>(*padded, start, limit, steps);
    FailureOr<Value> candidateIndex =
        node.create<graph::SliceOp>(*paddedIndex, start, limit, steps);
    if (failed(candidate) || failed(candidateIndex))
      return failure();
    if (!best) {
      best = *candidate;
      bestIndex = *candidateIndex;
    } else {
      Value take = graph::CompareOp::create(node.builder, node.loc,
                                            graph::ComparisonDirection::GT,
                                            *candidate, best);
      if (isFloat) {
        auto isNan = [&](Value v) -> Value {
          return graph::CompareOp::create(node.builder, node.loc,
                                          graph::ComparisonDirection::NE, v, v);
        };
        FailureOr<Value> bestIsNumber = node.create<graph::NotOp>(isNan(best));
        if (failed(bestIsNumber))
          return failure();
        FailureOr<Value> nanWins =
            node.create<graph::AndOp>(isNan(*candidate), *bestIsNumber);
        FailureOr<Value> either =
            failed(nanWins) ? nanWins
                            : node.create<graph::OrOp>(take, *nanWins);
        if (failed(either))
          return failure();
        take = *either;
      }
      best = graph::SelectOp::create(node.builder, node.loc, take, *candidate,
                                     best);
      bestIndex = graph::SelectOp::create(node.builder, node.loc, take,
                                          *candidateIndex, bestIndex);
    }
    more = false;
    for (int64_t d = static_cast<int64_t>(spatial) - 1; d >= 0; --d) {
      if (++offset[d] < window.kernel[d]) {
        more = true;
        break;
      }
      offset[d] = 0;
    }
  }
  node.setOutput(0, best);
  if (node.outputUsed(1))
    node.setOutput(1, bestIndex);
  return success();
}

template <typename PoolOp> LogicalResult lowerPool(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  constexpr bool isMax = std::is_same_v<PoolOp, graph::MaxPoolOp>;
  if (!isMax && node.outputUsed(1))
    return node.fail("the Indices output is not supported");
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getRank() < 3)
    return node.fail("X must be [N, C, spatial...]");
  bool isFloat = mlir::isa<mlir::FloatType>(type.getElementType());
  if (!isFloat && (!isMax || type.getElementType().isInteger(1)))
    return node.fail("pooling of integers is not supported (X is " +
                     dataTypeName(node.inputDataType(0)) + ")");
  std::optional<std::vector<int64_t>> kernel =
      node.attributes.getInts("kernel_shape");
  if (!kernel)
    return node.fail("kernel_shape is required");
  FailureOr<Window> window =
      readWindow(node, type.getShape().drop_front(2), *kernel);
  if (failed(window))
    return failure();
  if (isMax && (!isFloat || node.outputUsed(1)))
    return lowerComposedMaxPool(node, *x, *window);
  bool ceilMode = node.attributes.getInt("ceil_mode", 0) != 0;
  FailureOr<Value> result;
  if constexpr (std::is_same_v<PoolOp, graph::AvgPoolOp>)
    result = node.create<graph::AvgPoolOp>(
        *x, window->kernel, window->strides, window->dilations, window->padLow,
        window->padHigh, ceilMode,
        node.attributes.getInt("count_include_pad", 0) != 0);
  else
    result = node.create<graph::MaxPoolOp>(*x, window->kernel, window->strides,
                                           window->dilations, window->padLow,
                                           window->padHigh, ceilMode);
  if (failed(result))
    return failure();
  node.setOutput(0, *result);
  return success();
}

/// graph.reduce, then the reduced dimensions back as 1s if `keepDims`.
FailureOr<Value> reduce(NodeLowering &node, graph::ReduceKind kind, Value x,
                        llvm::ArrayRef<int64_t> dims, bool keepDims) {
  FailureOr<Value> reduced = node.create<graph::ReduceOp>(kind, x, dims);
  if (failed(reduced) || !keepDims)
    return reduced;
  Shape shape(typeOf(x).getShape());
  for (int64_t d : dims)
    shape[d] = 1;
  return node.reshape(*reduced, shape);
}

template <graph::ReduceKind kind>
LogicalResult lowerGlobalPool(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  int64_t rank = typeOf(*x).getRank();
  if (rank < 3)
    return node.fail("X must be [N, C, spatial...]");
  return node.setOutput(
      reduce(node, kind, *x, iotaVector(2, rank), /*keepDims=*/true));
}

LogicalResult lowerReduce(NodeLowering &node) {
  FailureOr<Value> input = node.input(0);
  if (failed(input))
    return failure();
  Value x = *input;
  mlir::RankedTensorType type = typeOf(x);
  if (type.getElementType().isInteger(1))
    return node.fail("does not take bool inputs");
  const std::string &op = node.node.op_type();
  std::vector<int64_t> axes;
  bool axesFromInput = op == "ReduceSum" && node.opset >= 13;
  if (axesFromInput && node.hasInput(1)) {
    FailureOr<std::vector<int64_t>> known = node.staticInts(1, "axes");
    if (failed(known))
      return failure();
    axes = *known;
  } else if (!axesFromInput) {
    axes = node.attributes.getInts("axes").value_or(axes);
  }
  if (axes.empty()) {
    if (node.attributes.getInt("noop_with_empty_axes", 0)) {
      node.setOutput(0, x);
      return success();
    }
    axes = iotaVector(0, type.getRank());
  }
  absl::StatusOr<std::vector<int64_t>> dims =
      normalizeAxes(axes, type.getRank());
  if (!dims.ok())
    return node.fail(dims.status());
  bool keepDims = node.attributes.getInt("keepdims", 1) != 0;
  bool isFloat = mlir::isa<mlir::FloatType>(type.getElementType());
  if ((op == "ReduceL2" || op == "ReduceLogSum" || op == "ReduceLogSumExp") &&
      !isFloat)
    return node.fail("needs a floating-point input");

  graph::ReduceKind kind = graph::ReduceKind::Sum;
  if (op == "ReduceMean")
    kind = graph::ReduceKind::Mean;
  else if (op == "ReduceMax")
    kind = graph::ReduceKind::Max;
  else if (op == "ReduceMin")
    kind = graph::ReduceKind::Min;
  else if (op == "ReduceProd")
    kind = graph::ReduceKind::Prod;
  if (op == "ReduceSumSquare" || op == "ReduceL2")
    x = graph::MulOp::create(node.builder, node.loc, x, x);
  else if (op == "ReduceL1")
    x = graph::AbsOp::create(node.builder, node.loc, x);
  Value shift;
  if (op == "ReduceLogSumExp") {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))), m the maximum.
    FailureOr<Value> maximum =
        reduce(node, graph::ReduceKind::Max, x, *dims, /*keepDims=*/true);
    if (failed(maximum))
      return failure();
    FailureOr<Value> broadcast = node.broadcastTo(*maximum, type.getShape());
    if (failed(broadcast))
      return failure();
    shift = *maximum;
    x = graph::ExpOp::create(
        node.builder, node.loc,
        graph::SubOp::create(node.builder, node.loc, x, *broadcast));
  }
  FailureOr<Value> result = reduce(node, kind, x, *dims, keepDims);
  if (failed(result))
    return failure();
  if (op == "ReduceL2")
    result = graph::SqrtOp::create(node.builder, node.loc, *result).getResult();
  if (op == "ReduceLogSum" || op == "ReduceLogSumExp")
    result = graph::LogOp::create(node.builder, node.loc, *result).getResult();
  if (shift)
    result =
        graph::AddOp::create(node.builder, node.loc, *result,
                             node.reshape(shift, typeOf(*result).getShape()))
            .getResult();
  node.setOutput(0, *result);
  return success();
}

LogicalResult lowerSoftmax(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  int64_t rank = type.getRank();
  int64_t defaultAxis = node.opset >= 13 ? -1 : 1;
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", defaultAxis), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  Value input = *x;
  int64_t dimension = *axis;
  // Before opset 13 the input is flattened to 2-D at the axis.
  bool flatten = node.opset < 13 && *axis != rank - 1;
  if (flatten) {
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d)
      outer *= type.getDimSize(d);
    input = node.reshape(input, {outer, type.getNumElements() / outer});
    dimension = 1;
  }
  Value result =
      graph::SoftmaxOp::create(node.builder, node.loc, input, dimension);
  if (node.node.op_type() == "LogSoftmax")
    result = graph::LogOp::create(node.builder, node.loc, result);
  node.setOutput(0, node.reshape(result, type.getShape()));
  return success();
}

LogicalResult lowerBatchNorm(NodeLowering &node) {
  bool training = node.attributes.getInt("training_mode", 0) != 0;
  for (size_t i = 1; i < node.numOutputs() && !training; ++i)
    if (node.outputUsed(i))
      return node.fail("the running statistics outputs exist only in "
                       "training mode");
  llvm::SmallVector<Value> inputs;
  for (size_t i = 0; i < 5; ++i) {
    FailureOr<Value> input = node.input(i);
    if (failed(input))
      return failure();
    inputs.push_back(*input);
  }
  mlir::RankedTensorType type = typeOf(inputs[0]);
  if (type.getRank() < 2)
    return node.fail("X must have a channel dimension");
  for (Value statistic : llvm::ArrayRef(inputs).drop_front())
    if (typeOf(statistic) != typeOf(inputs[1]) ||
        typeOf(statistic).getRank() != 1 ||
        typeOf(statistic).getDimSize(0) != type.getDimSize(1) ||
        typeOf(statistic).getElementType() != type.getElementType())
      return node.fail("scale, B, mean and var must be vectors of X's " +
                       std::to_string(type.getDimSize(1)) +
                       " channels, of X's element type");
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  if (training) {
    // The batch's statistics per channel (the variance the population's),
    // normalising X; the running statistics move towards them by
    // 1 - momentum.
    std::vector<int64_t> dims = {0};
    llvm::append_range(dims, iotaVector(2, type.getRank()));
    FailureOr<Value> mean =
        node.create<graph::ReduceOp>(graph::ReduceKind::Mean, inputs[0], dims);
    if (failed(mean))
      return failure();
    Shape perChannel(type.getRank(), 1);
    perChannel[1] = type.getDimSize(1);
    FailureOr<Value> spread =
        node.broadcastTo(node.reshape(*mean, perChannel), type.getShape());
    if (failed(spread))
      return failure();
    Value centred = node.sub(inputs[0], *spread);
    FailureOr<Value> variance = node.create<graph::ReduceOp>(
        graph::ReduceKind::Mean, node.mul(centred, centred), dims);
    if (failed(variance))
      return failure();
    double momentum = widenFloat(node.attributes.getFloat("momentum", 0.9f));
    auto moved = [&](Value running, Value batch) {
      return node.add(node.mul(running, node.splatLike(momentum, running)),
                      node.mul(batch, node.splatLike(1 - momentum, batch)));
    };
    if (node.outputUsed(1))
      node.setOutput(1, moved(inputs[3], *mean));
    if (node.outputUsed(2))
      node.setOutput(2, moved(inputs[4], *variance));
    inputs[3] = *mean;
    inputs[4] = *variance;
  }
  Value result = graph::BatchNormInferenceOp::create(
      node.builder, node.loc, typeOf(inputs[0]), inputs[0], inputs[1],
      inputs[2], inputs[3], inputs[4],
      node.builder.getF64FloatAttr(
          widenFloat(node.attributes.getFloat("epsilon", 1e-5f))),
      node.builder.getI64IntegerAttr(1));
  node.setOutput(0, result);
  return success();
}

/// LayerNormalization's optional outputs: the mean and 1/sqrt(var + eps)
/// over the normalised dimensions, kept as size-1 dimensions.
LogicalResult lowerLayerNormStatistics(NodeLowering &node, Value x,
                                       int64_t axis, double epsilon) {
  mlir::RankedTensorType type = typeOf(x);
  std::vector<int64_t> dims = iotaVector(axis, type.getRank());
  FailureOr<Value> mean =
      reduce(node, graph::ReduceKind::Mean, x, dims, /*keepDims=*/true);
  if (failed(mean))
    return failure();
  FailureOr<Value> broadcastMean = node.broadcastTo(*mean, type.getShape());
  if (failed(broadcastMean))
    return failure();
  Value centered =
      graph::SubOp::create(node.builder, node.loc, x, *broadcastMean);
  Value squares =
      graph::MulOp::create(node.builder, node.loc, centered, centered);
  FailureOr<Value> variance =
      reduce(node, graph::ReduceKind::Mean, squares, dims, /*keepDims=*/true);
  if (failed(variance))
    return failure();
  mlir::RankedTensorType statType = typeOf(*variance);
  Value shifted = graph::AddOp::create(
      node.builder, node.loc, *variance,
      node.splat(epsilon, statType.getElementType(), statType.getShape()));
  node.setOutput(1, *mean);
  node.setOutput(2, graph::RsqrtOp::create(node.builder, node.loc, shifted));
  return success();
}

LogicalResult lowerLayerNorm(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), scale = node.input(1);
  if (failed(x) || failed(scale))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  absl::StatusOr<int64_t> axis =
      normalizeAxis(node.attributes.getInt("axis", -1), type.getRank());
  if (!axis.ok())
    return node.fail(axis.status());
  if (!mlir::isa<mlir::FloatType>(type.getElementType()) ||
      typeOf(*scale).getElementType() != type.getElementType())
    return node.fail("X and Scale must have the same floating-point type");
  Shape normalized(type.getShape().begin() + *axis, type.getShape().end());
  FailureOr<Value> gamma = node.broadcastTo(*scale, normalized);
  if (failed(gamma))
    return failure();
  Value beta;
  if (node.hasInput(2)) {
    FailureOr<Value> bias = node.input(2);
    if (failed(bias))
      return failure();
    if (typeOf(*bias).getElementType() != type.getElementType())
      return node.fail("B must have X's element type");
    FailureOr<Value> broadcast = node.broadcastTo(*bias, normalized);
    if (failed(broadcast))
      return failure();
    beta = *broadcast;
  } else {
    beta = node.splat(0, type.getElementType(), normalized);
  }
  double epsilon = widenFloat(node.attributes.getFloat("epsilon", 1e-5f));
  Value result =
      graph::LayerNormOp::create(node.builder, node.loc, type, *x, *gamma, beta,
                                 node.builder.getI64IntegerAttr(*axis),
                                 node.builder.getF64FloatAttr(epsilon));
  node.setOutput(0, result);
  if (node.outputUsed(1) || node.outputUsed(2))
    return lowerLayerNormStatistics(node, *x, *axis, epsilon);
  return success();
}

/// Normalises each (n, c) over the spatial dimensions: a layer_norm from
/// axis 2, then the per-channel scale and bias.
LogicalResult lowerInstanceNorm(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), scale = node.input(1),
                   bias = node.input(2);
  if (failed(x) || failed(scale) || failed(bias))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getRank() < 3)
    return node.fail("X must be [N, C, spatial...]");
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  Shape spatial(type.getShape().begin() + 2, type.getShape().end());
  mlir::Type element = type.getElementType();
  Value normalized = graph::LayerNormOp::create(
      node.builder, node.loc, type, *x, node.splat(1, element, spatial),
      node.splat(0, element, spatial), node.builder.getI64IntegerAttr(2),
      node.builder.getF64FloatAttr(
          widenFloat(node.attributes.getFloat("epsilon", 1e-5f))));
  for (Value vector : {*scale, *bias})
    if (typeOf(vector).getRank() != 1 ||
        typeOf(vector).getDimSize(0) != type.getDimSize(1) ||
        typeOf(vector).getElementType() != element)
      return node.fail("scale and B must be vectors over the channels");
  Value scaled =
      graph::MulOp::create(node.builder, node.loc, normalized,
                           broadcastAlong(node, *scale, type.getShape(), {1}));
  node.setOutput(0, graph::AddOp::create(
                        node.builder, node.loc, scaled,
                        broadcastAlong(node, *bias, type.getShape(), {1})));
  return success();
}

/// Cubic resampling, one dimension at a time: each resized dimension is
/// contracted with an [in, out] matrix of the cubic convolution weights
/// (Keys, a = cubic_coeff_a) computed here, the edges replicated, or with
/// exclude_outside the taps outside dropped and the rest renormalised, as
/// ONNX's reference does. Dots have sharding rules: the resized dimension
/// is a contraction, the others pass through.
LogicalResult lowerCubicResize(NodeLowering &node, Value x, const Shape &shape,
                               const std::vector<double> &scales,
                               const std::string &transform) {
  double a = node.attributes.getFloat("cubic_coeff_a", -0.75f);
  bool excludeOutside = node.attributes.getInt("exclude_outside", 0) != 0;
  auto weight = [&](double s) {
    s = std::abs(s);
    if (s <= 1)
      return ((a + 2) * s - (a + 3)) * s * s + 1;
    if (s < 2)
      return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
    return 0.0;
  };
  mlir::RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  Value result = x;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t in = type.getDimSize(d), out = shape[d];
    double scale = scales[d];
    if (in == out && scale == 1.0)
      continue;
    std::vector<double> matrix(static_cast<size_t>(in * out), 0.0);
    for (int64_t o = 0; o < out; ++o) {
      double position;
      if (transform == "half_pixel")
        position = (o + 0.5) / scale - 0.5;
      else if (transform == "pytorch_half_pixel")
        position = out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
      else if (transform == "align_corners")
        position = in * scale == 1.0 ? 0.0 : o * (in - 1.0) / (in * scale - 1);
      else if (transform == "tf_half_pixel_for_nn")
        position = (o + 0.5) / scale;
      else
        position = o / scale;
      double base = std::floor(position), t = position - base;
      double taps[4] = {weight(t + 1), weight(t), weight(1 - t), weight(2 - t)};
      double total = 0;
      for (int k = 0; k < 4; ++k) {
        int64_t i = static_cast<int64_t>(base) - 1 + k;
        if (excludeOutside && (i < 0 || i >= in))
          taps[k] = 0;
        total += taps[k];
      }
      for (int k = 0; k < 4; ++k) {
        int64_t i = static_cast<int64_t>(base) - 1 + k;
        i = std::min<int64_t>(std::max<int64_t>(i, 0), in - 1);
        double w = excludeOutside && total != 0 ? taps[k] / total : taps[k];
        matrix[static_cast<size_t>(i * out + o)] += w;
      }
    }
    Value weights = node.constant(
        StaticTensor::ofFloats(onnx::TensorProto::DOUBLE, {in, out}, matrix),
        type.getElementType());
    // The contraction puts the new dimension last; a transpose returns it.
    FailureOr<Value> contracted = node.create<graph::DotGeneralOp>(
        result, weights, llvm::ArrayRef<int64_t>{}, llvm::ArrayRef<int64_t>{},
        llvm::ArrayRef<int64_t>{d}, llvm::ArrayRef<int64_t>{0});
    if (failed(contracted))
      return failure();
    FailureOr<Value> placed = node.moveLastTo(*contracted, d);
    if (failed(placed))
      return failure();
    result = *placed;
  }
  node.setOutput(0, result);
  return success();
}

LogicalResult lowerResize(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  bool legacy = node.node.op_type() == "Upsample" || node.opset < 11;
  std::string mode = node.attributes.getString("mode", "nearest");
  std::string transform =
      legacy ? "asymmetric"
             : node.attributes.getString("coordinate_transformation_mode",
                                         "half_pixel");
  std::string nearest =
      legacy ? "floor"
             : node.attributes.getString("nearest_mode", "round_prefer_floor");
  std::optional<graph::ResizeMode> resizeMode =
      mode == "nearest" ? graph::ResizeMode::Nearest
      : (mode == "linear" || mode == "bilinear")
          ? graph::ResizeMode::Linear
          : std::optional<graph::ResizeMode>();
  if (!resizeMode && mode != "cubic")
    return node.fail("mode '" + mode +
                     "' is not supported (nearest, linear, cubic)");
  std::optional<graph::CoordinateTransform> coordinate =
      graph::symbolizeCoordinateTransform(transform);
  if (!coordinate)
    return node.fail("coordinate_transformation_mode '" + transform +
                     "' is not supported (half_pixel, pytorch_half_pixel, "
                     "align_corners, asymmetric, tf_half_pixel_for_nn)");
  std::optional<graph::NearestMode> rounding =
      graph::symbolizeNearestMode(nearest);
  if (!rounding)
    return node.fail("nearest_mode '" + nearest + "' is not valid");

  int64_t rank = type.getRank();
  std::vector<double> scales;
  Shape shape;
  size_t scalesInput = legacy ? 1 : 2, sizesInput = 3;
  const StaticTensor *sizes =
      legacy ? nullptr : node.tryStaticInput(sizesInput);
  if (node.hasInput(sizesInput) && !sizes)
    return node.fail("sizes must be known at import time");
  if (sizes && sizes->numElements() > 0) {
    if (sizes->numElements() != rank)
      return node.fail("sizes needs one entry per dimension");
    for (int64_t d = 0; d < rank; ++d) {
      shape.push_back(sizes->getInt(d));
      scales.push_back(static_cast<double>(shape.back()) / type.getDimSize(d));
    }
  } else {
    FailureOr<StaticTensor> known = node.staticInput(scalesInput, "scales");
    if (failed(known))
      return failure();
    if (known->numElements() != rank)
      return node.fail("scales needs one entry per dimension");
    for (int64_t d = 0; d < rank; ++d) {
      scales.push_back(known->getDouble(d));
      shape.push_back(
          static_cast<int64_t>(std::floor(type.getDimSize(d) * scales.back())));
    }
  }
  for (int64_t d = 0; d < rank; ++d)
    if (!(scales[d] > 0) || shape[d] < 1)
      return node.fail("the output dimension " + std::to_string(d) +
                       " would be empty");
  if (!resizeMode)
    return lowerCubicResize(node, *x, shape, scales, transform);
  Value result =
      graph::ResizeOp::create(node.builder, node.loc, type.clone(shape), *x,
                              *resizeMode, *coordinate, *rounding, scales);
  node.setOutput(0, result);
  return success();
}

/// MeanVarianceNormalization over `axes` (default N, H, W), as ONNX's
/// function defines it: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
LogicalResult lowerMeanVarianceNormalization(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  std::vector<int64_t> axes =
      node.attributes.getInts("axes").value_or(std::vector<int64_t>{0, 2, 3});
  llvm::SmallVector<int64_t> dims;
  for (int64_t axis : axes) {
    absl::StatusOr<int64_t> d = normalizeAxis(axis, type.getRank());
    if (!d.ok())
      return node.fail(d.status());
    dims.push_back(*d);
  }
  llvm::sort(dims);
  FailureOr<Value> mean =
      reduce(node, graph::ReduceKind::Mean, *x, dims, /*keepDims=*/true);
  Value square = graph::MulOp::create(node.builder, node.loc, *x, *x);
  FailureOr<Value> meanOfSquares =
      reduce(node, graph::ReduceKind::Mean, square, dims, /*keepDims=*/true);
  if (failed(mean) || failed(meanOfSquares))
    return failure();
  Shape shape(type.getShape());
  FailureOr<Value> center = node.broadcastTo(*mean, shape);
  if (failed(center))
    return failure();
  Value variance = graph::SubOp::create(
      node.builder, node.loc, *meanOfSquares,
      graph::MulOp::create(node.builder, node.loc, *mean, *mean));
  Value deviation = graph::AddOp::create(
      node.builder, node.loc,
      graph::SqrtOp::create(node.builder, node.loc, variance),
      node.splat(1e-9, type.getElementType(), typeOf(variance).getShape()));
  FailureOr<Value> spread = node.broadcastTo(deviation, shape);
  if (failed(spread))
    return failure();
  node.setOutput(0,
                 graph::DivOp::create(
                     node.builder, node.loc,
                     graph::SubOp::create(node.builder, node.loc, *x, *center),
                     *spread));
  return success();
}

/// LRN over the channels: x / (bias + alpha / size * sum of x^2 over the
/// `size` channels around)^beta, the sum as `size` shifted slices of the
/// squares padded with zeros along the channels.
LogicalResult lowerLrn(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("needs a floating-point input");
  if (type.getRank() < 3)
    return node.fail("the input must be [N, C, d1, ...]");
  int64_t size = node.attributes.getInt("size", 0);
  if (size < 1)
    return node.fail("size must be positive");
  double alpha = node.attributes.getFloat("alpha", 1e-4f);
  double beta = node.attributes.getFloat("beta", 0.75f);
  double bias = node.attributes.getFloat("bias", 1.0f);
  int64_t rank = type.getRank();
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  Value square = graph::MulOp::create(node.builder, node.loc, *x, *x);
  llvm::SmallVector<int64_t> low(rank, 0), high(rank, 0), interior(rank, 0);
  low[1] = before;
  high[1] = after;
  FailureOr<Value> padded = node.create<graph::PadOp>(
      square, low, high, interior, llvm::APFloat(0.0));
  if (failed(padded))
    return failure();
  Shape shape(type.getShape());
  Value sum;
  for (int64_t k = 0; k < size; ++k) {
    llvm::SmallVector<int64_t> start(rank, 0), step(rank, 1);
    llvm::SmallVector<int64_t> limit(shape.begin(), shape.end());
    start[1] = k;
    limit[1] = k + shape[1];
    FailureOr<Value> window =
        node.create<graph::SliceOp>(*padded, start, limit, step);
    if (failed(window))
      return failure();
    sum = sum ? graph::AddOp::create(node.builder, node.loc, sum, *window)
                    .getResult()
              : *window;
  }
  mlir::Type element = type.getElementType();
  Value scaled = graph::AddOp::create(
      node.builder, node.loc, node.splat(bias, element, shape),
      graph::MulOp::create(node.builder, node.loc, sum,
                           node.splat(alpha / size, element, shape)));
  Value denominator = graph::PowOp::create(node.builder, node.loc, scaled,
                                           node.splat(beta, element, shape));
  node.setOutput(0,
                 graph::DivOp::create(node.builder, node.loc, *x, denominator));
  return success();
}

/// CumSum along an axis of n as a contraction with an [n, n] matrix of
/// ones where the output position takes the input's (i <= j; i < j when
/// exclusive; the mirror image when reverse), then a transpose back: n^2
/// work per row rather than n, in exchange for a rule-bearing op that
/// splits like any contraction, integers included.
LogicalResult lowerCumSum(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  FailureOr<StaticTensor> axisTensor = node.staticInput(1, "axis");
  if (failed(x) || failed(axisTensor))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (type.getElementTypeBitWidth() == 1)
    return node.fail("needs a numeric input, not booleans");
  if (axisTensor->numElements() != 1)
    return node.fail("axis must be a scalar");
  int64_t rank = type.getRank();
  absl::StatusOr<int64_t> axis = normalizeAxis(axisTensor->getInt(0), rank);
  if (!axis.ok())
    return node.fail(axis.status());
  bool exclusive = node.attributes.getInt("exclusive", 0) != 0;
  bool reverse = node.attributes.getInt("reverse", 0) != 0;
  int64_t n = type.getDimSize(*axis);
  std::vector<double> ones(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      bool takes =
          reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
      ones[static_cast<size_t>(i * n + j)] = takes ? 1.0 : 0.0;
    }
  Value matrix = node.constant(
      StaticTensor::ofFloats(onnx::TensorProto::DOUBLE, {n, n}, ones),
      type.getElementType());
  FailureOr<Value> summed = node.create<graph::DotGeneralOp>(
      *x, matrix, llvm::ArrayRef<int64_t>{}, llvm::ArrayRef<int64_t>{},
      llvm::ArrayRef<int64_t>{*axis}, llvm::ArrayRef<int64_t>{0});
  if (failed(summed))
    return failure();
  return node.setOutput(node.moveLastTo(*summed, *axis));
}

/// GridSample (PyTorch's grid_sample): every output position reads the
/// input at the grid's normalised coordinates. Bilinear, nearest and
/// bicubic sampling are separable, so each becomes, per axis, a weight
/// matrix [N, Ho, Wo, size] (the taps' weights where an iota over the axis
/// equals the tap's index; a tap outside the input matches nothing, which
/// is the zeros padding), and the sampling two contractions with it.
class GridSampler {
public:
  GridSampler(NodeLowering &node, mlir::Type element)
      : node(node), element(element) {}

  LogicalResult run(Value x, Value grid);

private:
  Value floor(Value a) {
    return graph::FloorOp::create(node.builder, node.loc, a);
  }
  Value clamp(Value a, double low, double high) {
    return graph::ClampOp::create(node.builder, node.loc, a,
                                  node.builder.getF64FloatAttr(low),
                                  node.builder.getF64FloatAttr(high));
  }
  /// PyTorch's reflect_coordinates: `c` reflected into [low/2, high/2].
  Value reflect(Value c, double twiceLow, double twiceHigh) {
    if (twiceLow == twiceHigh)
      return node.splatLike(0, c);
    double low = twiceLow / 2, span = (twiceHigh - twiceLow) / 2;
    Value in = graph::AbsOp::create(node.builder, node.loc,
                                    node.sub(c, node.splatLike(low, c)));
    Value flips = floor(node.mul(in, node.splatLike(1 / span, c)));
    Value extra = node.sub(in, node.mul(flips, node.splatLike(span, c)));
    Value half = floor(node.mul(flips, node.splatLike(0.5, c)));
    Value even = graph::CompareOp::create(node.builder, node.loc,
                                          graph::ComparisonDirection::EQ, flips,
                                          node.mul(half, node.splatLike(2, c)));
    return graph::SelectOp::create(
        node.builder, node.loc, even, node.add(extra, node.splatLike(low, c)),
        node.add(node.sub(node.splatLike(span, c), extra),
                 node.splatLike(low, c)));
  }
  /// Padding applied to a coordinate along an axis of `size`.
  Value pad(Value c, int64_t size) {
    if (padding == "border")
      return clamp(c, 0, static_cast<double>(size - 1));
    if (padding == "reflection") {
      Value r = alignCorners ? reflect(c, 0, 2.0 * (size - 1))
                             : reflect(c, -1, 2.0 * size - 1);
      return clamp(r, 0, static_cast<double>(size - 1));
    }
    return c;
  }
  /// The weight matrix of one axis: `coordinate` [N, Ho, Wo] into
  /// [N, Ho, Wo, size].
  Value weights(Value normalised, int64_t size);

  NodeLowering &node;
  mlir::Type element;
  std::string mode, padding;
  bool alignCorners = false;
};

Value GridSampler::weights(Value normalised, int64_t size) {
  double n = static_cast<double>(size);
  // Unnormalise: [-1, 1] to pixel coordinates.
  Value c =
      alignCorners
          ? node.mul(node.add(normalised, node.splatLike(1, normalised)),
                     node.splatLike((n - 1) / 2, normalised))
          : node.mul(node.sub(node.mul(node.add(normalised,
                                                node.splatLike(1, normalised)),
                                       node.splatLike(n, normalised)),
                              node.splatLike(1, normalised)),
                     node.splatLike(0.5, normalised));
  Shape tapShape(typeOf(c).getShape());
  Shape shape = tapShape;
  shape.push_back(size);
  auto type = mlir::RankedTensorType::get(shape, element);
  Value position = graph::IotaOp::create(node.builder, node.loc, type, 3);
  Value total;
  auto addTap = [&](Value index, Value weight) {
    Value spreadIndex = graph::BroadcastInDimOp::create(
        node.builder, node.loc, type, index, llvm::ArrayRef<int64_t>{0, 1, 2});
    Value spreadWeight = graph::BroadcastInDimOp::create(
        node.builder, node.loc, type, weight, llvm::ArrayRef<int64_t>{0, 1, 2});
    Value hit = graph::CompareOp::create(node.builder, node.loc,
                                         graph::ComparisonDirection::EQ,
                                         position, spreadIndex);
    Value contribution =
        graph::SelectOp::create(node.builder, node.loc, hit, spreadWeight,
                                node.splat(0, element, shape));
    total = total ? node.add(total, contribution) : contribution;
  };
  if (mode == "bicubic") {
    // Taps at floor(c) - 1 .. + 2 of the unpadded coordinate, each index
    // padded (PyTorch pads the taps, not the coordinate, here).
    Value base = floor(c);
    Value t = node.sub(c, base);
    double a = -0.75;
    auto near = [&](Value x) { // |x| <= 1
      return node.add(
          node.mul(node.mul(node.sub(node.mul(node.splatLike(a + 2, x), x),
                                     node.splatLike(a + 3, x)),
                            x),
                   x),
          node.splatLike(1, x));
    };
    auto far = [&](Value x) { // 1 < |x| < 2
      return node.sub(
          node.mul(node.add(node.mul(node.sub(node.mul(node.splatLike(a, x), x),
                                              node.splatLike(5 * a, x)),
                                     x),
                            node.splatLike(8 * a, x)),
                   x),
          node.splatLike(4 * a, x));
    };
    Value one = node.splatLike(1, t), two = node.splatLike(2, t);
    Value w[4] = {far(node.add(t, one)), near(t), near(node.sub(one, t)),
                  far(node.sub(two, t))};
    for (int k = 0; k < 4; ++k)
      addTap(pad(node.add(base, node.splatLike(k - 1, base)), size), w[k]);
    return total;
  }
  c = pad(c, size);
  if (mode == "nearest") {
    addTap(graph::RoundOp::create(node.builder, node.loc, c),
           node.splatLike(1, c));
    return total;
  }
  Value low = floor(c);
  Value frac = node.sub(c, low);
  addTap(low, node.sub(node.splatLike(1, frac), frac));
  addTap(node.add(low, node.splatLike(1, low)), frac);
  return total;
}

LogicalResult GridSampler::run(Value x, Value grid) {
  const NodeAttributes &attributes = node.attributes;
  mode = attributes.getString("mode", "bilinear");
  padding = attributes.getString("padding_mode", "zeros");
  alignCorners = attributes.getInt("align_corners", 0) != 0;
  if (mode == "linear")
    mode = "bilinear";
  if (mode == "cubic")
    mode = "bicubic";
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic")
    return node.fail("mode '" + mode + "' is not bilinear, nearest or bicubic");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    return node.fail("padding_mode '" + padding +
                     "' is not zeros, border or reflection");
  mlir::RankedTensorType xType = typeOf(x), gridType = typeOf(grid);
  if (xType.getRank() != 4 || gridType.getRank() != 4 ||
      gridType.getDimSize(3) != 2 ||
      gridType.getDimSize(0) != xType.getDimSize(0))
    return node.fail("X must be [N, C, H, W] and the grid [N, Ho, Wo, 2] "
                     "(only 2-D sampling is supported)");
  if (gridType.getElementType() != element)
    return node.fail("the grid must have X's element type");
  int64_t n = xType.getDimSize(0), h = xType.getDimSize(2),
          w = xType.getDimSize(3);
  int64_t ho = gridType.getDimSize(1), wo = gridType.getDimSize(2);
  auto coordinate = [&](int64_t i) -> FailureOr<Value> {
    FailureOr<Value> one =
        node.create<graph::SliceOp>(grid, llvm::ArrayRef<int64_t>{0, 0, 0, i},
                                    llvm::ArrayRef<int64_t>{n, ho, wo, i + 1},
                                    llvm::ArrayRef<int64_t>{1, 1, 1, 1});
    if (failed(one))
      return failure();
    return node.reshape(*one, {n, ho, wo});
  };
  FailureOr<Value> gx = coordinate(0), gy = coordinate(1);
  if (failed(gx) || failed(gy))
    return failure();
  Value wx = weights(*gx, w), wy = weights(*gy, h);
  // [N, C, H, W] x [N, Ho, Wo, H] over H: [N, C, W, Ho, Wo].
  FailureOr<Value> rows = node.create<graph::DotGeneralOp>(
      x, wy, llvm::ArrayRef<int64_t>{0}, llvm::ArrayRef<int64_t>{0},
      llvm::ArrayRef<int64_t>{2}, llvm::ArrayRef<int64_t>{3});
  if (failed(rows))
    return failure();
  // x [N, Ho, Wo, W] over W, batched over N, Ho, Wo: [N, Ho, Wo, C].
  FailureOr<Value> sampled = node.create<graph::DotGeneralOp>(
      *rows, wx, llvm::ArrayRef<int64_t>{0, 3, 4},
      llvm::ArrayRef<int64_t>{0, 1, 2}, llvm::ArrayRef<int64_t>{2},
      llvm::ArrayRef<int64_t>{3});
  if (failed(sampled))
    return failure();
  return node.setOutput(node.create<graph::TransposeOp>(
      *sampled, llvm::ArrayRef<int64_t>{0, 3, 1, 2}));
}

/// RoiAlign (average mode): each region's bins sampled on a grid of
/// sampling_ratio^2 points by bilinear interpolation and averaged. The
/// sampling is separable: per region and axis a weight matrix [R, samples,
/// size] holding each sample's two taps (a sample more than a pixel
/// outside the input weighs nothing; one at the last row or column takes
/// it whole, as ONNX Runtime's RoiAlign), the region's image picked by a
/// one-hot of batch_indices, then two contractions and a mean over each
/// bin's samples. The sampling ratio must be given (its adaptive default
/// depends on the regions' sizes, which are data).
LogicalResult lowerRoiAlign(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), rois = node.input(1),
                   batchIndices = node.input(2);
  if (failed(x) || failed(rois) || failed(batchIndices))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  mlir::Type element = type.getElementType();
  if (type.getRank() != 4 || !mlir::isa<mlir::FloatType>(element))
    return node.fail("X must be a float [N, C, H, W]");
  int64_t regions =
      typeOf(*rois).getRank() == 2 ? typeOf(*rois).getDimSize(0) : -1;
  if (regions < 0 || typeOf(*rois).getDimSize(1) != 4 ||
      typeOf(*rois).getElementType() != element)
    return node.fail("rois must be [num_rois, 4] of X's element type");
  if (typeOf(*batchIndices).getShape() != llvm::ArrayRef<int64_t>{regions} ||
      !mlir::isa<mlir::IntegerType>(typeOf(*batchIndices).getElementType()))
    return node.fail("batch_indices must be [num_rois] integers");
  std::string mode = node.attributes.getString("mode", "avg");
  if (mode != "avg")
    return node.fail("mode '" + mode + "' is not supported (avg)");
  std::string transform =
      node.attributes.getString("coordinate_transformation_mode", "half_pixel");
  if (transform != "half_pixel" && transform != "output_half_pixel")
    return node.fail("coordinate_transformation_mode '" + transform +
                     "' is not half_pixel or output_half_pixel");
  bool halfPixel = transform == "half_pixel";
  int64_t outHeight = node.attributes.getInt("output_height", 1);
  int64_t outWidth = node.attributes.getInt("output_width", 1);
  int64_t ratio = node.attributes.getInt("sampling_ratio", 0);
  if (outHeight < 1 || outWidth < 1)
    return node.fail("output_height and output_width must be positive");
  if (ratio < 1)
    return node.fail("sampling_ratio must be given (its adaptive default "
                     "depends on the regions' sizes, which are data)");
  double scale = widenFloat(node.attributes.getFloat("spatial_scale", 1.0f));
  int64_t n = type.getDimSize(0), c = type.getDimSize(1),
          height = type.getDimSize(2), width = type.getDimSize(3);
  auto column = [&](int64_t k) {
    return node.reshape(node.sliceAlong(*rois, 1, k, k + 1), {regions});
  };
  auto compare = [&](graph::ComparisonDirection direction, Value a, Value b) {
    return Value(
        graph::CompareOp::create(node.builder, node.loc, direction, a, b));
  };
  auto select = [&](Value condition, Value a, Value b) {
    return Value(
        graph::SelectOp::create(node.builder, node.loc, condition, a, b));
  };
  // One axis's weights [R, bins * ratio, size] from the region's edges.
  auto axisWeights = [&](Value first, Value last, int64_t bins,
                         int64_t size) -> FailureOr<Value> {
    double offset = halfPixel ? 0.5 : 0;
    Value start = node.sub(node.mul(first, node.splatLike(scale, first)),
                           node.splatLike(offset, first));
    Value end = node.sub(node.mul(last, node.splatLike(scale, last)),
                         node.splatLike(offset, last));
    Value extent = node.sub(end, start);
    if (!halfPixel) { // Legacy: regions at least a pixel wide.
      FailureOr<Value> wide =
          node.create<graph::MaxOp>(extent, node.splatLike(1, extent));
      if (failed(wide))
        return failure();
      extent = *wide;
    }
    Value bin = node.mul(extent, node.splatLike(1.0 / bins, extent));
    int64_t samples = bins * ratio;
    std::vector<double> fractions;
    for (int64_t s = 0; s < samples; ++s)
      fractions.push_back((s + 0.5) / ratio);
    Shape points = {regions, samples};
    auto spread = [&](Value perRegion) {
      return Value(graph::BroadcastInDimOp::create(
          node.builder, node.loc, typeOf(perRegion).clone(points), perRegion,
          llvm::ArrayRef<int64_t>{0}));
    };
    Value steps = graph::BroadcastInDimOp::create(
        node.builder, node.loc, mlir::RankedTensorType::get(points, element),
        node.constant(StaticTensor::ofFloats(onnx::TensorProto::DOUBLE,
                                             {samples}, fractions),
                      element),
        llvm::ArrayRef<int64_t>{1});
    Value y = node.add(spread(start), node.mul(spread(bin), steps));
    double limit = static_cast<double>(size);
    FailureOr<Value> outside = node.create<graph::OrOp>(
        compare(graph::ComparisonDirection::LT, y, node.splatLike(-1, y)),
        compare(graph::ComparisonDirection::GT, y, node.splatLike(limit, y)));
    if (failed(outside))
      return failure();
    FailureOr<Value> clipped =
        node.create<graph::MaxOp>(y, node.splatLike(0, y));
    if (failed(clipped))
      return failure();
    Value low = graph::FloorOp::create(node.builder, node.loc, *clipped);
    Value lastIndex = node.splatLike(limit - 1, low);
    Value atEnd = compare(graph::ComparisonDirection::GE, low, lastIndex);
    low = select(atEnd, lastIndex, low);
    Value position = select(atEnd, low, *clipped);
    Value high = select(atEnd, low, node.add(low, node.splatLike(1, low)));
    Value toHigh = node.sub(position, low);
    Value toLow = node.sub(node.splatLike(1, toHigh), toHigh);
    Value zero = node.splatLike(0, toHigh);
    toHigh = select(*outside, zero, toHigh);
    toLow = select(*outside, zero, toLow);
    Shape shape = {regions, samples, size};
    auto weightType = mlir::RankedTensorType::get(shape, element);
    Value index = graph::IotaOp::create(node.builder, node.loc, weightType, 2);
    auto tap = [&](Value at, Value weight) {
      auto widen = [&](Value v) {
        return Value(
            graph::BroadcastInDimOp::create(node.builder, node.loc, weightType,
                                            v, llvm::ArrayRef<int64_t>{0, 1}));
      };
      return select(compare(graph::ComparisonDirection::EQ, index, widen(at)),
                    widen(weight), node.splat(0, element, shape));
    };
    return node.add(tap(low, toLow), tap(high, toHigh));
  };
  FailureOr<Value> rows = axisWeights(column(1), column(3), outHeight, height);
  FailureOr<Value> columns = axisWeights(column(0), column(2), outWidth, width);
  if (failed(rows) || failed(columns))
    return failure();
  // Each region's image: a one-hot of its batch index over N.
  auto pick =
      mlir::RankedTensorType::get({regions, n}, node.builder.getI64Type());
  Value hot =
      compare(graph::ComparisonDirection::EQ,
              graph::IotaOp::create(node.builder, node.loc, pick, 1),
              graph::BroadcastInDimOp::create(
                  node.builder, node.loc, pick,
                  node.convert(*batchIndices, node.builder.getI64Type()),
                  llvm::ArrayRef<int64_t>{0}));
  FailureOr<Value> images = node.create<graph::DotGeneralOp>(
      node.convert(hot, element), *x, llvm::ArrayRef<int64_t>{},
      llvm::ArrayRef<int64_t>{}, llvm::ArrayRef<int64_t>{1},
      llvm::ArrayRef<int64_t>{0}); // [R, C, H, W]
  if (failed(images))
    return failure();
  // [R, C, H, W] x [R, Sh, H] -> [R, C, W, Sh]; x [R, Sw, W] -> [R, C, Sh, Sw].
  FailureOr<Value> alongRows = node.create<graph::DotGeneralOp>(
      *images, *rows, llvm::ArrayRef<int64_t>{0}, llvm::ArrayRef<int64_t>{0},
      llvm::ArrayRef<int64_t>{2}, llvm::ArrayRef<int64_t>{2});
  if (failed(alongRows))
    return failure();
  FailureOr<Value> sampled = node.create<graph::DotGeneralOp>(
      *alongRows, *columns, llvm::ArrayRef<int64_t>{0},
      llvm::ArrayRef<int64_t>{0}, llvm::ArrayRef<int64_t>{2},
      llvm::ArrayRef<int64_t>{2});
  if (failed(sampled))
    return failure();
  Value grid =
      node.reshape(*sampled, {regions, c, outHeight, ratio, outWidth, ratio});
  FailureOr<Value> averaged = node.create<graph::ReduceOp>(
      graph::ReduceKind::Mean, grid, llvm::SmallVector<int64_t>{3, 5});
  return node.setOutput(averaged);
}

LogicalResult lowerGridSample(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), grid = node.input(1);
  if (failed(x) || failed(grid))
    return failure();
  mlir::Type element = typeOf(*x).getElementType();
  if (!mlir::isa<mlir::FloatType>(element))
    return node.fail("X must be floating-point");
  return GridSampler(node, element).run(*x, *grid);
}

} // namespace

/// The determinant of the trailing [n, n] of `a` by cofactor expansion
/// along the first row (n! products: static n up to kMaxDetSize).
constexpr int64_t kMaxDetSize = 5;

Value cofactorDeterminant(NodeLowering &node, Value a) {
  mlir::RankedTensorType type = typeOf(a);
  int64_t rank = type.getRank(), n = type.getDimSize(rank - 1);
  Shape batch(type.getShape().drop_back(2));
  auto element = [&](int64_t row, int64_t column) {
    return node.reshape(
        node.sliceAlong(node.sliceAlong(a, rank - 2, row, row + 1), rank - 1,
                        column, column + 1),
        batch);
  };
  if (n == 1)
    return element(0, 0);
  if (n == 2)
    return node.sub(node.mul(element(0, 0), element(1, 1)),
                    node.mul(element(0, 1), element(1, 0)));
  Value rest = node.sliceAlong(a, rank - 2, 1, n);
  Value sum;
  for (int64_t j = 0; j < n; ++j) {
    llvm::SmallVector<Value> columns;
    if (j > 0)
      columns.push_back(node.sliceAlong(rest, rank - 1, 0, j));
    if (j + 1 < n)
      columns.push_back(node.sliceAlong(rest, rank - 1, j + 1, n));
    Value minor = columns.size() == 1
                      ? columns[0]
                      : *node.create<graph::ConcatenateOp>(
                            mlir::ValueRange(columns), rank - 1);
    Value term = node.mul(element(0, j), cofactorDeterminant(node, minor));
    sum = !sum ? term : j % 2 ? node.sub(sum, term) : node.add(sum, term);
  }
  return sum;
}

LogicalResult lowerDet(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  int64_t rank = type.getRank();
  if (rank < 2 || type.getDimSize(rank - 1) != type.getDimSize(rank - 2))
    return node.fail("X must be [..., n, n]");
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("X must be a float tensor");
  if (type.getDimSize(rank - 1) > kMaxDetSize)
    return node.fail("matrices of " +
                     std::to_string(type.getDimSize(rank - 1)) +
                     " rows are not supported (the cofactor expansion "
                     "takes n! products; at most " +
                     std::to_string(kMaxDetSize) + ")");
  return node.setOutput(cofactorDeterminant(node, *x));
}

void registerNeuralLowerings(LoweringTable &table) {
  table["Det"] = lowerDet;
  table["MatMul"] = lowerMatMul;
  table["Gemm"] = lowerGemm;
  table["Conv"] = lowerConv;
  table["ConvTranspose"] = lowerConvTranspose;
  table["MaxPool"] = lowerPool<graph::MaxPoolOp>;
  table["AveragePool"] = lowerPool<graph::AvgPoolOp>;
  table["GlobalAveragePool"] = lowerGlobalPool<graph::ReduceKind::Mean>;
  table["GlobalMaxPool"] = lowerGlobalPool<graph::ReduceKind::Max>;
  for (const char *op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                         "ReduceProd", "ReduceSumSquare", "ReduceL1",
                         "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"})
    table[op] = lowerReduce;
  table["Softmax"] = lowerSoftmax;
  table["LogSoftmax"] = lowerSoftmax;
  table["BatchNormalization"] = lowerBatchNorm;
  table["LayerNormalization"] = lowerLayerNorm;
  table["InstanceNormalization"] = lowerInstanceNorm;
  table["Resize"] = lowerResize;
  table["Upsample"] = lowerResize;
  table["MeanVarianceNormalization"] = lowerMeanVarianceNormalization;
  table["LRN"] = lowerLrn;
  table["CumSum"] = lowerCumSum;
  table["GridSample"] = lowerGridSample;
  table["RoiAlign"] = lowerRoiAlign;
}

} // namespace tessel::onnx_import
