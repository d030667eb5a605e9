//===- LowerEinsum.cpp - ONNX Einsum as contractions ----------------------===//
//
// An Einsum equation becomes graph.dot_general, graph.reduce and
// graph.transpose: operands combine left to right, each pair contracting
// the labels no later operand and not the output needs and batching the
// labels both have that are still needed; a label only one tensor holds
// and nothing later needs is summed first. Implicit outputs (no "->") and
// ellipses (broadcast batch dimensions, right-aligned; size 1 broadcasts)
// follow numpy. A label repeated within one operand takes the diagonal
// first: the elements where the two dimensions' positions agree (a select
// against an iota comparison, so that off-diagonal infinities and NaNs do
// not reach the result), the second dimension summed away.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <map>
#include <set>

#include "compiler/import/onnx/NodeLowering.h"
#include "dialects/graph/GraphOps.h"

namespace tessel::onnx_import {
namespace {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// Labels are ints: letters as their character, ellipsis dimensions as
/// -1, -2, ... counted from the right.
using Labels = std::vector<int>;

/// A tensor with the label of each of its dimensions.
struct Term {
  Value value;
  Labels labels;
};

std::string nameOf(int label) {
  return label >= 0 ? std::string(1, static_cast<char>(label))
                    : "the ellipsis's dimension " + std::to_string(-label);
}

/// The labels of one side of the equation: letters, at most one "...".
FailureOr<Labels> parseTerm(NodeLowering &node, const std::string &text,
                            int64_t rank, bool isOutput,
                            int64_t ellipsisRank) {
  Labels labels;
  bool ellipsis = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ')
      continue;
    if (c == '.') {
      if (text.compare(i, 3, "...") != 0 || ellipsis)
        return node.fail("the equation has a malformed ellipsis in '" + text +
                         "'");
      ellipsis = true;
      i += 2;
      int64_t count =
          isOutput ? ellipsisRank
                   : rank - static_cast<int64_t>(std::count_if(
                                text.begin(), text.end(), [](char ch) {
                                  return std::isalpha(
                                      static_cast<unsigned char>(ch));
                                }));
      if (count < 0)
        return node.fail("'" + text + "' names more dimensions than the "
                         "operand has");
      for (int64_t d = count; d > 0; --d)
        labels.push_back(static_cast<int>(-d));
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(c)))
      return node.fail(std::string("the equation has '") + c +
                       "', which is not a letter");
    labels.push_back(c);
  }
  if (!isOutput && static_cast<int64_t>(labels.size()) != rank)
    return node.fail("'" + text + "' names " + std::to_string(labels.size()) +
                     " dimensions but the operand has " +
                     std::to_string(rank));
  return labels;
}

class Einsum {
public:
  explicit Einsum(NodeLowering &node) : node(node) {}
  LogicalResult run();

private:
  /// Sums the labels of `term` that nothing in `needed` holds.
  FailureOr<Term> sumUnneeded(Term term, const std::multiset<int> &needed);
  /// term broadcast so that every label has its full size.
  Term broadcastFull(Term term);
  FailureOr<Term> combine(Term a, Term b, const std::multiset<int> &later);
  /// term with each repeated label's diagonal taken.
  FailureOr<Term> diagonals(Term term, size_t operand);

  NodeLowering &node;
  std::map<int, int64_t> sizes;
};

FailureOr<Term> Einsum::sumUnneeded(Term term,
                                    const std::multiset<int> &needed) {
  llvm::SmallVector<int64_t> dims;
  Labels kept;
  for (size_t d = 0; d < term.labels.size(); ++d) {
    if (needed.count(term.labels[d]))
      kept.push_back(term.labels[d]);
    else
      dims.push_back(static_cast<int64_t>(d));
  }
  if (dims.empty())
    return term;
  FailureOr<Value> summed =
      node.create<graph::ReduceOp>(graph::ReduceKind::Sum, term.value, dims);
  if (failed(summed))
    return failure();
  return Term{*summed, kept};
}

