//===- SpmdOps.td - Ops of the spmd dialect ----------------*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SPMDOPS_TD
#define TESSEL_DIALECTS_SPMD_SPMDOPS_TD

include "dialects/spmd/SpmdAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ViewLikeInterface.td"

def Spmd_MeshOp : Spmd_Op<"mesh", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "A named mesh of devices";
  let description = [{
    ```mlir
    spmd.mesh @m = <["x"=2, "y"=4]>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Spmd_MeshAttr:$mesh);
  let assemblyFormat = "$sym_name `=` $mesh attr-dict";
}

class Spmd_ShardingChangeOp<string mnemonic, list<Trait> traits = []>
    : Spmd_Op<mnemonic, traits # [SameOperandsAndResultType]> {
  let arguments = (ins AnyRankedTensor:$input, Spmd_ShardingAttr:$sharding);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input $sharding attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Spmd_ShardingConstraintOp : Spmd_ShardingChangeOp<"sharding_constraint"> {
  let summary = "Require a sharding of a value, for propagation";
  let description = [{
    The value has `sharding` from here on; propagation treats it as a user
    annotation (closed dimensions are fixed, open ones may be refined).
  }];
}

def Spmd_ReshardOp : Spmd_ShardingChangeOp<"reshard", [Pure]> {
  let summary = "The same tensor, moved to another sharding";
  let description = [{
    Inserted where an op's operands disagree on a sharding; the partitioner
    turns it into collectives.
  }];
}

def Spmd_ReturnOp : Spmd_Op<"return", [Pure, Terminator, ReturnLike,
    HasParent<"ManualComputationOp">]> {
  let summary = "The results of a manual computation's body";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
  let builders = [OpBuilder<(ins), [{ build($_builder, $_state, {}); }]>];
}

def Spmd_ManualComputationOp : Spmd_Op<"manual_computation", [
    IsolatedFromAbove, SingleBlockImplicitTerminator<"ReturnOp">]> {
  let summary = "A region written per device, on local shapes";
  let description = [{
    The body sees each operand as the local part its device holds along
    `manual_axes` (per `in_shardings`) and produces local parts of the
    results (per `out_shardings`); collectives inside are explicit.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                       TypedArrayAttrBase<Spmd_ShardingAttr, "shardings">:$in_shardings,
                       TypedArrayAttrBase<Spmd_ShardingAttr, "shardings">:$out_shardings,
                       StrArrayAttr:$manual_axes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
}

def Spmd_MaskPaddingOp : Spmd_Op<"mask_padding",
    [Pure, SameOperandsAndResultType]> {
  let summary = "Set the padding of uneven shards to a value";
  let description = [{
    On global shapes, the identity. On local ones (after
    --spmd-global-to-local), `input` is one device's part of a tensor of
    `global_shape` laid out as `sharding`; where a dimension does not split
    evenly, the last parts reach past the tensor's end into padding, which
    holds anything. Those elements become `value`, the identity of the
    reduction or contraction that reads them next, so that they add nothing
    to it. Written `spmd.mask_padding %x, 0.0 <sharding>, global = [10, 4] :
    tensor<4x4xf32>` for a 10x4 tensor whose first dimension is split in 3.
  }];
  let arguments = (ins AnyRankedTensor:$input, F64Attr:$value,
                       Spmd_ShardingAttr:$sharding,
                       DenseI64ArrayAttr:$global_shape);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $value $sharding `,` `global` `=` $global_shape attr-dict `:`
    type($result)
  }];
  let hasVerifier = 1;
}

def Spmd_PartIndexOp : Spmd_Op<"part_index", [Pure]> {
  let summary = "This device's part number along one dimension of a layout";
  let description = [{
    On local shapes (--spmd-global-to-local makes it): the number of the
    part this device holds of dimension `dim` of a tensor laid out as
    `sharding`, counting from 0 (the mixed-radix number of its coordinates
    on that dimension's axes, major first, sub-axes included), as an
    integer scalar. Device `d`'s part of a dimension split in parts of `n`
    starts at element `part_index * n` of the global tensor, which is what
    ops that see global positions through a split dimension need (a gather
    from a table split along its rows, an iota counting along a split
    dimension). No communication: the executable holds each device's
    number as a constant.

    ```mlir
    // 2 on device 5 of x=2,y=4 (its coordinates are x=1, y=1; x is major).
    %i = spmd.part_index <@mesh, [{"x", "y"}, {} ]> dim = 0 : tensor<i64>
    ```
  }];
  let arguments = (ins Spmd_ShardingAttr:$sharding, I64Attr:$dim);
  let results = (outs 0DTensorOf<[AnySignlessInteger]>:$result);
  let assemblyFormat = [{
    $sharding `dim` `=` $dim attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

// Moves data between devices: the runtime runs it as a collective, which
// --spmd-overlap-collectives may start early and finish late (the
// `spmd.async` attribute and a spmd.collective_done).
def Spmd_Communicates : NativeOpTrait<"Communicates"> {
  let cppNamespace = "::tessel::spmd::OpTrait";
}

// Each device's result may be written over its input's bytes when the input
// dies there (--graph-assign-buffers gives both one buffer): every backend
// runs it in place (the host's members each reduce their own range of all
// members' inputs before writing it; MPI with MPI_IN_PLACE; NCCL in place).
def Spmd_InPlace : NativeOpTrait<"InPlace"> {
  let cppNamespace = "::tessel::spmd::OpTrait";
}

def Spmd_HaloExchangeOp : Spmd_Op<"halo_exchange", [Spmd_Communicates, Pure]> {
  let summary = "Extend each device's part by its neighbours' border rows";
  let description = [{
    On local shapes only (--spmd-global-to-local makes it for a window split
    over devices): `dim` is split by `axes` of `mesh`, each device holding n
    rows. Each device's part grows by the previous part's last `low` rows in
    front and the next part's first `high` rows behind (a negative count
    drops that many of its own); past the first and the last part the rows
    are `padding`. Both counts are at most n.
  }];
  let arguments = (ins AnyRankedTensor:$input, FlatSymbolRefAttr:$mesh,
                       StrArrayAttr:$axes, I64Attr:$dim, I64Attr:$low,
                       I64Attr:$high, F64Attr:$padding);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input $mesh $axes `dim` `=` $dim `,` `low` `=` $low `,` `high` `=` $high
    `,` `padding` `=` $padding attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Spmd_RingShiftOp : Spmd_Op<"ring_shift",
    [Spmd_Communicates, Pure, SameOperandsAndResultType]> {
  let summary = "Pass each device's part along a ring of devices";
  let description = [{
    On local shapes only (--spmd-ring-attention makes it): the devices
    along `axes` of `mesh` form rings, one for each coordinate of the other
    axes. The device at coordinate c along the ring sends its operand to
    the device at (c + `shift`) mod n and returns what the device at
    (c - `shift`) mod n sent. Ring attention passes key and value blocks
    around this way, one step at a time.
  }];
  let arguments = (ins AnyRankedTensor:$input, FlatSymbolRefAttr:$mesh,
                       StrArrayAttr:$axes, I64Attr:$shift);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input $mesh $axes `shift` `=` $shift attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Spmd_RingPermuteOp : Spmd_Op<"ring_permute",
    [Spmd_Communicates, Pure, SameOperandsAndResultType]> {
  let summary = "Exchange each device's part along a ring by a permutation";
  let description = [{
    On local shapes only (--spmd-ring-attention makes it): as `ring_shift`,
    but the device at coordinate c along the ring sends its operand to
    coordinate `targets[c]` (a permutation of 0..n-1; a device may keep its
    own), and returns what the device whose target it is sent. Ring
    attention moves half blocks of a causal attention's queries, keys and
    values into a balanced order and the output back this way.
  }];
  let arguments = (ins AnyRankedTensor:$input, FlatSymbolRefAttr:$mesh,
                       StrArrayAttr:$axes, DenseI64ArrayAttr:$targets);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input $mesh $axes `targets` `=` $targets attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Spmd_RingBlockOp : Spmd_Op<"ring_block", [Pure]> {
  let summary = "The block of a dimension that goes with a ring's step";
  let description = [{
    On local shapes only: `input`'s dimension `dim` is n blocks of the
    result's size, n the devices along `axes` of `mesh`; the result is
    block (c - `shift`) mod n, c this device's coordinate along the axes:
    the block of the whole dimension that matches the part a `ring_shift`
    by `shift` brought to this device (its keys' columns of an attention
    mask, for one). No communication.
  }];
  let arguments = (ins AnyRankedTensor:$input, FlatSymbolRefAttr:$mesh,
                       StrArrayAttr:$axes, I64Attr:$dim, I64Attr:$shift);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input $mesh $axes `dim` `=` $dim `,` `shift` `=` $shift attr-dict `:`
    type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives: each says which axes it works over and gives the sharding of
// its result. On global shapes the operand and result types are the same;
// after --spmd-global-to-local they are the local parts, which the
// shardings relate (each local size is ceil(global size / its parts) of one
// global size; uneven splits are padded).
//===----------------------------------------------------------------------===//

class Spmd_CollectiveOp<string mnemonic, dag extraArgs = (ins),
                        list<Trait> traits = [Spmd_Communicates]>
    : Spmd_Op<mnemonic, traits # [Pure]> {
  let arguments = !con((ins AnyRankedTensor:$input), extraArgs,
                       (ins Spmd_ShardingAttr:$out_sharding));
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` custom<CollectiveTypes>(type($input), type($result))
  }];
  let hasVerifier = 1;
  // A collective that moves nothing (no axes; a permutation to the
  // input's own sharding) folds to its input.
  let hasFolder = 1;
}

