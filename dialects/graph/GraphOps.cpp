//===- GraphOps.cpp - Ops of the graph dialect ----------------------------===//
//
// Verifiers and shape functions. A shape function both infers the result type
// and rejects invalid attributes, reporting through the optional location, so
// that builders (the importer) and the verifier agree.
//
//===----------------------------------------------------------------------===//

#include "dialects/graph/GraphOps.h"

#include <numeric>

#include "dialects/graph/WindowShapes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

// Generated code names MLIR's helpers unqualified.
using namespace mlir;

//===----------------------------------------------------------------------===//
// Custom assembly directives
//===----------------------------------------------------------------------===//

static ParseResult parseDimensionList(OpAsmParser &parser,
                                      SmallVectorImpl<int64_t> &dims) {
  return parser.parseCommaSeparatedList(
      OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
        return parser.parseInteger(dims.emplace_back());
      });
}

/// `[0, 1] x [0, 2]`: paired dimensions of dot_general's lhs and rhs.
static ParseResult parseDimensionPairs(OpAsmParser &parser,
                                       DenseI64ArrayAttr &lhs,
                                       DenseI64ArrayAttr &rhs) {
  SmallVector<int64_t> lhsDims, rhsDims;
  if (parseDimensionList(parser, lhsDims) || parser.parseKeyword("x") ||
      parseDimensionList(parser, rhsDims))
    return failure();
  lhs = parser.getBuilder().getDenseI64ArrayAttr(lhsDims);
  rhs = parser.getBuilder().getDenseI64ArrayAttr(rhsDims);
  return success();
}

static void printDimensionPairs(OpAsmPrinter &printer, Operation *,
                                DenseI64ArrayAttr lhs, DenseI64ArrayAttr rhs) {
  printer << '[' << lhs.asArrayRef() << "] x [" << rhs.asArrayRef() << ']';
}

/// `[start:limit, start:limit:stride, ...]`; a stride of 1 is not printed.
static ParseResult parseSliceRanges(OpAsmParser &parser,
                                    DenseI64ArrayAttr &starts,
                                    DenseI64ArrayAttr &limits,
                                    DenseI64ArrayAttr &strides) {
  SmallVector<int64_t> startValues, limitValues, strideValues;
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
            int64_t stride = 1;
            if (parser.parseInteger(startValues.emplace_back()) ||
                parser.parseColon() ||
                parser.parseInteger(limitValues.emplace_back()))
              return failure();
            if (succeeded(parser.parseOptionalColon()) &&
                parser.parseInteger(stride))
              return failure();
            strideValues.push_back(stride);
            return success();
          }))
    return failure();
  Builder &builder = parser.getBuilder();
  starts = builder.getDenseI64ArrayAttr(startValues);
  limits = builder.getDenseI64ArrayAttr(limitValues);
  strides = builder.getDenseI64ArrayAttr(strideValues);
  return success();
}

static void printSliceRanges(OpAsmPrinter &printer, Operation *,
                             DenseI64ArrayAttr starts, DenseI64ArrayAttr limits,
                             DenseI64ArrayAttr strides) {
  // The lists of an unverified op may differ in length; print what pairs up.
  int64_t rank = std::min(starts.size(), limits.size());
  printer << '[';
  for (int64_t d = 0; d < rank; ++d) {
    if (d)
      printer << ", ";
    printer << starts[d] << ':' << limits[d];
    if (d < strides.size() && strides[d] != 1)
      printer << ':' << strides[d];
  }
  printer << ']';
}

#include "dialects/graph/GraphEnums.cpp.inc"

#include "dialects/graph/GraphInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/graph/GraphOps.cpp.inc"

