//===- GraphOps.td - Ops of the graph dialect --------------*- tablegen -*-===//
//
// Semantics follow StableHLO where StableHLO has the op, and ONNX where the op
// exists to carry an ONNX operator without decomposing it (softmax,
// layer_norm, pools, batch_norm_inference, resize). Layouts are ONNX's:
// channels first (N, C, spatial...) and kernels (O, I/groups, spatial...).
//
// Result types are inferred wherever the operands and attributes determine
// them; the shape functions live in GraphOps.cpp and also reject invalid
// attributes, so that the verifier and builders share one source of truth.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD
#define TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD

include "dialects/graph/GraphDialect.td"
include "dialects/graph/GraphEnums.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// An op with a gradient rule (GraphGradients.cpp).
defvar Graph_Differentiable =
    DeclareOpInterfaceMethods<Graph_GradientOpInterface>;

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def Graph_ConstantOp : Graph_Op<"constant", [Graph_DataMovement, ConstantLike, Pure,
    AllTypesMatch<["value", "result"]>]> {
  let summary = "A tensor constant";
  let description = [{
    A constant tensor. Model weights are not constants but function arguments
    marked `graph.parameter`, so that their data stays out of the IR.

    ```mlir
    %0 = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: its value depends on the position.
    bool isComputedWhole(::llvm::ArrayRef<bool> splitDims);
  }];
}

def Graph_IotaOp : Graph_Op<"iota", [Graph_DataMovement, Graph_HostKernel, Pure]> {
  let summary = "Indices along one dimension";
  let description = [{
    `result[i0, ..., in] = i_dimension`, converted to the element type.

    ```mlir
    %0 = graph.iota dim = 1 : tensor<2x3xi64>   // [[0, 1, 2], [0, 1, 2]]
    ```
  }];
  let arguments = (ins I64Attr:$dimension);
  let results = (outs Graph_NumericTensor:$result);
  let assemblyFormat = "`dim` `=` $dimension attr-dict `:` type($result)";
  let hasVerifier = 1;
}

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
                                            [Graph_Differentiable, Commutative, Graph_JointlyLinear]> {
  let summary = "Elementwise addition";
}

def Graph_SubOp : Graph_ElementwiseBinaryOp<"sub", Graph_NumericTensor,
                                            [Graph_Differentiable, Graph_JointlyLinear]> {
  let summary = "Elementwise subtraction";
}

def Graph_MulOp : Graph_ElementwiseBinaryOp<"mul", Graph_NumericTensor,
                                            [Graph_Differentiable, Commutative,
                                             Graph_LinearInEachOperand]> {
  let summary = "Elementwise multiplication";
}

def Graph_DivOp : Graph_ElementwiseBinaryOp<"div", Graph_NumericTensor,
                                            [Graph_Differentiable, Graph_LinearInFirstOperand]> {
  let summary = "Elementwise division";
  let description = [{
    Integer division rounds toward zero, as C++ and ONNX Div do.
  }];
}

def Graph_RemOp : Graph_ElementwiseBinaryOp<"rem", Graph_NumericTensor> {
  let summary = "Elementwise remainder";
  let description = [{
    The remainder of division rounding toward zero: its sign is the sign of
    the dividend (C's `fmod` and `%`, ONNX Mod with `fmod=1`).
  }];
}

def Graph_ShiftLeftOp : Graph_ElementwiseBinaryOp<"shift_left",
                                                  Graph_UnsignedTensor> {
  let summary = "Elementwise shift left of unsigned integers";
  let description = [{
    `lhs << rhs`, wrapping at the type's width; shifts of the width or more
    give 0 (ONNX BitShift LEFT).
  }];
}

def Graph_ShiftRightOp : Graph_ElementwiseBinaryOp<"shift_right",
                                                   Graph_UnsignedTensor> {
  let summary = "Elementwise logical shift right of unsigned integers";
  let description = [{
    `lhs >> rhs`, zeros shifted in; shifts of the width or more give 0
    (ONNX BitShift RIGHT).
  }];
}

def Graph_MaxOp : Graph_ElementwiseBinaryOp<"max", Graph_NumericTensor,
                                            [Graph_Differentiable, Commutative]> {
  let summary = "Elementwise maximum";
}

def Graph_MinOp : Graph_ElementwiseBinaryOp<"min", Graph_NumericTensor,
                                            [Graph_Differentiable, Commutative]> {
  let summary = "Elementwise minimum";
}

def Graph_PowOp : Graph_ElementwiseBinaryOp<"pow", Graph_NumericTensor, [Graph_Differentiable]> {
  let summary = "Elementwise power `lhs ^ rhs`";
}

def Graph_AndOp : Graph_ElementwiseBinaryOp<"and", Graph_BoolTensor,
                                            [Commutative]> {
  let summary = "Elementwise logical and";
}

def Graph_OrOp : Graph_ElementwiseBinaryOp<"or", Graph_BoolTensor,
                                           [Commutative]> {
  let summary = "Elementwise logical or";
}

def Graph_XorOp : Graph_ElementwiseBinaryOp<"xor", Graph_BoolTensor,
                                            [Commutative]> {
  let summary = "Elementwise logical exclusive or";
}

def Graph_NotOp : Graph_ElementwiseUnaryOp<"not", Graph_BoolTensor> {
  let summary = "Elementwise logical negation";
}

def Graph_NegOp : Graph_ElementwiseUnaryOp<"neg", Graph_NumericTensor,
                                           [Graph_Differentiable, Graph_JointlyLinear]> {
  let summary = "Elementwise negation";
}

def Graph_AbsOp : Graph_ElementwiseUnaryOp<"abs", Graph_NumericTensor, [Graph_Differentiable]> {
  let summary = "Elementwise absolute value";
}

def Graph_SignOp : Graph_ElementwiseUnaryOp<"sign", Graph_NumericTensor, [Graph_Differentiable]> {
  let summary = "Elementwise sign: -1, 0 or 1";
}

def Graph_ReluOp : Graph_ElementwiseUnaryOp<"relu", Graph_NumericTensor, [Graph_Differentiable]> {
  let summary = "Elementwise `max(x, 0)`";
}

class Graph_FloatUnaryOp<string mnemonic, string summaryText>
    : Graph_ElementwiseUnaryOp<mnemonic, Graph_FloatTensor,
                               [Graph_Differentiable]> {
  let summary = summaryText;
}

def Graph_ExpOp : Graph_FloatUnaryOp<"exp", "Elementwise natural exponential">;
def Graph_LogOp : Graph_FloatUnaryOp<"log", "Elementwise natural logarithm">;
def Graph_TanhOp : Graph_FloatUnaryOp<"tanh", "Elementwise hyperbolic tangent">;
def Graph_ErfOp : Graph_FloatUnaryOp<"erf", "Elementwise error function">;
def Graph_SqrtOp : Graph_FloatUnaryOp<"sqrt", "Elementwise square root">;
def Graph_RsqrtOp : Graph_FloatUnaryOp<"rsqrt",
                                       "Elementwise reciprocal square root">;
def Graph_ReciprocalOp : Graph_FloatUnaryOp<"reciprocal",
                                            "Elementwise `1 / x`">;
def Graph_SigmoidOp : Graph_FloatUnaryOp<"sigmoid",
                                         "Elementwise `1 / (1 + exp(-x))`">;
def Graph_SinOp : Graph_FloatUnaryOp<"sin", "Elementwise sine">;
def Graph_CosOp : Graph_FloatUnaryOp<"cos", "Elementwise cosine">;
def Graph_FloorOp : Graph_FloatUnaryOp<"floor", "Elementwise floor">;
def Graph_CeilOp : Graph_FloatUnaryOp<"ceil", "Elementwise ceiling">;
def Graph_RoundOp : Graph_FloatUnaryOp<"round",
    "Elementwise rounding to nearest, ties to even">;

def Graph_ClampOp : Graph_Op<"clamp", [Graph_Differentiable, Pure, Elementwise,
                                       SameOperandsAndResultType]> {
  let summary = "Elementwise `min(max(x, min), max)`";
  let description = [{
    Bounds are attributes; a missing bound does not limit. Integer tensors
    compare against the bounds converted to their element type.

    ```mlir
    %0 = graph.clamp %x {max = 6.0 : f64, min = 0.0 : f64} : tensor<4xf32>
    ```
  }];
  let arguments = (ins Graph_NumericTensor:$operand,
                       OptionalAttr<F64Attr>:$min,
                       OptionalAttr<F64Attr>:$max);
  let results = (outs Graph_NumericTensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Graph_CompareOp : Graph_Op<"compare", [Pure, Elementwise,
    SameTypeOperands, InferTypeOpAdaptor]> {
  let summary = "Elementwise comparison, to i1";
  let description = [{
    ```mlir
    %0 = graph.compare lt, %a, %b : tensor<4xf32>   // -> tensor<4xi1>
    ```
  }];
  let arguments = (ins Graph_ComparisonDirection:$direction,
                       Graph_Tensor:$lhs, Graph_Tensor:$rhs);
  let results = (outs Graph_BoolTensor:$result);
  let assemblyFormat = "$direction `,` $lhs `,` $rhs attr-dict `:` type($lhs)";
}

def Graph_SelectOp : Graph_Op<"select", [Graph_Differentiable, Pure, Elementwise,
    AllTypesMatch<["on_true", "on_false", "result"]>,
    AllShapesMatch<["pred", "result"]>]> {
  let summary = "Elementwise `pred ? on_true : on_false`";
  let arguments = (ins Graph_BoolTensor:$pred, Graph_Tensor:$on_true,
                       Graph_Tensor:$on_false);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $pred `,` $on_true `,` $on_false attr-dict `:` type($pred) `,` type($result)
  }];
}

def Graph_ConvertOp : Graph_Op<"convert", [Graph_Differentiable, Pure, Elementwise,
    AllShapesMatch<["operand", "result"]>]> {
  let summary = "Elementwise element-type conversion";
  let description = [{
    Float to integer truncates toward zero; to i1 is `x != 0`; from i1 is 0
    or 1.
  }];
  let arguments = (ins Graph_Tensor:$operand);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` functional-type($operand, $result)";
}

//===----------------------------------------------------------------------===//
// Shape and data movement
//===----------------------------------------------------------------------===//

def Graph_BroadcastInDimOp : Graph_Op<"broadcast_in_dim", [Graph_Differentiable, Graph_DataMovement, Graph_JointlyLinear, Pure,
    SameOperandsAndResultElementType]> {
  let summary = "Broadcast to a larger shape";
  let description = [{
    Operand dimension `i` becomes result dimension `broadcast_dimensions[i]`;
    its size must be 1 (it is repeated) or the result's size. Result
    dimensions not named are new. Implicit ONNX broadcasting imports as this.
  }];
  let arguments = (ins Graph_Tensor:$operand,
                       DenseI64ArrayAttr:$broadcast_dimensions);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $operand `,` `dims` `=` $broadcast_dimensions attr-dict `:`
    functional-type($operand, $result)
  }];
  let hasVerifier = 1;
}