def Spmd_AllGatherOp : Spmd_CollectiveOp<"all_gather",
    (ins TypedArrayAttrBase<StrArrayAttr, "axes per dimension">:$gathering_axes)> {
  let summary = "Gather the parts along axes: those axes leave the dimensions";
  // Gathers in a row along one dimension are one gather.
  let hasCanonicalizer = 1;
}

def Spmd_AllSliceOp : Spmd_CollectiveOp<"all_slice",
    (ins TypedArrayAttrBase<StrArrayAttr, "axes per dimension">:$slicing_axes),
    []> {
  let summary = "Keep each device's part along axes (no communication)";
  // all_slice(all_reduce(x)) over the same axes is reduce_scatter(x); slices
  // in a row are one slice.
  let hasCanonicalizer = 1;
}

def Spmd_AllReduceOp : Spmd_CollectiveOp<"all_reduce",
    (ins StrArrayAttr:$reduction_axes, StrAttr:$reduction),
    [Spmd_Communicates, Spmd_InPlace]> {
  let summary = "Reduce partial values over axes";
  // Reductions of one kind in a row are one reduction.
  let hasCanonicalizer = 1;
}

def Spmd_ReduceScatterOp : Spmd_CollectiveOp<"reduce_scatter",
    (ins TypedArrayAttrBase<StrArrayAttr, "axes per dimension">:$scatter_axes,
         StrAttr:$reduction)> {
  let summary = "Reduce partial values and keep each device's part";
}

