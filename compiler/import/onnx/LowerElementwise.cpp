//===- LowerElementwise.cpp - Elementwise ONNX ops to graph ops -----------===//
//
// Unary and (broadcasting) binary arithmetic, comparisons, logic, Where,
// Cast, Clip and the activation functions ONNX defines as formulas.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <limits>

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

bool isFloat(Value value) {
  return mlir::isa<mlir::FloatType>(typeOf(value).getElementType());
}

LogicalResult requireFloat(NodeLowering &node, Value value) {
  if (isFloat(value))
    return success();
  return node.fail("needs a floating-point input, got " +
                   dataTypeName(node.inputDataType(0)));
}

template <typename OpTy, bool floatOnly>
LogicalResult lowerUnary(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x) || (floatOnly && failed(requireFloat(node, *x))))
    return failure();
  if (typeOf(*x).getElementType().isInteger(1) &&
      !std::is_same_v<OpTy, graph::NotOp>)
    return node.fail("does not take bool inputs");
  node.setOutput(0, OpTy::create(node.builder, node.loc, *x));
  return success();
}

/// The inputs of an elementwise node, broadcast to their common shape.
/// Operand types must agree, as ONNX requires.
FailureOr<llvm::SmallVector<Value>> broadcastInputs(NodeLowering &node,
                                                    size_t first = 0) {
  llvm::SmallVector<Value> values;
  for (size_t i = first; i < node.numInputs(); ++i) {
    FailureOr<Value> value = node.input(i);
    if (failed(value))
      return failure();
    values.push_back(*value);
  }
  if (values.empty())
    return node.fail("has no inputs");
  for (Value value : values)
    if (typeOf(value).getElementType() != typeOf(values[0]).getElementType())
      return node.fail("inputs have different element types (" +
                       dataTypeName(node.inputDataType(first)) + " and " +
                       dataTypeName(node.inputDataType(first + 1)) + ")");
  if (failed(node.broadcastTogether(values)))
    return failure();
  return values;
}

template <typename OpTy> LogicalResult lowerBinary(NodeLowering &node) {
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node);
  if (failed(values))
    return failure();
  if (values->size() != 2)
    return node.fail("expects two inputs");
  bool isBool = typeOf((*values)[0]).getElementType().isInteger(1);
  bool logic = std::is_same_v<OpTy, graph::AndOp> ||
               std::is_same_v<OpTy, graph::OrOp> ||
               std::is_same_v<OpTy, graph::XorOp>;
  if (isBool != logic)
    return node.fail(logic ? "needs bool inputs" : "does not take bool inputs");
  node.setOutput(
      0, OpTy::create(node.builder, node.loc, (*values)[0], (*values)[1]));
  return success();
}

/// Max, Min, Sum, Mean: any number of inputs, folded left to right.
template <typename OpTy, bool mean>
LogicalResult lowerVariadic(NodeLowering &node) {
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node);
  if (failed(values))
    return failure();
  if (typeOf((*values)[0]).getElementType().isInteger(1))
    return node.fail("does not take bool inputs");
  Value result = (*values)[0];
  for (Value value : llvm::ArrayRef(*values).drop_front())
    result = OpTy::create(node.builder, node.loc, result, value);
  if (mean) {
    mlir::RankedTensorType type = typeOf(result);
    Value count =
        node.splat(values->size(), type.getElementType(), type.getShape());
    result = graph::DivOp::create(node.builder, node.loc, result, count);
  }
  node.setOutput(0, result);
  return success();
}

LogicalResult lowerPow(NodeLowering &node) {
  FailureOr<Value> base = node.input(0), exponent = node.input(1);
  if (failed(base) || failed(exponent))
    return failure();
  // ONNX allows an exponent of another numeric type.
  llvm::SmallVector<Value> values = {
      *base, node.convert(*exponent, typeOf(*base).getElementType())};
  if (failed(node.broadcastTogether(values)))
    return failure();
  node.setOutput(
      0, graph::PowOp::create(node.builder, node.loc, values[0], values[1]));
  return success();
}