namespace tessel::graph {

using mlir::ArrayRef;
using mlir::emitOptionalError;
using mlir::failure;
using mlir::Location;
using mlir::LogicalResult;
using mlir::RankedTensorType;
using mlir::success;

namespace {

/// Checks that `dims` are distinct dimensions of a rank-`rank` tensor.
LogicalResult checkDimensions(std::optional<Location> loc, llvm::StringRef what,
                              ArrayRef<int64_t> dims, int64_t rank) {
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t dim : dims) {
    if (dim < 0 || dim >= rank)
      return emitOptionalError(loc, what, " has dimension ", dim,
                               " out of range for rank ", rank);
    if (!seen.insert(dim).second)
      return emitOptionalError(loc, what, " has dimension ", dim, " twice");
  }
  return success();
}

/// Checks that a per-dimension attribute has one entry per dimension.
LogicalResult checkSize(std::optional<Location> loc, llvm::StringRef what,
                        ArrayRef<int64_t> values, int64_t expected) {
  if (static_cast<int64_t>(values.size()) != expected)
    return emitOptionalError(loc, what, " has ", values.size(),
                             " entries, expected ", expected);
  return success();
}

RankedTensorType rankedType(mlir::Value value) {
  return mlir::cast<RankedTensorType>(value.getType());
}

} // namespace

//===----------------------------------------------------------------------===//
// ConstantOp, IotaOp, ClampOp
//===----------------------------------------------------------------------===//

mlir::OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult IotaOp::verify() {
  int64_t rank = getType().getRank(), dimension = getDimension();
  if (dimension < 0 || dimension >= rank)
    return emitOpError() << "dimension " << dimension
                         << " out of range for rank " << rank;
  return success();
}

LogicalResult ClampOp::verify() {
  if (getMin() && getMax() &&
      getMin()->convertToDouble() > getMax()->convertToDouble())
    return emitOpError() << "min " << getMin()->convertToDouble()
                         << " exceeds max " << getMax()->convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise with inferred types
//===----------------------------------------------------------------------===//

LogicalResult
CompareOp::inferReturnTypes(mlir::MLIRContext *context, std::optional<Location>,
                            Adaptor adaptor,
                            llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType lhs = rankedType(adaptor.getLhs());
  inferred.push_back(RankedTensorType::get(lhs.getShape(),
                                           mlir::IntegerType::get(context, 1)));
  return success();
}

//===----------------------------------------------------------------------===//
// Shape and data movement
//===----------------------------------------------------------------------===//

LogicalResult BroadcastInDimOp::verify() {
  RankedTensorType operand = getOperand().getType();
  RankedTensorType result = getType();
  ArrayRef<int64_t> dims = getBroadcastDimensions();
  if (failed(checkSize(getLoc(), "broadcast_dimensions", dims,
                       operand.getRank())) ||
      failed(checkDimensions(getLoc(), "broadcast_dimensions", dims,
                             result.getRank())))
    return failure();
  for (auto [i, dim] : llvm::enumerate(dims)) {
    int64_t from = operand.getDimSize(i), to = result.getDimSize(dim);
    if (from != 1 && from != to)
      return emitOpError() << "operand dimension " << i << " of size " << from
                           << " cannot broadcast to result dimension " << dim
                           << " of size " << to;
  }
  return success();
}

LogicalResult
TransposeOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                              Adaptor adaptor,
                              llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  if (failed(checkSize(loc, "permutation", perm, operand.getRank())) ||
      failed(checkDimensions(loc, "permutation", perm, operand.getRank())))
    return failure();
  llvm::SmallVector<int64_t> shape;
  for (int64_t dim : perm)
    shape.push_back(operand.getDimSize(dim));
  inferred.push_back(operand.clone(shape));
  return success();
}

LogicalResult ReshapeOp::verify() {
  if (getOperand().getType().getNumElements() != getType().getNumElements())
    return emitOpError() << "cannot reshape " << getOperand().getType()
                         << " to " << getType()
                         << ": the element counts differ";
  return success();
}

mlir::OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getOperand().getType() == getType())
    return getOperand();
  // reshape(reshape(x)) is reshape(x).
  if (auto producer = getOperand().getDefiningOp<ReshapeOp>()) {
    getOperandMutable().assign(producer.getOperand());
    return getResult();
  }
  if (auto dense =
          mlir::dyn_cast_or_null<mlir::DenseElementsAttr>(adaptor.getOperand()))
    return dense.reshape(getType());
  return {};
}