def Spmd_AllToAllOp : Spmd_CollectiveOp<"all_to_all",
    (ins StrArrayAttr:$axes, I64Attr:$src_dim, I64Attr:$tgt_dim)> {
  let summary = "Move axes from one dimension to another";
}

def Spmd_CollectivePermuteOp : Spmd_CollectiveOp<"collective_permute",
    (ins Spmd_ShardingAttr:$in_sharding)> {
  let summary = "Exchange whole parts between devices";
  let description = [{
    Every dimension has as many parts under `in_sharding` (the operand's
    layout) as under `out_sharding`; each device receives the part it needs
    from a device holding it.
  }];
}

def Spmd_CollectiveDoneOp : Spmd_Op<"collective_done",
    [SameOperandsAndResultType,
     DeclareOpInterfaceMethods<ViewLikeOpInterface>]> {
  let summary = "Wait for a collective started earlier";
  let description = [{
    On local shapes only (--spmd-overlap-collectives makes it): `started`
    is the result of a collective with the `spmd.async` attribute, which
    the runtime starts where it stands and runs while the ops between it and
    this one run; this op waits for it to finish. The result is the
    collective's result, in the same bytes (a view of them). Until here the
    collective reads its operand and writes its result, so neither may be
    written (nor the result read) in between: buffer assignment keeps both
    alive to this op.
  }];
  let arguments = (ins AnyRankedTensor:$started);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$started attr-dict `:` type($started)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The collective this op waits for.
    ::mlir::Operation *getStart() { return getStarted().getDefiningOp(); }
  }];
}

#endif // TESSEL_DIALECTS_SPMD_SPMDOPS_TD
