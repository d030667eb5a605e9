//===- GraphEnums.td - Enumerations of the graph dialect ---*- tablegen -*-===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHENUMS_TD
#define TESSEL_DIALECTS_GRAPH_GRAPHENUMS_TD

include "mlir/IR/EnumAttr.td"

def Graph_ComparisonDirection : I32EnumAttr<"ComparisonDirection",
    "how graph.compare compares its operands", [
      I32EnumAttrCase<"EQ", 0, "eq">,
      I32EnumAttrCase<"NE", 1, "ne">,
      I32EnumAttrCase<"LT", 2, "lt">,
      I32EnumAttrCase<"LE", 3, "le">,
      I32EnumAttrCase<"GT", 4, "gt">,
      I32EnumAttrCase<"GE", 5, "ge">
    ]> {
  let cppNamespace = "::tessel::graph";
}

def Graph_ReduceKind : I32EnumAttr<"ReduceKind",
    "the reduction graph.reduce applies", [
      I32EnumAttrCase<"Sum", 0, "sum">,
      I32EnumAttrCase<"Max", 1, "max">,
      I32EnumAttrCase<"Min", 2, "min">,
      I32EnumAttrCase<"Mean", 3, "mean">,
      I32EnumAttrCase<"Prod", 4, "prod">
    ]> {
  let cppNamespace = "::tessel::graph";
}

def Graph_ResizeMode : I32EnumAttr<"ResizeMode",
    "interpolation of graph.resize", [
      I32EnumAttrCase<"Nearest", 0, "nearest">,
      I32EnumAttrCase<"Linear", 1, "linear">
    ]> {
  let cppNamespace = "::tessel::graph";
}

// How an output coordinate maps to an input coordinate, as in ONNX Resize.
def Graph_CoordinateTransform : I32EnumAttr<"CoordinateTransform",
    "output-to-input coordinate mapping of graph.resize", [
      I32EnumAttrCase<"HalfPixel", 0, "half_pixel">,
      I32EnumAttrCase<"PytorchHalfPixel", 1, "pytorch_half_pixel">,
      I32EnumAttrCase<"AlignCorners", 2, "align_corners">,
      I32EnumAttrCase<"Asymmetric", 3, "asymmetric">,
      I32EnumAttrCase<"TfHalfPixelForNn", 4, "tf_half_pixel_for_nn">
    ]> {
  let cppNamespace = "::tessel::graph";
}

def Graph_NearestMode : I32EnumAttr<"NearestMode",
    "rounding of graph.resize in nearest mode", [
      I32EnumAttrCase<"RoundPreferFloor", 0, "round_prefer_floor">,
      I32EnumAttrCase<"RoundPreferCeil", 1, "round_prefer_ceil">,
      I32EnumAttrCase<"Floor", 2, "floor">,
      I32EnumAttrCase<"Ceil", 3, "ceil">
    ]> {
  let cppNamespace = "::tessel::graph";
}

#endif // TESSEL_DIALECTS_GRAPH_GRAPHENUMS_TD
