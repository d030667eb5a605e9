//===- OnnxSemantics.cpp - ONNX's rules for shapes and attributes ---------===//

#include "compiler/import/onnx/OnnxSemantics.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/ElementType.h"

namespace tessel::onnx_import {

static std::string format(llvm::ArrayRef<int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<Shape> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                      llvm::ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (x != y && x != 1 && y != 1)
      return absl::InvalidArgumentError(absl::StrCat(
          "shapes ", format(a), " and ", format(b), " do not broadcast"));
    result[i] = x == 1 ? y : x;
  }
  return result;
}

absl::StatusOr<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return absl::InvalidArgumentError(
        absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  return axis < 0 ? axis + rank : axis;
}

absl::StatusOr<std::vector<int64_t>> normalizeAxes(llvm::ArrayRef<int64_t> axes,
                                                   int64_t rank) {
  std::vector<int64_t> result;
  for (int64_t axis : axes) {
    absl::StatusOr<int64_t> normalized = normalizeAxis(axis, rank);
    if (!normalized.ok())
      return normalized.status();
    result.push_back(*normalized);
  }
  std::sort(result.begin(), result.end());
  if (std::adjacent_find(result.begin(), result.end()) != result.end())
    return absl::InvalidArgumentError(
        absl::StrCat("axes ", format(axes), " repeat an axis"));
  return result;
}

absl::StatusOr<Shape> reshapeTarget(llvm::ArrayRef<int64_t> input,
                                    llvm::ArrayRef<int64_t> requested,
                                    bool allowZero) {
  Shape result(requested.begin(), requested.end());
  int64_t inferred = -1, known = 1;
  // Counted with overflow checks: shapes come from the model file.
  int64_t total = checkedProduct(input);
  if (total < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", format(input),
                     ": more elements than can be counted"));
  for (size_t i = 0; i < result.size(); ++i) {
    if (result[i] == 0 && !allowZero) {
      if (i >= input.size())
        return absl::InvalidArgumentError(
            absl::StrCat("shape ", format(requested), " copies dimension ", i,
                         " of ", format(input), ", which has none"));
      result[i] = input[i];
    }
    if (result[i] == -1) {
      if (inferred >= 0)
        return absl::InvalidArgumentError(
            absl::StrCat("shape ", format(requested), " has more than one -1"));
      inferred = i;
      continue;
    }
    if (result[i] < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", format(requested), " has negative dimension ", result[i]));
    if (__builtin_mul_overflow(known, result[i], &known))
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", format(requested),
                       " has more elements than can be counted"));
  }
  if (inferred >= 0) {
    if (known == 0 || total % known != 0)
      return absl::InvalidArgumentError(
          absl::StrCat("cannot reshape ", format(input), " to ",
                       format(requested), ": -1 cannot be inferred"));
    result[inferred] = total / known;
    known *= result[inferred];
  }
  if (known != total)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", format(input), " (", total,
                     " elements) to ", format(result), " (", known, ")"));
  return result;
}

absl::StatusOr<Shape> unsqueezeShape(llvm::ArrayRef<int64_t> input,
                                     llvm::ArrayRef<int64_t> axes) {
  int64_t rank = input.size() + axes.size();
  absl::StatusOr<std::vector<int64_t>> normalized = normalizeAxes(axes, rank);
  if (!normalized.ok())
    return normalized.status();
  Shape result;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (std::binary_search(normalized->begin(), normalized->end(), d))
      result.push_back(1);
    else
      result.push_back(input[next++]);
  }
  return result;
}

absl::StatusOr<Shape> squeezeShape(llvm::ArrayRef<int64_t> input,
                                   llvm::ArrayRef<int64_t> axes) {
  absl::StatusOr<std::vector<int64_t>> normalized =
      normalizeAxes(axes, input.size());
  if (!normalized.ok())
    return normalized.status();
  Shape result;
  for (int64_t d = 0; d < static_cast<int64_t>(input.size()); ++d) {
    bool listed = std::binary_search(normalized->begin(), normalized->end(), d);
    if (listed && input[d] != 1)
      return absl::InvalidArgumentError(
          absl::StrCat("cannot squeeze dimension ", d, " of size ", input[d]));
    if (!listed && !(axes.empty() && input[d] == 1))
      result.push_back(input[d]);
  }
  return result;
}