LogicalResult lowerMod(NodeLowering &node) {
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node);
  if (failed(values))
    return failure();
  Value a = (*values)[0], b = (*values)[1];
  bool fmod = node.attributes.getInt("fmod", 0) != 0;
  if (isFloat(a) && !fmod)
    return node.fail("floating-point Mod needs fmod=1");
  Value remainder = graph::RemOp::create(node.builder, node.loc, a, b);
  if (fmod) {
    node.setOutput(0, remainder);
    return success();
  }
  // Integer Mod takes the sign of the divisor: add b where the signs differ.
  mlir::RankedTensorType type = typeOf(a);
  Value zero = node.splat(0, type.getElementType(), type.getShape());
  auto compare = [&](graph::ComparisonDirection direction, Value lhs,
                     Value rhs) {
    return graph::CompareOp::create(node.builder, node.loc, direction, lhs, rhs)
        .getResult();
  };
  Value nonzero = compare(graph::ComparisonDirection::NE, remainder, zero);
  Value signsDiffer = graph::XorOp::create(
      node.builder, node.loc,
      compare(graph::ComparisonDirection::LT, remainder, zero),
      compare(graph::ComparisonDirection::LT, b, zero));
  Value adjust =
      graph::AndOp::create(node.builder, node.loc, nonzero, signsDiffer);
  Value shifted = graph::AddOp::create(node.builder, node.loc, remainder, b);
  node.setOutput(0, graph::SelectOp::create(node.builder, node.loc, adjust,
                                            shifted, remainder));
  return success();
}

template <graph::ComparisonDirection direction>
LogicalResult lowerCompare(NodeLowering &node) {
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node);
  if (failed(values))
    return failure();
  node.setOutput(0, graph::CompareOp::create(node.builder, node.loc, direction,
                                             (*values)[0], (*values)[1]));
  return success();
}

LogicalResult lowerWhere(NodeLowering &node) {
  FailureOr<Value> condition = node.input(0);
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node, 1);
  if (failed(condition) || failed(values))
    return failure();
  llvm::SmallVector<Value> all = {*condition, (*values)[0], (*values)[1]};
  if (failed(node.broadcastTogether(all)))
    return failure();
  node.setOutput(0, graph::SelectOp::create(node.builder, node.loc, all[0],
                                            all[1], all[2]));
  return success();
}

LogicalResult lowerCast(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  int32_t to;
  if (node.node.op_type() == "CastLike")
    to = node.inputDataType(1);
  else
    to = node.attributes.getInt("to", onnx::TensorProto::UNDEFINED);
  FailureOr<mlir::Type> type = node.elementType(to, node.node.output(0));
  if (failed(type))
    return failure();
  node.setOutput(0, node.convert(*x, *type));
  return success();
}

LogicalResult lowerIdentity(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  if (node.node.op_type() == "Dropout") {
    if (node.hasInput(2)) {
      FailureOr<StaticTensor> training = node.staticInput(2, "training_mode");
      if (failed(training))
        return failure();
      double ratio = 0.5;
      if (node.hasInput(1)) {
        FailureOr<StaticTensor> given = node.staticInput(1, "ratio");
        if (failed(given))
          return failure();
        ratio = given->getDouble(0);
      }
      // Training with a ratio of 0 keeps every element, as inference does;
      // any other ratio draws random numbers.
      if (training->getInt(0) != 0 && ratio != 0)
        return node.fail("training mode with a nonzero ratio draws random "
                         "numbers, which Tessel does not support");
    }
    // In inference every element is kept.
    if (node.outputUsed(1))
      node.setOutput(
          1, node.splat(1, node.builder.getI1Type(), typeOf(*x).getShape()));
  }
  node.setOutput(0, *x);
  return success();
}

/// min(max(x, low), high) with bounds known now (attributes or static
/// inputs) as graph.clamp, otherwise as max/min with the bound broadcast.
LogicalResult lowerClip(NodeLowering &node) {
  FailureOr<Value> x = node.input(0);
  if (failed(x))
    return failure();
  mlir::RankedTensorType type = typeOf(*x);
  Value result = *x;
  std::optional<double> bounds[2];
  if (node.opset < 11) {
    if (node.attributes.has("min"))
      bounds[0] = widenFloat(node.attributes.getFloat("min", 0));
    if (node.attributes.has("max"))
      bounds[1] = widenFloat(node.attributes.getFloat("max", 0));
  }
  for (int i = 0; i < 2 && node.opset >= 11; ++i) {
    if (!node.hasInput(i + 1))
      continue;
    if (const StaticTensor *known = node.tryStaticInput(i + 1)) {
      if (known->numElements() != 1)
        return node.fail("min and max must be scalars");
      bounds[i] = known->getDouble(0);
      continue;
    }
    FailureOr<Value> bound = node.input(i + 1);
    if (failed(bound))
      return failure();
    FailureOr<Value> broadcast = node.broadcastTo(*bound, type.getShape());
    if (failed(broadcast))
      return failure();
    result =
        i == 0
            ? graph::MaxOp::create(node.builder, node.loc, result, *broadcast)
                  .getResult()
            : graph::MinOp::create(node.builder, node.loc, result, *broadcast)
                  .getResult();
  }
  if (bounds[0] || bounds[1]) {
    mlir::FloatAttr low, high;
    if (bounds[0])
      low = node.builder.getF64FloatAttr(*bounds[0]);
    if (bounds[1])
      high = node.builder.getF64FloatAttr(*bounds[1]);
    if (low && high && low.getValueAsDouble() > high.getValueAsDouble())
      return node.fail("min exceeds max");
    result = graph::ClampOp::create(node.builder, node.loc, result, low, high);
  }
  node.setOutput(0, result);
  return success();
}

