//===- LowerQuantization.cpp - ONNX's linear quantization as graph ops ----===//
//
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger
// and QLinearMatMul, composed of elementwise ops, reductions and integer
// contractions. Quantizing rounds half to even (graph.round) and saturates
// to the zero point's type (uint8 by default, or int8); a scale or zero
// point is one value for the tensor or a 1-D tensor along an axis.
// Integer products accumulate in int32, exactly, as ONNX specifies; a
// requantized product is scaled in f64 (what ONNX's reference computes),
// so that the rounding agrees with it. Integer convolutions run as f32
// convolutions of the centred operands, which is exact while every partial
// sum is an integer below 2^24: at most 258 products of |255 x 255| per
// output; wider windows are cut into channel chunks each that small, their
// results summed in int32.
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

/// `value` (a scale or zero point: one element, or 1-D along `axis` of
/// `shape`) broadcast to `shape`.
FailureOr<Value> alongAxis(NodeLowering &node, Value value,
                           llvm::ArrayRef<int64_t> shape, int64_t axis,
                           llvm::StringRef what) {
  mlir::RankedTensorType type = typeOf(value);
  if (type.getNumElements() == 1 && type.getRank() <= 1)
    return node.broadcastTo(node.reshape(value, {}), shape);
  int64_t rank = shape.size();
  if (axis < -rank || axis >= rank)
    return node.fail("axis " + std::to_string(axis) + " is out of range for " +
                     "rank " + std::to_string(rank));
  if (axis < 0)
    axis += rank;
  if (type.getRank() != 1 || type.getDimSize(0) != shape[axis])
    return node.fail(what + " must be a scalar or a 1-D tensor of " +
                     std::to_string(shape[axis]) + " elements (dimension " +
                     std::to_string(axis) + "), not " +
                     std::to_string(type.getNumElements()) + " elements");
  return Value(
      graph::BroadcastInDimOp::create(node.builder, node.loc, type.clone(shape),
                                      value, llvm::SmallVector<int64_t>{axis}));
}

/// The range a quantized type holds.
FailureOr<std::pair<double, double>> quantizedRange(NodeLowering &node,
                                                    mlir::Type type) {
  if (type.isUnsignedInteger(8))
    return std::make_pair(0.0, 255.0);
  if (type.isSignlessInteger(8))
    return std::make_pair(-128.0, 127.0);
  return node.fail("quantizes to uint8 or int8 only");
}

/// round(scaled) + zeroPoint, saturated to and stored as `type`.
FailureOr<Value> saturate(NodeLowering &node, Value scaled, Value zeroPoint,
                          mlir::Type type) {
  FailureOr<std::pair<double, double>> range = quantizedRange(node, type);
  if (failed(range))
    return failure();
  Value rounded = graph::RoundOp::create(node.builder, node.loc, scaled);
  Value shifted = node.add(
      rounded, node.convert(zeroPoint, typeOf(scaled).getElementType()));
  Value clamped =
      graph::ClampOp::create(node.builder, node.loc, shifted,
                             node.builder.getF64FloatAttr(range->first),
                             node.builder.getF64FloatAttr(range->second));
  return node.convert(clamped, type);
}

/// An optional zero point input, broadcast to `shape` along `axis`: the
/// input's, or 0 of `type`.
FailureOr<Value> zeroPointOf(NodeLowering &node, size_t input,
                             llvm::ArrayRef<int64_t> shape, int64_t axis,
                             mlir::Type type) {
  if (!node.hasInput(input))
    return node.broadcastTo(node.splat(0, type, {}), shape);
  FailureOr<Value> zeroPoint = node.input(input);
  if (failed(zeroPoint))
    return failure();
  return alongAxis(node, *zeroPoint, shape, axis, "the zero point");
}

