//===- GraphGradients.cpp - Gradient rules of graph ops -------------------===//
//
// GradientOpInterface for the ops that declare it in GraphOps.td: given the
// gradients of an op's results, build its operands' gradients as graph ops
// (reverse-mode differentiation; passes/autodiff drives it). Elementwise
// ops take operands of one shape, so no rule un-broadcasts: the gradient
// of broadcast_in_dim sums back instead.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <numeric>

#include "dialects/graph/GraphBuilders.h"
#include "dialects/graph/GraphOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"

namespace tessel::graph {
namespace {

using mlir::LogicalResult;
using mlir::OpBuilder;
using mlir::RankedTensorType;
using mlir::Value;

RankedTensorType typeOf(Value value) {
  return mlir::cast<RankedTensorType>(value.getType());
}

bool isFloat(Value value) {
  return mlir::isa<mlir::FloatType>(typeOf(value).getElementType());
}

/// Builds the graph ops of one rule, at the builder's point, located at
/// the op the rule differentiates.
struct Rule : GraphBuilder {
  Rule(OpBuilder &builder, mlir::Operation *op)
      : GraphBuilder(builder, op->getLoc()) {}

  /// `product` permuted: the product of its operands swapped where that is
  /// the permutation (a linear layer's weight [out, in] gets dy^T x, not
  /// (x^T dy)^T, whose transpose would copy every weight gradient once
  /// more), else a transpose (none for the identity). `product` stays:
  /// the gradient a rule received may be another operand's too (add gives
  /// both operands its result's), and the autodiff pass erases what
  /// nothing reads once the backward program is built.
  Value transposed(DotGeneralOp product, llvm::ArrayRef<int64_t> permutation) {
    if (!product.swapsOperands(permutation))
      return transpose(product, permutation);
    return product.buildSwapped(b, product.getLoc());
  }
};

/// The dimensions of a rank-`rank` tensor that are in neither list, in
/// order.
llvm::SmallVector<int64_t> remaining(int64_t rank, llvm::ArrayRef<int64_t> a,
                                     llvm::ArrayRef<int64_t> b) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(a, d) && !llvm::is_contained(b, d))
      dims.push_back(d);
  return dims;
}

int64_t indexOf(llvm::ArrayRef<int64_t> list, int64_t value) {
  return std::find(list.begin(), list.end(), value) - list.begin();
}

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult AddOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  operands.append({results[0], results[0]});
  return mlir::success();
}

LogicalResult SubOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  operands.append({results[0], r.neg(results[0])});
  return mlir::success();
}

LogicalResult MulOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value g = results[0];
  operands.append({r.mul(g, getRhs()), r.mul(g, getLhs())});
  return mlir::success();
}

LogicalResult DivOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value g = results[0];
  // d(a / b) = da / b - (a / b) db / b.
  Value lhs = r.div(g, getRhs());
  operands.append({lhs, r.neg(r.mul(lhs, getResult()))});
  return mlir::success();
}

namespace {

/// max and min: the gradient to the operand the result took, the left one
/// where `direction` holds between them (ties included, so that max(x, 0)
/// written as a relu has relu's gradient).
void toTheChosen(Rule &r, ComparisonDirection direction, Value lhs, Value rhs,
                 Value g, llvm::SmallVectorImpl<Value> &operands) {
  Value left = r.compare(direction, lhs, rhs);
  Value zeros = r.zerosLike(g);
  operands.append({r.select(left, g, zeros), r.select(left, zeros, g)});
}

} // namespace

LogicalResult MaxOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  toTheChosen(r, ComparisonDirection::GE, getLhs(), getRhs(), results[0],
              operands);
  return mlir::success();
}

LogicalResult MinOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  toTheChosen(r, ComparisonDirection::LE, getLhs(), getRhs(), results[0],
              operands);
  return mlir::success();
}

LogicalResult PowOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  if (!isFloat(getLhs()))
    return emitOpError("has no gradient for integer operands");
  Rule r(builder, *this);
  Value g = results[0];
  // d(a^b) = b a^(b-1) da + a^b log(a) db.
  Value lowered = PowOp::create(builder, getLoc(), getLhs(),
                                r.sub(getRhs(), r.splatLike(1, getRhs())));
  operands.push_back(r.mul(g, r.mul(getRhs(), lowered)));
  operands.push_back(
      r.mul(g, r.mul(getResult(), LogOp::create(builder, getLoc(), getLhs()))));
  return mlir::success();
}

LogicalResult NegOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Rule(builder, *this).neg(results[0]));
  return mlir::success();
}

LogicalResult AbsOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  operands.push_back(
      r.mul(results[0], SignOp::create(builder, getLoc(), getOperand())));
  return mlir::success();
}

LogicalResult SignOp::buildGradients(OpBuilder &, llvm::ArrayRef<Value>,
                                     llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Value()); // Zero almost everywhere.
  return mlir::success();
}