FailureOr<Term> Einsum::diagonals(Term term, size_t operand) {
  for (size_t second = 1; second < term.labels.size(); ++second) {
    auto repeat = std::find(term.labels.begin(),
                            term.labels.begin() + second, term.labels[second]);
    if (repeat == term.labels.begin() + second)
      continue;
    int64_t first = repeat - term.labels.begin();
    mlir::RankedTensorType type = typeOf(term.value);
    if (type.getDimSize(first) != type.getDimSize(second))
      return node.fail("label '" + nameOf(term.labels[second]) +
                       "' repeats in operand " + std::to_string(operand) +
                       " over dimensions of " +
                       std::to_string(type.getDimSize(first)) + " and " +
                       std::to_string(type.getDimSize(second)) +
                       " elements: a diagonal needs them equal");
    auto positions = mlir::RankedTensorType::get(
        type.getShape(), node.builder.getIntegerType(64));
    Value on = graph::CompareOp::create(
        node.builder, node.loc, graph::ComparisonDirection::EQ,
        graph::IotaOp::create(node.builder, node.loc, positions, first),
        graph::IotaOp::create(node.builder, node.loc, positions, second));
    Value kept = graph::SelectOp::create(node.builder, node.loc, on,
                                         term.value,
                                         node.splatLike(0, term.value));
    FailureOr<Value> diagonal = node.create<graph::ReduceOp>(
        graph::ReduceKind::Sum, kept,
        llvm::SmallVector<int64_t>{static_cast<int64_t>(second)});
    if (failed(diagonal))
      return failure();
    term.value = *diagonal;
    term.labels.erase(term.labels.begin() + second);
    --second;
  }
  return term;
}

Term Einsum::broadcastFull(Term term) {
  mlir::RankedTensorType type = typeOf(term.value);
  Shape full;
  bool differs = false;
  for (size_t d = 0; d < term.labels.size(); ++d) {
    full.push_back(sizes[term.labels[d]]);
    differs |= full.back() != type.getDimSize(d);
  }
  if (!differs)
    return term;
  // Size-1 dimensions stretch: drop them, then broadcast back.
  Shape squeezed;
  llvm::SmallVector<int64_t> dims;
  for (size_t d = 0; d < term.labels.size(); ++d)
    if (type.getDimSize(d) == full[d]) {
      squeezed.push_back(full[d]);
      dims.push_back(static_cast<int64_t>(d));
    }
  Value flat = node.reshape(term.value, squeezed);
  return Term{graph::BroadcastInDimOp::create(node.builder, node.loc,
                                              type.clone(full), flat, dims),
              term.labels};
}

FailureOr<Term> Einsum::combine(Term a, Term b,
                                const std::multiset<int> &later) {
  a = broadcastFull(a);
  b = broadcastFull(b);
  llvm::SmallVector<int64_t> aBatch, bBatch, aContract, bContract;
  Labels batch, aFree, bFree;
  for (size_t i = 0; i < a.labels.size(); ++i) {
    int label = a.labels[i];
    auto inB = std::find(b.labels.begin(), b.labels.end(), label);
    if (inB == b.labels.end()) {
      aFree.push_back(label);
      continue;
    }
    int64_t j = inB - b.labels.begin();
    if (later.count(label)) {
      aBatch.push_back(static_cast<int64_t>(i));
      bBatch.push_back(j);
      batch.push_back(label);
    } else {
      aContract.push_back(static_cast<int64_t>(i));
      bContract.push_back(j);
    }
  }
  for (int label : b.labels)
    if (std::find(a.labels.begin(), a.labels.end(), label) == a.labels.end())
      bFree.push_back(label);
  FailureOr<Value> product = node.create<graph::DotGeneralOp>(
      a.value, b.value, aBatch, bBatch, aContract, bContract);
  if (failed(product))
    return failure();
  Labels labels = batch;
  labels.insert(labels.end(), aFree.begin(), aFree.end());
  labels.insert(labels.end(), bFree.begin(), bFree.end());
  return Term{*product, labels};
}