/// Builders for activation formulas on one float tensor.
struct Formula {
  NodeLowering &node;
  mlir::RankedTensorType type;

  Value scalar(double value) {
    return node.splat(value, type.getElementType(), type.getShape());
  }
  Value mul(Value a, Value b) { return node.mul(a, b); }
  Value add(Value a, Value b) { return node.add(a, b); }
  Value positive(Value x) {
    return graph::CompareOp::create(
        node.builder, node.loc, graph::ComparisonDirection::GT, x, scalar(0));
  }
  Value select(Value c, Value a, Value b) {
    return graph::SelectOp::create(node.builder, node.loc, c, a, b);
  }
};

LogicalResult lowerActivation(NodeLowering &node) {
  FailureOr<Value> input = node.input(0);
  if (failed(input) || failed(requireFloat(node, *input)))
    return failure();
  Value x = *input;
  Formula f{node, typeOf(x)};
  const std::string &op = node.node.op_type();
  const NodeAttributes &attributes = node.attributes;
  Value result;
  if (op == "LeakyRelu") {
    Value scaled = f.mul(x, f.scalar(attributes.getFloat("alpha", 0.01f)));
    result = f.select(f.positive(x), x, scaled);
  } else if (op == "HardSigmoid" || op == "HardSwish") {
    double alpha =
        op == "HardSwish" ? 1.0 / 6 : attributes.getFloat("alpha", 0.2f);
    double beta = op == "HardSwish" ? 0.5 : attributes.getFloat("beta", 0.5f);
    Value linear = f.add(f.mul(x, f.scalar(alpha)), f.scalar(beta));
    result = graph::ClampOp::create(node.builder, node.loc, linear,
                                    node.builder.getF64FloatAttr(0),
                                    node.builder.getF64FloatAttr(1));
    if (op == "HardSwish")
      result = f.mul(x, result);
  } else if (op == "Elu" || op == "Selu" || op == "Celu") {
    double alpha = attributes.getFloat(
        "alpha", op == "Selu" ? 1.67326319217681884765625f : 1.0f);
    double gamma =
        op == "Selu" ? attributes.getFloat("gamma", 1.05070102214813232421875f)
                     : 1.0;
    Value input = op == "Celu" ? f.mul(x, f.scalar(1 / alpha)) : x;
    Value expm1 = graph::SubOp::create(
        node.builder, node.loc,
        graph::ExpOp::create(node.builder, node.loc, input), f.scalar(1));
    Value negative = f.mul(expm1, f.scalar(alpha));
    result = f.select(f.positive(x), x, negative);
    if (op == "Selu")
      result = f.mul(result, f.scalar(gamma));
  } else if (op == "Softplus") {
    // log(1 + exp(x)), written to stay finite for large x:
    // max(x, 0) + log(1 + exp(-|x|)).
    Value negAbs =
        graph::NegOp::create(node.builder, node.loc,
                             graph::AbsOp::create(node.builder, node.loc, x));
    Value log1p = graph::LogOp::create(
        node.builder, node.loc,
        f.add(f.scalar(1),
              graph::ExpOp::create(node.builder, node.loc, negAbs)));
    result = f.add(graph::ReluOp::create(node.builder, node.loc, x), log1p);
  } else if (op == "Softsign") {
    Value denominator =
        f.add(f.scalar(1), graph::AbsOp::create(node.builder, node.loc, x));
    result = graph::DivOp::create(node.builder, node.loc, x, denominator);
  } else if (op == "ThresholdedRelu") {
    Value above = graph::CompareOp::create(
        node.builder, node.loc, graph::ComparisonDirection::GT, x,
        f.scalar(attributes.getFloat("alpha", 1.0f)));
    result = f.select(above, x, f.scalar(0));
  } else if (op == "Shrink") {
    double lambd = attributes.getFloat("lambd", 0.5f);
    double bias = attributes.getFloat("bias", 0.0f);
    auto compare = [&](graph::ComparisonDirection d, double bound) {
      return graph::CompareOp::create(node.builder, node.loc, d, x,
                                      f.scalar(bound))
          .getResult();
    };
    Value below = compare(graph::ComparisonDirection::LT, -lambd);
    Value above = compare(graph::ComparisonDirection::GT, lambd);
    result = f.select(below, f.add(x, f.scalar(bias)),
                      f.select(above,
                               graph::SubOp::create(node.builder, node.loc, x,
                                                    f.scalar(bias)),
                               f.scalar(0)));
  }
  node.setOutput(0, result);
  return success();
}

