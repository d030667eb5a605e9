//===- GraphBuilders.h - Compositions of graph ops --------------*- C++ -*-===//
//
// Small compositions of graph ops that several builders need (the ONNX
// importer's losses, the training step's).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHBUILDERS_H
#define TESSEL_DIALECTS_GRAPH_GRAPHBUILDERS_H

#include "mlir/IR/Builders.h"

namespace tessel::graph {

/// For values of type `type` (classes along `classDim`: [N, C, d1, ...]
/// for 1) and integer class indices `classIndices` (`type`'s shape without
/// `classDim`): an i1 tensor of `type`'s shape, true where the index along
/// `classDim` is the class named there. An iota compared with the indices,
/// no gather, so the class dimension may be split like any other.
mlir::Value classMask(mlir::OpBuilder &builder, mlir::Location loc,
                      mlir::RankedTensorType type, mlir::Value classIndices,
                      int64_t classDim = 1);

} // namespace tessel::graph

#endif // TESSEL_DIALECTS_GRAPH_GRAPHBUILDERS_H
