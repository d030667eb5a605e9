//===- DecomposeBatchNorm.cpp - Batch norm as a per-channel affine --------===//
//
// graph.batch_norm_inference(x, scale, offset, mean, variance) becomes
//   a = scale * rsqrt(variance + epsilon), b = offset - mean * a   (vectors)
//   x * broadcast(a) + broadcast(b)
// so that the per-element work is one multiply-add, which
// --graph-fuse-elementwise then fuses with what follows (the activation,
// the residual add) and the convolution's result is read once. After a
// convolution the scale goes into its kernel instead:
//   convolution(x, w * broadcast(a)) + broadcast(b).
//
//===----------------------------------------------------------------------===//

#include "dialects/graph/GraphOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/lowering/Passes.h"

namespace tessel::lowering {

#define GEN_PASS_DEF_DECOMPOSEBATCHNORMPASS
#include "passes/lowering/Passes.h.inc"

namespace {

/// The batch norm's statistics as a per-channel scale `a` and shift `b`.
std::pair<mlir::Value, mlir::Value> affineOf(graph::BatchNormInferenceOp op,
                                             mlir::PatternRewriter &rewriter) {
  mlir::Location loc = op.getLoc();
  auto vectorType = mlir::cast<mlir::RankedTensorType>(op.getScale().getType());
  mlir::Type element = vectorType.getElementType();
  mlir::Value epsilon = graph::ConstantOp::create(
      rewriter, loc,
      mlir::DenseElementsAttr::get(
          vectorType,
          rewriter.getFloatAttr(element, op.getEpsilon().convertToDouble())));
  mlir::Value shifted =
      graph::AddOp::create(rewriter, loc, op.getVariance(), epsilon);
  mlir::Value inverse = graph::RsqrtOp::create(rewriter, loc, shifted);
  mlir::Value a = graph::MulOp::create(rewriter, loc, op.getScale(), inverse);
  mlir::Value meanTimesA = graph::MulOp::create(rewriter, loc, op.getMean(), a);
  mlir::Value b =
      graph::SubOp::create(rewriter, loc, op.getOffset(), meanTimesA);
  return {a, b};
}

mlir::Value broadcastAlong(mlir::PatternRewriter &rewriter, mlir::Location loc,
                           mlir::Value vector, mlir::Type type, int64_t dim) {
  return graph::BroadcastInDimOp::create(
      rewriter, loc, mlir::cast<mlir::RankedTensorType>(type), vector,
      llvm::SmallVector<int64_t, 1>{dim});
}

/// `x + b`, laid out as the batch norm's result was.
void replaceWithShift(graph::BatchNormInferenceOp op, mlir::Value x,
                      mlir::Value b, mlir::PatternRewriter &rewriter) {
  mlir::Operation *result =
      graph::AddOp::create(rewriter, op.getLoc(), x,
                           broadcastAlong(rewriter, op.getLoc(), b,
                                          op.getType(), op.getFeatureIndex()));
  if (mlir::Attribute shardings = op->getDiscardableAttr("spmd.shardings"))
    result->setDiscardableAttr("spmd.shardings", shardings);
  rewriter.replaceOp(op, result->getResults());
}

struct DecomposeBatchNorm
    : mlir::OpRewritePattern<graph::BatchNormInferenceOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult
  matchAndRewrite(graph::BatchNormInferenceOp op,
                  mlir::PatternRewriter &rewriter) const override {
    auto [a, b] = affineOf(op, rewriter);
    mlir::Value scaled = graph::MulOp::create(
        rewriter, op.getLoc(), op.getOperand(),
        broadcastAlong(rewriter, op.getLoc(), a, op.getType(),
                       op.getFeatureIndex()));
    replaceWithShift(op, scaled, b, rewriter);
    return mlir::success();
  }
};

/// batch_norm(convolution(x, w)) = convolution(x, w * a) + b, `a` scaling
/// the kernel's output features (its dimension 0): the per-element work
/// left is the shift, and `w * a` reads parameters only (computed once at
/// load by the host). Where the convolution's result has other users, or a
/// statistic is computed after the convolution, the plain decomposition
/// applies.
struct FoldIntoConvolution
    : mlir::OpRewritePattern<graph::BatchNormInferenceOp> {
  FoldIntoConvolution(mlir::MLIRContext *context)
      : OpRewritePattern(context, /*benefit=*/2) {}

  mlir::LogicalResult
  matchAndRewrite(graph::BatchNormInferenceOp op,
                  mlir::PatternRewriter &rewriter) const override {
    auto convolution = op.getOperand().getDefiningOp<graph::ConvolutionOp>();
    if (!convolution || !convolution->hasOneUse() || op.getFeatureIndex() != 1)
      return rewriter.notifyMatchFailure(op, "not alone after a convolution");
    for (mlir::Value statistic : op->getOperands().drop_front()) {
      mlir::Operation *definition = statistic.getDefiningOp();
      if (definition && (definition->getBlock() != convolution->getBlock() ||
                         !definition->isBeforeInBlock(convolution)))
        return rewriter.notifyMatchFailure(op, "statistics come later");
    }
    rewriter.setInsertionPoint(convolution);
    auto [a, b] = affineOf(op, rewriter);
    mlir::Value kernel = convolution.getKernel();
    mlir::Value scaled = graph::MulOp::create(
        rewriter, op.getLoc(), kernel,
        broadcastAlong(rewriter, op.getLoc(), a, kernel.getType(), 0));
    rewriter.modifyOpInPlace(
        convolution, [&] { convolution.getKernelMutable().assign(scaled); });
    rewriter.setInsertionPoint(op);
    replaceWithShift(op, convolution.getResult(), b, rewriter);
    return mlir::success();
  }
};

struct DecomposeBatchNormPass
    : impl::DecomposeBatchNormPassBase<DecomposeBatchNormPass> {
  void runOnOperation() override {
    mlir::RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeBatchNorm, FoldIntoConvolution>(&getContext());
    if (mlir::failed(
            mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace tessel::lowering