/// Hyperbolic functions and their inverses, from exp, log and sqrt:
///   sinh x = (e^x - e^-x) / 2,  cosh x = (e^x + e^-x) / 2,
///   asinh x = sign(x) log(|x| + sqrt(x^2 + 1))  (no cancellation for x < 0),
///   acosh x = log(x + sqrt(x^2 - 1)),  atanh x = log((1 + x) / (1 - x)) / 2.
LogicalResult lowerHyperbolic(NodeLowering &node) {
  FailureOr<Value> input = node.input(0);
  if (failed(input) || failed(requireFloat(node, *input)))
    return failure();
  Value x = *input;
  Formula f{node, typeOf(x)};
  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  const std::string &op = node.node.op_type();
  auto exp = [&](Value v) { return graph::ExpOp::create(b, loc, v).getResult(); };
  auto log = [&](Value v) { return graph::LogOp::create(b, loc, v).getResult(); };
  auto sqrt = [&](Value v) {
    return graph::SqrtOp::create(b, loc, v).getResult();
  };
  auto sub = [&](Value l, Value r) {
    return graph::SubOp::create(b, loc, l, r).getResult();
  };
  Value result;
  if (op == "Sinh" || op == "Cosh") {
    Value up = exp(x), down = exp(graph::NegOp::create(b, loc, x));
    result = f.mul(op == "Sinh" ? sub(up, down) : f.add(up, down),
                   f.scalar(0.5));
  } else if (op == "Asinh") {
    Value magnitude = graph::AbsOp::create(b, loc, x);
    Value root = sqrt(f.add(f.mul(x, x), f.scalar(1)));
    result = f.mul(graph::SignOp::create(b, loc, x),
                   log(f.add(magnitude, root)));
  } else if (op == "Acosh") {
    result = log(f.add(x, sqrt(sub(f.mul(x, x), f.scalar(1)))));
  } else { // Atanh
    Value ratio = graph::DivOp::create(b, loc, f.add(f.scalar(1), x),
                                       sub(f.scalar(1), x));
    result = f.mul(log(ratio), f.scalar(0.5));
  }
  node.setOutput(0, result);
  return success();
}

/// IsNaN: x != x. IsInf: x equals +inf or -inf, as detect_positive and
/// detect_negative ask.
LogicalResult lowerFloatClass(NodeLowering &node) {
  FailureOr<Value> input = node.input(0);
  if (failed(input) || failed(requireFloat(node, *input)))
    return failure();
  Value x = *input;
  Formula f{node, typeOf(x)};
  auto compare = [&](graph::ComparisonDirection direction, Value other) {
    return graph::CompareOp::create(node.builder, node.loc, direction, x,
                                    other)
        .getResult();
  };
  if (node.node.op_type() == "IsNaN") {
    node.setOutput(0, compare(graph::ComparisonDirection::NE, x));
    return success();
  }
  double infinity = std::numeric_limits<double>::infinity();
  bool positive = node.attributes.getInt("detect_positive", 1) != 0;
  bool negative = node.attributes.getInt("detect_negative", 1) != 0;
  Value result;
  if (positive)
    result = compare(graph::ComparisonDirection::EQ, f.scalar(infinity));
  if (negative) {
    Value below = compare(graph::ComparisonDirection::EQ, f.scalar(-infinity));
    result = result ? graph::OrOp::create(node.builder, node.loc, result, below)
                          .getResult()
                    : below;
  }
  if (!result) // Neither: false everywhere (nothing exceeds +inf).
    result = compare(graph::ComparisonDirection::GT, f.scalar(infinity));
  node.setOutput(0, result);
  return success();
}