LogicalResult
SliceOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                          Adaptor adaptor,
                          llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  int64_t rank = operand.getRank();
  ArrayRef<int64_t> starts = adaptor.getStartIndices();
  ArrayRef<int64_t> limits = adaptor.getLimitIndices();
  ArrayRef<int64_t> strides = adaptor.getStrides();
  if (failed(checkSize(loc, "start_indices", starts, rank)) ||
      failed(checkSize(loc, "limit_indices", limits, rank)) ||
      failed(checkSize(loc, "strides", strides, rank)))
    return failure();
  llvm::SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = operand.getDimSize(d);
    if (starts[d] < 0 || starts[d] > limits[d] || limits[d] > size)
      return emitOptionalError(loc, "slice [", starts[d], ", ", limits[d],
                               ") of dimension ", d, " is outside [0, ", size,
                               "]");
    if (strides[d] < 1)
      return emitOptionalError(loc, "stride ", strides[d], " of dimension ", d,
                               " must be at least 1");
    shape.push_back((limits[d] - starts[d] + strides[d] - 1) / strides[d]);
  }
  inferred.push_back(operand.clone(shape));
  return success();
}

LogicalResult
ConcatenateOp::inferReturnTypes(mlir::MLIRContext *,
                                std::optional<Location> loc, Adaptor adaptor,
                                llvm::SmallVectorImpl<mlir::Type> &inferred) {
  if (adaptor.getInputs().empty())
    return emitOptionalError(loc, "needs at least one input");
  RankedTensorType first = rankedType(adaptor.getInputs().front());
  int64_t rank = first.getRank(), dim = adaptor.getDimension();
  if (dim < 0 || dim >= rank)
    return emitOptionalError(loc, "dimension ", dim, " out of range for rank ",
                             rank);
  llvm::SmallVector<int64_t> shape(first.getShape());
  for (auto [i, input] : llvm::enumerate(adaptor.getInputs().drop_front())) {
    RankedTensorType type = rankedType(input);
    if (type.getRank() != rank)
      return emitOptionalError(loc, "input ", i + 1, " has rank ",
                               type.getRank(), ", expected ", rank);
    for (int64_t d = 0; d < rank; ++d) {
      if (d != dim && type.getDimSize(d) != shape[d])
        return emitOptionalError(loc, "input ", i + 1, " has size ",
                                 type.getDimSize(d), " in dimension ", d,
                                 ", expected ", shape[d]);
    }
    shape[dim] += type.getDimSize(dim);
  }
  inferred.push_back(first.clone(shape));
  return success();
}

LogicalResult
PadOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                        Adaptor adaptor,
                        llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  int64_t rank = operand.getRank();
  ArrayRef<int64_t> low = adaptor.getEdgePaddingLow();
  ArrayRef<int64_t> high = adaptor.getEdgePaddingHigh();
  ArrayRef<int64_t> interior = adaptor.getInteriorPadding();
  if (failed(checkSize(loc, "edge_padding_low", low, rank)) ||
      failed(checkSize(loc, "edge_padding_high", high, rank)) ||
      failed(checkSize(loc, "interior_padding", interior, rank)))
    return failure();
  llvm::SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (interior[d] < 0)
      return emitOptionalError(loc, "interior padding ", interior[d],
                               " of dimension ", d, " is negative");
    int64_t size = operand.getDimSize(d);
    int64_t padded =
        size + std::max<int64_t>(size - 1, 0) * interior[d] + low[d] + high[d];
    if (padded < 0)
      return emitOptionalError(loc, "padding of dimension ", d,
                               " removes more than its ", size, " elements");
    shape.push_back(padded);
  }
  inferred.push_back(operand.clone(shape));
  return success();
}

LogicalResult ReverseOp::verify() {
  return checkDimensions(getLoc(), "dimensions", getDimensions(),
                         getType().getRank());
}