def Graph_TransposeOp : Graph_Op<"transpose", [Graph_Differentiable, Graph_DataMovement, Graph_JointlyLinear, Graph_HostKernel, Pure, InferTypeOpAdaptor]> {
  let summary = "Permute dimensions";
  let description = [{
    `result.shape[i] = operand.shape[permutation[i]]`.
  }];
  let arguments = (ins Graph_Tensor:$operand,
                       DenseI64ArrayAttr:$permutation);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $operand `,` `perm` `=` $permutation attr-dict `:`
    functional-type($operand, $result)
  }];
  // A product's result with its two operands' free dimensions swapped is
  // the product of the operands swapped.
  let hasCanonicalizer = 1;
}

def Graph_ReshapeOp : Graph_Op<"reshape", [Graph_Differentiable, Graph_DataMovement, Graph_JointlyLinear, Pure,
    SameOperandsAndResultElementType]> {
  let summary = "Reinterpret the row-major data with another shape";
  let arguments = (ins Graph_Tensor:$operand);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` functional-type($operand, $result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Graph_SliceOp : Graph_Op<"slice", [Graph_Differentiable, Graph_DataMovement, Graph_JointlyLinear, Graph_HostKernel, Pure, InferTypeOpAdaptor]> {
  let summary = "A strided box of the operand";
  let description = [{
    Along dimension `d`, elements `start[d], start[d] + stride[d], ...` below
    `limit[d]`; `0 <= start <= limit <= size` and `stride >= 1`.

    ```mlir
    %0 = graph.slice %x [0:2, 1:7:2] : (tensor<4x8xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins Graph_Tensor:$operand,
                       DenseI64ArrayAttr:$start_indices,
                       DenseI64ArrayAttr:$limit_indices,
                       DenseI64ArrayAttr:$strides);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $operand
    custom<SliceRanges>($start_indices, $limit_indices, $strides)
    attr-dict `:` functional-type($operand, $result)
  }];
}

