//===- GraphInterfaces.td - Facts about graph ops --------*- tablegen -*-===//
//
// What passes need to know of an op, kept with the op rather than in a
// pass's list of op names: what it costs, how partial sums pass through
// it, whether it must be computed whole, whether the runtime runs it as a
// kernel of its own, how gradients pass back through it. The sharding rule (dialects/spmd) is the other fact
// every op carries.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHINTERFACES_TD
#define TESSEL_DIALECTS_GRAPH_GRAPHINTERFACES_TD

include "mlir/IR/OpBase.td"

class Graph_Trait<string name> : NativeOpTrait<name> {
  let cppNamespace = "::tessel::graph::OpTrait";
}

// Moves or selects elements and computes nothing (reshape, transpose,
// slice, gather...): no FLOPs.
def Graph_DataMovement : Graph_Trait<"DataMovement">;

// How a sum the partitioner has not reduced yet (a partial sum over mesh
// axes: every device holds a term) passes through the op, so that the
// all-reduce can wait until after it. Ops without one of these take
// reduced operands.
//   JointlyLinear:      f(a1 + a2, b1 + b2) = f(a1, b1) + f(a2, b2): every
//                       operand partial over the same axes (add, sub, and
//                       linear unary ops: reshape, transpose, neg...).
//   LinearInEachOperand: linear in any one operand, the others whole (mul).
//   LinearInFirstOperand: linear in operand 0, the others whole (div).
def Graph_JointlyLinear : Graph_Trait<"JointlyLinear">;
def Graph_LinearInEachOperand : Graph_Trait<"LinearInEachOperand">;
def Graph_LinearInFirstOperand : Graph_Trait<"LinearInFirstOperand">;

// The runtime runs the op as an instruction of its own, by a kernel named
// after the op (runtime/kernels). Ops without it (elementwise ops,
// broadcasts, splat constants) run inside a graph.fusion.
def Graph_HostKernel : Graph_Trait<"HostKernel">;

def Graph_CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::tessel::graph";
  let description = [{
    What an op computes, for the cost model and the partitioner. Every
    graph op has it: the defaults describe an elementwise op; an op that
    differs defines the method of the same name (`double getFlops();` in
    its extraClassDeclaration, the body in GraphOps.cpp).
  }];
  let methods = [
    InterfaceMethod<[{
        FLOPs of the whole op on global shapes (an add and a multiply count
        two). Default: one per result element, none for data movement.
      }],
      "double", "getFlops", (ins), [{}], [{
        mlir::Operation *op = $_op.getOperation();
        if (op->hasTrait<::tessel::graph::OpTrait::DataMovement>() ||
            op->getNumResults() == 0)
          return 0.0;
        auto type = ::llvm::dyn_cast<::mlir::ShapedType>(
            op->getResult(0).getType());
        return type && type.hasStaticShape()
                   ? static_cast<double>(type.getNumElements())
                   : 0.0;
      }]>,
    InterfaceMethod<[{
        Whether the op's value at a position depends on the position along
        a dimension the layout splits (`splitDims`: per result dimension,
        whether it is split) in a way no local computation gives: a
        non-splat constant split anywhere. The partitioner then computes
        it whole on every device and slices it, rather than computing a
        part. (An iota split along its dimension is computed at its local
        size: --spmd-global-to-local adds where each device's part starts.)
      }],
      "bool", "isComputedWhole", (ins "::llvm::ArrayRef<bool>":$splitDims),
      [{}], [{ return false; }]>,
  ];
}

def Graph_KernelOpInterface : OpInterface<"KernelOpInterface"> {
  let cppNamespace = "::tessel::graph";
  let description = [{
    What the runtime's kernel of an op reads besides its operands (the
    executable's attributes of an instruction or a fusion step). Every
    graph op has it: by default, the op's attributes as they are; an op
    whose enumerations the kernel reads by name defines
    `mlir::DictionaryAttr getKernelAttributes();`.
  }];
  let methods = [
    InterfaceMethod<[{
        The attributes the kernel reads, by name. Enumerations are strings
        where the op defines the method, integers otherwise.
      }],
      "::mlir::DictionaryAttr", "getKernelAttributes", (ins), [{}], [{
        return ::llvm::dyn_cast_or_null<::mlir::DictionaryAttr>(
            $_op->getPropertiesAsAttribute());
      }]>,
  ];
}

def Graph_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::tessel::graph";
  let description = [{
    The op's rule for reverse-mode differentiation: given the gradients of
    its results, the gradients of its operands, built as graph ops after
    the op (dialects/graph/GraphGradients.cpp). An op has the interface
    exactly when it has a rule (`DeclareOpInterfaceMethods` in its ODS
    definition); the autodiff pass (passes/autodiff) refuses, naming the
    op, to differentiate through an op without one.
  }];
  let methods = [
    InterfaceMethod<[{
        Appends to `operandGradients` one value per operand: the gradient
        of the loss with respect to that operand, of the operand's type,
        or a null value where none flows (an integer or boolean operand, a
        derivative zero almost everywhere). `resultGradients` has one entry
        per result, null for a result no gradient reaches (the op is only
        asked when at least one is not null). Fails, with an error on the
        op, for a case the rule does not cover.
      }],
      "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGradients,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGradients)>,
  ];
}

#endif // TESSEL_DIALECTS_GRAPH_GRAPHINTERFACES_TD