LogicalResult
GatherOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                           Adaptor adaptor,
                           llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  RankedTensorType indices = rankedType(adaptor.getIndices());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= operand.getRank())
    return emitOptionalError(loc, "axis ", axis, " out of range for rank ",
                             operand.getRank());
  llvm::SmallVector<int64_t> shape(operand.getShape().take_front(axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, operand.getShape().drop_front(axis + 1));
  inferred.push_back(operand.clone(shape));
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

LogicalResult
DotGeneralOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                               Adaptor adaptor,
                               llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType lhs = rankedType(adaptor.getLhs());
  RankedTensorType rhs = rankedType(adaptor.getRhs());
  ArrayRef<int64_t> lhsBatch = adaptor.getLhsBatchingDimensions();
  ArrayRef<int64_t> rhsBatch = adaptor.getRhsBatchingDimensions();
  ArrayRef<int64_t> lhsContract = adaptor.getLhsContractingDimensions();
  ArrayRef<int64_t> rhsContract = adaptor.getRhsContractingDimensions();
  if (lhsBatch.size() != rhsBatch.size())
    return emitOptionalError(loc, "lhs has ", lhsBatch.size(),
                             " batching dimensions but rhs has ",
                             rhsBatch.size());
  if (lhsContract.size() != rhsContract.size())
    return emitOptionalError(loc, "lhs has ", lhsContract.size(),
                             " contracting dimensions but rhs has ",
                             rhsContract.size());
  llvm::SmallVector<int64_t> lhsUsed(lhsBatch), rhsUsed(rhsBatch);
  llvm::append_range(lhsUsed, lhsContract);
  llvm::append_range(rhsUsed, rhsContract);
  if (failed(checkDimensions(loc, "lhs batching and contracting dimensions",
                             lhsUsed, lhs.getRank())) ||
      failed(checkDimensions(loc, "rhs batching and contracting dimensions",
                             rhsUsed, rhs.getRank())))
    return failure();
  for (auto [l, r] : llvm::zip(lhsUsed, rhsUsed)) {
    if (lhs.getDimSize(l) != rhs.getDimSize(r))
      return emitOptionalError(loc, "lhs dimension ", l, " (size ",
                               lhs.getDimSize(l), ") and rhs dimension ", r,
                               " (size ", rhs.getDimSize(r),
                               ") are paired but differ in size");
  }
  llvm::SmallVector<int64_t> shape;
  for (int64_t d : lhsBatch)
    shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < lhs.getRank(); ++d)
    if (!llvm::is_contained(lhsUsed, d))
      shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < rhs.getRank(); ++d)
    if (!llvm::is_contained(rhsUsed, d))
      shape.push_back(rhs.getDimSize(d));
  inferred.push_back(lhs.clone(shape));
  return success();
}

/// dot_general(transpose(x), y) is dot_general(x, y) with x's dimension
/// numbers mapped through the permutation, when that keeps the order of x's
/// free dimensions (and so the result's layout). The kernels read strided
/// operands in place, so the transpose's copy disappears.
std::optional<std::pair<llvm::SmallVector<int64_t>, llvm::SmallVector<int64_t>>>
transposeFoldedInto(DotGeneralOp dot, int side) {
  mlir::Value operand = side == 0 ? dot.getLhs() : dot.getRhs();
  auto transpose = operand.getDefiningOp<TransposeOp>();
  if (!transpose)
    return std::nullopt;
  ArrayRef<int64_t> perm = transpose.getPermutation();
  ArrayRef<int64_t> batch = side == 0 ? dot.getLhsBatchingDimensions()
                                      : dot.getRhsBatchingDimensions();
  ArrayRef<int64_t> contract = side == 0 ? dot.getLhsContractingDimensions()
                                         : dot.getRhsContractingDimensions();
  llvm::SmallVector<int64_t> newBatch, newContract, freeSources;
  for (int64_t d : batch)
    newBatch.push_back(perm[d]);
  for (int64_t d : contract)
    newContract.push_back(perm[d]);
  for (int64_t d = 0; d < static_cast<int64_t>(perm.size()); ++d)
    if (!llvm::is_contained(batch, d) && !llvm::is_contained(contract, d))
      freeSources.push_back(perm[d]);
  if (!llvm::is_sorted(freeSources))
    return std::nullopt;
  return std::make_pair(newBatch, newContract);
}

bool foldsIntoItsReaders(TransposeOp transpose) {
  return !transpose->use_empty() &&
         llvm::all_of(transpose->getUses(), [](mlir::OpOperand &use) {
           auto dot = mlir::dyn_cast<DotGeneralOp>(use.getOwner());
           return dot && use.getOperandNumber() < 2 &&
                  transposeFoldedInto(dot, use.getOperandNumber());
         });
}