absl::StatusOr<std::vector<SliceRange>>
sliceRanges(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> starts,
            llvm::ArrayRef<int64_t> ends, llvm::ArrayRef<int64_t> axes,
            llvm::ArrayRef<int64_t> steps) {
  int64_t rank = input.size();
  if (starts.size() != ends.size() ||
      (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size()))
    return absl::InvalidArgumentError(absl::StrCat(
        "starts, ends, axes and steps have different lengths (", starts.size(),
        ", ", ends.size(), ", ", axes.size(), ", ", steps.size(), ")"));
  std::vector<SliceRange> ranges(rank);
  for (int64_t d = 0; d < rank; ++d)
    ranges[d] = {0, input[d], 1};
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t axis = axes.empty() ? static_cast<int64_t>(i) : axes[i];
    absl::StatusOr<int64_t> normalized = normalizeAxis(axis, rank);
    if (!normalized.ok())
      return normalized.status();
    if (seen[*normalized])
      return absl::InvalidArgumentError(
          absl::StrCat("axis ", *normalized, " is sliced twice"));
    seen[*normalized] = true;
    int64_t size = input[*normalized];
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0)
      return absl::InvalidArgumentError("a slice step is 0");
    int64_t start = starts[i], end = ends[i];
    // Clamping as the ONNX specification states it; INT64_MAX/MIN ends
    // mean "to the end" and need no special case.
    if (start < 0)
      start = start < -size ? 0 : start + size;
    if (end < 0)
      end = end < -size ? -1 : end + size;
    // Counts by the step's magnitude, unsigned: a step of INT64_MIN or
    // INT64_MAX must not overflow (a fuzzer's finding).
    uint64_t magnitude = step > 0 ? static_cast<uint64_t>(step)
                                  : 0 - static_cast<uint64_t>(step);
    int64_t span;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, size);
      end = std::clamp<int64_t>(end, 0, size);
      span = end - start;
    } else {
      start = std::clamp<int64_t>(start, 0, size - 1);
      end = std::clamp<int64_t>(end, -1, size - 1);
      span = start - end;
    }
    int64_t count = span > 0
                        ? static_cast<int64_t>(
                              (static_cast<uint64_t>(span) - 1) / magnitude) +
                              1
                        : 0;
    ranges[*normalized] = {start, count, step};
  }
  return ranges;
}

double widenFloat(float value) {
  // The shortest decimal that reads back as `value`, read as a double.
  char text[32];
  std::to_chars_result end =
      std::to_chars(text, text + sizeof(text) - 1, value);
  *end.ptr = '\0';
  return std::strtod(text, nullptr);
}

const onnx::AttributeProto *
NodeAttributes::find(const std::string &name) const {
  for (const onnx::AttributeProto &attribute : node.attribute())
    if (attribute.name() == name)
      return &attribute;
  return nullptr;
}

int64_t NodeAttributes::getInt(const std::string &name,
                               int64_t fallback) const {
  const onnx::AttributeProto *attribute = find(name);
  return attribute ? attribute->i() : fallback;
}

float NodeAttributes::getFloat(const std::string &name, float fallback) const {
  const onnx::AttributeProto *attribute = find(name);
  return attribute ? attribute->f() : fallback;
}

std::string NodeAttributes::getString(const std::string &name,
                                      const std::string &fallback) const {
  const onnx::AttributeProto *attribute = find(name);
  return attribute ? attribute->s() : fallback;
}

std::optional<std::vector<int64_t>>
NodeAttributes::getInts(const std::string &name) const {
  const onnx::AttributeProto *attribute = find(name);
  if (!attribute)
    return std::nullopt;
  return std::vector<int64_t>(attribute->ints().begin(),
                              attribute->ints().end());
}

std::optional<std::vector<float>>
NodeAttributes::getFloats(const std::string &name) const {
  const onnx::AttributeProto *attribute = find(name);
  if (!attribute)
    return std::nullopt;
  return std::vector<float>(attribute->floats().begin(),
                            attribute->floats().end());
}

std::vector<std::string>
NodeAttributes::getStrings(const std::string &name) const {
  const onnx::AttributeProto *attribute = find(name);
  if (!attribute)
    return {};
  return std::vector<std::string>(attribute->strings().begin(),
                                  attribute->strings().end());
}

const onnx::TensorProto *
NodeAttributes::getTensor(const std::string &name) const {
  const onnx::AttributeProto *attribute = find(name);
  return attribute && attribute->has_t() ? &attribute->t() : nullptr;
}

const onnx::GraphProto *
NodeAttributes::getGraph(const std::string &name) const {
  const onnx::AttributeProto *attribute = find(name);
  return attribute && attribute->has_g() ? &attribute->g() : nullptr;
}

} // namespace tessel::onnx_import
