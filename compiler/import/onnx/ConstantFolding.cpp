//===- ConstantFolding.cpp - Evaluate ONNX nodes at import time -----------===//

#include "compiler/import/onnx/ConstantFolding.h"

#include <cmath>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "compiler/import/onnx/OnnxSemantics.h"

namespace tessel::onnx_import {
namespace {

using onnx::TensorProto;
using Result = absl::StatusOr<std::optional<std::vector<StaticTensor>>>;

Result single(StaticTensor tensor) {
  return std::optional<std::vector<StaticTensor>>(
      std::vector<StaticTensor>{std::move(tensor)});
}

absl::Status invalid(const std::string &message) {
  return absl::InvalidArgumentError(message);
}

std::vector<int64_t> intsOf(const StaticTensor &tensor) {
  std::vector<int64_t> values;
  for (int64_t i = 0; i < tensor.numElements(); ++i)
    values.push_back(tensor.getInt(i));
  return values;
}

/// Row-major strides of `shape`.
std::vector<int64_t> stridesOf(llvm::ArrayRef<int64_t> shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

/// The element of `tensor` that broadcasting to `shape` maps `index` to.
int64_t broadcastSource(const StaticTensor &tensor,
                        llvm::ArrayRef<int64_t> shape, int64_t index) {
  std::vector<int64_t> outStrides = stridesOf(shape);
  std::vector<int64_t> inStrides = stridesOf(tensor.shape);
  int64_t offset = shape.size() - tensor.shape.size(), source = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t coordinate = (index / outStrides[d]) % shape[d];
    if (static_cast<int64_t>(d) >= offset && tensor.shape[d - offset] != 1)
      source += coordinate * inStrides[d - offset];
  }
  return source;
}

/// An elementwise n-ary op with numpy broadcasting; `floatOp` and `intOp`
/// compute one element, the result has `resultType` (or the first input's).
Result
elementwise(llvm::ArrayRef<const StaticTensor *> inputs,
            std::optional<int32_t> resultType,
            const std::function<double(llvm::ArrayRef<double>)> &floatOp,
            const std::function<int64_t(llvm::ArrayRef<int64_t>)> &intOp) {
  Shape shape = inputs.front()->shape;
  for (const StaticTensor *input : inputs.drop_front()) {
    absl::StatusOr<Shape> broadcast = broadcastShapes(shape, input->shape);
    if (!broadcast.ok())
      return broadcast.status();
    shape = *broadcast;
  }
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  if (count > kMaxFoldedElements)
    return std::nullopt;
  // Operands compute in the first input's domain (Where: the values').
  const StaticTensor &domain = *inputs[inputs.size() == 3 ? 1 : 0];
  int32_t type = resultType.value_or(domain.dataType);
  StaticTensor result;
  result.dataType = type;
  result.shape = shape;
  std::vector<double> floatArgs(inputs.size());
  std::vector<int64_t> intArgs(inputs.size());
  for (int64_t i = 0; i < count; ++i) {
    for (size_t k = 0; k < inputs.size(); ++k) {
      int64_t source = broadcastSource(*inputs[k], shape, i);
      floatArgs[k] = inputs[k]->getDouble(source);
      intArgs[k] = inputs[k]->getInt(source);
    }
    if (domain.isFloat()) {
      double value = floatOp(floatArgs);
      if (isFloatType(type))
        result.floats.push_back(roundFloat(type, value));
      else
        result.ints.push_back(wrapInt(type, static_cast<int64_t>(value)));
    } else {
      result.ints.push_back(wrapInt(type, intOp(intArgs)));
    }
  }
  return single(std::move(result));
}

Result binaryArithmetic(const std::string &op,
                        llvm::ArrayRef<const StaticTensor *> inputs) {
  auto f = [op](llvm::ArrayRef<double> a) -> double {
    if (op == "Add")
      return a[0] + a[1];
    if (op == "Sub")
      return a[0] - a[1];
    if (op == "Mul")
      return a[0] * a[1];
    if (op == "Div")
      return a[0] / a[1];
    if (op == "Pow")
      return std::pow(a[0], a[1]);
    if (op == "Max")
      return std::max(a[0], a[1]);
    return std::min(a[0], a[1]);
  };
  auto i = [op](llvm::ArrayRef<int64_t> a) -> int64_t {
    if (op == "Add")
      return a[0] + a[1];
    if (op == "Sub")
      return a[0] - a[1];
    if (op == "Mul")
      return a[0] * a[1];
    if (op == "Div")
      return a[1] == 0 ? 0 : a[0] / a[1];
    if (op == "Pow")
      return static_cast<int64_t>(std::pow(a[0], a[1]));
    if (op == "Max")
      return std::max(a[0], a[1]);
    return std::min(a[0], a[1]);
  };
  if (op == "Div" && !inputs[0]->isFloat())
    for (int64_t k = 0; k < inputs[1]->numElements(); ++k)
      if (inputs[1]->getInt(k) == 0)
        return invalid("integer division by zero");
  return elementwise(inputs, std::nullopt, f, i);
}

Result comparison(const std::string &op,
                  llvm::ArrayRef<const StaticTensor *> inputs) {
  auto compare = [op](auto a, auto b) -> bool {
    if (op == "Equal")
      return a == b;
    if (op == "Less")
      return a < b;
    if (op == "LessOrEqual")
      return a <= b;
    if (op == "Greater")
      return a > b;
    return a >= b;
  };
  return elementwise(
      inputs, TensorProto::BOOL,
      [&](llvm::ArrayRef<double> a) { return double(compare(a[0], a[1])); },
      [&](llvm::ArrayRef<int64_t> a) { return int64_t(compare(a[0], a[1])); });
}

Result unary(const std::string &op, const StaticTensor &input) {
  auto f = [op](llvm::ArrayRef<double> a) -> double {
    if (op == "Neg")
      return -a[0];
    if (op == "Abs")
      return std::fabs(a[0]);
    if (op == "Sqrt")
      return std::sqrt(a[0]);
    if (op == "Reciprocal")
      return 1.0 / a[0];
    if (op == "Floor")
      return std::floor(a[0]);
    if (op == "Ceil")
      return std::ceil(a[0]);
    if (op == "Exp")
      return std::exp(a[0]);
    if (op == "Log")
      return std::log(a[0]);
    return a[0] == 0; // Not
  };
  auto i = [op](llvm::ArrayRef<int64_t> a) -> int64_t {
    if (op == "Neg")
      return -a[0];
    if (op == "Abs")
      return a[0] < 0 ? -a[0] : a[0];
    if (op == "Not")
      return a[0] == 0;
    return a[0]; // Floor/Ceil of integers
  };
  if ((op == "Sqrt" || op == "Reciprocal" || op == "Exp" || op == "Log") &&
      !input.isFloat())
    return invalid(absl::StrCat(op, " needs a floating-point input"));
  const StaticTensor *inputs[] = {&input};
  return elementwise(inputs, std::nullopt, f, i);
}

/// Copies the elements of `input` selected by `sourceOf(outputIndex)`.
StaticTensor gatherElements(const StaticTensor &input, Shape shape,
                            const std::function<int64_t(int64_t)> &sourceOf) {
  StaticTensor result;
  result.dataType = input.dataType;
  result.shape = std::move(shape);
  int64_t count = result.numElements();
  for (int64_t i = 0; i < count; ++i) {
    int64_t source = sourceOf(i);
    if (input.isFloat())
      result.floats.push_back(input.floats[source]);
    else
      result.ints.push_back(input.ints[source]);
  }
  return result;
}

StaticTensor withShape(StaticTensor tensor, Shape shape) {
  tensor.shape = std::move(shape);
  return tensor;
}

Result foldConstant(const onnx::NodeProto &node) {
  NodeAttributes attributes(node);
  if (const TensorProto *value = attributes.getTensor("value")) {
    absl::StatusOr<StaticTensor> tensor = decodeTensor(*value, ".");
    if (!tensor.ok())
      return tensor.status();
    return single(std::move(*tensor));
  }
  if (attributes.has("value_float"))
    return single(StaticTensor::ofFloats(
        TensorProto::FLOAT, {}, {attributes.getFloat("value_float", 0)}));
  if (attributes.has("value_int"))
    return single(StaticTensor::ofInts(TensorProto::INT64, {},
                                       {attributes.getInt("value_int", 0)}));
  if (auto floats = attributes.getFloats("value_floats")) {
    int64_t size = floats->size();
    return single(StaticTensor::ofFloats(
        TensorProto::FLOAT, {size},
        std::vector<double>(floats->begin(), floats->end())));
  }
  if (auto ints = attributes.getInts("value_ints"))
    return single(StaticTensor::vector(*ints));
  return absl::UnimplementedError(
      "only tensor, float and int values are supported (not sparse or string "
      "constants)");
}

Result foldGather(const onnx::NodeProto &node, const StaticTensor &data,
                  const StaticTensor &indices) {
  int64_t rank = data.shape.size();
  absl::StatusOr<int64_t> axis =
      normalizeAxis(NodeAttributes(node).getInt("axis", 0), rank);
  if (!axis.ok())
    return axis.status();
  int64_t axisSize = data.shape[*axis];
  std::vector<int64_t> index = intsOf(indices);
  for (int64_t &i : index) {
    if (i < -axisSize || i >= axisSize)
      return invalid(absl::StrCat("index ", i, " is out of range for axis ",
                                  *axis, " of size ", axisSize));
    if (i < 0)
      i += axisSize;
  }
  Shape shape(data.shape.begin(), data.shape.begin() + *axis);
  shape.insert(shape.end(), indices.shape.begin(), indices.shape.end());
  shape.insert(shape.end(), data.shape.begin() + *axis + 1, data.shape.end());
  int64_t inner = 1;
  for (int64_t d = *axis + 1; d < rank; ++d)
    inner *= data.shape[d];
  int64_t indexCount = index.size();
  return single(gatherElements(data, shape, [&](int64_t i) {
    int64_t outer = i / (inner * indexCount);
    int64_t which = (i / inner) % indexCount;
    return (outer * axisSize + index[which]) * inner + i % inner;
  }));
}

Result foldConcat(const onnx::NodeProto &node,
                  llvm::ArrayRef<const StaticTensor *> inputs) {
  int64_t rank = inputs.front()->shape.size();
  absl::StatusOr<int64_t> axis =
      normalizeAxis(NodeAttributes(node).getInt("axis", 0), rank);
  if (!axis.ok())
    return axis.status();
  StaticTensor result;
  result.dataType = inputs.front()->dataType;
  result.shape = inputs.front()->shape;
  result.shape[*axis] = 0;
  for (const StaticTensor *input : inputs) {
    if (static_cast<int64_t>(input->shape.size()) != rank)
      return invalid("inputs of different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && input->shape[d] != inputs.front()->shape[d])
        return invalid("inputs differ outside the concatenation axis");
    result.shape[*axis] += input->shape[*axis];
  }
  int64_t outer = 1;
  for (int64_t d = 0; d < *axis; ++d)
    outer *= result.shape[d];
  for (int64_t o = 0; o < outer; ++o) {
    for (const StaticTensor *input : inputs) {
      int64_t chunk = input->numElements() / std::max<int64_t>(outer, 1);
      for (int64_t k = 0; k < chunk; ++k) {
        if (input->isFloat())
          result.floats.push_back(input->floats[o * chunk + k]);
        else
          result.ints.push_back(input->ints[o * chunk + k]);
      }
    }
  }
  return single(std::move(result));
}

Result foldSlice(const StaticTensor &data, const std::vector<int64_t> &starts,
                 const std::vector<int64_t> &ends,
                 const std::vector<int64_t> &axes,
                 const std::vector<int64_t> &steps) {
  absl::StatusOr<std::vector<SliceRange>> ranges =
      sliceRanges(data.shape, starts, ends, axes, steps);
  if (!ranges.ok())
    return ranges.status();
  Shape shape;
  for (const SliceRange &range : *ranges)
    shape.push_back(range.size);
  std::vector<int64_t> inStrides = stridesOf(data.shape);
  std::vector<int64_t> outStrides = stridesOf(shape);
  return single(gatherElements(data, shape, [&](int64_t i) {
    int64_t source = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t coordinate = (i / outStrides[d]) % shape[d];
      source +=
          ((*ranges)[d].start + coordinate * (*ranges)[d].step) * inStrides[d];
    }
    return source;
  }));
}

Result foldCast(const onnx::NodeProto &node, const StaticTensor &input) {
  int32_t to = NodeAttributes(node).getInt("to", TensorProto::UNDEFINED);
  if (!TensorProto::DataType_IsValid(to) || to == TensorProto::UNDEFINED ||
      to == TensorProto::STRING)
    return invalid(absl::StrCat("cannot cast to ", dataTypeName(to)));
  StaticTensor result;
  result.dataType = to;
  result.shape = input.shape;
  for (int64_t i = 0; i < input.numElements(); ++i) {
    if (isFloatType(to))
      result.floats.push_back(roundFloat(to, input.getDouble(i)));
    else if (to == TensorProto::BOOL)
      result.ints.push_back(input.getDouble(i) != 0);
    else
      result.ints.push_back(wrapInt(to, input.getInt(i)));
  }
  return single(std::move(result));
}

Result foldRange(const StaticTensor &start, const StaticTensor &limit,
                 const StaticTensor &delta) {
  if (start.numElements() != 1 || limit.numElements() != 1 ||
      delta.numElements() != 1)
    return invalid("start, limit and delta must be scalars");
  double step = delta.getDouble(0);
  if (step == 0)
    return invalid("delta is 0");
  double first = start.getDouble(0);
  int64_t count = std::max<int64_t>(
      0, static_cast<int64_t>(std::ceil((limit.getDouble(0) - first) / step)));
  if (count > kMaxFoldedElements)
    return std::nullopt;
  if (start.isFloat()) {
    std::vector<double> values;
    for (int64_t i = 0; i < count; ++i)
      values.push_back(first + i * step);
    return single(StaticTensor::ofFloats(start.dataType, {count}, values));
  }
  std::vector<int64_t> values;
  for (int64_t i = 0; i < count; ++i)
    values.push_back(start.getInt(0) + i * delta.getInt(0));
  return single(StaticTensor::ofInts(start.dataType, {count}, values));
}

/// HannWindow, HammingWindow and BlackmanWindow of a static size: each a
/// sum of cosines, a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), with N the
/// size (periodic, the default) or the size - 1 (symmetric); computed in
/// double and stored as output_datatype (float by default).
Result foldWindow(const std::string &op, const NodeAttributes &attributes,
                  const StaticTensor &size) {
  if (size.numElements() != 1 || size.isFloat())
    return invalid("size must be an integer scalar");
  int64_t count = size.getInt(0);
  if (count < 0)
    return invalid(absl::StrCat("size ", count, " is negative"));
  if (count > kMaxFoldedElements)
    return std::nullopt;
  int32_t type = static_cast<int32_t>(
      attributes.getInt("output_datatype", TensorProto::FLOAT));
  if (!runtimeElementType(type))
    return invalid(absl::StrCat("output_datatype ", dataTypeName(type),
                                " is not a supported element type"));
  bool periodic = attributes.getInt("periodic", 1) != 0;
  double a0 = 0.5, a1 = 0.5, a2 = 0;
  if (op == "HammingWindow") {
    a0 = 25.0 / 46;
    a1 = 21.0 / 46;
  } else if (op == "BlackmanWindow") {
    a0 = 0.42;
    a2 = 0.08;
  }
  double period = periodic ? count : count - 1;
  const double pi = 3.14159265358979323846;
  std::vector<double> values;
  for (int64_t n = 0; n < count; ++n) {
    double phase = period > 0 ? 2 * pi * n / period : 0;
    values.push_back(a0 - a1 * std::cos(phase) + a2 * std::cos(2 * phase));
  }
  if (isFloatType(type))
    return single(StaticTensor::ofFloats(type, {count}, values));
  std::vector<int64_t> ints;
  for (double value : values)
    ints.push_back(wrapInt(type, static_cast<int64_t>(value)));
  return single(StaticTensor::ofInts(type, {count}, ints));
}

/// MelWeightMatrix: triangular filters on the mel scale, [dft_length / 2
/// + 1, num_mel_bins], as ONNX's reference builds them (the band edges in
/// float, the bins floored in double).
Result foldMelWeightMatrix(const NodeAttributes &attributes,
                           llvm::ArrayRef<const StaticTensor *> inputs) {
  for (const StaticTensor *input : inputs)
    if (!input || input->numElements() != 1)
      return invalid("needs five scalar inputs");
  int64_t bins = inputs[0]->getInt(0), length = inputs[1]->getInt(0),
          rate = inputs[2]->getInt(0);
  if (bins <= 0 || length <= 0 || rate <= 0)
    return invalid("num_mel_bins, dft_length and sample_rate must be "
                   "positive");
  int64_t spectrogramBins = length / 2 + 1;
  if (spectrogramBins * bins > kMaxFoldedElements)
    return std::nullopt;
  int32_t type = static_cast<int32_t>(
      attributes.getInt("output_datatype", TensorProto::FLOAT));
  if (!runtimeElementType(type))
    return invalid(absl::StrCat("output_datatype ", dataTypeName(type),
                                " is not a supported element type"));
  auto toMel = [](float hertz) {
    return 2595.0f * std::log10(1.0f + hertz / 700.0f);
  };
  float low = toMel(static_cast<float>(inputs[3]->getDouble(0)));
  float high = toMel(static_cast<float>(inputs[4]->getDouble(0)));
  float step = (high - low) / static_cast<float>(bins + 2);
  std::vector<int64_t> edges;
  for (int64_t i = 0; i < bins + 2; ++i) {
    double mel = static_cast<double>(i) * step + low;
    double hertz = 700 * (std::pow(10.0, mel / 2595) - 1);
    edges.push_back(
        static_cast<int64_t>(std::floor((length + 1) * hertz / rate)));
  }
  std::vector<double> values(spectrogramBins * bins, 0.0);
  auto at = [&](int64_t j, int64_t i) -> double * {
    return j >= 0 && j < spectrogramBins ? &values[j * bins + i] : nullptr;
  };
  for (int64_t i = 0; i < bins; ++i) {
    int64_t left = edges[i], centre = edges[i + 1], right = edges[i + 2];
    if (centre == left) {
      if (double *value = at(centre, i))
        *value = 1;
    } else {
      for (int64_t j = left; j <= centre; ++j)
        if (double *value = at(j, i))
          *value = static_cast<double>(j - left) / (centre - left);
    }
    for (int64_t j = centre; j < right; ++j)
      if (double *value = at(j, i))
        *value = static_cast<double>(right - j) / (right - centre);
  }
  if (isFloatType(type))
    return single(StaticTensor::ofFloats(type, {spectrogramBins, bins},
                                         values));
  std::vector<int64_t> ints;
  for (double value : values)
    ints.push_back(wrapInt(type, static_cast<int64_t>(value)));
  return single(StaticTensor::ofInts(type, {spectrogramBins, bins}, ints));
}

Result foldConstantOfShape(const onnx::NodeProto &node,
                           const StaticTensor &shapeTensor) {
  Shape shape = intsOf(shapeTensor);
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return invalid(absl::StrCat("negative dimension ", dim));
    count *= dim;
  }
  if (count > kMaxFoldedElements)
    return std::nullopt;
  StaticTensor fill = StaticTensor::ofFloats(TensorProto::FLOAT, {1}, {0.0});
  if (const TensorProto *value = NodeAttributes(node).getTensor("value")) {
    absl::StatusOr<StaticTensor> decoded = decodeTensor(*value, ".");
    if (!decoded.ok())
      return decoded.status();
    if (decoded->numElements() != 1)
      return invalid("value must have one element");
    fill = *decoded;
  }
  return single(gatherElements(fill, shape, [](int64_t) { return 0; }));
}

} // namespace