LogicalResult ReluOp::buildGradients(OpBuilder &builder,
                                     llvm::ArrayRef<Value> results,
                                     llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  operands.push_back(r.where(r.compare(ComparisonDirection::GT, getOperand(),
                                       r.zerosLike(getOperand())),
                             results[0]));
  return mlir::success();
}

LogicalResult ExpOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Rule(builder, *this).mul(results[0], getResult()));
  return mlir::success();
}

LogicalResult LogOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Rule(builder, *this).div(results[0], getOperand()));
  return mlir::success();
}

LogicalResult TanhOp::buildGradients(OpBuilder &builder,
                                     llvm::ArrayRef<Value> results,
                                     llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value y = getResult();
  operands.push_back(r.mul(results[0], r.sub(r.splatLike(1, y), r.mul(y, y))));
  return mlir::success();
}

LogicalResult ErfOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  // erf'(x) = 2 / sqrt(pi) exp(-x^2).
  Rule r(builder, *this);
  Value x = getOperand();
  Value bell = ExpOp::create(builder, getLoc(), r.neg(r.mul(x, x)));
  operands.push_back(
      r.mul(results[0], r.mul(r.splatLike(2 / std::sqrt(M_PI), x), bell)));
  return mlir::success();
}

LogicalResult SqrtOp::buildGradients(OpBuilder &builder,
                                     llvm::ArrayRef<Value> results,
                                     llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  operands.push_back(
      r.div(r.mul(results[0], r.splatLike(0.5, getResult())), getResult()));
  return mlir::success();
}

LogicalResult RsqrtOp::buildGradients(OpBuilder &builder,
                                      llvm::ArrayRef<Value> results,
                                      llvm::SmallVectorImpl<Value> &operands) {
  // y = x^(-1/2): dy/dx = -y^3 / 2.
  Rule r(builder, *this);
  Value y = getResult();
  operands.push_back(
      r.mul(results[0], r.mul(r.splatLike(-0.5, y), r.mul(y, r.mul(y, y)))));
  return mlir::success();
}

LogicalResult
ReciprocalOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                             llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value y = getResult();
  operands.push_back(r.neg(r.mul(results[0], r.mul(y, y))));
  return mlir::success();
}

LogicalResult
SigmoidOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value y = getResult();
  operands.push_back(r.mul(results[0], r.mul(y, r.sub(r.splatLike(1, y), y))));
  return mlir::success();
}

LogicalResult SinOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(
      Rule(builder, *this)
          .mul(results[0], CosOp::create(builder, getLoc(), getOperand())));
  return mlir::success();
}

LogicalResult CosOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  operands.push_back(
      r.neg(r.mul(results[0], SinOp::create(builder, getLoc(), getOperand()))));
  return mlir::success();
}

// Piecewise constant: zero almost everywhere.
LogicalResult FloorOp::buildGradients(OpBuilder &, llvm::ArrayRef<Value>,
                                      llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Value());
  return mlir::success();
}
LogicalResult CeilOp::buildGradients(OpBuilder &, llvm::ArrayRef<Value>,
                                     llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Value());
  return mlir::success();
}
LogicalResult RoundOp::buildGradients(OpBuilder &, llvm::ArrayRef<Value>,
                                      llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(Value());
  return mlir::success();
}

LogicalResult ClampOp::buildGradients(OpBuilder &builder,
                                      llvm::ArrayRef<Value> results,
                                      llvm::SmallVectorImpl<Value> &operands) {
  // The gradient passes where the operand lies within the bounds.
  Rule r(builder, *this);
  Value x = getOperand();
  Value inside;
  auto within = [&](std::optional<llvm::APFloat> bound,
                    ComparisonDirection direction) {
    if (!bound)
      return;
    Value test =
        r.compare(direction, x, r.splatLike(bound->convertToDouble(), x));
    inside = inside ? AndOp::create(builder, getLoc(), inside, test) : test;
  };
  within(getMin(), ComparisonDirection::GE);
  within(getMax(), ComparisonDirection::LE);
  operands.push_back(inside ? r.where(inside, results[0]) : results[0]);
  return mlir::success();
}

LogicalResult SelectOp::buildGradients(OpBuilder &builder,
                                       llvm::ArrayRef<Value> results,
                                       llvm::SmallVectorImpl<Value> &operands) {
  Rule r(builder, *this);
  Value g = results[0], zeros = r.zerosLike(results[0]);
  operands.append(
      {Value(), r.select(getPred(), g, zeros), r.select(getPred(), zeros, g)});
  return mlir::success();
}

LogicalResult
ConvertOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  // Between float types the gradient converts back; through an integer
  // type none passes.
  if (!isFloat(getOperand()) || !isFloat(getResult())) {
    operands.push_back(Value());
    return mlir::success();
  }
  operands.push_back(
      ConvertOp::create(builder, getLoc(), typeOf(getOperand()), results[0]));
  return mlir::success();
}

//===----------------------------------------------------------------------===//
// Shape and data movement
//===----------------------------------------------------------------------===//

