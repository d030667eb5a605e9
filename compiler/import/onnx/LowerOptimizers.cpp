//===- LowerOptimizers.cpp - ONNX's training optimizers as graph ops ------===//
//
// Adagrad, Momentum (standard and Nesterov) and Adam of the domain
// ai.onnx.preview.training: one update of every tensor they are given, as
// elementwise ops, by the formulas of the ONNX operator specification.
// Inputs are R (learning rate) and T (update count) scalars, then the
// tensors X..., their gradients G..., and the optimizer's state (V...
// and/or H...); outputs the new X..., then the new state. The scalar
// factors (a decayed rate, the first update's beta, Adam's bias
// correction) are computed on scalars from R and T and broadcast, so T may
// be data.
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

/// One optimizer node: R and T as scalars of the tensors' element type, and
/// its tensor inputs in groups of `count` (X..., G..., state...).
class Optimizer {
public:
  explicit Optimizer(NodeLowering &node) : node(node) {}

  /// Reads R, T and `groups` groups of tensors (X, G, then state).
  LogicalResult read(size_t groups) {
    if (node.numInputs() < 2 + groups ||
        (node.numInputs() - 2) % groups != 0)
      return node.fail("needs R, T and " + std::to_string(groups) +
                       " tensors per optimized tensor (X, G, state)");
    count = (node.numInputs() - 2) / groups;
    for (size_t i = 2; i < node.numInputs(); ++i) {
      FailureOr<Value> tensor = node.input(i);
      if (failed(tensor))
        return failure();
      tensors.push_back(*tensor);
    }
    mlir::Type element = typeOf(tensors[0]).getElementType();
    if (!mlir::isa<mlir::FloatType>(element))
      return node.fail("the optimized tensors must be floats");
    for (size_t i = 0; i < tensors.size(); ++i)
      if (typeOf(tensors[i]) != typeOf(tensors[i % count]))
        return node.fail("input '" + node.node.input(i + 2) +
                         "' must have the shape and type of '" +
                         node.node.input(i % count + 2) + "'");
    FailureOr<Value> r = node.input(0), t = node.input(1);
    if (failed(r) || failed(t))
      return failure();
    if (typeOf(*r).getNumElements() != 1 || typeOf(*t).getNumElements() != 1)
      return node.fail("R and T must be scalars");
    rate = node.convert(node.reshape(*r, {}), element);
    step = node.convert(node.reshape(*t, {}), element);
    return success();
  }

  /// Tensor `index` of group `group`.
  Value tensor(size_t group, size_t index) const {
    return tensors[group * count + index];
  }
  /// A scalar constant of the tensors' type.
  Value constant(double value) const { return node.splatLike(value, rate); }
  /// `scalar` broadcast to tensor `index`'s shape.
  Value spread(Value scalar, size_t index) const {
    return *node.broadcastTo(scalar, typeOf(tensors[index]).getShape());
  }
  /// `factor` times `value`.
  Value scale(double factor, Value value) const {
    return node.mul(value, node.splatLike(factor, value));
  }
  /// T > 0, as i1.
  Value started() const {
    return graph::CompareOp::create(node.builder, node.loc,
                                    graph::ComparisonDirection::GT, step,
                                    constant(0));
  }
  Value select(Value condition, Value onTrue, Value onFalse) const {
    return graph::SelectOp::create(node.builder, node.loc, condition, onTrue,
                                   onFalse);
  }
  Value sqrt(Value value) const {
    return graph::SqrtOp::create(node.builder, node.loc, value);
  }
  Value divide(Value a, Value b) const {
    return graph::DivOp::create(node.builder, node.loc, a, b);
  }
  Value power(double base, Value exponent) const {
    return graph::PowOp::create(node.builder, node.loc, constant(base),
                                exponent);
  }
  /// norm_coefficient * X + G.
  Value regularized(size_t index, double normCoefficient) const {
    return node.add(scale(normCoefficient, tensor(0, index)),
                    tensor(1, index));
  }

  NodeLowering &node;
  size_t count = 0;
  std::vector<Value> tensors;
  Value rate, step;
};

double attribute(NodeLowering &node, const char *name, double otherwise) {
  return widenFloat(
      node.attributes.getFloat(name, static_cast<float>(otherwise)));
}

