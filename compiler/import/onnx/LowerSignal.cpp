//===- LowerSignal.cpp - ONNX's DFT and STFT as contractions --------------===//
//
// A discrete Fourier transform of static length N along one dimension is a
// contraction with the constant matrices cos(2 pi n k / N) and
// sin(2 pi n k / N) (computed in double, stored in the signal's type):
// forward, (xr + i xi) e^{-i theta} = xr cos + xi sin + i (xi cos - xr
// sin); inverse, e^{+i theta} and a division by N. Complex values are
// ONNX's trailing dimension of 2 (real, imaginary); a real signal has 1
// there. A one-sided transform keeps the first N / 2 + 1 frequencies. STFT
// cuts the signal into frames (strided slices, concatenated), multiplies
// each by the window and transforms it. Lengths and frame steps must be
// known at import time (they fix the output's shape).
//
//===----------------------------------------------------------------------===//

#include <cmath>

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// A complex tensor as its real and imaginary parts (imaginary: null for a
/// real signal).
struct Complex {
  Value real, imaginary;
};

/// The signal's parts: its trailing dimension of 1 (real) or 2 (complex)
/// split off.
FailureOr<Complex> split(NodeLowering &node, Value signal) {
  mlir::RankedTensorType type = typeOf(signal);
  int64_t rank = type.getRank();
  if (rank < 2 ||
      (type.getDimSize(rank - 1) != 1 && type.getDimSize(rank - 1) != 2))
    return node.fail("the signal's last dimension must be 1 (real) or 2 "
                     "(complex)");
  if (!mlir::isa<mlir::FloatType>(type.getElementType()))
    return node.fail("the signal must be a float tensor");
  Shape parts(type.getShape().drop_back());
  auto part = [&](int64_t index) {
    return node.reshape(node.sliceAlong(signal, rank - 1, index, index + 1),
                        parts);
  };
  if (type.getDimSize(rank - 1) == 1)
    return Complex{node.reshape(signal, parts), Value()};
  return Complex{part(0), part(1)};
}

/// The parts joined back into ONNX's [..., 2].
Value join(NodeLowering &node, const Complex &value) {
  Shape shape(typeOf(value.real).getShape());
  shape.push_back(1);
  Value parts[] = {node.reshape(value.real, shape),
                   node.reshape(value.imaginary, shape)};
  return *node.create<graph::ConcatenateOp>(
      mlir::ValueRange(parts), static_cast<int64_t>(shape.size() - 1));
}

/// `value` cut or zero-padded to `length` along `axis`.
Value fitLength(NodeLowering &node, Value value, int64_t axis, int64_t length) {
  mlir::RankedTensorType type = typeOf(value);
  int64_t size = type.getDimSize(axis), rank = type.getRank();
  if (size == length)
    return value;
  if (size > length)
    return node.sliceAlong(value, axis, 0, length);
  std::vector<int64_t> low(rank, 0), high(rank, 0), interior(rank, 0);
  high[axis] = length - size;
  return *node.create<graph::PadOp>(value, low, high, interior,
                                    llvm::APFloat(0.0));
}

/// The transform of `x` along `axis` at length `length` (the signal cut or
/// zero-padded to it), `bins` frequencies kept.
FailureOr<Complex> transform(NodeLowering &node, Complex x, int64_t axis,
                             int64_t length, int64_t bins, bool inverse) {
  if (length < 1)
    return node.fail("the transform's length must be positive");
  x.real = fitLength(node, x.real, axis, length);
  if (x.imaginary)
    x.imaginary = fitLength(node, x.imaginary, axis, length);
  std::vector<double> cosines, sines;
  const double pi = 3.14159265358979323846;
  for (int64_t n = 0; n < length; ++n)
    for (int64_t k = 0; k < bins; ++k) {
      // n k mod N keeps the angle small, so that large lengths stay exact.
      double angle = 2 * pi * static_cast<double>((n * k) % length) / length;
      cosines.push_back(std::cos(angle));
      sines.push_back(std::sin(angle));
    }
  mlir::Type element = typeOf(x.real).getElementType();
  Value cosine = node.constant(StaticTensor::ofFloats(onnx::TensorProto::DOUBLE,
                                                      {length, bins}, cosines),
                               element);
  Value sine = node.constant(
      StaticTensor::ofFloats(onnx::TensorProto::DOUBLE, {length, bins}, sines),
      element);
  auto times = [&](Value part, Value matrix) -> FailureOr<Value> {
    FailureOr<Value> product = node.create<graph::DotGeneralOp>(
        part, matrix, llvm::ArrayRef<int64_t>{}, llvm::ArrayRef<int64_t>{},
        llvm::ArrayRef<int64_t>{axis}, llvm::ArrayRef<int64_t>{0});
    if (failed(product))
      return failure();
    return node.moveLastTo(*product, axis);
  };
  FailureOr<Value> realCos = times(x.real, cosine),
                   realSin = times(x.real, sine);
  if (failed(realCos) || failed(realSin))
    return failure();
  Complex y;
  if (!x.imaginary) {
    // forward: xr cos - i xr sin; inverse: xr cos + i xr sin.
    y.real = *realCos;
    y.imaginary = inverse ? *realSin : *node.create<graph::NegOp>(*realSin);
  } else {
    FailureOr<Value> imagCos = times(x.imaginary, cosine),
                     imagSin = times(x.imaginary, sine);
    if (failed(imagCos) || failed(imagSin))
      return failure();
    y.real =
        inverse ? node.sub(*realCos, *imagSin) : node.add(*realCos, *imagSin);
    y.imaginary =
        inverse ? node.add(*imagCos, *realSin) : node.sub(*imagCos, *realSin);
  }
  if (inverse) {
    y.real = node.mul(y.real, node.splatLike(1.0 / length, y.real));
    y.imaginary =
        node.mul(y.imaginary, node.splatLike(1.0 / length, y.imaginary));
  }
  return y;
}