LogicalResult
BroadcastInDimOp::buildGradients(OpBuilder &builder,
                                 llvm::ArrayRef<Value> results,
                                 llvm::SmallVectorImpl<Value> &operands) {
  // Sum over the result dimensions the operand does not have and those it
  // repeats (size 1 in the operand); the rest, in the operand's order,
  // reshaped to its shape.
  Rule r(builder, *this);
  RankedTensorType operandType = typeOf(getOperand()),
                   resultType = typeOf(getResult());
  llvm::ArrayRef<int64_t> map = getBroadcastDimensions();
  llvm::SmallVector<int64_t> summed;
  for (int64_t d = 0; d < resultType.getRank(); ++d) {
    int64_t i = indexOf(map, d);
    if (i == static_cast<int64_t>(map.size()) ||
        (operandType.getDimSize(i) == 1 && resultType.getDimSize(d) != 1))
      summed.push_back(d);
  }
  Value g = r.sum(results[0], summed);
  // The kept result dimensions, ascending, and the operand dimensions they
  // come from: ordered as the operand's.
  llvm::SmallVector<int64_t> keptOperandDims;
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    if (!llvm::is_contained(summed, d))
      keptOperandDims.push_back(indexOf(map, d));
  llvm::SmallVector<int64_t> order(keptOperandDims.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) {
    return keptOperandDims[a] < keptOperandDims[b];
  });
  g = r.transpose(g, order);
  operands.push_back(r.reshape(g, operandType));
  return mlir::success();
}

LogicalResult
TransposeOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                            llvm::SmallVectorImpl<Value> &operands) {
  llvm::ArrayRef<int64_t> permutation = getPermutation();
  llvm::SmallVector<int64_t> inverse(permutation.size());
  for (auto [i, p] : llvm::enumerate(permutation))
    inverse[p] = static_cast<int64_t>(i);
  // A weight read through a transpose op (x W^T, as ONNX's Gemm with
  // transB imports) gets its gradient from a product: built swapped.
  Rule r(builder, *this);
  auto product = results[0].getDefiningOp<DotGeneralOp>();
  operands.push_back(product ? r.transposed(product, inverse)
                             : r.transpose(results[0], inverse));
  return mlir::success();
}

LogicalResult
ReshapeOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(
      Rule(builder, *this).reshape(results[0], typeOf(getOperand())));
  return mlir::success();
}

LogicalResult SliceOp::buildGradients(OpBuilder &builder,
                                      llvm::ArrayRef<Value> results,
                                      llvm::SmallVectorImpl<Value> &operands) {
  // Zeros around the slice and between its strided elements.
  RankedTensorType operandType = typeOf(getOperand()),
                   resultType = typeOf(getResult());
  llvm::SmallVector<int64_t> low, high, interior;
  for (int64_t d = 0; d < operandType.getRank(); ++d) {
    int64_t start = getStartIndices()[d], stride = getStrides()[d];
    int64_t count = resultType.getDimSize(d);
    int64_t last = count ? start + (count - 1) * stride : start - 1;
    low.push_back(start);
    interior.push_back(count ? stride - 1 : 0);
    high.push_back(operandType.getDimSize(d) - 1 - last);
  }
  operands.push_back(PadOp::create(builder, getLoc(), results[0], low, high,
                                   interior, llvm::APFloat(0.0)));
  return mlir::success();
}

LogicalResult
ConcatenateOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                              llvm::SmallVectorImpl<Value> &operands) {
  RankedTensorType resultType = typeOf(getResult());
  int64_t dim = getDimension(), offset = 0;
  for (Value input : getInputs()) {
    llvm::SmallVector<int64_t> start(resultType.getRank(), 0),
        limit(resultType.getShape()), strides(resultType.getRank(), 1);
    int64_t size = typeOf(input).getDimSize(dim);
    start[dim] = offset;
    limit[dim] = offset + size;
    offset += size;
    operands.push_back(
        SliceOp::create(builder, getLoc(), results[0], start, limit, strides));
  }
  return mlir::success();
}

LogicalResult PadOp::buildGradients(OpBuilder &builder,
                                    llvm::ArrayRef<Value> results,
                                    llvm::SmallVectorImpl<Value> &operands) {
  // The operand's elements taken back out of the padded result: a strided
  // slice. Negative edges removed operand elements, which get zeros.
  RankedTensorType operandType = typeOf(getOperand());
  int64_t rank = operandType.getRank();
  llvm::SmallVector<int64_t> start(rank), limit(rank), strides(rank);
  llvm::SmallVector<int64_t> cropLow(rank, 0), cropHigh(rank, 0);
  bool cropped = false;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t low = getEdgePaddingLow()[d], high = getEdgePaddingHigh()[d];
    int64_t period = getInteriorPadding()[d] + 1;
    int64_t size = operandType.getDimSize(d);
    // Operand element i sits at low + i * period; the first and last that
    // survive the edges.
    int64_t first = low < 0 ? (-low + period - 1) / period : 0;
    int64_t last =
        high < 0 ? size - 1 - (-high + period - 1) / period : size - 1;
    if (first > last) {
      operands.push_back(Value()); // Nothing of the operand survives.
      return mlir::success();
    }
    start[d] = low + first * period;
    limit[d] = low + last * period + 1;
    strides[d] = period;
    cropLow[d] = first;
    cropHigh[d] = size - 1 - last;
    cropped |= first > 0 || last < size - 1;
  }
  Value g =
      SliceOp::create(builder, getLoc(), results[0], start, limit, strides);
  if (cropped) {
    llvm::SmallVector<int64_t> none(rank, 0);
    g = PadOp::create(builder, getLoc(), g, cropLow, cropHigh, none,
                      llvm::APFloat(0.0));
  }
  operands.push_back(g);
  return mlir::success();
}

