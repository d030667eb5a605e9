//===- GraphDialect.td - The graph dialect -----------------*- tablegen -*-===//
//
// The `graph` dialect: single-device tensor ops with StableHLO-like semantics
// and static shapes. It is what importers produce and what sharding
// propagation, the partitioner and the lowering work on.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_TD
#define TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_TD

include "mlir/IR/OpBase.td"
include "dialects/graph/GraphInterfaces.td"
include "mlir/IR/CommonTypeConstraints.td"

def Graph_Dialect : Dialect {
  let name = "graph";
  let cppNamespace = "::tessel::graph";
  let summary = "Single-device tensor ops with static shapes";
  let description = [{
    Ops of a model as written for one device. Every tensor has a static shape
    and one of the element types f32, f16, bf16, i32, i64 or i1. Shape
    polymorphism and implicit broadcasting are resolved by the importer:
    elementwise ops take operands of identical types.

    Function arguments and results carry `graph.name`, the tensor's name in
    the source model (ONNX names for imported models), which plan files and
    reports use. Arguments that are model weights also carry
    `graph.parameter`: their data lives in a parameter file beside the
    program, not in the IR. A parameter whose value is 1 on a band of
    diagonals and 0 elsewhere (a causal mask a model keeps as a buffer)
    also carries `graph.diagonal_band = array<i64: low, high>`: 1 at
    [..., i, j] where low <= j - i <= high. The importer finds it in the
    data; passes may rely on it (ring attention proves a mask causal by
    it), so a parameter file given later must hold that value. A result
    named as an argument is the
    argument's next value (a training step's updated weights and optimizer
    state): it is partitioned as the argument is, and a runtime running
    steps writes it over the argument.
  }];
  let hasConstantMaterializer = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Argument/result attribute: the tensor's name in the source model.
    static constexpr ::llvm::StringLiteral kNameAttr = "graph.name";
    /// Argument attribute: the argument is a weight loaded from the
    /// parameter file.
    static constexpr ::llvm::StringLiteral kParameterAttr = "graph.parameter";
    /// Argument attribute of a parameter: the shape it has in the parameter
    /// file, of which the argument's type is a row-major view (the same
    /// elements in the same order, regrouped), as
    /// --graph-view-fused-weights makes it. Partitioning leaves it as it is
    /// (the global shape's stored shape); the exporter checks it.
    static constexpr ::llvm::StringLiteral kStoredShapeAttr =
        "graph.stored_shape";
    /// Argument attribute of a parameter whose value is 1 on a band of
    /// diagonals and 0 elsewhere (a causal mask a model keeps as a buffer):
    /// array<i64: low, high>, the value at [..., i, j] (the other
    /// dimensions of size 1) being 1 where low <= j - i <= high. The
    /// importer finds it in the data; passes may rely on it (ring
    /// attention balances a causal attention's work by it), so a
    /// parameter file given later must hold that value.
    static constexpr ::llvm::StringLiteral kDiagonalBandAttr =
        "graph.diagonal_band";
    /// A result named as an argument is that argument's next value (a
    /// training step's updated weights and optimizer state): the number of
    /// the argument result `result` of `function` updates, if any.
    static ::std::optional<unsigned>
    updatedArgument(::mlir::FunctionOpInterface function, unsigned result);
  }];
}


// Integers are signless (i8, i16, i32, i64: two's complement) or unsigned
// (ui8, ui16, ui32, ui64); the runtime computes on both as int64, sign- or
// zero-extended (ui64 as its bits, compared and divided as unsigned), and
// stores back wrapping. f64 computes in double where a kernel takes it.
def Graph_Tensor : StaticShapeTensorOf<[F32, F64, F16, BF16, I8, I16, I32,
                                        I64, UI8, UI16, UI32, UI64, I1]>;
def Graph_FloatTensor : StaticShapeTensorOf<[F32, F64, F16, BF16]>;
def Graph_NumericTensor : StaticShapeTensorOf<[F32, F64, F16, BF16, I8, I16,
                                               I32, I64, UI8, UI16, UI32,
                                               UI64]>;
def Graph_BoolTensor : StaticShapeTensorOf<[I1]>;
def Graph_UnsignedTensor : StaticShapeTensorOf<[UI8, UI16, UI32, UI64]>;
def Graph_IndexTensor : StaticShapeTensorOf<[I32, I64]>;

// Every op answers the cost questions (GraphInterfaces.td).
class Graph_Op<string mnemonic, list<Trait> traits = []>
    : Op<Graph_Dialect, mnemonic, traits # [Graph_CostOpInterface, Graph_KernelOpInterface]>;

#endif // TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_TD
