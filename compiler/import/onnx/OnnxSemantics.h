//===- OnnxSemantics.h - ONNX's rules for shapes and attributes -*- C++ -*-===//
//
// The parts of the ONNX operator specification that both the import-time
// evaluator (ConstantFolding.cpp) and the lowering to graph ops need, so that
// the two agree: broadcasting, Reshape's 0 and -1, Slice's clamping, axis
// normalisation, and reading node attributes.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_ONNXSEMANTICS_H
#define TESSEL_COMPILER_IMPORT_ONNX_ONNXSEMANTICS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "llvm/ADT/ArrayRef.h"

namespace tessel::onnx_import {

using Shape = std::vector<int64_t>;

/// Multidirectional (numpy) broadcast of two shapes.
absl::StatusOr<Shape> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                      llvm::ArrayRef<int64_t> b);

/// `axis` in [-rank, rank) made non-negative.
absl::StatusOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);

/// Normalised, sorted, distinct axes.
absl::StatusOr<std::vector<int64_t>> normalizeAxes(llvm::ArrayRef<int64_t> axes,
                                                   int64_t rank);

/// Reshape's target shape: 0 copies the input dimension (unless
/// `allowZero`), one -1 is inferred from the element count.
absl::StatusOr<Shape> reshapeTarget(llvm::ArrayRef<int64_t> input,
                                    llvm::ArrayRef<int64_t> requested,
                                    bool allowZero);

/// Unsqueeze: the shape with size-1 dimensions inserted at `axes` (of the
/// output rank).
absl::StatusOr<Shape> unsqueezeShape(llvm::ArrayRef<int64_t> input,
                                     llvm::ArrayRef<int64_t> axes);

/// Squeeze: the shape without `axes` (all size-1 dimensions if empty).
absl::StatusOr<Shape> squeezeShape(llvm::ArrayRef<int64_t> input,
                                   llvm::ArrayRef<int64_t> axes);

/// One dimension of a Slice after ONNX's clamping: the result takes `size`
/// elements `start, start + step, ...`; `step` may be negative.
struct SliceRange {
  int64_t start = 0;
  int64_t size = 0;
  int64_t step = 1;
};

/// Slice's ranges for every dimension of `input` (untouched dimensions keep
/// their full range). `axes` and `steps` may be empty (defaults).
absl::StatusOr<std::vector<SliceRange>>
sliceRanges(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> starts,
            llvm::ArrayRef<int64_t> ends, llvm::ArrayRef<int64_t> axes,
            llvm::ArrayRef<int64_t> steps);

/// A float attribute as the decimal its author wrote (0.001f becomes 0.001,
/// not 0.0010000000474974513), for attributes Tessel keeps as f64.
double widenFloat(float value);

/// The attributes of one node, by name, with ONNX defaults where absent.
class NodeAttributes {
public:
  explicit NodeAttributes(const onnx::NodeProto &node) : node(node) {}

  bool has(const std::string &name) const { return find(name) != nullptr; }
  int64_t getInt(const std::string &name, int64_t fallback) const;
  float getFloat(const std::string &name, float fallback) const;
  std::string getString(const std::string &name,
                        const std::string &fallback) const;
  std::optional<std::vector<int64_t>> getInts(const std::string &name) const;
  std::optional<std::vector<float>> getFloats(const std::string &name) const;
  /// A list of strings (empty if absent).
  std::vector<std::string> getStrings(const std::string &name) const;
  const onnx::TensorProto *getTensor(const std::string &name) const;
  /// A graph attribute (a control-flow op's body or branch), or null.
  const onnx::GraphProto *getGraph(const std::string &name) const;
  const onnx::AttributeProto *find(const std::string &name) const;

private:
  const onnx::NodeProto &node;
};

} // namespace tessel::onnx_import

#endif // TESSEL_COMPILER_IMPORT_ONNX_ONNXSEMANTICS_H