def Graph_ConcatenateOp : Graph_Op<"concatenate", [Graph_Differentiable, Graph_DataMovement, Graph_HostKernel, Pure,
    SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "Join tensors along one dimension";
  let arguments = (ins Variadic<Graph_Tensor>:$inputs, I64Attr:$dimension);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $inputs `dim` `=` $dimension attr-dict `:` functional-type($inputs, $result)
  }];
}

def Graph_PadOp : Graph_Op<"pad", [Graph_Differentiable, Graph_DataMovement, Graph_HostKernel, Pure, InferTypeOpAdaptor]> {
  let summary = "Pad with a value: edges (possibly negative) and interior";
  let description = [{
    Per dimension, `edge_padding_low` and `edge_padding_high` elements are
    added before and after (negative values remove elements) and
    `interior_padding` elements between each pair of operand elements.
  }];
  let arguments = (ins Graph_Tensor:$operand,
                       DenseI64ArrayAttr:$edge_padding_low,
                       DenseI64ArrayAttr:$edge_padding_high,
                       DenseI64ArrayAttr:$interior_padding,
                       DefaultValuedAttr<F64Attr, "0.0">:$padding_value);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` functional-type($operand, $result)";
}

def Graph_ReverseOp : Graph_Op<"reverse", [Graph_Differentiable, Graph_DataMovement, Graph_JointlyLinear, Graph_HostKernel, Pure, SameOperandsAndResultType]> {
  let summary = "Reverse the order of elements along dimensions";
  let arguments = (ins Graph_Tensor:$operand, DenseI64ArrayAttr:$dimensions);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $operand `,` `dims` `=` $dimensions attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_GatherOp : Graph_Op<"gather", [Graph_Differentiable, Graph_DataMovement, Graph_HostKernel, Pure, InferTypeOpAdaptor]> {
  let summary = "Take slices of `operand` along `axis` at `indices` (ONNX Gather)";
  let description = [{
    `result.shape = operand.shape[:axis] ++ indices.shape ++
    operand.shape[axis+1:]`. Negative indices count from the end of the axis.
    An embedding lookup is `axis = 0` on the table.
  }];
  let arguments = (ins Graph_Tensor:$operand, Graph_IndexTensor:$indices,
                       I64Attr:$axis);
  let results = (outs Graph_Tensor:$result);
  let assemblyFormat = [{
    $operand `[` $indices `]` `axis` `=` $axis attr-dict `:`
    functional-type(operands, $result)
  }];
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

def Graph_DotGeneralOp : Graph_Op<"dot_general", [Graph_Differentiable, Graph_HostKernel, Pure,
    SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "Generalised matrix product";
  let description = [{
    Result dimensions are the batching dimensions (in `lhs_batching_dimensions`
    order), then the remaining lhs dimensions, then the remaining rhs
    dimensions, as in StableHLO. Contracting dimensions are summed over.

    ```mlir
    // [b, m, k] x [b, k, n] -> [b, m, n]
    %0 = graph.dot_general %a, %b, batching_dims = [0] x [0],
                           contracting_dims = [2] x [1]
      : (tensor<2x4x8xf32>, tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
    ```
  }];
  let arguments = (ins Graph_NumericTensor:$lhs, Graph_NumericTensor:$rhs,
                       DenseI64ArrayAttr:$lhs_batching_dimensions,
                       DenseI64ArrayAttr:$rhs_batching_dimensions,
                       DenseI64ArrayAttr:$lhs_contracting_dimensions,
                       DenseI64ArrayAttr:$rhs_contracting_dimensions);
  let results = (outs Graph_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `,`
    `batching_dims` `=`
      custom<DimensionPairs>($lhs_batching_dimensions, $rhs_batching_dimensions)
    `,` `contracting_dims` `=`
      custom<DimensionPairs>($lhs_contracting_dimensions,
                             $rhs_contracting_dimensions)
    attr-dict `:` functional-type(operands, $result)
  }];
  // Transposed operands fold into the dimension numbers.
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
    /// Whether this product's result transposed by `permutation` is the
    /// product of the operands swapped (batching dimensions first, then
    /// the right side's free ones, then the left's): (x^T dy)^T = dy^T x.
    bool swapsOperands(::llvm::ArrayRef<int64_t> permutation);
    /// That product of the operands swapped, built at `loc`.
    DotGeneralOp buildSwapped(::mlir::OpBuilder &builder,
                              ::mlir::Location loc);
  }];
}

def Graph_ReduceOp : Graph_Op<"reduce", [Graph_Differentiable, Graph_HostKernel, Pure,
    SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "Reduce over dimensions (sum, max, min, mean, prod)";
  let description = [{
    The reduced dimensions are removed from the result. `mean` divides the
    sum by the number of reduced elements.
  }];
  let arguments = (ins Graph_ReduceKind:$kind, Graph_NumericTensor:$operand,
                       DenseI64ArrayAttr:$dimensions);
  let results = (outs Graph_NumericTensor:$result);
  let assemblyFormat = [{
    $kind $operand `,` `dims` `=` $dimensions attr-dict `:`
    functional-type($operand, $result)
  }];
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
    /// KernelOpInterface: the kind travels by name.
    mlir::DictionaryAttr getKernelAttributes();
  }];
}

def Graph_TopKOp : Graph_Op<"top_k", [Graph_HostKernel, Pure,
    InferTypeOpAdaptor]> {
  let summary = "The k largest (or smallest) elements along a dimension";
  let description = [{
    `values` holds the `k` largest elements of the operand along
    `dimension` (the smallest with `largest = false`), in order, and
    `indices` their positions (i64); of equal elements the one at the lower
    position comes first, as in ONNX's TopK. The other dimensions pass
    through. The host kernel selects per row (a partial sort), so k small
    against the dimension costs little.
  }];
  let arguments = (ins Graph_NumericTensor:$operand, I64Attr:$k,
                       I64Attr:$dimension,
                       DefaultValuedAttr<BoolAttr, "true">:$largest);
  let results = (outs Graph_NumericTensor:$values,
                      StaticShapeTensorOf<[I64]>:$indices);
  let assemblyFormat = [{
    $operand `,` `k` `=` $k `,` `dim` `=` $dimension attr-dict `:`
    functional-type($operand, results)
  }];
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

def Graph_SoftmaxOp : Graph_Op<"softmax", [Graph_Differentiable, Graph_HostKernel, Pure, SameOperandsAndResultType]> {
  let summary = "Softmax along one dimension";
  let arguments = (ins Graph_FloatTensor:$operand, I64Attr:$dimension);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = [{
    $operand `,` `dim` `=` $dimension attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
  }];
}

def Graph_LayerNormOp : Graph_Op<"layer_norm", [Graph_Differentiable, Graph_HostKernel, Pure,
    AllTypesMatch<["operand", "result"]>,
    AllElementTypesMatch<["operand", "scale", "bias"]>]> {
  let summary = "Layer normalisation over the dimensions from `axis` on";
  let description = [{
    `(x - mean) / sqrt(variance + epsilon) * scale + bias`, with mean and
    (biased) variance over dimensions `[axis, rank)`; `scale` and `bias` have
    the shape of those dimensions (ONNX LayerNormalization).
  }];
  let arguments = (ins Graph_FloatTensor:$operand, Graph_FloatTensor:$scale,
                       Graph_FloatTensor:$bias, I64Attr:$axis,
                       F64Attr:$epsilon);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = [{
    $operand `,` $scale `,` $bias attr-dict `:`
    functional-type(operands, $result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
  }];
}

def Graph_BatchNormInferenceOp : Graph_Op<"batch_norm_inference", [Graph_Differentiable, Graph_HostKernel, Pure,
    AllTypesMatch<["operand", "result"]>,
    AllTypesMatch<["scale", "offset", "mean", "variance"]>,
    AllElementTypesMatch<["operand", "scale"]>]> {
  let summary = "Batch normalisation with given statistics";
  let description = [{
    `(x - mean) / sqrt(variance + epsilon) * scale + offset`, the statistics
    being vectors over dimension `feature_index`.
  }];
  let arguments = (ins Graph_FloatTensor:$operand, Graph_FloatTensor:$scale,
                       Graph_FloatTensor:$offset, Graph_FloatTensor:$mean,
                       Graph_FloatTensor:$variance, F64Attr:$epsilon,
                       I64Attr:$feature_index);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = [{
    operands attr-dict `:` functional-type(operands, $result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
  }];
}

//===----------------------------------------------------------------------===//
// Windowed ops
//===----------------------------------------------------------------------===//

def Graph_ConvolutionOp : Graph_Op<"convolution", [Graph_Differentiable, Graph_HostKernel, Pure,
    SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = "N-D grouped convolution with strides, padding and dilations";
  let description = [{
    `input` is `[N, C, spatial...]`, `kernel` is `[O, C / groups,
    window...]`, the result `[N, O, spatial'...]`. Per spatial dimension:
    the input is dilated by `lhs_dilation` (holes between elements: ONNX
    ConvTranspose's stride), padded by `padding_low`/`padding_high` (may be
    negative), and the kernel dilated by `rhs_dilation`;
    `out = (dilated_in + low + high - dilated_window) / stride + 1`.
    A bias is a separate broadcast add.
  }];
  let arguments = (ins Graph_FloatTensor:$input, Graph_FloatTensor:$kernel,
                       DenseI64ArrayAttr:$window_strides,
                       DenseI64ArrayAttr:$padding_low,
                       DenseI64ArrayAttr:$padding_high,
                       DenseI64ArrayAttr:$lhs_dilation,
                       DenseI64ArrayAttr:$rhs_dilation,
                       I64Attr:$feature_group_count);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $kernel attr-dict `:` functional-type(operands, $result)
  }];
  let extraClassDeclaration = [{
    /// CostOpInterface: FLOPs of the whole op.
    double getFlops();
  }];
}

