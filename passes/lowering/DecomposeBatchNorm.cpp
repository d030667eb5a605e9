//===- DecomposeBatchNorm.cpp - Batch norm as a per-channel affine --------===//
//
// graph.batch_norm_inference(x, scale, offset, mean, variance) becomes
//   a = scale * rsqrt(variance + epsilon), b = offset - mean * a   (vectors)
//   x * broadcast(a) + broadcast(b)
// so that the per-element work is one multiply-add, which
// --graph-fuse-elementwise then fuses with what follows (the activation,
// the residual add) and the convolution's result is read once.
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

struct DecomposeBatchNorm
    : mlir::OpRewritePattern<graph::BatchNormInferenceOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult
  matchAndRewrite(graph::BatchNormInferenceOp op,
                  mlir::PatternRewriter &rewriter) const override {
    mlir::Location loc = op.getLoc();
    auto vectorType =
        mlir::cast<mlir::RankedTensorType>(op.getScale().getType());
    auto resultType = mlir::cast<mlir::RankedTensorType>(op.getType());
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
    mlir::Value meanTimesA =
        graph::MulOp::create(rewriter, loc, op.getMean(), a);
    mlir::Value b =
        graph::SubOp::create(rewriter, loc, op.getOffset(), meanTimesA);
    llvm::SmallVector<int64_t, 1> dims = {
        static_cast<int64_t>(op.getFeatureIndex())};
    auto broadcast = [&](mlir::Value vector) -> mlir::Value {
      return graph::BroadcastInDimOp::create(rewriter, loc, resultType, vector,
                                             dims);
    };
    mlir::Value scaled =
        graph::MulOp::create(rewriter, loc, op.getOperand(), broadcast(a));
    mlir::Operation *result =
        graph::AddOp::create(rewriter, loc, scaled, broadcast(b));
    // Laid out as the batch norm's result was.
    if (mlir::Attribute shardings = op->getDiscardableAttr("spmd.shardings"))
      result->setDiscardableAttr("spmd.shardings", shardings);
    rewriter.replaceOp(op, result->getResults());
    return mlir::success();
  }
};

struct DecomposeBatchNormPass
    : impl::DecomposeBatchNormPassBase<DecomposeBatchNormPass> {
  void runOnOperation() override {
    mlir::RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeBatchNorm>(&getContext());
    if (mlir::failed(
            mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace tessel::lowering