LogicalResult GatherOp::buildGradients(OpBuilder &builder,
                                       llvm::ArrayRef<Value> results,
                                       llvm::SmallVectorImpl<Value> &operands) {
  // The rows picked, summed back where the same row was picked twice: a
  // one-hot matrix M [indices..., A] (an iota along the axis compared with
  // the indices, negative ones counted from the end) contracted with the
  // result's gradient over the indices' dimensions, as TPU embeddings do.
  // A product rather than a scatter: the axis A may be split like any
  // contraction's free dimension.
  if (!isFloat(getOperand()))
    return emitOpError("has no gradient for integer operands");
  Rule r(builder, *this);
  Value g = results[0], indices = getIndices();
  RankedTensorType operandType = typeOf(getOperand()),
                   indexType = typeOf(indices);
  int64_t axis = getAxis(), size = operandType.getDimSize(axis);
  int64_t indexRank = indexType.getRank(), rank = operandType.getRank();
  Value wrapped = r.wrapIndices(indices, size);
  llvm::SmallVector<int64_t> oneHotShape(indexType.getShape());
  oneHotShape.push_back(size);
  auto hotIndexType =
      RankedTensorType::get(oneHotShape, indexType.getElementType());
  llvm::SmallVector<int64_t> leading(indexRank);
  std::iota(leading.begin(), leading.end(), 0);
  Value hit =
      r.compare(ComparisonDirection::EQ,
                IotaOp::create(builder, getLoc(), hotIndexType, indexRank),
                BroadcastInDimOp::create(builder, getLoc(), hotIndexType,
                                         wrapped, leading));
  auto hotType =
      RankedTensorType::get(oneHotShape, operandType.getElementType());
  Value oneHot = r.select(hit, r.splat(1, hotType), r.splat(0, hotType));
  // g is [pre (axis dims), indices..., post]; contract its index dims.
  llvm::SmallVector<int64_t> gContract;
  for (int64_t i = 0; i < indexRank; ++i)
    gContract.push_back(axis + i);
  auto product = DotGeneralOp::create(
      builder, getLoc(), g, oneHot, llvm::ArrayRef<int64_t>{},
      llvm::ArrayRef<int64_t>{}, gContract, leading);
  // product is [pre, post, A]: A back to the axis.
  llvm::SmallVector<int64_t> permutation;
  for (int64_t d = 0; d < rank; ++d)
    permutation.push_back(d < axis ? d : d == axis ? rank - 1 : d - 1);
  operands.append({r.transposed(product, permutation), Value()});
  return mlir::success();
}

LogicalResult
ReverseOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  operands.push_back(
      ReverseOp::create(builder, getLoc(), results[0], getDimensions()));
  return mlir::success();
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