class Graph_PoolOp<string mnemonic, string summaryText, dag extraArgs>
    : Graph_Op<mnemonic, [Graph_Differentiable, Graph_HostKernel, Pure,
                          SameOperandsAndResultElementType, InferTypeOpAdaptor]> {
  let summary = summaryText;
  let arguments = !con((ins Graph_FloatTensor:$operand,
                            DenseI64ArrayAttr:$window_dimensions,
                            DenseI64ArrayAttr:$window_strides,
                            DenseI64ArrayAttr:$window_dilations,
                            DenseI64ArrayAttr:$padding_low,
                            DenseI64ArrayAttr:$padding_high,
                            DefaultValuedAttr<BoolAttr, "false">:$ceil_mode),
                       extraArgs);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = "$operand attr-dict `:` functional-type($operand, $result)";
}

def Graph_MaxPoolOp : Graph_PoolOp<"max_pool", "Max pooling over spatial dimensions",
                                   (ins)> {
  let description = [{
    Windows over the spatial dimensions of `[N, C, spatial...]`; padding
    never wins the maximum. With `ceil_mode` the output size rounds up, but
    a window must start inside the input or its low padding (ONNX MaxPool).
  }];
}

def Graph_AvgPoolOp : Graph_PoolOp<"avg_pool", "Average pooling over spatial dimensions",
    (ins DefaultValuedAttr<BoolAttr, "false">:$count_include_pad)> {
  let description = [{
    As `max_pool`, averaging. With `count_include_pad` the divisor counts the
    window's elements inside the input or the explicit padding; otherwise only
    those inside the input. Positions added by `ceil_mode` are never counted.
  }];
}