/// An optional scalar integer input known at import time.
FailureOr<std::optional<int64_t>>
optionalScalar(NodeLowering &node, size_t input, llvm::StringRef role) {
  if (!node.hasInput(input))
    return std::optional<int64_t>();
  FailureOr<std::vector<int64_t>> values = node.staticInts(input, role);
  if (failed(values))
    return failure();
  if (values->size() != 1)
    return node.fail(role + " must be a scalar");
  return std::optional<int64_t>((*values)[0]);
}

LogicalResult lowerDFT(NodeLowering &node) {
  FailureOr<Value> signal = node.input(0);
  if (failed(signal))
    return failure();
  FailureOr<Complex> x = split(node, *signal);
  if (failed(x))
    return failure();
  int64_t rank = typeOf(x->real).getRank();
  int64_t axis = node.attributes.getInt("axis", 1);
  if (axis < 0)
    axis += rank + 1; // Counted on the signal, with its last dimension.
  if (axis < 0 || axis >= rank)
    return node.fail("axis " + std::to_string(axis) +
                     " is not a dimension of the signal (the last one holds "
                     "the complex parts)");
  bool inverse = node.attributes.getInt("inverse", 0) != 0;
  bool onesided = node.attributes.getInt("onesided", 0) != 0;
  if (onesided && inverse)
    return node.fail("a one-sided inverse transform is not supported");
  FailureOr<std::optional<int64_t>> given =
      optionalScalar(node, 1, "dft_length");
  if (failed(given))
    return failure();
  int64_t length = given->value_or(typeOf(x->real).getDimSize(axis));
  FailureOr<Complex> y = transform(node, *x, axis, length,
                                   onesided ? length / 2 + 1 : length, inverse);
  if (failed(y))
    return failure();
  return node.setOutput(join(node, *y));
}

LogicalResult lowerSTFT(NodeLowering &node) {
  FailureOr<Value> signal = node.input(0);
  if (failed(signal))
    return failure();
  FailureOr<Complex> x = split(node, *signal);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(x->real);
  if (type.getRank() != 2)
    return node.fail("the signal must be [batch, length, 1 or 2]");
  FailureOr<std::optional<int64_t>> step =
      optionalScalar(node, 1, "frame_step");
  FailureOr<std::optional<int64_t>> frameLength =
      optionalScalar(node, 3, "frame_length");
  if (failed(step) || failed(frameLength))
    return failure();
  if (!*step || **step < 1)
    return node.fail("needs a positive frame_step");
  Value window;
  if (node.hasInput(2)) {
    FailureOr<Value> given = node.input(2);
    if (failed(given))
      return failure();
    window = *given;
    if (typeOf(window).getRank() != 1 ||
        typeOf(window).getElementType() != type.getElementType())
      return node.fail("the window must be a vector of the signal's type");
  }
  int64_t length = *frameLength ? **frameLength
                   : window     ? typeOf(window).getDimSize(0)
                                : 0;
  if (length < 1)
    return node.fail("needs a window or a frame_length");
  if (window && typeOf(window).getDimSize(0) != length)
    return node.fail("the window has " +
                     std::to_string(typeOf(window).getDimSize(0)) +
                     " elements but frame_length is " + std::to_string(length));
  int64_t batch = type.getDimSize(0), total = type.getDimSize(1);
  if (total < length)
    return node.fail("the signal is shorter than one frame");
  int64_t frames = (total - length) / **step + 1;
  // [batch, frames, length] of each part, windowed.
  auto framesOf = [&](Value part) {
    std::vector<Value> cut;
    for (int64_t f = 0; f < frames; ++f) {
      Value frame = node.sliceAlong(part, 1, f * **step, f * **step + length);
      cut.push_back(node.reshape(frame, {batch, 1, length}));
    }
    Value stacked =
        cut.size() == 1
            ? cut[0]
            : *node.create<graph::ConcatenateOp>(mlir::ValueRange(cut), 1);
    if (!window)
      return stacked;
    return node.mul(stacked,
                    *node.broadcastTo(window, {batch, frames, length}));
  };
  Complex framed{framesOf(x->real),
                 x->imaginary ? framesOf(x->imaginary) : Value()};
  bool onesided = node.attributes.getInt("onesided", 1) != 0;
  if (onesided && x->imaginary)
    return node.fail("a one-sided transform needs a real signal");
  FailureOr<Complex> y =
      transform(node, framed, 2, length, onesided ? length / 2 + 1 : length,
                /*inverse=*/false);
  if (failed(y))
    return failure();
  return node.setOutput(join(node, *y));
}

} // namespace

void registerSignalLowerings(LoweringTable &table) {
  table["DFT"] = lowerDFT;
  table["STFT"] = lowerSTFT;
}

} // namespace tessel::onnx_import