LogicalResult lowerQuantizeLinear(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), scale = node.input(1);
  if (failed(x) || failed(scale))
    return failure();
  if (!mlir::isa<mlir::FloatType>(typeOf(*x).getElementType()))
    return node.fail("x must be a float tensor");
  llvm::ArrayRef<int64_t> shape = typeOf(*x).getShape();
  int64_t axis = node.attributes.getInt("axis", 1);
  mlir::Type quantized = node.builder.getIntegerType(8, /*isSigned=*/false);
  if (node.hasInput(2)) {
    FailureOr<Value> given = node.input(2);
    if (failed(given))
      return failure();
    quantized = typeOf(*given).getElementType();
  }
  FailureOr<Value> scales = alongAxis(node, *scale, shape, axis, "the scale");
  FailureOr<Value> zeroPoint = zeroPointOf(node, 2, shape, axis, quantized);
  if (failed(scales) || failed(zeroPoint))
    return failure();
  FailureOr<Value> scaled = node.create<graph::DivOp>(
      *x, node.convert(*scales, typeOf(*x).getElementType()));
  if (failed(scaled))
    return failure();
  return node.setOutput(saturate(node, *scaled, *zeroPoint, quantized));
}

LogicalResult lowerDequantizeLinear(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), scale = node.input(1);
  if (failed(x) || failed(scale))
    return failure();
  llvm::ArrayRef<int64_t> shape = typeOf(*x).getShape();
  int64_t axis = node.attributes.getInt("axis", 1);
  mlir::Type floatType = typeOf(*scale).getElementType();
  FailureOr<Value> scales = alongAxis(node, *scale, shape, axis, "the scale");
  FailureOr<Value> zeroPoint =
      zeroPointOf(node, 2, shape, axis, typeOf(*x).getElementType());
  if (failed(scales) || failed(zeroPoint))
    return failure();
  // (x - zero point) exactly: both widened to int32 first.
  mlir::Type wide = node.builder.getIntegerType(32);
  Value centred =
      node.sub(node.convert(*x, wide), node.convert(*zeroPoint, wide));
  return node.setOutput(node.mul(node.convert(centred, floatType), *scales));
}