namespace {
struct FoldTransposeIntoDotGeneral : mlir::OpRewritePattern<DotGeneralOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult
  matchAndRewrite(DotGeneralOp dot,
                  mlir::PatternRewriter &rewriter) const override {
    for (int side = 0; side < 2; ++side) {
      auto folded = transposeFoldedInto(dot, side);
      if (!folded)
        continue;
      auto transpose = (side == 0 ? dot.getLhs() : dot.getRhs())
                           .getDefiningOp<TransposeOp>();
      const auto &[newBatch, newContract] = *folded;
      rewriter.modifyOpInPlace(dot, [&] {
        if (side == 0) {
          dot.getLhsMutable().assign(transpose.getOperand());
          dot.setLhsBatchingDimensions(newBatch);
          dot.setLhsContractingDimensions(newContract);
        } else {
          dot.getRhsMutable().assign(transpose.getOperand());
          dot.setRhsBatchingDimensions(newBatch);
          dot.setRhsContractingDimensions(newContract);
        }
      });
      return success();
    }
    return failure();
  }
};
} // namespace

void DotGeneralOp::getCanonicalizationPatterns(
    mlir::RewritePatternSet &patterns, mlir::MLIRContext *context) {
  patterns.add<FoldTransposeIntoDotGeneral>(context);
}

namespace {
/// transpose(dot_general(a, b)) is dot_general(b, a) when the permutation
/// keeps the batching dimensions first and puts b's free dimensions, in
/// order, before a's: an imported (x^T dy)^T is dy^T x. The kernels read
/// either operand transposed in place, so the transpose's copy disappears.
/// (The backward pass builds such products in the right order itself:
/// the gradient rules of DotGeneralOp and TransposeOp.)
struct SwapDotGeneralOperands : mlir::OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult
  matchAndRewrite(TransposeOp transpose,
                  mlir::PatternRewriter &rewriter) const override {
    auto dot = transpose.getOperand().getDefiningOp<DotGeneralOp>();
    // Not in a partitioned program (ops with a sharding and its partial
    // sums): there the plan was chosen and priced with the transpose.
    if (!dot || !dot->hasOneUse() ||
        !dot->getDiscardableAttrDictionary().empty() ||
        !transpose->getDiscardableAttrDictionary().empty() ||
        !dot.swapsOperands(transpose.getPermutation()))
      return failure();
    DotGeneralOp product = dot.buildSwapped(rewriter, transpose.getLoc());
    rewriter.replaceOp(transpose, product.getResult());
    rewriter.eraseOp(dot);
    return success();
  }
};
} // namespace

void TransposeOp::getCanonicalizationPatterns(mlir::RewritePatternSet &patterns,
                                              mlir::MLIRContext *context) {
  patterns.add<SwapDotGeneralOperands>(context);
}

LogicalResult
ReduceOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                           Adaptor adaptor,
                           llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  ArrayRef<int64_t> dims = adaptor.getDimensions();
  if (failed(checkDimensions(loc, "dimensions", dims, operand.getRank())))
    return failure();
  llvm::SmallVector<int64_t> shape;
  for (int64_t d = 0; d < operand.getRank(); ++d)
    if (!llvm::is_contained(dims, d))
      shape.push_back(operand.getDimSize(d));
  inferred.push_back(operand.clone(shape));
  return success();
}

