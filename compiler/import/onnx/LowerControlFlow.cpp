//===- LowerControlFlow.cpp - ONNX's If and Scan, inlined -----------------===//
//
// Tessel's programs are straight-line: control flow whose shape is known
// at import time is inlined. If with a condition known at import time
// imports the branch taken; with a data condition it imports both
// branches and selects elementwise (both are side-effect free; their
// outputs must have one shape and type). Scan is unrolled over its static
// sequence length: the body is imported once per iteration on slices of
// the scan inputs, the state threaded through, the scan outputs stacked.
// Loop (whose iteration count can depend on data) is not supported.
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

LogicalResult lowerIf(NodeLowering &node) {
  const onnx::GraphProto *thenBranch = node.attributes.getGraph("then_branch");
  const onnx::GraphProto *elseBranch = node.attributes.getGraph("else_branch");
  if (!thenBranch || !elseBranch)
    return node.fail("needs then_branch and else_branch");
  if (const StaticTensor *known = node.tryStaticInput(0)) {
    if (known->numElements() != 1)
      return node.fail("the condition must be a single value");
    bool taken =
        known->isFloat() ? known->getDouble(0) != 0 : known->getInt(0) != 0;
    FailureOr<llvm::SmallVector<Value>> outputs =
        node.importSubgraph(taken ? *thenBranch : *elseBranch, {});
    if (failed(outputs))
      return failure();
    for (size_t i = 0; i < outputs->size() && i < node.numOutputs(); ++i)
      node.setOutput(i, (*outputs)[i]);
    return success();
  }
  FailureOr<Value> condition = node.input(0);
  if (failed(condition))
    return failure();
  if (typeOf(*condition).getNumElements() != 1 ||
      !typeOf(*condition).getElementType().isInteger(1))
    return node.fail("the condition must be one bool");
  FailureOr<llvm::SmallVector<Value>> thenOutputs =
      node.importSubgraph(*thenBranch, {});
  if (failed(thenOutputs))
    return failure();
  FailureOr<llvm::SmallVector<Value>> elseOutputs =
      node.importSubgraph(*elseBranch, {});
  if (failed(elseOutputs))
    return failure();
  if (thenOutputs->size() != elseOutputs->size())
    return node.fail("the branches have different output counts");
  Value scalar = node.reshape(*condition, {});
  for (size_t i = 0; i < thenOutputs->size() && i < node.numOutputs(); ++i) {
    Value a = (*thenOutputs)[i], b = (*elseOutputs)[i];
    if (typeOf(a) != typeOf(b))
      return node.fail("output " + std::to_string(i) +
                       " has different shapes or types in the two branches, "
                       "so the condition must be known at import time");
    FailureOr<Value> spread = node.broadcastTo(scalar, typeOf(a).getShape());
    if (failed(spread))
      return failure();
    node.setOutput(
        i, graph::SelectOp::create(node.builder, node.loc, *spread, a, b));
  }
  return success();
}

/// Element `i` of a per-input attribute list, or `fallback`.
int64_t entry(const std::optional<std::vector<int64_t>> &list, size_t i,
              int64_t fallback) {
  return list && i < list->size() ? (*list)[i] : fallback;
}

LogicalResult lowerScan(NodeLowering &node) {
  const onnx::GraphProto *body = node.attributes.getGraph("body");
  if (!body)
    return node.fail("needs its body");
  int64_t scanInputs = node.attributes.getInt("num_scan_inputs", 0);
  int64_t states = static_cast<int64_t>(node.numInputs()) - scanInputs;
  if (scanInputs < 1 || states < 0)
    return node.fail("num_scan_inputs must be between 1 and the inputs");
  std::optional<std::vector<int64_t>> inputAxes =
      node.attributes.getInts("scan_input_axes");
  std::optional<std::vector<int64_t>> inputDirections =
      node.attributes.getInts("scan_input_directions");
  std::optional<std::vector<int64_t>> outputAxes =
      node.attributes.getInts("scan_output_axes");
  std::optional<std::vector<int64_t>> outputDirections =
      node.attributes.getInts("scan_output_directions");
  llvm::SmallVector<Value> state;
  for (int64_t i = 0; i < states; ++i) {
    FailureOr<Value> value = node.input(i);
    if (failed(value))
      return failure();
    state.push_back(*value);
  }
  // Each scan input with its axis; one sequence length for all.
  std::vector<std::pair<Value, int64_t>> sequences;
  int64_t length = -1;
  for (int64_t i = 0; i < scanInputs; ++i) {
    FailureOr<Value> value = node.input(states + i);
    if (failed(value))
      return failure();
    int64_t rank = typeOf(*value).getRank();
    int64_t axis = entry(inputAxes, i, 0);
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis >= rank)
      return node.fail("scan input " + std::to_string(i) +
                       "'s axis is out "
                       "of range");
    int64_t size = typeOf(*value).getDimSize(axis);
    if (length >= 0 && size != length)
      return node.fail("the scan inputs have different lengths");
    length = size;
    sequences.push_back({*value, axis});
  }
  int64_t scanOutputs = body->output_size() - states;
  if (scanOutputs < 0)
    return node.fail("the body returns fewer values than the state");
  std::vector<std::vector<Value>> collected(scanOutputs);
  for (int64_t t = 0; t < length; ++t) {
    llvm::SmallVector<Value> arguments(state.begin(), state.end());
    for (size_t i = 0; i < sequences.size(); ++i) {
      auto [value, axis] = sequences[i];
      int64_t at = entry(inputDirections, i, 0) ? length - 1 - t : t;
      Shape squeezed(typeOf(value).getShape());
      squeezed.erase(squeezed.begin() + axis);
      arguments.push_back(
          node.reshape(node.sliceAlong(value, axis, at, at + 1), squeezed));
    }
    FailureOr<llvm::SmallVector<Value>> results =
        node.importSubgraph(*body, arguments);
    if (failed(results))
      return failure();
    for (int64_t i = 0; i < states; ++i) {
      if (typeOf((*results)[i]) != typeOf(state[i]))
        return node.fail("the body changes state " + std::to_string(i) +
                         "'s shape or type");
      state[i] = (*results)[i];
    }
    for (int64_t i = 0; i < scanOutputs; ++i)
      collected[i].push_back((*results)[states + i]);
  }
  for (int64_t i = 0; i < states; ++i)
    node.setOutput(i, state[i]);
  for (int64_t i = 0; i < scanOutputs; ++i) {
    if (collected[i].empty())
      return node.fail("a scan of length 0 has no scan outputs to stack");
    if (entry(outputDirections, i, 0))
      std::reverse(collected[i].begin(), collected[i].end());
    Shape shape(typeOf(collected[i][0]).getShape());
    int64_t axis = entry(outputAxes, i, 0);
    if (axis < 0)
      axis += shape.size() + 1;
    if (axis < 0 || axis > static_cast<int64_t>(shape.size()))
      return node.fail("scan output " + std::to_string(i) +
                       "'s axis is out of range");
    shape.insert(shape.begin() + axis, 1);
    std::vector<Value> parts;
    for (Value part : collected[i])
      parts.push_back(node.reshape(part, shape));
    Value stacked =
        parts.size() == 1
            ? parts[0]
            : *node.create<graph::ConcatenateOp>(mlir::ValueRange(parts), axis);
    node.setOutput(states + i, stacked);
  }
  return success();
}

} // namespace

void registerControlFlowLowerings(LoweringTable &table) {
  table["If"] = lowerIf;
  table["Scan"] = lowerScan;
}

} // namespace tessel::onnx_import