LogicalResult
DotGeneralOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                             llvm::SmallVectorImpl<Value> &operands) {
  if (!isFloat(getLhs()))
    return emitOpError("has no gradient for integer operands");
  Rule r(builder, *this);
  Value g = results[0];
  int64_t batch = getLhsBatchingDimensions().size();
  // The gradient of one side: the result's gradient contracted with the
  // other side over the other side's free dimensions, batched alike, the
  // gradient on the same side of the product as `self` so that a plain
  // matmul's gradients need no transpose: dimensions (batch, self's free,
  // self's contracting) for the left side and (batch, self's contracting,
  // self's free) for the right, the contracting ones in the order of the
  // other side's; then permuted into self's order (Rule::transposed: the
  // operands swapped where that is the permutation).
  auto side = [&](bool selfIsLhs, Value self, Value other,
                  llvm::ArrayRef<int64_t> selfBatch,
                  llvm::ArrayRef<int64_t> selfContract,
                  llvm::ArrayRef<int64_t> otherBatch,
                  llvm::ArrayRef<int64_t> otherContract,
                  int64_t firstOtherFree) {
    int64_t selfRank = typeOf(self).getRank(),
            otherRank = typeOf(other).getRank();
    llvm::SmallVector<int64_t> selfFree =
        remaining(selfRank, selfBatch, selfContract);
    llvm::SmallVector<int64_t> otherFree =
        remaining(otherRank, otherBatch, otherContract);
    llvm::SmallVector<int64_t> gBatch(batch), gContract;
    std::iota(gBatch.begin(), gBatch.end(), 0);
    for (size_t i = 0; i < otherFree.size(); ++i)
      gContract.push_back(firstOtherFree + static_cast<int64_t>(i));
    auto product =
        selfIsLhs
            ? DotGeneralOp::create(builder, getLoc(), g, other, gBatch,
                                   otherBatch, gContract, otherFree)
            : DotGeneralOp::create(builder, getLoc(), other, g, otherBatch,
                                   gBatch, otherFree, gContract);
    // Where each of this side's dimensions sits in `product`.
    int64_t freeAt = selfIsLhs ? batch : batch + selfContract.size();
    int64_t contractAt = selfIsLhs ? batch + selfFree.size() : batch;
    llvm::SmallVector<int64_t> position(selfRank);
    for (int64_t i = 0; i < batch; ++i)
      position[selfBatch[i]] = i;
    for (size_t i = 0; i < selfFree.size(); ++i)
      position[selfFree[i]] = freeAt + static_cast<int64_t>(i);
    llvm::SmallVector<int64_t> otherContractSorted(otherContract);
    llvm::sort(otherContractSorted);
    for (size_t k = 0; k < otherContractSorted.size(); ++k)
      position[selfContract[indexOf(otherContract, otherContractSorted[k])]] =
          contractAt + static_cast<int64_t>(k);
    return r.transposed(product, position);
  };
  int64_t lhsFree = typeOf(getLhs()).getRank() - batch -
                    static_cast<int64_t>(getLhsContractingDimensions().size());
  operands.push_back(
      side(/*selfIsLhs=*/true, getLhs(), getRhs(), getLhsBatchingDimensions(),
           getLhsContractingDimensions(), getRhsBatchingDimensions(),
           getRhsContractingDimensions(), batch + lhsFree));
  operands.push_back(
      side(/*selfIsLhs=*/false, getRhs(), getLhs(), getRhsBatchingDimensions(),
           getRhsContractingDimensions(), getLhsBatchingDimensions(),
           getLhsContractingDimensions(), batch));
  return mlir::success();
}

LogicalResult ReduceOp::buildGradients(OpBuilder &builder,
                                       llvm::ArrayRef<Value> results,
                                       llvm::SmallVectorImpl<Value> &operands) {
  if (!isFloat(getOperand()))
    return emitOpError("has no gradient for integer operands");
  Rule r(builder, *this);
  RankedTensorType type = typeOf(getOperand());
  Value spread = r.unreduce(results[0], type, getDimensions());
  switch (getKind()) {
  case ReduceKind::Sum:
    operands.push_back(spread);
    return mlir::success();
  case ReduceKind::Mean: {
    int64_t count = 1;
    for (int64_t d : getDimensions())
      count *= type.getDimSize(d);
    operands.push_back(r.mul(spread, r.splat(1.0 / count, type)));
    return mlir::success();
  }
  case ReduceKind::Max:
  case ReduceKind::Min: {
    // To the elements equal to the extreme (all of them on a tie, as
    // torch.amax does, split evenly).
    Value extreme = r.unreduce(getResult(), type, getDimensions());
    Value hit = r.compare(ComparisonDirection::EQ, getOperand(), extreme);
    Value ones = r.select(hit, r.splat(1, type), r.splat(0, type));
    Value ties =
        r.unreduce(r.sum(ones, getDimensions()), type, getDimensions());
    operands.push_back(r.div(r.where(hit, spread), ties));
    return mlir::success();
  }
  case ReduceKind::Prod:
    break;
  }
  return emitOpError("has no gradient rule for the product reduction");
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

LogicalResult
SoftmaxOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  // dx = y * (g - sum(g * y) along the dimension).
  Rule r(builder, *this);
  Value y = getResult(), g = results[0];
  int64_t dim = getDimension();
  Value dot = r.unreduce(r.sum(r.mul(g, y), {dim}), typeOf(y), {dim});
  operands.push_back(r.mul(y, r.sub(g, dot)));
  return mlir::success();
}

