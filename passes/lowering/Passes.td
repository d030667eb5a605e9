//===- Passes.td - Lowering passes ------------------------*- tablegen -*-===//
//
// From a func.func of graph ops to what the executable exporter needs: fused
// elementwise chains and buffers assigned by liveness.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_LOWERING_PASSES_TD
#define TESSEL_PASSES_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

def DecomposeBatchNormPass : Pass<"graph-decompose-batch-norm", "::mlir::func::FuncOp"> {
  let summary = "Rewrite graph.batch_norm_inference as a per-channel multiply-add, folded into a convolution before it";
  let description = [{
    `(x - mean) * rsqrt(variance + epsilon) * scale + offset` becomes
    `x * a + b` with `a = scale * rsqrt(variance + epsilon)` and
    `b = offset - mean * a` computed once on the statistics vectors and
    broadcast along `feature_index`. The multiply-add is elementwise, so
    --graph-fuse-elementwise folds it into the fusion of what follows (the
    activation, a residual add): a convolution's result is then read once
    rather than by a batch norm kernel and again by the activation. A batch
    norm that alone reads a convolution's result (over its feature
    dimension) is folded into it instead: `convolution(x, w * a) + b`, `a`
    broadcast along the kernel's output features; the shift is all that is
    left per element, and `w * a` reads only parameters (the host runs such
    instructions once, at load). Runs on local shapes, after partitioning:
    the statistics are sharded as the feature dimension is, and so is the
    kernel's output-feature dimension.
  }];
  let dependentDialects = ["::tessel::graph::GraphDialect"];
}

def FuseElementwisePass : Pass<"graph-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Group elementwise ops and broadcasts into graph.fusion ops";
  let description = [{
    Every elementwise op and broadcast ends up in a `graph.fusion`, which the
    runtime evaluates in one pass over its result. Starting from the last op,
    a fusion grows upward through producers that only it uses; broadcasts and
    splat constants are cheap to recompute and join every fusion that reads
    them. Behind a broadcast that repeats elements only constants join: a
    computed operand would be recomputed for every copy, so it is a fusion
    of its own. Intermediate tensors of a chain are never materialised.

    A fusion stays within what every backend evaluates: at most
    `max-operands` operands and `max-ops` ops plus loads (the defaults are
    the cuda backend's limits, runtime/cuda/DeviceOps.h); a producer that
    would pass them starts a fusion of its own.
  }];
  let options = [
    Option<"maxOperands", "max-operands", "int64_t", /*default=*/"16",
           "Most operands of one fusion">,
    Option<"maxOps", "max-ops", "int64_t", /*default=*/"96",
           "Most ops plus operand loads of one fusion">,
  ];
  let dependentDialects = ["::tessel::graph::GraphDialect"];
}

def AssignBuffersPass : Pass<"graph-assign-buffers", "::mlir::func::FuncOp"> {
  let summary = "Place every temporary in the device arena by liveness";
  let description = [{
    Walks the function in order and gives each op result a byte range of one
    arena (64-byte aligned, best fit), reusing the range of a value once its
    last reader has run. A fusion writes in place into an operand it reads
    elementwise when that operand dies there. A reshape is a view: it shares
    its operand's bytes and extends their lifetime. Arguments and constants
    have their own storage. Results: `graph.buffer_offsets` on each op (one
    offset per result) and `graph.arena_bytes` on the function.
  }];
}

#endif // TESSEL_PASSES_LOWERING_PASSES_TD