def Graph_ResizeOp : Graph_Op<"resize", [Graph_HostKernel, Pure,
    SameOperandsAndResultElementType]> {
  let summary = "Nearest or (multi)linear resampling (ONNX Resize)";
  let description = [{
    Output coordinate `o` along dimension `d` maps to input coordinate
    `x = f(o, scales[d])` by `coordinate_transform`; `nearest` rounds `x` by
    `nearest_mode`, `linear` interpolates between neighbours on every
    dimension whose size changes. The result shape is the result type.
  }];
  let arguments = (ins Graph_FloatTensor:$operand, Graph_ResizeMode:$mode,
                       Graph_CoordinateTransform:$coordinate_transform,
                       DefaultValuedAttr<Graph_NearestMode,
                         "NearestMode::RoundPreferFloor">:$nearest_mode,
                       DenseF64ArrayAttr:$scales);
  let results = (outs Graph_FloatTensor:$result);
  let assemblyFormat = [{
    $mode $operand `,` `transform` `=` $coordinate_transform `,`
    `scales` `=` $scales (`,` `nearest_mode` `=` $nearest_mode^)?
    attr-dict `:` functional-type($operand, $result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// KernelOpInterface: the modes travel by name.
    mlir::DictionaryAttr getKernelAttributes();
  }];
}

//===----------------------------------------------------------------------===//
// Fusion (produced by the lowering)
//===----------------------------------------------------------------------===//

def Graph_FusionOp : Graph_Op<"fusion", [IsolatedFromAbove, SingleBlock,
                                         RecursiveMemoryEffects]> {
  let summary = "Elementwise ops evaluated together, in one pass";
  let description = [{
    A chain of elementwise ops, broadcasts and splat constants that the
    runtime evaluates in one pass over the elements of its result, without
    materialising the intermediate tensors. The region's arguments are the
    inputs; `graph.yield` gives the result, whose shape is the iteration
    space. Created by `--graph-fuse-elementwise`.

    ```mlir
    %0 = graph.fusion (%x, %bias) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32> {
    ^bb0(%a: tensor<4x8xf32>, %b: tensor<8xf32>):
      %1 = graph.broadcast_in_dim %b, dims = [1] : (tensor<8xf32>) -> tensor<4x8xf32>
      %2 = graph.add %a, %1 : tensor<4x8xf32>
      graph.yield %2 : tensor<4x8xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<Graph_Tensor>:$inputs);
  let results = (outs Graph_Tensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $result) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// CostOpInterface: the FLOPs of the ops of its body.
    double getFlops();
  }];
}

def Graph_YieldOp : Graph_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"FusionOp">]> {
  let summary = "The result of a graph.fusion";
  let arguments = (ins Graph_Tensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

#endif // TESSEL_DIALECTS_GRAPH_GRAPHOPS_TD
