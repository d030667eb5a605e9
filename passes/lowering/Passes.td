//===- Passes.td - Lowering passes ------------------------*- tablegen -*-===//
//
// From a func.func of graph ops to what the executable exporter needs: fused
// elementwise chains and buffers assigned by liveness.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_LOWERING_PASSES_TD
#define TESSEL_PASSES_LOWERING_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseElementwisePass : Pass<"graph-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Group elementwise ops and broadcasts into graph.fusion ops";
  let description = [{
    Every elementwise op and broadcast ends up in a `graph.fusion`, which the
    runtime evaluates in one pass over its result. Starting from the last op,
    a fusion grows upward through producers that only it uses; broadcasts and
    splat constants are cheap to recompute and join every fusion that reads
    them. Intermediate tensors of a chain are never materialised.

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