/// BitShift on unsigned integers: graph.shift_left or graph.shift_right.
LogicalResult lowerBitShift(NodeLowering &node) {
  FailureOr<llvm::SmallVector<Value>> values = broadcastInputs(node);
  if (failed(values))
    return failure();
  mlir::Type element = typeOf((*values)[0]).getElementType();
  if (!element.isUnsignedInteger())
    return node.fail("needs unsigned integers (uint8, uint16, uint32), not " +
                     dataTypeName(node.inputDataType(0)));
  std::string direction = node.attributes.getString("direction", "");
  Value result;
  if (direction == "LEFT")
    result = graph::ShiftLeftOp::create(node.builder, node.loc, (*values)[0],
                                        (*values)[1]);
  else if (direction == "RIGHT")
    result = graph::ShiftRightOp::create(node.builder, node.loc, (*values)[0],
                                         (*values)[1]);
  else
    return node.fail("direction must be LEFT or RIGHT, not '" + direction +
                     "'");
  node.setOutput(0, result);
  return success();
}

LogicalResult lowerPRelu(NodeLowering &node) {
  FailureOr<Value> x = node.input(0), slope = node.input(1);
  if (failed(x) || failed(slope) || failed(requireFloat(node, *x)))
    return failure();
  // The slope broadcasts to x (unidirectionally).
  FailureOr<Value> broadcast = node.broadcastTo(*slope, typeOf(*x).getShape());
  if (failed(broadcast))
    return failure();
  Formula f{node, typeOf(*x)};
  node.setOutput(0, f.select(f.positive(*x), *x, f.mul(*x, *broadcast)));
  return success();
}

} // namespace

void registerElementwiseLowerings(LoweringTable &table) {
  table["Relu"] = lowerUnary<graph::ReluOp, false>;
  table["Neg"] = lowerUnary<graph::NegOp, false>;
  table["Abs"] = lowerUnary<graph::AbsOp, false>;
  table["Sign"] = lowerUnary<graph::SignOp, false>;
  table["Not"] = lowerUnary<graph::NotOp, false>;
  table["Sigmoid"] = lowerUnary<graph::SigmoidOp, true>;
  table["Tanh"] = lowerUnary<graph::TanhOp, true>;
  table["Erf"] = lowerUnary<graph::ErfOp, true>;
  table["Exp"] = lowerUnary<graph::ExpOp, true>;
  table["Log"] = lowerUnary<graph::LogOp, true>;
  table["Sqrt"] = lowerUnary<graph::SqrtOp, true>;
  table["Reciprocal"] = lowerUnary<graph::ReciprocalOp, true>;
  table["Floor"] = lowerUnary<graph::FloorOp, true>;
  table["Ceil"] = lowerUnary<graph::CeilOp, true>;
  table["Round"] = lowerUnary<graph::RoundOp, true>;
  table["Sin"] = lowerUnary<graph::SinOp, true>;
  table["Cos"] = lowerUnary<graph::CosOp, true>;
  table["Identity"] = lowerIdentity;
  table["Dropout"] = lowerIdentity;
  table["Add"] = lowerBinary<graph::AddOp>;
  table["Sub"] = lowerBinary<graph::SubOp>;
  table["Mul"] = lowerBinary<graph::MulOp>;
  table["Div"] = lowerBinary<graph::DivOp>;
  table["And"] = lowerBinary<graph::AndOp>;
  table["Or"] = lowerBinary<graph::OrOp>;
  table["Xor"] = lowerBinary<graph::XorOp>;
  table["Pow"] = lowerPow;
  table["Mod"] = lowerMod;
  table["Max"] = lowerVariadic<graph::MaxOp, false>;
  table["Min"] = lowerVariadic<graph::MinOp, false>;
  table["Sum"] = lowerVariadic<graph::AddOp, false>;
  table["Mean"] = lowerVariadic<graph::AddOp, true>;
  table["Equal"] = lowerCompare<graph::ComparisonDirection::EQ>;
  table["Less"] = lowerCompare<graph::ComparisonDirection::LT>;
  table["LessOrEqual"] = lowerCompare<graph::ComparisonDirection::LE>;
  table["Greater"] = lowerCompare<graph::ComparisonDirection::GT>;
  table["GreaterOrEqual"] = lowerCompare<graph::ComparisonDirection::GE>;
  table["Where"] = lowerWhere;
  table["Cast"] = lowerCast;
  table["CastLike"] = lowerCast;
  table["Clip"] = lowerClip;
  for (const char *op : {"Sinh", "Cosh", "Asinh", "Acosh", "Atanh"})
    table[op] = lowerHyperbolic;
  table["IsNaN"] = lowerFloatClass;
  table["BitShift"] = lowerBitShift;
  table["IsInf"] = lowerFloatClass;
  table["PRelu"] = lowerPRelu;
  for (const char *op :
       {"LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
        "Softplus", "Softsign", "ThresholdedRelu", "Shrink"})
    table[op] = lowerActivation;
}

} // namespace tessel::onnx_import