/// ONNX's DynamicQuantizeLinear: a uint8 quantization whose range covers
/// the data and 0: scale (max(0, max x) - min(0, min x)) / 255, zero point
/// round(-min / scale) saturated.
LogicalResult lowerDynamicQuantizeLinear(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("x must be a float tensor");
  llvm::SmallVector<int64_t> all;
  for (int64_t d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  FailureOr<Value> high =
      node.create<graph::ReduceOp>(graph::ReduceKind::Max, *x, all);
  FailureOr<Value> low =
      node.create<graph::ReduceOp>(graph::ReduceKind::Min, *x, all);
  if (failed(high) || failed(low))
    return failure();
  Value zero = node.splatLike(0, *high);
  FailureOr<Value> top = node.create<graph::MaxOp>(*high, zero);
  FailureOr<Value> bottom = node.create<graph::MinOp>(*low, zero);
  if (failed(top) || failed(bottom))
    return failure();
  FailureOr<Value> scale = node.create<graph::DivOp>(
      node.sub(*top, *bottom), node.splatLike(255, *high));
  if (failed(scale))
    return failure();
  mlir::Type u8 = node.builder.getIntegerType(8, /*isSigned=*/false);
  FailureOr<Value> negatedLow = node.create<graph::NegOp>(*bottom);
  if (failed(negatedLow))
    return failure();
  FailureOr<Value> zeroPointScaled =
      node.create<graph::DivOp>(*negatedLow, *scale);
  if (failed(zeroPointScaled))
    return failure();
  FailureOr<Value> zeroPoint =
      saturate(node, *zeroPointScaled, node.splat(0, u8, {}), u8);
  if (failed(zeroPoint))
    return failure();
  FailureOr<Value> scales = node.broadcastTo(*scale, type.getShape());
  FailureOr<Value> zeroPoints = node.broadcastTo(*zeroPoint, type.getShape());
  if (failed(scales) || failed(zeroPoints))
    return failure();
  FailureOr<Value> scaled = node.create<graph::DivOp>(*x, *scales);
  if (failed(scaled))
    return failure();
  FailureOr<Value> y = saturate(node, *scaled, *zeroPoints, u8);
  if (failed(y))
    return failure();
  node.setOutput(0, *y);
  node.setOutput(1, *scale);
  node.setOutput(2, *zeroPoint);
  return success();
}

/// (operand - zero point) in int32, the zero point per tensor or along
/// `axis` (A's rows: -2; B's columns: -1).
FailureOr<Value> centred(NodeLowering &node, size_t input, size_t zeroPoint,
                         int64_t axis) {
  FailureOr<Value> value = node.input(input);
  if (failed(value))
    return failure();
  mlir::RankedTensorType type = typeOf(*value);
  if (type.getRank() < 2)
    return node.fail("operands of rank 1 are not supported (the zero "
                     "points are per row and column)");
  if (!type.getElementType().isInteger(8))
    return node.fail("operands must be uint8 or int8");
  FailureOr<Value> zero = zeroPointOf(node, zeroPoint, type.getShape(), axis,
                                      type.getElementType());
  if (failed(zero))
    return failure();
  mlir::Type i32 = node.builder.getIntegerType(32);
  return node.sub(node.convert(*value, i32), node.convert(*zero, i32));
}

/// The largest count of products an exact f32 accumulation of centred
/// 8-bit values can take (258 * 255 * 255 < 2^24).
constexpr int64_t kExactProducts = 258;

/// ConvInteger's int32 result: x - x_zero_point (per tensor) by
/// w - w_zero_point (per output channel), convolved exactly.
FailureOr<Value> integerConvolution(NodeLowering &node, size_t xInput,
                                    size_t xZero, size_t wInput, size_t wZero) {
  FailureOr<Value> x = node.input(xInput), w = node.input(wInput);
  if (failed(x) || failed(w))
    return failure();
  mlir::RankedTensorType input = typeOf(*x), kernel = typeOf(*w);
  if (input.getRank() < 3 || kernel.getRank() != input.getRank())
    return node.fail("X must be [N, C, spatial...] and W [M, C/group, "
                     "kernel...] of the same rank");
  if (!input.getElementType().isInteger(8) ||
      !kernel.getElementType().isInteger(8))
    return node.fail("X and W must be uint8 or int8");
  FailureOr<Value> xZeros =
      zeroPointOf(node, xZero, input.getShape(), 1, input.getElementType());
  FailureOr<Value> wZeros =
      zeroPointOf(node, wZero, kernel.getShape(), 0, kernel.getElementType());
  if (failed(xZeros) || failed(wZeros))
    return failure();
  mlir::Type i32 = node.builder.getIntegerType(32);
  mlir::Type f32 = node.builder.getF32Type();
  auto centred = [&](Value value, Value zeros) {
    return node.convert(
        node.sub(node.convert(value, i32), node.convert(zeros, i32)), f32);
  };
  Value xs = centred(*x, *xZeros), ws = centred(*w, *wZeros);
  int64_t window = 1;
  for (int64_t d = 2; d < kernel.getRank(); ++d)
    window *= kernel.getDimSize(d);
  int64_t channels = kernel.getDimSize(1);
  if (channels * window <= kExactProducts) {
    FailureOr<Value> conv = convolve(node, xs, ws);
    if (failed(conv))
      return failure();
    return node.convert(*conv, i32);
  }
  if (node.attributes.getInt("group", 1) != 1 || window > kExactProducts)
    return node.fail("a window of " + std::to_string(channels * window) +
                     " products is too wide to accumulate exactly (at most " +
                     std::to_string(kExactProducts) +
                     " per group, or any count without groups when the "
                     "kernel's spatial size is at most that)");
  int64_t chunk = kExactProducts / window;
  Value sum;
  for (int64_t first = 0; first < channels; first += chunk) {
    int64_t last = std::min(channels, first + chunk);
    auto slice = [&](Value value) {
      return node.sliceAlong(value, 1, first, last);
    };
    FailureOr<Value> part = convolve(node, slice(xs), slice(ws));
    if (failed(part))
      return failure();
    Value exact = node.convert(*part, i32);
    sum = sum ? node.add(sum, exact) : exact;
  }
  return sum;
}

LogicalResult lowerConvInteger(NodeLowering &node) {
  return node.setOutput(integerConvolution(node, 0, 2, 1, 3));
}

/// QLinearConv: the integer convolution plus the int32 bias, requantized
/// by x_scale * w_scale (per output channel) / y_scale in f64.
LogicalResult lowerQLinearConv(NodeLowering &node) {
  FailureOr<Value> accumulated = integerConvolution(node, 0, 2, 3, 5);
  if (failed(accumulated))
    return failure();
  llvm::ArrayRef<int64_t> shape = typeOf(*accumulated).getShape();
  Value sum = *accumulated;
  if (node.hasInput(8)) {
    FailureOr<Value> bias = node.input(8);
    if (failed(bias))
      return failure();
    FailureOr<Value> spread = alongAxis(node, *bias, shape, 1, "the bias");
    if (failed(spread))
      return failure();
    sum = node.add(sum, node.convert(*spread, typeOf(sum).getElementType()));
  }
  FailureOr<Value> xScale = node.input(1), wScale = node.input(4),
                   yScale = node.input(6), yZero = node.input(7);
  if (failed(xScale) || failed(wScale) || failed(yScale) || failed(yZero))
    return failure();
  FailureOr<Value> xs = alongAxis(node, *xScale, shape, 1, "x_scale");
  FailureOr<Value> ws = alongAxis(node, *wScale, shape, 1, "w_scale");
  FailureOr<Value> ys = alongAxis(node, *yScale, shape, 1, "y_scale");
  FailureOr<Value> zero = alongAxis(node, *yZero, shape, 1, "y_zero_point");
  if (failed(xs) || failed(ws) || failed(ys) || failed(zero))
    return failure();
  FailureOr<Value> factor = node.create<graph::DivOp>(node.mul(*xs, *ws), *ys);
  if (failed(factor))
    return failure();
  mlir::Type f64 = node.builder.getF64Type();
  Value scaled = node.mul(node.convert(sum, f64), node.convert(*factor, f64));
  return node.setOutput(
      saturate(node, scaled, *zero, typeOf(*yZero).getElementType()));
}

LogicalResult lowerMatMulInteger(NodeLowering &node) {
  FailureOr<Value> a = centred(node, 0, 2, -2), b = centred(node, 1, 3, -1);
  if (failed(a) || failed(b))
    return failure();
  return node.setOutput(matmul(node, *a, *b));
}

LogicalResult lowerQLinearMatMul(NodeLowering &node) {
  FailureOr<Value> a = centred(node, 0, 2, -2), b = centred(node, 3, 5, -1);
  if (failed(a) || failed(b))
    return failure();
  FailureOr<Value> product = matmul(node, *a, *b);
  FailureOr<Value> aScale = node.input(1), bScale = node.input(4),
                   yScale = node.input(6), yZero = node.input(7);
  if (failed(product) || failed(aScale) || failed(bScale) || failed(yScale) ||
      failed(yZero))
    return failure();
  llvm::ArrayRef<int64_t> shape = typeOf(*product).getShape();
  FailureOr<Value> rows = alongAxis(node, *aScale, shape, -2, "a_scale");
  FailureOr<Value> columns = alongAxis(node, *bScale, shape, -1, "b_scale");
  FailureOr<Value> output = alongAxis(node, *yScale, shape, -1, "y_scale");
  FailureOr<Value> zero = alongAxis(node, *yZero, shape, -1, "y_zero_point");
  if (failed(rows) || failed(columns) || failed(output) || failed(zero))
    return failure();
  // The factor in the scales' type, the product scaled in f64.
  FailureOr<Value> factor =
      node.create<graph::DivOp>(node.mul(*rows, *columns), *output);
  if (failed(factor))
    return failure();
  mlir::Type f64 = node.builder.getF64Type();
  Value scaled =
      node.mul(node.convert(*product, f64), node.convert(*factor, f64));
  return node.setOutput(
      saturate(node, scaled, *zero, typeOf(*yZero).getElementType()));
}

} // namespace

void registerQuantizationLowerings(LoweringTable &table) {
  table["QuantizeLinear"] = lowerQuantizeLinear;
  table["DequantizeLinear"] = lowerDequantizeLinear;
  table["DynamicQuantizeLinear"] = lowerDynamicQuantizeLinear;
  table["MatMulInteger"] = lowerMatMulInteger;
  table["QLinearMatMul"] = lowerQLinearMatMul;
  table["ConvInteger"] = lowerConvInteger;
  table["QLinearConv"] = lowerQLinearConv;
}

} // namespace tessel::onnx_import
