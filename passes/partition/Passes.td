//===- Passes.td - SPMD partitioning passes ---------------*- tablegen -*-===//
//
// From a program whose every tensor has a sharding to one program per device
// with explicit collectives. One pass per step, each leaving valid IR.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_PARTITION_PASSES_TD
#define TESSEL_PASSES_PARTITION_PASSES_TD

include "mlir/Pass/PassBase.td"

def InsertExplicitReshardsPass
    : Pass<"spmd-insert-explicit-reshards", "::mlir::func::FuncOp"> {
  let summary = "Make every op's operand and result shardings agree with its rule";
  let description = [{
    After propagation, an op's operands may disagree with each other or with
    its result. For each op with a sharding rule, the factors take the axes
    of its result's sharding (factors only operands hold, such as a
    contraction's, the axes all operands agree on; need-replication factors
    none, and no axis twice). Every operand whose sharding differs from what
    the factors imply gets an `spmd.reshard` to it; a result whose sharding
    differs is computed as implied and resharded after the op. A sharded
    reduction factor makes the result partial (`partial={"y": sum}`); the
    reduction happens where a consumer, or the function's result, needs the
    value whole: there the consumer's operand reshard (or one before the
    return) drops the partial axes. Ops linear in a partial sum carry it
    instead (reshape, transpose, broadcast, slice, reverse, negation; sums
    and differences of values partial alike; products and quotients with
    one partial factor), so a chain of them costs one reduction at its
    end. Afterwards every op's operands agree
    with its rule, and only `spmd.reshard` ops move data.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def GlobalToLocalPass : Pass<"spmd-global-to-local", "::mlir::func::FuncOp"> {
  let summary = "Give every tensor its per-device shape";
  let description = [{
    Runs after `--spmd-reshard-to-collectives`, when every op agrees with
    its rule and only collectives move data. Each value's type becomes its
    shape on one device: every dimension divided by the parts its sharding
    splits it into. The program is then the one every device runs; the
    shardings stay as attributes and record the global layout. Op
    attributes that name sizes of split dimensions are adjusted (a slice's
    limits on a split, untouched dimension). Ops that see global positions
    through a split dimension add where the device's part starts
    (`spmd.part_index` times the part's size): an `iota` counting along
    it, and a `gather` from a table split along the gathered axis, which
    picks the rows the device holds at the shifted index, zeros for the
    others (negative indices wrapped first): its result is the partial sum
    the rule says.

    Not yet supported, each an error naming the op, the value and the
    dimension: a non-splat constant that is split, a `reverse` of a split
    dimension, windows (convolution, pools) whose parts do not line up and
    `resize` over split spatial dimensions, and a `spmd.reshard` left
    over.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def RingAttentionPass : Pass<"spmd-ring-attention", "::mlir::func::FuncOp"> {
  let summary = "Attention over a ring of key/value blocks instead of gathered keys and values";
  let description = [{
    On local shapes (after --spmd-global-to-local). An attention whose
    queries are split along their sequence dimension needs every key and
    value: the partitioner gathers them (`spmd.all_gather` along the keys'
    sequence dimension), and each device holds them whole. This pass finds
    that attention, `softmax(f(q·k)) · v` with `f` elementwise ops on the
    scores (a scale, a mask by `graph.select`, an additive bias) and the
    softmax over the keys, with keys and values gathered along their
    sequence dimension over the same axes, and computes it
    blockwise over a ring instead: each device keeps its queries, scores
    them against the key block it holds, folds the block into a running
    maximum, sum and output (online softmax: the output is rescaled by
    exp(old maximum - new maximum) whenever the maximum grows), and passes
    its key and value blocks to the next device (`spmd.ring_shift`), n
    steps for n devices. The masks and biases of `f` are cut to the block
    at hand (`spmd.ring_block`); scalars broadcast to the scores are
    rebuilt at the block's size. Uneven splits: each block's padding rows
    are zeroed (`spmd.mask_padding`) before they travel, masks and biases
    are padded to n whole blocks, and the padding's columns are masked
    out. Each device then holds 1/n of the keys and values instead of
    all of them; the bytes moved are the gathers'. An attention whose
    intermediate values are read elsewhere (a training step's backward
    pass reads the probabilities) keeps its gathers.

    A causal attention's work is balanced across the ring (zigzag, as
    Megatron's context parallelism and striped attention do it): where the
    mask is provably causal on every device (each score kept exactly where
    its key's position is at most its query's, the mask read element by
    element from iotas, constants and parameters whose value the IR records,
    `graph.diagonal_band`), self-attention split in even blocks of an even
    size, and the chain's other operands constant along queries and keys,
    the sequence is taken as 2n chunks of half a block and device c works
    on chunks c and 2n-1-c: half blocks of the queries, keys and values
    move there (`spmd.ring_permute`) before the ring and the output's back
    after it. The first step scores a device's queries against its own keys
    under the causal mask; every later step scores exactly the unmasked
    half of a block, with no mask, as two quarter blocks. Each device
    computes (n + 1) / 2 blocks' scores instead of n, the same number on
    every device.
  }];
  let options = [
    Option<"balanceCausal", "balance-causal", "bool", /*default=*/"true",
           "Balance a provably causal attention's work across the ring "
           "(zigzag); false: every device scores every block under the mask">
  ];
  let dependentDialects = ["::tessel::spmd::SpmdDialect",
                           "::tessel::graph::GraphDialect"];
}

def ReshardToCollectivesPass
    : Pass<"spmd-reshard-to-collectives", "::mlir::func::FuncOp"> {
  let summary = "Turn every spmd.reshard into a chain of collectives";
  let description = [{
    The source sharding is the operand's (from its function argument or the
    op that computes it; replicated if it has none), the target the
    reshard's. The chain, on global shapes, each op carrying the sharding it
    leaves:

    1. `all_reduce` over source partial axes the target does not keep
       (making a value partial is an error);
    2. one `collective_permute` if every dimension ends up split into the
       same number of parts as before (axes reordered, or exchanged for
       axes of the same size);
    3. otherwise, repeatedly: `all_to_all` for a dimension's minor-most
       axis that the target wants as the next axis of another dimension;
       `all_gather` of the axes no move can place (one per dimension);
       finally one `all_slice` for the axes the target adds.

    A reshard that changes nothing disappears. Sub-axes, and shardings on
    different meshes, are reported as errors naming the reshard.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def RegatherArgumentsPass
    : Pass<"spmd-regather-arguments", "::mlir::func::FuncOp"> {
  let summary = "Gather a split argument again where each op uses it";
  let description = [{
    Runs in the lowering pipeline, after its CSE has merged equal
    collectives (the partition pipeline's too). An
    `spmd.all_gather` of a function argument (a split parameter, ZeRO-3's
    weights, or optimizer state), directly or through transposes and
    reshapes, read by several ops is cloned with those moves before each
    of them, so that the gathered copy lives while one op reads it, not
    from a forward use to a backward one: an argument stays on its device
    between steps, and gathering it again costs its bytes in communication
    (what the cost model prices already: a reshard per use) where keeping
    it gathered would cost its whole size in memory for most of the step.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

def HoistShrinkingCollectivesPass
    : Pass<"spmd-hoist-shrinking-collectives", "::mlir::func::FuncOp"> {
  let summary = "Reduce-scatter and slice a value right after it is made";
  let description = [{
    The partitioner places a reshard before the op that needs it: a
    gradient's reduce-scatter before the optimizer update at the end of a
    training step, so that every whole gradient is held at once. An
    `spmd.reduce_scatter` or `spmd.all_slice`, whose result is smaller than
    its operand, moves to just after the op that makes its operand (the
    start of the body for an argument): the whole value dies as soon as it
    is reduced. Every device runs the same program, so the collectives stay
    in the same order on all of them.
  }];
  let dependentDialects = ["::tessel::spmd::SpmdDialect"];
}

#endif // TESSEL_PASSES_PARTITION_PASSES_TD
