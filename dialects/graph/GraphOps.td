//===- GraphOps.td - Ops of the graph dialect --------------*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD
#define TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD

include "dialects/graph/GraphDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

// Operands and result have one and the same type; no implicit broadcasting.
class Graph_ElementwiseUnaryOp<string mnemonic, Type operandType,
                               list<Trait> traits = []>
    : Graph_Op<mnemonic, traits # [Pure, Elementwise,
                                   SameOperandsAndResultType]> {
  let arguments = (ins operandType:$operand);
  let results = (outs operandType:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
}

class Graph_ElementwiseBinaryOp<string mnemonic, Type operandType,
                                list<Trait> traits = []>
    : Graph_Op<mnemonic, traits # [Pure, Elementwise,
                                   SameOperandsAndResultType]> {
  let arguments = (ins operandType:$lhs, operandType:$rhs);
  let results = (outs operandType:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Graph_AddOp : Graph_ElementwiseBinaryOp<"add", Graph_NumericTensor,
                                            [Commutative]> {
  let summary = "Elementwise addition";
}

def Graph_SubOp : Graph_ElementwiseBinaryOp<"sub", Graph_NumericTensor> {
  let summary = "Elementwise subtraction";
}

def Graph_MulOp : Graph_ElementwiseBinaryOp<"mul", Graph_NumericTensor,
                                            [Commutative]> {
  let summary = "Elementwise multiplication";
}

def Graph_DivOp : Graph_ElementwiseBinaryOp<"div", Graph_NumericTensor> {
  let summary = "Elementwise division";
  let description = [{
    Integer division rounds toward zero, as C++ and ONNX Div do.
  }];
}

def Graph_MaxOp : Graph_ElementwiseBinaryOp<"max", Graph_NumericTensor,
                                            [Commutative]> {
  let summary = "Elementwise maximum";
}

def Graph_MinOp : Graph_ElementwiseBinaryOp<"min", Graph_NumericTensor,
                                            [Commutative]> {
  let summary = "Elementwise minimum";
}

def Graph_NegOp : Graph_ElementwiseUnaryOp<"neg", Graph_NumericTensor> {
  let summary = "Elementwise negation";
}

def Graph_ExpOp : Graph_ElementwiseUnaryOp<"exp", Graph_FloatTensor> {
  let summary = "Elementwise natural exponential";
}

def Graph_TanhOp : Graph_ElementwiseUnaryOp<"tanh", Graph_FloatTensor> {
  let summary = "Elementwise hyperbolic tangent";
}

#endif // TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD
