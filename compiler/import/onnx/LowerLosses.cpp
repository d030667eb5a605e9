//===- LowerLosses.cpp - ONNX training losses as graph ops ----------------===//
//
// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, composed of graph
// ops that already have sharding rules and kernels: the class a target
// names is picked by comparing an iota over the classes with the target
// (no gather, so the class dimension may be split like any reduction), its
// weight likewise, and the reductions are graph.reduce.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphBuilders.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// The loss of each element, -input[n, t, d...] * w[t] with t = target[n,
/// d...], and the weight w[t] it carries (0 where t is ignore_index or
/// names no class): NegativeLogLikelihoodLoss before its reduction.
struct PickedLoss {
  Value loss, weight;
};

FailureOr<PickedLoss> pickTargets(NodeLowering &node, Value input, Value target,
                                  Value weight) {
  mlir::RankedTensorType inputType = typeOf(input);
  mlir::RankedTensorType targetType = typeOf(target);
  int64_t rank = inputType.getRank();
  if (rank < 2)
    return node.fail("the input must be [N, C] or [N, C, d1, ...]");
  if (!mlir::isa<mlir::FloatType>(inputType.getElementType()))
    return node.fail("the input must be floating-point");
  if (!mlir::isa<mlir::IntegerType>(targetType.getElementType()) ||
      targetType.getElementTypeBitWidth() == 1)
    return node.fail("the target must hold integer class indices");
  // The target's shape is the input's without the class dimension.
  Shape expected(inputType.getShape());
  expected.erase(expected.begin() + 1);
  if (Shape(targetType.getShape()) != expected)
    return node.fail("the target's shape must be the input's without its "
                     "class dimension (dimension 1)");
  int64_t classes = inputType.getDimSize(1);
  if (weight && (typeOf(weight).getRank() != 1 ||
                 typeOf(weight).getDimSize(0) != classes ||
                 typeOf(weight).getElementType() != inputType.getElementType()))
    return node.fail("the weight must be a vector of one value per class, "
                     "of the input's element type");

  mlir::OpBuilder &b = node.builder;
  mlir::Location loc = node.loc;
  Shape shape(inputType.getShape());
  mlir::Type element = inputType.getElementType();
  // Which class each target names.
  Value named = graph::classMask(b, loc, inputType, target);
  Value zeros = node.splat(0, element, shape);
  auto sumOverClasses = [&](Value value) {
    return node.create<graph::ReduceOp>(graph::ReduceKind::Sum, value,
                                        llvm::ArrayRef<int64_t>{1});
  };
  FailureOr<Value> picked =
      sumOverClasses(graph::SelectOp::create(b, loc, named, input, zeros));
  Value perClass =
      weight ? graph::BroadcastInDimOp::create(b, loc, inputType, weight,
                                               llvm::ArrayRef<int64_t>{1})
                   .getResult()
             : node.splat(1, element, shape);
  FailureOr<Value> carried =
      sumOverClasses(graph::SelectOp::create(b, loc, named, perClass, zeros));
  if (failed(picked) || failed(carried))
    return failure();
  Value w = *carried;
  if (node.attributes.has("ignore_index")) {
    int64_t ignored = node.attributes.getInt("ignore_index", 0);
    Value kept = graph::CompareOp::create(
        b, loc, graph::ComparisonDirection::NE, target,
        node.splat(static_cast<double>(ignored), targetType.getElementType(),
                   targetType.getShape()));
    w = graph::SelectOp::create(b, loc, kept, w,
                                node.splat(0, element, targetType.getShape()));
  }
  Value loss = graph::NegOp::create(
      b, loc, graph::MulOp::create(b, loc, *picked, w).getResult());
  return PickedLoss{loss, w};
}

/// The reduction attribute: none, sum or mean (sum of losses over sum of
/// the weights they carry).
FailureOr<Value> reduceLoss(NodeLowering &node, const PickedLoss &picked) {
  std::string reduction = node.attributes.getString("reduction", "mean");
  if (reduction == "none")
    return picked.loss;
  if (reduction != "sum" && reduction != "mean")
    return node.fail("reduction '" + reduction +
                     "' is not one of none, sum, mean");
  int64_t rank = typeOf(picked.loss).getRank();
  llvm::SmallVector<int64_t> all;
  for (int64_t d = 0; d < rank; ++d)
    all.push_back(d);
  FailureOr<Value> total =
      node.create<graph::ReduceOp>(graph::ReduceKind::Sum, picked.loss, all);
  if (failed(total) || reduction == "sum")
    return total;
  FailureOr<Value> weights =
      node.create<graph::ReduceOp>(graph::ReduceKind::Sum, picked.weight, all);
  if (failed(weights))
    return failure();
  return graph::DivOp::create(node.builder, node.loc, *total, *weights)
      .getResult();
}

LogicalResult lowerNegativeLogLikelihoodLoss(NodeLowering &node) {
  FailureOr<Value> input = node.input(0), target = node.input(1);
  if (failed(input) || failed(target))
    return failure();
  Value weight;
  if (node.hasInput(2)) {
    FailureOr<Value> given = node.input(2);
    if (failed(given))
      return failure();
    weight = *given;
  }
  FailureOr<PickedLoss> picked = pickTargets(node, *input, *target, weight);
  if (failed(picked))
    return failure();
  return node.setOutput(reduceLoss(node, *picked));
}

/// NegativeLogLikelihoodLoss of log_softmax(scores) along the classes;
/// the second output is that log_softmax.
LogicalResult lowerSoftmaxCrossEntropyLoss(NodeLowering &node) {
  FailureOr<Value> scores = node.input(0), labels = node.input(1);
  if (failed(scores) || failed(labels))
    return failure();
  if (typeOf(*scores).getRank() < 2)
    return node.fail("the scores must be [N, C] or [N, C, d1, ...]");
  if (!mlir::isa<mlir::FloatType>(typeOf(*scores).getElementType()))
    return node.fail("the scores must be floating-point");
  Value weight;
  if (node.hasInput(2)) {
    FailureOr<Value> given = node.input(2);
    if (failed(given))
      return failure();
    weight = *given;
  }
  Value logProb = graph::LogOp::create(
      node.builder, node.loc,
      graph::SoftmaxOp::create(node.builder, node.loc, *scores, 1));
  FailureOr<PickedLoss> picked = pickTargets(node, logProb, *labels, weight);
  if (failed(picked))
    return failure();
  FailureOr<Value> loss = reduceLoss(node, *picked);
  if (failed(loss))
    return failure();
  node.setOutput(0, *loss);
  if (node.numOutputs() > 1)
    node.setOutput(1, logProb);
  return success();
}

} // namespace

void registerLossLowerings(LoweringTable &table) {
  table["NegativeLogLikelihoodLoss"] = lowerNegativeLogLikelihoodLoss;
  table["SoftmaxCrossEntropyLoss"] = lowerSoftmaxCrossEntropyLoss;
}

} // namespace tessel::onnx_import
