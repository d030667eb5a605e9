//===- Passes.td - Layout passes --------------------------*- tablegen -*-===//
//
// Before sharding: how the program views its tensors, where another view of
// the same bytes lets a plan split them better.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_LAYOUT_PASSES_TD
#define TESSEL_PASSES_LAYOUT_PASSES_TD

include "mlir/Pass/PassBase.td"

def ViewFusedWeightsPass : Pass<"graph-view-fused-weights", "::mlir::func::FuncOp"> {
  let summary = "View a fused projection's weight as [parts, features, ...] so a split of its features splits each part";
  let description = [{
    A projection that computes several tensors at once, as GPT-2's fused
    q/k/v (`x @ W^T + b` with `W` of shape `[3h, h]`, its result sliced into
    three `h`-wide parts), keeps its parts side by side in one dimension: a
    split of that dimension over devices in contiguous blocks gives the
    first device all of q and part of k, not the same heads of q, k and v,
    and the slices then need the whole result (an all-gather per
    projection).

    This pass views such a weight as `[3, h, h]` (and its bias as `[3, h]`),
    which is free: row-major, the same bytes in the same order. The
    contraction then yields `[..., 3, h]`, each slice takes one index of the
    parts dimension, and a reshape gives the slice its old shape. A split of
    the `h` dimension now gives every device the same features of each part,
    whole heads when the split divides the heads, and attention needs no
    communication. The parameter file is untouched: the argument records
    the shape it is stored with (`graph.stored_shape`), the executable
    carries it, and plans written for the stored shape still apply (a split
    of the fused dimension becomes a split of each part).

    Matched: a `graph.dot_general` one operand of which is a parameter (or
    its transpose) with a single free dimension and no other use; then, one
    use at a time, elementwise ops whose other operand broadcasts a rank-1
    parameter along that dimension (a bias); then only `graph.slice`s of
    equal width `n`, aligned to `n`, whole along every other dimension. The
    parts are the dimension's size over `n`. Parameters that already carry a
    sharding or a stored shape are left alone.
  }];
  let dependentDialects = ["::tessel::graph::GraphDialect"];
}

#endif // TESSEL_PASSES_LAYOUT_PASSES_TD