bool isFoldable(const std::string &opType) {
  static const absl::flat_hash_set<std::string> kFoldable = {"Constant",
                                                             "Identity",
                                                             "Cast",
                                                             "Gather",
                                                             "Unsqueeze",
                                                             "Squeeze",
                                                             "Concat",
                                                             "Slice",
                                                             "ConstantOfShape",
                                                             "Range",
                                                             "HannWindow",
                                                             "HammingWindow",
                                                             "BlackmanWindow",
                                                             "MelWeightMatrix",
                                                             "Reshape",
                                                             "Expand",
                                                             "Flatten",
                                                             "Add",
                                                             "Sub",
                                                             "Mul",
                                                             "Div",
                                                             "Pow",
                                                             "Max",
                                                             "Min",
                                                             "Neg",
                                                             "Abs",
                                                             "Sqrt",
                                                             "Reciprocal",
                                                             "Floor",
                                                             "Ceil",
                                                             "Exp",
                                                             "Log",
                                                             "Not",
                                                             "Equal",
                                                             "Less",
                                                             "LessOrEqual",
                                                             "Greater",
                                                             "GreaterOrEqual",
                                                             "Where",
                                                             "And",
                                                             "Or"};
  return kFoldable.contains(opType);
}

Result foldNode(const onnx::NodeProto &node, int64_t opset,
                llvm::ArrayRef<const StaticTensor *> inputs) {
  const std::string &op = node.op_type();
  if (!isFoldable(op))
    return std::nullopt;
  if (op == "Constant")
    return foldConstant(node);
  auto input = [&](size_t i) -> const StaticTensor * {
    return i < inputs.size() ? inputs[i] : nullptr;
  };
  if (!input(0))
    return invalid("its first input is missing");
  for (const StaticTensor *tensor : inputs)
    if (tensor && tensor->numElements() > kMaxFoldedElements)
      return std::nullopt;
  NodeAttributes attributes(node);

  if (op == "Identity")
    return single(*input(0));
  if (op == "Cast")
    return foldCast(node, *input(0));
  if (op == "Gather") {
    if (!input(1))
      return invalid("indices are missing");
    return foldGather(node, *input(0), *input(1));
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes;
    if (opset >= 13 && input(1))
      axes = intsOf(*input(1));
    else if (auto attribute = attributes.getInts("axes"))
      axes = *attribute;
    absl::StatusOr<Shape> shape = op == "Unsqueeze"
                                      ? unsqueezeShape(input(0)->shape, axes)
                                      : squeezeShape(input(0)->shape, axes);
    if (!shape.ok())
      return shape.status();
    return single(withShape(*input(0), *shape));
  }
  if (op == "Concat")
    return foldConcat(node, inputs);
  if (op == "Slice") {
    if (opset < 10)
      return foldSlice(*input(0),
                       attributes.getInts("starts").value_or(Shape{}),
                       attributes.getInts("ends").value_or(Shape{}),
                       attributes.getInts("axes").value_or(Shape{}), {});
    if (!input(1) || !input(2))
      return invalid("starts and ends are missing");
    return foldSlice(*input(0), intsOf(*input(1)), intsOf(*input(2)),
                     input(3) ? intsOf(*input(3)) : Shape{},
                     input(4) ? intsOf(*input(4)) : Shape{});
  }
  if (op == "ConstantOfShape")
    return foldConstantOfShape(node, *input(0));
  if (op == "MelWeightMatrix")
    return foldMelWeightMatrix(attributes, inputs);
  if (op == "HannWindow" || op == "HammingWindow" || op == "BlackmanWindow")
    return foldWindow(op, attributes, *input(0));
  if (op == "Range") {
    if (!input(1) || !input(2))
      return invalid("limit and delta are missing");
    return foldRange(*input(0), *input(1), *input(2));
  }
  if (op == "Reshape") {
    Shape requested = opset < 5 ? attributes.getInts("shape").value_or(Shape{})
                                : (input(1) ? intsOf(*input(1)) : Shape{});
    absl::StatusOr<Shape> shape = reshapeTarget(
        input(0)->shape, requested, attributes.getInt("allowzero", 0) != 0);
    if (!shape.ok())
      return shape.status();
    return single(withShape(*input(0), *shape));
  }
  if (op == "Flatten") {
    int64_t rank = input(0)->shape.size();
    int64_t axis = attributes.getInt("axis", 1);
    if (axis < -rank || axis > rank)
      return invalid(absl::StrCat("axis ", axis, " out of range"));
    if (axis < 0)
      axis += rank;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d)
      outer *= input(0)->shape[d];
    return single(withShape(
        *input(0),
        {outer, input(0)->numElements() / std::max<int64_t>(outer, 1)}));
  }
  if (op == "Expand") {
    if (!input(1))
      return invalid("shape is missing");
    absl::StatusOr<Shape> shape =
        broadcastShapes(input(0)->shape, intsOf(*input(1)));
    if (!shape.ok())
      return shape.status();
    int64_t count = 1;
    for (int64_t dim : *shape)
      count *= dim;
    if (count > kMaxFoldedElements)
      return std::nullopt;
    return single(gatherElements(*input(0), *shape, [&](int64_t i) {
      return broadcastSource(*input(0), *shape, i);
    }));
  }

  // Elementwise ops: every input is required.
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i])
      return invalid(absl::StrCat("input ", i, " is missing"));
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" ||
      op == "Max" || op == "Min") {
    if (inputs.size() != 2)
      return std::nullopt; // Variadic Max/Min are lowered instead.
    return binaryArithmetic(op, inputs);
  }
  if (op == "Equal" || op == "Less" || op == "LessOrEqual" || op == "Greater" ||
      op == "GreaterOrEqual")
    return comparison(op, inputs);
  if (op == "And" || op == "Or")
    return elementwise(
        inputs, TensorProto::BOOL,
        [&](llvm::ArrayRef<double> a) {
          return double(op == "And" ? (a[0] && a[1]) : (a[0] || a[1]));
        },
        [&](llvm::ArrayRef<int64_t> a) {
          return int64_t(op == "And" ? (a[0] && a[1]) : (a[0] || a[1]));
        });
  if (op == "Where") {
    if (inputs.size() != 3)
      return invalid("Where takes 3 inputs");
    return elementwise(
        inputs, std::nullopt,
        [](llvm::ArrayRef<double> a) { return a[0] != 0 ? a[1] : a[2]; },
        [](llvm::ArrayRef<int64_t> a) { return a[0] != 0 ? a[1] : a[2]; });
  }
  return unary(op, *input(0));
}

} // namespace tessel::onnx_import