LogicalResult
LayerNormOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                            llvm::SmallVectorImpl<Value> &operands) {
  // With n = (x - mean) * rstd over dimensions [axis, rank):
  //   dbias = sum of g over the leading dimensions,
  //   dscale = sum of g * n over them,
  //   dx = rstd * (gn - mean(gn) - n * mean(gn * n)), gn = g * scale.
  Rule r(builder, *this);
  Value x = getOperand(), g = results[0];
  RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank(), axis = getAxis();
  llvm::SmallVector<int64_t> normalised, leading, trailing;
  for (int64_t d = 0; d < rank; ++d)
    (d < axis ? leading : normalised).push_back(d);
  for (int64_t d = axis; d < rank; ++d)
    trailing.push_back(d - axis);
  auto mean = [&](Value v) {
    return r.unreduce(
        ReduceOp::create(builder, getLoc(), ReduceKind::Mean, v, normalised),
        type, normalised);
  };
  auto spreadParameter = [&](Value p) {
    return BroadcastInDimOp::create(builder, getLoc(), type, p, [&] {
      llvm::SmallVector<int64_t> dims;
      for (int64_t d = axis; d < rank; ++d)
        dims.push_back(d);
      return dims;
    }());
  };
  Value centred = r.sub(x, mean(x));
  Value variance = mean(r.mul(centred, centred));
  Value rstd = RsqrtOp::create(
      builder, getLoc(),
      r.add(variance, r.splat(getEpsilon().convertToDouble(), type)));
  Value n = r.mul(centred, rstd);
  Value gn = r.mul(g, spreadParameter(getScale()));
  Value dx =
      r.mul(rstd, r.sub(r.sub(gn, mean(gn)), r.mul(n, mean(r.mul(gn, n)))));
  operands.append({dx, r.sum(r.mul(g, n), leading), r.sum(g, leading)});
  return mlir::success();
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

namespace {

/// Per spatial dimension of a windowed op: Id = (I-1) lhs_dilation + 1,
/// Kd = (K-1) rhs_dilation + 1 and Yd = (Y-1) stride + 1, with I, K and Y
/// the input, window and result sizes.
struct WindowSizes {
  llvm::SmallVector<int64_t> inD, windowD, outD;
  WindowSizes(RankedTensorType input, llvm::ArrayRef<int64_t> window,
              RankedTensorType result, llvm::ArrayRef<int64_t> stride,
              llvm::ArrayRef<int64_t> lhsDil, llvm::ArrayRef<int64_t> rhsDil) {
    for (size_t d = 0; d < window.size(); ++d) {
      inD.push_back((input.getDimSize(2 + d) - 1) * lhsDil[d] + 1);
      windowD.push_back((window[d] - 1) * rhsDil[d] + 1);
      outD.push_back((result.getDimSize(2 + d) - 1) * stride[d] + 1);
    }
  }
};

/// The gradient of a convolution's input `input` given its result's
/// gradient `g`: `g` dilated by the stride, convolved with `kernel`
/// flipped and its feature dimensions swapped per group, padded by
/// Kd-1-low before and Id-Yd+low after, strided by the lhs dilation
/// (which picks the input's own elements out of the dilated input).
Value convolutionInputGradient(Rule &r, Value g, Value input, Value kernel,
                               llvm::ArrayRef<int64_t> stride,
                               llvm::ArrayRef<int64_t> low,
                               llvm::ArrayRef<int64_t> lhsDil,
                               llvm::ArrayRef<int64_t> rhsDil, int64_t groups) {
  RankedTensorType xType = typeOf(input), wType = typeOf(kernel);
  int64_t rank = xType.getRank(), spatial = rank - 2;
  llvm::SmallVector<int64_t> window(wType.getShape().drop_front(2));
  WindowSizes sizes(xType, window, typeOf(g), stride, lhsDil, rhsDil);
  llvm::SmallVector<int64_t> padLow, padHigh, spatialDims;
  for (int64_t d = 0; d < spatial; ++d) {
    padLow.push_back(sizes.windowD[d] - 1 - low[d]);
    padHigh.push_back(sizes.inD[d] - sizes.outD[d] + low[d]);
    spatialDims.push_back(2 + d);
  }
  // Kernel [O, C/G, K...] -> [G, O/G, C/G, K...] -> [G, C/G, O/G, K...]
  // -> [C, O/G, K...], flipped.
  int64_t inGroup = xType.getDimSize(1) / groups,
          outGroup = wType.getDimSize(0) / groups;
  llvm::SmallVector<int64_t> split = {groups, outGroup, inGroup};
  llvm::SmallVector<int64_t> merged = {groups * inGroup, outGroup};
  split.append(window);
  merged.append(window);
  llvm::SmallVector<int64_t> groupSwap(rank + 1);
  std::iota(groupSwap.begin(), groupSwap.end(), 0);
  std::swap(groupSwap[1], groupSwap[2]);
  mlir::Type element = wType.getElementType();
  Value swapped = r.reshape(
      r.transpose(r.reshape(kernel, RankedTensorType::get(split, element)),
                  groupSwap),
      RankedTensorType::get(merged, element));
  Value flipped = ReverseOp::create(r.b, r.loc, swapped, spatialDims);
  return ConvolutionOp::create(r.b, r.loc, g, flipped, lhsDil, padLow, padHigh,
                               stride, rhsDil, groups);
}

/// The high padding that makes a window op over `input` give `result`'s
/// spatial sizes (ceil_mode's extension included, floor's cut excluded).
llvm::SmallVector<int64_t> effectiveHigh(const WindowSizes &sizes,
                                         llvm::ArrayRef<int64_t> low) {
  llvm::SmallVector<int64_t> high;
  for (size_t d = 0; d < low.size(); ++d)
    high.push_back(sizes.outD[d] + sizes.windowD[d] - 1 - sizes.inD[d] -
                   low[d]);
  return high;
}

} // namespace

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

LogicalResult
BatchNormInferenceOp::buildGradients(OpBuilder &builder,
                                     llvm::ArrayRef<Value> results,
                                     llvm::SmallVectorImpl<Value> &operands) {
  // y = (x - mean) * r * scale + offset, r = rsqrt(variance + epsilon),
  // per feature: the statistics are inputs (torch's eval mode), so every
  // operand has a gradient; a training step freezes the running
  // statistics by name.
  Rule r(builder, *this);
  Value g = results[0], x = getOperand();
  RankedTensorType type = typeOf(x), vector = typeOf(getScale());
  int64_t feature = getFeatureIndex();
  llvm::SmallVector<int64_t> others;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != feature)
      others.push_back(d);
  auto spread = [&](Value v) {
    return BroadcastInDimOp::create(builder, getLoc(), type, v,
                                    llvm::ArrayRef<int64_t>{feature});
  };
  Value rstd = RsqrtOp::create(
      builder, getLoc(),
      r.add(getVariance(), r.splat(getEpsilon().convertToDouble(), vector)));
  Value centred = r.sub(x, spread(getMean()));
  Value a = r.mul(getScale(), rstd);
  Value dx = r.mul(g, spread(a));
  Value gSum = r.sum(g, others);
  Value gCentred = r.sum(r.mul(g, centred), others);
  // d/dvariance of r = -r^3 / 2.
  Value dVariance =
      r.mul(r.mul(gCentred, getScale()),
            r.mul(r.splat(-0.5, vector), r.mul(rstd, r.mul(rstd, rstd))));
  operands.append(
      {dx, r.mul(gCentred, rstd), gSum, r.neg(r.mul(gSum, a)), dVariance});
  return mlir::success();
}