LogicalResult
TopKOp::inferReturnTypes(mlir::MLIRContext *context,
                         std::optional<Location> loc, Adaptor adaptor,
                         llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  int64_t dimension = adaptor.getDimension(), k = adaptor.getK();
  if (dimension < 0 || dimension >= operand.getRank())
    return mlir::emitOptionalError(loc, "dimension ", dimension,
                                   " out of range for rank ",
                                   operand.getRank());
  if (k < 1 || k > operand.getDimSize(dimension))
    return mlir::emitOptionalError(loc, "k = ", k, " must be in [1, ",
                                   operand.getDimSize(dimension),
                                   "], the size of dimension ", dimension);
  llvm::SmallVector<int64_t> shape(operand.getShape());
  shape[dimension] = k;
  inferred.push_back(operand.clone(shape));
  inferred.push_back(
      RankedTensorType::get(shape, mlir::IntegerType::get(context, 64)));
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() {
  int64_t rank = getType().getRank(), dimension = getDimension();
  if (dimension < 0 || dimension >= rank)
    return emitOpError() << "dimension " << dimension
                         << " out of range for rank " << rank;
  return success();
}

LogicalResult LayerNormOp::verify() {
  RankedTensorType operand = getOperand().getType();
  int64_t axis = getAxis();
  if (axis < 0 || axis >= operand.getRank())
    return emitOpError() << "axis " << axis << " out of range for rank "
                         << operand.getRank();
  ArrayRef<int64_t> normalized = operand.getShape().drop_front(axis);
  for (auto [name, value] :
       {std::pair{"scale", getScale()}, std::pair{"bias", getBias()}}) {
    if (rankedType(value).getShape() != normalized)
      return emitOpError() << name << " has type " << value.getType()
                           << " but the normalized dimensions are ["
                           << normalized << "]";
  }
  if (getEpsilon().convertToDouble() < 0)
    return emitOpError() << "epsilon must not be negative";
  return success();
}

LogicalResult BatchNormInferenceOp::verify() {
  RankedTensorType operand = getOperand().getType();
  int64_t feature = getFeatureIndex();
  if (feature < 0 || feature >= operand.getRank())
    return emitOpError() << "feature_index " << feature
                         << " out of range for rank " << operand.getRank();
  RankedTensorType stats = getScale().getType();
  if (stats.getRank() != 1 ||
      stats.getDimSize(0) != operand.getDimSize(feature))
    return emitOpError() << "statistics have type " << stats
                         << " but need 1 dimension of size "
                         << operand.getDimSize(feature);
  if (getEpsilon().convertToDouble() < 0)
    return emitOpError() << "epsilon must not be negative";
  return success();
}

//===----------------------------------------------------------------------===//
// Windowed ops
//===----------------------------------------------------------------------===//

LogicalResult
ConvolutionOp::inferReturnTypes(mlir::MLIRContext *,
                                std::optional<Location> loc, Adaptor adaptor,
                                llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType input = rankedType(adaptor.getInput());
  RankedTensorType kernel = rankedType(adaptor.getKernel());
  int64_t rank = input.getRank();
  if (rank < 3)
    return emitOptionalError(loc, "input must be [N, C, spatial...], got ",
                             input);
  if (kernel.getRank() != rank)
    return emitOptionalError(loc, "kernel rank ", kernel.getRank(),
                             " differs from input rank ", rank);
  int64_t groups = adaptor.getFeatureGroupCount();
  int64_t channels = input.getDimSize(1), outChannels = kernel.getDimSize(0);
  if (groups < 1 || channels % groups != 0 || outChannels % groups != 0)
    return emitOptionalError(loc, "feature_group_count ", groups,
                             " must divide the input channels (", channels,
                             ") and the output channels (", outChannels, ")");
  if (kernel.getDimSize(1) * groups != channels)
    return emitOptionalError(loc, "kernel has ", kernel.getDimSize(1),
                             " input channels per group, expected ",
                             channels / groups);
  WindowAttributes window{kernel.getShape().drop_front(2),
                          adaptor.getWindowStrides(),
                          adaptor.getRhsDilation(),
                          adaptor.getPaddingLow(),
                          adaptor.getPaddingHigh(),
                          adaptor.getLhsDilation(),
                          /*ceilMode=*/false};
  llvm::SmallVector<int64_t> spatial;
  if (failed(inferWindowOutputShape(loc, input.getShape().drop_front(2), window,
                                    spatial)))
    return failure();
  llvm::SmallVector<int64_t> shape = {input.getDimSize(0), outChannels};
  llvm::append_range(shape, spatial);
  inferred.push_back(input.clone(shape));
  return success();
}

template <typename PoolOp>
static LogicalResult
inferPoolType(std::optional<Location> loc, typename PoolOp::Adaptor adaptor,
              llvm::SmallVectorImpl<mlir::Type> &inferred) {
  RankedTensorType operand = rankedType(adaptor.getOperand());
  if (operand.getRank() < 3)
    return emitOptionalError(loc, "operand must be [N, C, spatial...], got ",
                             operand);
  llvm::SmallVector<int64_t> noDilation(operand.getRank() - 2, 1);
  WindowAttributes window{
      adaptor.getWindowDimensions(), adaptor.getWindowStrides(),
      adaptor.getWindowDilations(),  adaptor.getPaddingLow(),
      adaptor.getPaddingHigh(),      noDilation,
      adaptor.getCeilMode()};
  llvm::SmallVector<int64_t> spatial;
  if (failed(inferWindowOutputShape(loc, operand.getShape().drop_front(2),
                                    window, spatial)))
    return failure();
  llvm::SmallVector<int64_t> shape(operand.getShape().take_front(2));
  llvm::append_range(shape, spatial);
  inferred.push_back(operand.clone(shape));
  return success();
}

LogicalResult
MaxPoolOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                            Adaptor adaptor,
                            llvm::SmallVectorImpl<mlir::Type> &inferred) {
  return inferPoolType<MaxPoolOp>(loc, adaptor, inferred);
}