LogicalResult Einsum::run() {
  std::string equation = node.attributes.getString("equation", "");
  if (equation.empty())
    return node.fail("needs its equation");
  size_t arrow = equation.find("->");
  std::string inputsText = equation.substr(0, arrow);
  std::vector<std::string> inputTexts;
  for (size_t start = 0;;) {
    size_t comma = inputsText.find(',', start);
    inputTexts.push_back(inputsText.substr(start, comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (inputTexts.size() != node.numInputs())
    return node.fail("the equation names " +
                     std::to_string(inputTexts.size()) +
                     " operands but the node has " +
                     std::to_string(node.numInputs()));
  std::vector<Term> terms;
  int64_t ellipsisRank = 0;
  std::map<int, int> count;
  for (size_t i = 0; i < inputTexts.size(); ++i) {
    FailureOr<Value> value = node.input(i);
    if (failed(value))
      return failure();
    mlir::RankedTensorType type = typeOf(*value);
    if (!mlir::isa<mlir::FloatType>(type.getElementType()) &&
        !mlir::isa<mlir::IntegerType>(type.getElementType()))
      return node.fail("operands must be numeric");
    if (i > 0 && type.getElementType() !=
                     typeOf(terms.front().value).getElementType())
      return node.fail("operands must share one element type");
    FailureOr<Labels> labels =
        parseTerm(node, inputTexts[i], type.getRank(), false, 0);
    if (failed(labels))
      return failure();
    for (int label : *labels) // numpy counts a diagonal's label twice.
      ++count[label];
    FailureOr<Term> term = diagonals({*value, *labels}, i);
    if (failed(term))
      return failure();
    labels = term->labels;
    type = typeOf(term->value);
    for (size_t d = 0; d < labels->size(); ++d) {
      int label = (*labels)[d];
      if (label < 0)
        ellipsisRank = std::max<int64_t>(ellipsisRank, -label);
      int64_t size = type.getDimSize(static_cast<int64_t>(d));
      auto [it, inserted] = sizes.try_emplace(label, size);
      if (!inserted && it->second != size) {
        if (it->second != 1 && size != 1)
          return node.fail("label '" + nameOf(label) + "' is " +
                           std::to_string(it->second) + " in one operand and " +
                           std::to_string(size) + " in another");
        it->second = std::max(it->second, size);
      }
    }
    terms.push_back(*term);
  }
  Labels output;
  if (arrow != std::string::npos) {
    FailureOr<Labels> parsed =
        parseTerm(node, equation.substr(arrow + 2), 0, true, ellipsisRank);
    if (failed(parsed))
      return failure();
    output = *parsed;
    std::set<int> seen;
    for (int label : output) {
      if (!seen.insert(label).second)
        return node.fail("label '" + nameOf(label) + "' repeats in the output");
      if (!sizes.count(label))
        return node.fail("the output's label '" + nameOf(label) +
                         "' names no operand's dimension");
    }
  } else {
    // numpy's implicit output: the ellipsis, then the labels used once, in
    // alphabetical order.
    for (int64_t d = ellipsisRank; d > 0; --d)
      output.push_back(static_cast<int>(-d));
    for (const auto &[label, uses] : count)
      if (label >= 0 && uses == 1)
        output.push_back(label);
  }

  // Fold left to right.
  auto neededAfter = [&](size_t i) {
    std::multiset<int> needed(output.begin(), output.end());
    for (size_t j = i; j < terms.size(); ++j)
      needed.insert(terms[j].labels.begin(), terms[j].labels.end());
    return needed;
  };
  std::multiset<int> others = neededAfter(1);
  FailureOr<Term> acc = sumUnneeded(terms[0], others);
  if (failed(acc))
    return failure();
  for (size_t i = 1; i < terms.size(); ++i) {
    std::multiset<int> later = neededAfter(i + 1);
    std::multiset<int> forNext = later;
    forNext.insert(acc->labels.begin(), acc->labels.end());
    FailureOr<Term> next = sumUnneeded(terms[i], forNext);
    if (failed(next))
      return failure();
    acc = combine(*acc, *next, later);
    if (failed(acc))
      return failure();
  }
  acc = sumUnneeded(broadcastFull(*acc),
                    std::multiset<int>(output.begin(), output.end()));
  if (failed(acc))
    return failure();
  // The output's order.
  llvm::SmallVector<int64_t> order;
  for (int label : output) {
    auto at = std::find(acc->labels.begin(), acc->labels.end(), label);
    order.push_back(at - acc->labels.begin());
  }
  bool identity = true;
  for (size_t d = 0; d < order.size(); ++d)
    identity &= order[d] == static_cast<int64_t>(d);
  if (identity)
    return node.setOutput(acc->value);
  return node.setOutput(node.create<graph::TransposeOp>(acc->value, order));
}

LogicalResult lowerEinsum(NodeLowering &node) { return Einsum(node).run(); }

} // namespace

void registerEinsumLowerings(LoweringTable &table) {
  table["Einsum"] = lowerEinsum;
}

} // namespace tessel::onnx_import