LogicalResult
ConvolutionOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                              llvm::SmallVectorImpl<Value> &operands) {
  // Both gradients are convolutions (convolutionInputGradient above); the
  // kernel's: per group, the input with batch and features swapped,
  // convolved with the result's gradient likewise swapped, dilated by the
  // stride and strided by the rhs dilation, padded so that the result has
  // the window's size.
  Rule r(builder, *this);
  Value g = results[0], x = getInput(), w = getKernel();
  RankedTensorType xType = typeOf(x), wType = typeOf(w);
  int64_t rank = xType.getRank();
  int64_t groups = getFeatureGroupCount();
  int64_t inGroup = xType.getDimSize(1) / groups,
          outGroup = wType.getDimSize(0) / groups;
  llvm::ArrayRef<int64_t> stride = getWindowStrides(), low = getPaddingLow(),
                          lhsDil = getLhsDilation(), rhsDil = getRhsDilation();
  operands.push_back(convolutionInputGradient(r, g, x, w, stride, low, lhsDil,
                                              rhsDil, groups));

  WindowSizes sizes(xType, wType.getShape().drop_front(2), typeOf(getResult()),
                    stride, lhsDil, rhsDil);
  llvm::SmallVector<int64_t> kernelHigh = effectiveHigh(sizes, low);
  llvm::SmallVector<int64_t> swap01(rank);
  std::iota(swap01.begin(), swap01.end(), 0);
  std::swap(swap01[0], swap01[1]);
  llvm::SmallVector<Value> kernelParts;
  for (int64_t group = 0; group < groups; ++group) {
    auto channels = [&](Value v, int64_t count) {
      if (groups == 1)
        return v;
      RankedTensorType type = typeOf(v);
      llvm::SmallVector<int64_t> start(rank, 0), limit(type.getShape()),
          strides(rank, 1);
      start[1] = group * count;
      limit[1] = (group + 1) * count;
      return Value(
          SliceOp::create(builder, getLoc(), v, start, limit, strides));
    };
    Value part = ConvolutionOp::create(
        builder, getLoc(), r.transpose(channels(x, inGroup), swap01),
        r.transpose(channels(g, outGroup), swap01), rhsDil, low, kernelHigh,
        lhsDil, stride, /*feature_group_count=*/1);
    kernelParts.push_back(r.transpose(part, swap01));
  }
  operands.push_back(groups == 1 ? kernelParts[0]
                                 : Value(ConcatenateOp::create(
                                       builder, getLoc(), kernelParts, 0)));
  return mlir::success();
}