LogicalResult
AvgPoolOp::inferReturnTypes(mlir::MLIRContext *, std::optional<Location> loc,
                            Adaptor adaptor,
                            llvm::SmallVectorImpl<mlir::Type> &inferred) {
  return inferPoolType<AvgPoolOp>(loc, adaptor, inferred);
}

LogicalResult ResizeOp::verify() {
  RankedTensorType operand = getOperand().getType();
  RankedTensorType result = getType();
  if (operand.getRank() != result.getRank())
    return emitOpError() << "result rank " << result.getRank()
                         << " differs from operand rank " << operand.getRank();
  ArrayRef<double> scales = getScales();
  if (static_cast<int64_t>(scales.size()) != operand.getRank())
    return emitOpError() << "scales has " << scales.size()
                         << " entries, expected " << operand.getRank();
  for (auto [d, scale] : llvm::enumerate(scales)) {
    if (!(scale > 0))
      return emitOpError() << "scale " << scale << " of dimension " << d
                           << " must be positive";
    if (result.getDimSize(d) < 1)
      return emitOpError() << "result dimension " << d << " is empty";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// FusionOp
//===----------------------------------------------------------------------===//

/// Whether `op` may be part of a fusion: elementwise ops, broadcasts, and
/// splat constants.
bool isFusible(mlir::Operation *op) {
  if (op->hasTrait<mlir::OpTrait::Elementwise>() ||
      mlir::isa<BroadcastInDimOp>(op))
    return true;
  if (auto constant = mlir::dyn_cast<ConstantOp>(op))
    if (auto dense =
            mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue()))
      return dense.isSplat();
  return false;
}

LogicalResult FusionOp::verify() {
  mlir::Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "has " << getInputs().size() << " inputs but "
                         << body.getNumArguments() << " region arguments";
  for (auto [input, argument] : llvm::zip(getInputs(), body.getArguments()))
    if (input.getType() != argument.getType())
      return emitOpError() << "region argument type " << argument.getType()
                           << " differs from input type " << input.getType();
  auto yield = mlir::dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError() << "region must end with graph.yield";
  if (yield.getValue().getType() != getType())
    return emitOpError() << "yields " << yield.getValue().getType()
                         << " but the result is " << getType();
  for (mlir::Operation &op : body.without_terminator())
    if (!isFusible(&op))
      return op.emitOpError()
             << "cannot be fused: a fusion holds elementwise ops, broadcasts "
                "and splat constants";
  return success();
}

} // namespace tessel::graph

//===----------------------------------------------------------------------===//
// Costs (CostOpInterface): ops that are not one FLOP per result element
//===----------------------------------------------------------------------===//

