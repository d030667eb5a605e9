//===- GraphBuilders.cpp - Compositions of graph ops ----------------------===//

#include "dialects/graph/GraphBuilders.h"

#include "dialects/graph/GraphOps.h"

namespace tessel::graph {
namespace {

mlir::RankedTensorType typeOf(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType());
}

llvm::SmallVector<int64_t> allDimensions(int64_t rank) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    dims.push_back(d);
  return dims;
}

} // namespace

mlir::Value GraphBuilder::splat(double value, mlir::RankedTensorType type) {
  mlir::Type element = type.getElementType();
  mlir::TypedAttr scalar;
  if (auto floatType = mlir::dyn_cast<mlir::FloatType>(element))
    scalar = mlir::FloatAttr::get(floatType, value);
  else
    scalar = mlir::IntegerAttr::get(element, static_cast<int64_t>(value));
  return ConstantOp::create(b, loc, mlir::DenseElementsAttr::get(type, scalar));
}

mlir::Value GraphBuilder::splatLike(double value, mlir::Value like) {
  return splat(value, typeOf(like));
}

mlir::Value GraphBuilder::add(mlir::Value x, mlir::Value y) {
  return AddOp::create(b, loc, x, y);
}

mlir::Value GraphBuilder::sub(mlir::Value x, mlir::Value y) {
  return SubOp::create(b, loc, x, y);
}

mlir::Value GraphBuilder::mul(mlir::Value x, mlir::Value y) {
  return MulOp::create(b, loc, x, y);
}

mlir::Value GraphBuilder::div(mlir::Value x, mlir::Value y) {
  return DivOp::create(b, loc, x, y);
}

mlir::Value GraphBuilder::neg(mlir::Value x) {
  return NegOp::create(b, loc, x);
}

mlir::Value GraphBuilder::scale(double factor, mlir::Value x) {
  return mul(splatLike(factor, x), x);
}

mlir::Value GraphBuilder::compare(ComparisonDirection direction, mlir::Value x,
                                  mlir::Value y) {
  return CompareOp::create(b, loc, direction, x, y);
}

mlir::Value GraphBuilder::select(mlir::Value pred, mlir::Value x,
                                 mlir::Value y) {
  return SelectOp::create(b, loc, typeOf(x), pred, x, y);
}

mlir::Value GraphBuilder::where(mlir::Value pred, mlir::Value g) {
  return select(pred, g, zerosLike(g));
}

mlir::Value GraphBuilder::wrapIndices(mlir::Value indices, int64_t size) {
  return select(compare(ComparisonDirection::LT, indices, zerosLike(indices)),
                add(indices, splatLike(static_cast<double>(size), indices)),
                indices);
}

mlir::Value GraphBuilder::reshape(mlir::Value x, mlir::RankedTensorType type) {
  if (typeOf(x) == type)
    return x;
  return ReshapeOp::create(b, loc, type, x);
}

mlir::Value GraphBuilder::transpose(mlir::Value x,
                                    llvm::ArrayRef<int64_t> permutation) {
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(permutation))
    identity &= static_cast<int64_t>(i) == p;
  if (identity)
    return x;
  return TransposeOp::create(b, loc, x, permutation);
}

mlir::Value GraphBuilder::reduce(ReduceKind kind, mlir::Value x,
                                 llvm::ArrayRef<int64_t> dims) {
  return ReduceOp::create(b, loc, kind, x, dims);
}

mlir::Value GraphBuilder::reduceAll(ReduceKind kind, mlir::Value x) {
  return reduce(kind, x, allDimensions(typeOf(x).getRank()));
}

mlir::Value GraphBuilder::sum(mlir::Value x, llvm::ArrayRef<int64_t> dims) {
  if (dims.empty())
    return x;
  return reduce(ReduceKind::Sum, x, dims);
}

mlir::Value GraphBuilder::unreduce(mlir::Value x, mlir::RankedTensorType type,
                                   llvm::ArrayRef<int64_t> dims) {
  llvm::SmallVector<int64_t> kept;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!llvm::is_contained(dims, d))
      kept.push_back(d);
  return BroadcastInDimOp::create(b, loc, type, x, kept);
}

mlir::Value GraphBuilder::spread(mlir::Value scalar,
                                 mlir::RankedTensorType type) {
  return unreduce(scalar, type, allDimensions(type.getRank()));
}

mlir::Value classMask(mlir::OpBuilder &builder, mlir::Location loc,
                      mlir::RankedTensorType type, mlir::Value classIndices,
                      int64_t classDim) {
  auto indexType = mlir::cast<mlir::RankedTensorType>(classIndices.getType());
  auto shape =
      mlir::RankedTensorType::get(type.getShape(), indexType.getElementType());
  llvm::SmallVector<int64_t> targetDims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != classDim)
      targetDims.push_back(d);
  mlir::Value classIndex = IotaOp::create(builder, loc, shape, classDim);
  mlir::Value targets =
      BroadcastInDimOp::create(builder, loc, shape, classIndices, targetDims);
  return CompareOp::create(builder, loc, ComparisonDirection::EQ, classIndex,
                           targets);
}

} // namespace tessel::graph
