//===- GraphOps.h - Ops of the graph dialect --------------------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHOPS_H
#define TESSEL_DIALECTS_GRAPH_GRAPHOPS_H

#include "dialects/graph/GraphDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/graph/GraphTraits.h"

#include "dialects/graph/GraphEnums.h.inc"
#include "dialects/graph/GraphInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/graph/GraphOps.h.inc"

namespace tessel::graph {
/// Whether `op` may be part of a graph.fusion: elementwise ops, broadcasts,
/// and splat constants.
bool isFusible(mlir::Operation *op);
/// The batching and contracting dimensions operand `side` (0: lhs, 1: rhs)
/// of `dot` takes when the transpose that makes it folds into the dot
/// (its canonicalization; the kernels read the operand strided), or none
/// if it is no transpose or one that would reorder the result.
std::optional<std::pair<llvm::SmallVector<int64_t>, llvm::SmallVector<int64_t>>>
transposeFoldedInto(DotGeneralOp dot, int side);
/// Whether every reader of `transpose` folds it in: it makes no copy.
bool foldsIntoItsReaders(TransposeOp transpose);
} // namespace tessel::graph

#endif // TESSEL_DIALECTS_GRAPH_GRAPHOPS_H
