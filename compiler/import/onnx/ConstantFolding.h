//===- ConstantFolding.h - Evaluate ONNX nodes at import time ---*- C++ -*-===//
//
// Evaluates the ONNX ops that shape computations are made of (Shape, Gather,
// Unsqueeze, Concat, Slice, Cast, ConstantOfShape, Range, Reshape, Expand,
// arithmetic and comparisons on small tensors) when all their inputs are
// known. The importer asks it before lowering a node: a folded node produces
// no graph op.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_IMPORT_ONNX_CONSTANTFOLDING_H
#define TESSEL_COMPILER_IMPORT_ONNX_CONSTANTFOLDING_H

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/import/onnx/StaticTensor.h"
#include "onnx/onnx_pb.h"
#include "llvm/ADT/ArrayRef.h"

namespace tessel::onnx_import {

/// Results larger than this are not folded: the node is lowered instead, so
/// that large data stays computed rather than embedded.
inline constexpr int64_t kMaxFoldedElements = 1 << 20;

/// Whether `opType` can be folded when its inputs are known.
bool isFoldable(const std::string &opType);

/// Evaluates `node` (ONNX default domain, `opset`) on `inputs`, one per node
/// input, null for an absent optional input. Returns nullopt when the node
/// cannot be folded (an op outside the folding set or a result too large),
/// an error status when its inputs are invalid for the op.
absl::StatusOr<std::optional<std::vector<StaticTensor>>>
foldNode(const onnx::NodeProto &node, int64_t opset,
         llvm::ArrayRef<const StaticTensor *> inputs);

} // namespace tessel::onnx_import

#endif // TESSEL_COMPILER_IMPORT_ONNX_CONSTANTFOLDING_H