namespace tessel::graph {

static double numElements(mlir::Value value) {
  auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
  return static_cast<double>(type.getNumElements());
}

bool DotGeneralOp::swapsOperands(llvm::ArrayRef<int64_t> permutation) {
  auto rankOf = [](mlir::Value v) {
    return mlir::cast<mlir::RankedTensorType>(v.getType()).getRank();
  };
  int64_t batch = static_cast<int64_t>(getLhsBatchingDimensions().size());
  int64_t contract = static_cast<int64_t>(getLhsContractingDimensions().size());
  int64_t lhsFree = rankOf(getLhs()) - batch - contract;
  int64_t rhsFree = rankOf(getRhs()) - batch - contract;
  if (lhsFree == 0 || rhsFree == 0)
    return false;
  llvm::SmallVector<int64_t> swapped;
  for (int64_t d = 0; d < batch; ++d)
    swapped.push_back(d);
  for (int64_t d = 0; d < rhsFree; ++d)
    swapped.push_back(batch + lhsFree + d);
  for (int64_t d = 0; d < lhsFree; ++d)
    swapped.push_back(batch + d);
  return permutation == llvm::ArrayRef<int64_t>(swapped);
}

DotGeneralOp DotGeneralOp::buildSwapped(mlir::OpBuilder &builder,
                                        mlir::Location loc) {
  return DotGeneralOp::create(
      builder, loc, getRhs(), getLhs(), getRhsBatchingDimensions(),
      getLhsBatchingDimensions(), getRhsContractingDimensions(),
      getLhsContractingDimensions());
}

double DotGeneralOp::getFlops() {
  // A multiply and an add per result element and contracted position.
  double contracted = 1;
  for (int64_t d : getLhsContractingDimensions())
    contracted *= static_cast<double>(getLhs().getType().getDimSize(d));
  return 2 * numElements(getResult()) * contracted;
}

double ConvolutionOp::getFlops() {
  // Per result element, a multiply and an add per kernel position of one
  // group's input channels.
  mlir::RankedTensorType kernel = getKernel().getType();
  double window = 1;
  for (int64_t d = 1; d < kernel.getRank(); ++d)
    window *= static_cast<double>(kernel.getDimSize(d));
  return 2 * numElements(getResult()) * window;
}

double FusionOp::getFlops() {
  double flops = 0;
  for (mlir::Operation &op : getBody().front())
    if (auto cost = mlir::dyn_cast<CostOpInterface>(&op))
      flops += cost.getFlops();
  return flops;
}

double ReduceOp::getFlops() { return numElements(getOperand()); }
double SoftmaxOp::getFlops() { return 5 * numElements(getResult()); }
double LayerNormOp::getFlops() { return 8 * numElements(getResult()); }
double BatchNormInferenceOp::getFlops() { return 8 * numElements(getResult()); }

bool ConstantOp::isComputedWhole(llvm::ArrayRef<bool> splitDims) {
  auto value = mlir::dyn_cast<mlir::DenseElementsAttr>(getValue());
  return llvm::is_contained(splitDims, true) && (!value || !value.isSplat());
}

} // namespace tessel::graph

//===----------------------------------------------------------------------===//
// Kernel attributes (KernelOpInterface): enumerations by name
//===----------------------------------------------------------------------===//

namespace tessel::graph {

/// The op's attributes with `names` (attribute, enumerant) in place of the
/// integers the enumerations are stored as.
static mlir::DictionaryAttr
withNames(mlir::Operation *op,
          llvm::ArrayRef<std::pair<llvm::StringRef, llvm::StringRef>> names) {
  mlir::NamedAttrList attributes(
      mlir::cast<mlir::DictionaryAttr>(op->getPropertiesAsAttribute()));
  mlir::Builder builder(op->getContext());
  for (auto [name, value] : names)
    attributes.set(name, builder.getStringAttr(value));
  return attributes.getDictionary(op->getContext());
}

mlir::DictionaryAttr ReduceOp::getKernelAttributes() {
  return withNames(*this, {{"kind", stringifyReduceKind(getKind())}});
}

mlir::DictionaryAttr ResizeOp::getKernelAttributes() {
  return withNames(*this,
                   {{"mode", stringifyResizeMode(getMode())},
                    {"coordinate_transform",
                     stringifyCoordinateTransform(getCoordinateTransform())},
                    {"nearest_mode", stringifyNearestMode(getNearestMode())}});
}

} // namespace tessel::graph
