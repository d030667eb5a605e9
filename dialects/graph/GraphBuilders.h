//===- GraphBuilders.h - Compositions of graph ops --------------*- C++ -*-===//
//
// Small compositions of graph ops that several builders need (the ONNX
// importer's losses, the training step's).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHBUILDERS_H
#define TESSEL_DIALECTS_GRAPH_GRAPHBUILDERS_H

#include "dialects/graph/GraphOps.h"
#include "mlir/IR/Builders.h"

namespace tessel::graph {

/// Graph ops built at `b`'s insertion point, all at `loc`: what gradient
/// rules, the training step's loss and its optimizer are written with.
struct GraphBuilder {
  mlir::OpBuilder &b;
  mlir::Location loc;

  GraphBuilder(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  /// A constant of `type` with every element `value` (float or integer).
  mlir::Value splat(double value, mlir::RankedTensorType type);
  mlir::Value splatLike(double value, mlir::Value like);
  mlir::Value zerosLike(mlir::Value like) { return splatLike(0, like); }
  mlir::Value add(mlir::Value x, mlir::Value y);
  mlir::Value sub(mlir::Value x, mlir::Value y);
  mlir::Value mul(mlir::Value x, mlir::Value y);
  mlir::Value div(mlir::Value x, mlir::Value y);
  mlir::Value neg(mlir::Value x);
  /// `factor * x`.
  mlir::Value scale(double factor, mlir::Value x);
  mlir::Value compare(ComparisonDirection direction, mlir::Value x,
                      mlir::Value y);
  mlir::Value select(mlir::Value pred, mlir::Value x, mlir::Value y);
  /// `g` where `pred`, zero elsewhere.
  mlir::Value where(mlir::Value pred, mlir::Value g);
  /// Indices into an axis of `size`, the negative ones (counting from the
  /// end, as ONNX's Gather takes them) made positive.
  mlir::Value wrapIndices(mlir::Value indices, int64_t size);
  /// `x` as `type` (itself if it has that type).
  mlir::Value reshape(mlir::Value x, mlir::RankedTensorType type);
  /// `x` permuted (itself for the identity).
  mlir::Value transpose(mlir::Value x, llvm::ArrayRef<int64_t> permutation);
  /// `x` reduced over `dims` (removed from the shape).
  mlir::Value reduce(ReduceKind kind, mlir::Value x,
                     llvm::ArrayRef<int64_t> dims);
  /// `x` reduced over every dimension, to a scalar.
  mlir::Value reduceAll(ReduceKind kind, mlir::Value x);
  /// The sum over `dims` (`x` itself for none).
  mlir::Value sum(mlir::Value x, llvm::ArrayRef<int64_t> dims);
  /// `x`, whose dimensions are those of `type` but `dims`, broadcast back
  /// to `type` (the inverse of a reduction over `dims`).
  mlir::Value unreduce(mlir::Value x, mlir::RankedTensorType type,
                       llvm::ArrayRef<int64_t> dims);
  /// A scalar broadcast to `type`.
  mlir::Value spread(mlir::Value scalar, mlir::RankedTensorType type);
};

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