LogicalResult
AvgPoolOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  // The pool is a depthwise convolution with a kernel of ones, divided by
  // each window's count: the gradient divides by the counts and goes back
  // through the convolution. The counts are that convolution of ones
  // (inside the input, or inside the input and its explicit padding).
  Rule r(builder, *this);
  Value x = getOperand();
  RankedTensorType xType = typeOf(x), yType = typeOf(getResult());
  int64_t rank = xType.getRank(), channels = xType.getDimSize(1);
  llvm::ArrayRef<int64_t> window = getWindowDimensions(),
                          stride = getWindowStrides(),
                          dilation = getWindowDilations(),
                          low = getPaddingLow(), high = getPaddingHigh();
  llvm::SmallVector<int64_t> unit(window.size(), 1), zero(rank, 0);
  WindowSizes sizes(xType, window, yType, stride, unit, dilation);
  llvm::SmallVector<int64_t> convHigh = effectiveHigh(sizes, low);
  llvm::SmallVector<int64_t> kernelShape = {channels, 1};
  kernelShape.append(window.begin(), window.end());
  Value ones =
      r.splat(1, RankedTensorType::get(kernelShape, xType.getElementType()));
  Value counted = r.splat(1, xType);
  llvm::SmallVector<int64_t> countLow(low), countHigh(convHigh);
  if (getCountIncludePad()) {
    // Ones over the explicit padding too; what ceil_mode adds stays zero.
    llvm::SmallVector<int64_t> padLow = {0, 0}, padHigh = {0, 0};
    padLow.append(low.begin(), low.end());
    padHigh.append(high.begin(), high.end());
    counted = PadOp::create(builder, getLoc(), counted, padLow, padHigh, zero,
                            llvm::APFloat(1.0));
    for (size_t d = 0; d < window.size(); ++d) {
      countLow[d] = 0;
      countHigh[d] = convHigh[d] - high[d];
    }
  }
  Value counts =
      ConvolutionOp::create(builder, getLoc(), counted, ones, stride, countLow,
                            countHigh, unit, dilation, channels);
  operands.push_back(convolutionInputGradient(r, r.div(results[0], counts), x,
                                              ones, stride, low, unit, dilation,
                                              channels));
  return mlir::success();
}

LogicalResult
MaxPoolOp::buildGradients(OpBuilder &builder, llvm::ArrayRef<Value> results,
                          llvm::SmallVectorImpl<Value> &operands) {
  // Each result element's gradient goes to the first element of its window
  // (in row-major window order, as torch's max_pool) equal to the maximum:
  // per window offset, the input's elements at that offset of every window
  // (a strided slice of the input padded with -inf), compared with the
  // result, minus the windows an earlier offset took; their gradients
  // padded back into place and summed.
  Rule r(builder, *this);
  Value x = getOperand(), y = getResult(), g = results[0];
  RankedTensorType xType = typeOf(x), yType = typeOf(y);
  int64_t rank = xType.getRank(), spatial = rank - 2;
  llvm::ArrayRef<int64_t> window = getWindowDimensions(),
                          stride = getWindowStrides(),
                          dilation = getWindowDilations(),
                          low = getPaddingLow();
  llvm::SmallVector<int64_t> unit(spatial, 1);
  WindowSizes sizes(xType, window, yType, stride, unit, dilation);
  llvm::SmallVector<int64_t> convHigh = effectiveHigh(sizes, low);
  llvm::SmallVector<int64_t> padLow = {0, 0}, padHigh = {0, 0}, none(rank, 0),
                             cropLow = {0, 0}, cropHigh = {0, 0};
  for (int64_t d = 0; d < spatial; ++d) {
    padLow.push_back(low[d]);
    padHigh.push_back(convHigh[d]);
    cropLow.push_back(-low[d]);
    cropHigh.push_back(-convHigh[d]);
  }
  Value padded =
      PadOp::create(builder, getLoc(), x, padLow, padHigh, none,
                    llvm::APFloat::getInf(llvm::APFloat::IEEEdouble(), true));
  RankedTensorType paddedType = typeOf(padded);
  Value zeros = r.zerosLike(g), taken, sum;
  llvm::SmallVector<int64_t> offset(spatial, 0);
  while (true) {
    llvm::SmallVector<int64_t> start(rank, 0), limit(paddedType.getShape()),
        strides(rank, 1), back(rank, 0), front(rank, 0), interior(rank, 0);
    for (int64_t d = 0; d < spatial; ++d) {
      start[2 + d] = offset[d] * dilation[d];
      limit[2 + d] = start[2 + d] + sizes.outD[d];
      strides[2 + d] = stride[d];
      front[2 + d] = start[2 + d];
      back[2 + d] = paddedType.getDimSize(2 + d) - limit[2 + d];
      interior[2 + d] = stride[d] - 1;
    }
    Value at =
        SliceOp::create(builder, getLoc(), padded, start, limit, strides);
    Value hit = r.compare(ComparisonDirection::EQ, at, y);
    Value first =
        taken ? Value(AndOp::create(builder, getLoc(), hit,
                                    NotOp::create(builder, getLoc(), taken)))
              : hit;
    taken = taken ? Value(OrOp::create(builder, getLoc(), taken, hit)) : hit;
    Value placed = PadOp::create(builder, getLoc(), r.select(first, g, zeros),
                                 front, back, interior, llvm::APFloat(0.0));
    sum = sum ? r.add(sum, placed) : placed;
    // The next offset, row-major.
    int64_t d = spatial - 1;
    while (d >= 0 && ++offset[d] == window[d])
      offset[d--] = 0;
    if (d < 0)
      break;
  }
  operands.push_back(PadOp::create(builder, getLoc(), sum, cropLow, cropHigh,
                                   none, llvm::APFloat(0.0)));
  return mlir::success();
}

} // namespace tessel::graph
