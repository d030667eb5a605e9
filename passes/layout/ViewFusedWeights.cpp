//===- ViewFusedWeights.cpp - A fused projection's weight per part --------===//
//
// x @ W^T + b with W [3h, h], sliced into q, k, v, becomes
//   y = dot(x, view(W) [3, h, h]) + view(b) [3, h]      (y: [..., 3, h])
//   q = reshape(slice(y, part 0))                        (q: [..., h])
// with the weight's argument retyped (the same bytes, regrouped) and its
// stored shape recorded, so a split of h splits every part alike.
//
//===----------------------------------------------------------------------===//

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/SpmdDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "passes/layout/Passes.h"

namespace tessel::layout {

#define GEN_PASS_DEF_VIEWFUSEDWEIGHTSPASS
#include "passes/layout/Passes.h.inc"

namespace {

using llvm::SmallVector;

/// A fused projection the pass rewrites.
struct FusedProjection {
  graph::DotGeneralOp dot;
  int side = 0;                 // The weight's operand: 0 lhs, 1 rhs.
  graph::TransposeOp transpose; // Between the weight and the dot, if any.
  mlir::BlockArgument weight;
  int64_t operandDim = 0; // The free dimension, in the dot's operand.
  int64_t weightDim = 0;  // ... and in the weight.
  int64_t resultDim = 0;  // ... and in the dot's result.
  // Elementwise ops after the dot, each with its broadcast bias.
  SmallVector<std::pair<mlir::Operation *, graph::BroadcastInDimOp>> biases;
  SmallVector<graph::SliceOp> slices;
  int64_t partSize = 0;
};

/// `value` as a parameter argument of `function` that nothing has laid out
/// or viewed yet and that only one op reads.
mlir::BlockArgument freeParameter(mlir::func::FuncOp function,
                                  mlir::Value value) {
  auto argument = mlir::dyn_cast<mlir::BlockArgument>(value);
  if (!argument || argument.getOwner()->getParentOp() != function ||
      !argument.hasOneUse())
    return nullptr;
  unsigned number = argument.getArgNumber();
  if (!function.getArgAttr(number, graph::GraphDialect::kParameterAttr) ||
      function.getArgAttr(number, graph::GraphDialect::kStoredShapeAttr) ||
      spmd::getSharding(argument))
    return nullptr;
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(argument.getType());
  return type && type.hasStaticShape() ? argument : nullptr;
}

int64_t sizeOf(mlir::Value value, int64_t dim) {
  return mlir::cast<mlir::RankedTensorType>(value.getType()).getDimSize(dim);
}

/// The fused projection `dot` computes, if it is one.
std::optional<FusedProjection> match(mlir::func::FuncOp function,
                                     graph::DotGeneralOp dot) {
  for (int side = 0; side < 2; ++side) {
    FusedProjection fused;
    fused.dot = dot;
    fused.side = side;
    mlir::Value operand = side == 0 ? dot.getLhs() : dot.getRhs();
    mlir::Value source = operand;
    fused.transpose = operand.getDefiningOp<graph::TransposeOp>();
    if (fused.transpose) {
      if (!fused.transpose->hasOneUse())
        continue;
      source = fused.transpose.getOperand();
    } else if (!operand.hasOneUse()) {
      continue;
    }
    fused.weight = freeParameter(function, source);
    if (!fused.weight)
      continue;
    llvm::ArrayRef<int64_t> batch = side == 0 ? dot.getLhsBatchingDimensions()
                                              : dot.getRhsBatchingDimensions();
    llvm::ArrayRef<int64_t> contract = side == 0
                                           ? dot.getLhsContractingDimensions()
                                           : dot.getRhsContractingDimensions();
    int64_t rank =
        mlir::cast<mlir::RankedTensorType>(operand.getType()).getRank();
    SmallVector<int64_t> free;
    for (int64_t d = 0; d < rank; ++d)
      if (!llvm::is_contained(batch, d) && !llvm::is_contained(contract, d))
        free.push_back(d);
    if (free.size() != 1)
      continue;
    fused.operandDim = free.front();
    fused.weightDim = fused.transpose
                          ? fused.transpose.getPermutation()[fused.operandDim]
                          : fused.operandDim;
    // Result: batch dimensions, the lhs's free ones, the rhs's free ones.
    int64_t lhsRank =
        mlir::cast<mlir::RankedTensorType>(dot.getLhs().getType()).getRank();
    int64_t lhsFree =
        lhsRank - static_cast<int64_t>(dot.getLhsBatchingDimensions().size()) -
        static_cast<int64_t>(dot.getLhsContractingDimensions().size());
    fused.resultDim =
        static_cast<int64_t>(batch.size()) + (side == 0 ? 0 : lhsFree);
    // Biases, one use at a time.
    mlir::Value current = dot.getResult();
    while (current.hasOneUse()) {
      mlir::Operation *user = *current.getUsers().begin();
      if (!user->hasTrait<mlir::OpTrait::Elementwise>() ||
          user->getNumOperands() != 2 || user->getNumResults() != 1)
        break;
      mlir::Value other = user->getOperand(user->getOperand(0) == current);
      auto broadcast = other.getDefiningOp<graph::BroadcastInDimOp>();
      if (!broadcast || !broadcast->hasOneUse() ||
          broadcast.getBroadcastDimensions() !=
              llvm::ArrayRef<int64_t>{fused.resultDim} ||
          !freeParameter(function, broadcast.getOperand()) ||
          sizeOf(broadcast.getOperand(), 0) != sizeOf(current, fused.resultDim))
        break;
      fused.biases.emplace_back(user, broadcast);
      current = user->getResult(0);
    }
    // Then slices into parts, and nothing else.
    int64_t size = sizeOf(current, fused.resultDim);
    int64_t resultRank =
        mlir::cast<mlir::RankedTensorType>(current.getType()).getRank();
    bool slicesOnly = !current.use_empty();
    for (mlir::Operation *user : current.getUsers()) {
      auto slice = mlir::dyn_cast<graph::SliceOp>(user);
      if (!slice) {
        slicesOnly = false;
        break;
      }
      for (int64_t d = 0; d < resultRank && slicesOnly; ++d) {
        int64_t start = slice.getStartIndices()[d];
        int64_t limit = slice.getLimitIndices()[d];
        if (slice.getStrides()[d] != 1)
          slicesOnly = false;
        else if (d != fused.resultDim)
          slicesOnly = start == 0 && limit == sizeOf(current, d);
        else if (fused.partSize == 0)
          fused.partSize = limit - start;
        if (d == fused.resultDim && slicesOnly)
          slicesOnly = limit - start == fused.partSize && fused.partSize > 0 &&
                       start % fused.partSize == 0;
      }
      fused.slices.push_back(slice);
    }
    if (!slicesOnly || fused.slices.size() < 2 || fused.partSize >= size ||
        size % fused.partSize != 0)
      continue;
    return fused;
  }
  return std::nullopt;
}

/// `shape` with dimension `dim` split into `parts` x the rest.
SmallVector<int64_t> splitDim(llvm::ArrayRef<int64_t> shape, int64_t dim,
                              int64_t parts) {
  SmallVector<int64_t> out(shape.begin(), shape.end());
  out[dim] = shape[dim] / parts;
  out.insert(out.begin() + dim, parts);
  return out;
}

/// Dimension numbers after dimension `dim` became two.
SmallVector<int64_t> shifted(llvm::ArrayRef<int64_t> dims, int64_t dim) {
  SmallVector<int64_t> out;
  for (int64_t d : dims)
    out.push_back(d > dim ? d + 1 : d);
  return out;
}

/// Retypes argument `argument` of `function` as `type`, recording the shape
/// the parameter file stores it with.
void viewArgument(mlir::func::FuncOp function, mlir::BlockArgument argument,
                  mlir::RankedTensorType type) {
  auto stored = mlir::cast<mlir::RankedTensorType>(argument.getType());
  argument.setType(type);
  function.setArgAttr(
      argument.getArgNumber(), graph::GraphDialect::kStoredShapeAttr,
      mlir::DenseI64ArrayAttr::get(function.getContext(), stored.getShape()));
  SmallVector<mlir::Type> inputs(function.front().getArgumentTypes());
  function.setType(mlir::FunctionType::get(function.getContext(), inputs,
                                           function.getResultTypes()));
}

void rewrite(mlir::func::FuncOp function, FusedProjection fused) {
  auto weightType = mlir::cast<mlir::RankedTensorType>(fused.weight.getType());
  int64_t parts = weightType.getDimSize(fused.weightDim) / fused.partSize;
  auto view = [&](mlir::RankedTensorType type, int64_t dim) {
    return type.clone(splitDim(type.getShape(), dim, parts));
  };
  viewArgument(function, fused.weight, view(weightType, fused.weightDim));

  mlir::OpBuilder builder(fused.dot);
  mlir::Value operand = fused.weight;
  if (fused.transpose) {
    SmallVector<int64_t> permutation;
    for (int64_t d : fused.transpose.getPermutation()) {
      if (d == fused.weightDim)
        permutation.push_back(d); // The parts, then each part's features.
      permutation.push_back(d >= fused.weightDim ? d + 1 : d);
    }
    operand = graph::TransposeOp::create(builder, fused.transpose.getLoc(),
                                         operand, permutation);
  }
  graph::DotGeneralOp dot = fused.dot;
  auto dimensions = [&](int side, bool contracting) {
    llvm::ArrayRef<int64_t> dims =
        contracting ? (side == 0 ? dot.getLhsContractingDimensions()
                                 : dot.getRhsContractingDimensions())
                    : (side == 0 ? dot.getLhsBatchingDimensions()
                                 : dot.getRhsBatchingDimensions());
    return side == fused.side ? shifted(dims, fused.operandDim)
                              : SmallVector<int64_t>(dims);
  };
  auto resultType = mlir::cast<mlir::RankedTensorType>(dot.getType());
  mlir::Value current = graph::DotGeneralOp::create(
      builder, dot.getLoc(), view(resultType, fused.resultDim),
      fused.side == 0 ? operand : dot.getLhs(),
      fused.side == 1 ? operand : dot.getRhs(), dimensions(0, false),
      dimensions(1, false), dimensions(0, true), dimensions(1, true));
  mlir::Value old = dot.getResult();
  for (auto [op, broadcast] : fused.biases) {
    mlir::BlockArgument bias =
        mlir::cast<mlir::BlockArgument>(broadcast.getOperand());
    viewArgument(function, bias,
                 view(mlir::cast<mlir::RankedTensorType>(bias.getType()), 0));
    builder.setInsertionPoint(op);
    auto type =
        view(mlir::cast<mlir::RankedTensorType>(op->getResultTypes()[0]),
             fused.resultDim);
    mlir::Value broadcasted = graph::BroadcastInDimOp::create(
        builder, broadcast.getLoc(), type, bias,
        SmallVector<int64_t>{fused.resultDim, fused.resultDim + 1});
    mlir::OperationState state(op->getLoc(), op->getName());
    state.addOperands(op->getOperand(0) == old
                          ? mlir::ValueRange{current, broadcasted}
                          : mlir::ValueRange{broadcasted, current});
    state.addTypes(type);
    state.addAttributes(op->getAttrs());
    old = op->getResult(0);
    current = builder.create(state)->getResult(0);
  }
  for (graph::SliceOp slice : fused.slices) {
    builder.setInsertionPoint(slice);
    int64_t d = fused.resultDim;
    int64_t part = slice.getStartIndices()[d] / fused.partSize;
    SmallVector<int64_t> start(slice.getStartIndices());
    SmallVector<int64_t> limit(slice.getLimitIndices());
    SmallVector<int64_t> strides(slice.getStrides());
    start[d] = 0;
    limit[d] = fused.partSize;
    start.insert(start.begin() + d, part);
    limit.insert(limit.begin() + d, part + 1);
    strides.insert(strides.begin() + d, 1);
    // The slice's name stays with the value of its old shape; the part
    // is located there but not named (a plan entry names one tensor).
    mlir::Location partLoc = mlir::FusedLoc::get(
        {slice.getLoc()}, builder.getStringAttr("part"), builder.getContext());
    mlir::Value sliced = graph::SliceOp::create(builder, partLoc, current,
                                                start, limit, strides);
    mlir::Value reshaped = graph::ReshapeOp::create(builder, slice.getLoc(),
                                                    slice.getType(), sliced);
    slice.getResult().replaceAllUsesWith(reshaped);
    slice.erase();
  }
  for (auto it = fused.biases.rbegin(); it != fused.biases.rend(); ++it) {
    it->first->erase();
    graph::BroadcastInDimOp broadcast = it->second;
    broadcast.erase();
  }
  dot.erase();
  if (fused.transpose)
    fused.transpose.erase();
}

struct ViewFusedWeightsPass
    : impl::ViewFusedWeightsPassBase<ViewFusedWeightsPass> {
  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    SmallVector<FusedProjection> found;
    function.walk([&](graph::DotGeneralOp dot) {
      if (std::optional<FusedProjection> fused = match(function, dot))
        found.push_back(*fused);
    });
    for (FusedProjection &fused : found)
      rewrite(function, fused);
  }
};

} // namespace
} // namespace tessel::layout