LogicalResult lowerAdagrad(NodeLowering &node) {
  Optimizer o(node);
  if (failed(o.read(3)))
    return failure();
  double decay = attribute(node, "decay_factor", 0);
  double epsilon = attribute(node, "epsilon", 1e-6);
  double norm = attribute(node, "norm_coefficient", 0);
  // r = R / (1 + T * decay_factor)
  Value rate = o.divide(
      o.rate, node.add(o.constant(1), node.mul(o.step, o.constant(decay))));
  for (size_t i = 0; i < o.count; ++i) {
    Value g = o.regularized(i, norm);
    Value h = node.add(o.tensor(2, i), node.mul(g, g));
    Value root = node.add(o.sqrt(h), node.splatLike(epsilon, h));
    Value update = o.divide(node.mul(o.spread(rate, i), g), root);
    node.setOutput(i, node.sub(o.tensor(0, i), update));
    node.setOutput(o.count + i, h);
  }
  return success();
}

LogicalResult lowerMomentum(NodeLowering &node) {
  Optimizer o(node);
  if (failed(o.read(3)))
    return failure();
  for (const char *name : {"alpha", "beta", "norm_coefficient", "mode"})
    if (!node.attributes.has(name))
      return node.fail(std::string("needs attribute '") + name + "'");
  double alpha = attribute(node, "alpha", 0);
  double beta = attribute(node, "beta", 0);
  double norm = attribute(node, "norm_coefficient", 0);
  std::string mode = node.attributes.getString("mode", "");
  if (mode != "standard" && mode != "nesterov")
    return node.fail("mode '" + mode + "' is not 'standard' or 'nesterov'");
  // The gradient's coefficient is 1 on the first update.
  Value betaAdjusted = o.select(o.started(), o.constant(beta), o.constant(1));
  for (size_t i = 0; i < o.count; ++i) {
    Value g = o.regularized(i, norm);
    Value v = node.add(o.scale(alpha, o.tensor(2, i)),
                       node.mul(o.spread(betaAdjusted, i), g));
    Value direction =
        mode == "standard" ? v : node.add(g, o.scale(alpha, v));
    node.setOutput(i, node.sub(o.tensor(0, i),
                               node.mul(o.spread(o.rate, i), direction)));
    node.setOutput(o.count + i, v);
  }
  return success();
}

LogicalResult lowerAdam(NodeLowering &node) {
  Optimizer o(node);
  if (failed(o.read(4)))
    return failure();
  double alpha = attribute(node, "alpha", 0.9);
  double beta = attribute(node, "beta", 0.999);
  double epsilon = attribute(node, "epsilon", 1e-6);
  double norm = attribute(node, "norm_coefficient", 0);
  double normPost = attribute(node, "norm_coefficient_post", 0);
  // Bias correction once T > 0: R * sqrt(1 - beta^T) / (1 - alpha^T).
  Value corrected = o.divide(
      node.mul(o.rate, o.sqrt(node.sub(o.constant(1), o.power(beta, o.step)))),
      node.sub(o.constant(1), o.power(alpha, o.step)));
  Value rate = o.select(o.started(), corrected, o.rate);
  for (size_t i = 0; i < o.count; ++i) {
    Value g = o.regularized(i, norm);
    Value v = node.add(o.scale(alpha, o.tensor(2, i)), o.scale(1 - alpha, g));
    Value h = node.add(o.scale(beta, o.tensor(3, i)),
                       o.scale(1 - beta, node.mul(g, g)));
    Value root = node.add(o.sqrt(h), node.splatLike(epsilon, h));
    Value x = node.sub(o.tensor(0, i),
                       node.mul(o.spread(rate, i), o.divide(v, root)));
    node.setOutput(i, o.scale(1 - normPost, x));
    node.setOutput(o.count + i, v);
    node.setOutput(2 * o.count + i, h);
  }
  return success();
}

} // namespace

void registerOptimizerLowerings(LoweringTable &table) {
  table["Adagrad"] = lowerAdagrad;
  table["Momentum"] = lowerMomentum;
  table["Adam"] = lowerAdam;
}

} // namespace tessel::onnx_import
