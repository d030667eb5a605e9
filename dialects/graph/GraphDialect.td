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
  }];
}

// Element types a graph tensor may have.
def Graph_ElementType : AnyTypeOf<[F32, F16, BF16, I32, I64, I1]>;
def Graph_FloatElementType : AnyTypeOf<[F32, F16, BF16]>;

def Graph_Tensor : StaticShapeTensorOf<[F32, F16, BF16, I32, I64, I1]>;
def Graph_FloatTensor : StaticShapeTensorOf<[F32, F16, BF16]>;
def Graph_NumericTensor : StaticShapeTensorOf<[F32, F16, BF16, I32, I64]>;

class Graph_Op<string mnemonic, list<Trait> traits = []>
    : Op<Graph_Dialect, mnemonic, traits>;

#endif // TESSEL_DIALECTS_GRAPH_GRAPHDIALECT_TD
