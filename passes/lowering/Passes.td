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

def OverlapCollectivesPass : Pass<"spmd-overlap-collectives", "::mlir::func::FuncOp"> {
  let summary = "Start each collective early and wait for it late, so that independent work runs while it communicates";
  let description = [{
    On a device's program (local shapes, after fusion): every op that
    communicates (the spmd collectives but all_slice, halo_exchange,
    ring_shift) becomes a start and a wait, as XLA's all-reduce-start and
    all-reduce-done: the op gets `spmd.async` and its readers read a
    `spmd.collective_done` of it instead. The wait moves down to just before
    the first reader; the start moves up to just after its operand is
    made, keeping the collectives' order (every device issues them in the
    same order, so none waits for a peer that waits for it). The ops
    between run on the device while the collective runs on the backend's
    communication engine (runtime/CollectiveStream.h).

    At most `max-in-flight` collectives are in flight at any point: each in
    flight keeps its operand and result alive (memory), and a start that
    would pass the limit waits for the oldest first, which bounds memory as
    a prefetch window does (a ZeRO-3 program gathers the next layer's
    weights while the current layer computes, not every layer's at the
    start). 0 leaves the program as it is.
  }];
  let options = [
    Option<"maxInFlight", "max-in-flight", "int64_t", /*default=*/"2",
           "Most collectives started and not yet waited for at any point">,
  ];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def AssignBuffersPass : Pass<"graph-assign-buffers", "::mlir::func::FuncOp"> {
  let summary = "Place every temporary in the device arena by liveness";
  let description = [{
    Gives each op result a byte range of one arena (64-byte aligned), shared
    with every value whose lifetime (definition to last reader) it does not
    meet: once all lifetimes are known, the largest buffers are placed
    first, each at the lowest offset clear of those placed before it that
    are live at the same time (greedy by size). An asynchronous collective
    (--spmd-overlap-collectives) reads its operand until its
    spmd.collective_done, whose result is a view of the collective's. A
    fusion writes in place into an operand it reads elementwise when that
    operand dies there, and so does an op with the spmd InPlace trait (an
    all-reduce) over its input. A reshape is a view: it shares
    its operand's bytes and extends their lifetime. Arguments and constants
    have their own storage. Results: `graph.buffer_offsets` on each op (one
    offset per result) and `graph.arena_bytes` on the function.
  }];
}

#endif // TESSEL_PASSES_LOWERING_PASSES_TD
