// RUN: tessel-opt %s --split-input-file --tessel-lowering-pipeline | tessel-translate --split-input-file --mlir-to-tessel-executable | FileCheck %s
// RUN: tessel-opt %s --split-input-file --tessel-lowering-pipeline | tessel-translate --split-input-file --mlir-to-tessel-executable --tessel-parameter-file=weights.bin | FileCheck %s --check-prefix=NAMED

// One device: inputs, a parameter, arena buffers, an instruction per op
// with a host kernel, the elementwise chain as a fusion program.
// CHECK-LABEL: format_version: 1
// CHECK:      inputs {
// CHECK-NEXT:   name: "x"
// CHECK-NEXT:   element_type: F32
// CHECK-NEXT:   dims: 2
// CHECK-NEXT:   dims: 4
// CHECK:      inputs {
// CHECK-NEXT:   name: "arg2"
// CHECK:      outputs {
// CHECK-NEXT:   name: "y"
// CHECK-NEXT:   element_type: F32
// CHECK-NEXT:   dims: 2
// CHECK-NEXT: }
// CHECK:      parameters {
// CHECK-NEXT:   name: "w"
// CHECK:      parameter_file: "model.params"
// NAMED:      parameter_file: "weights.bin"
// CHECK:      programs {
// CHECK-NEXT:   arena_bytes: 128
// CHECK:        storage: PARAMETER
// CHECK:        output_buffers: 5
// CHECK:        instructions {
// CHECK-NEXT:     op: "dot_general"
// CHECK-NEXT:     operands: 0
// CHECK-NEXT:     operands: 1
// CHECK-NEXT:     results: 3
// CHECK:            key: "lhs_contracting_dimensions"
// CHECK-NEXT:       value {
// CHECK-NEXT:         ints {
// CHECK-NEXT:           values: 1
// The broadcast is a load through a mapping, not a step of its own.
// CHECK:          op: "fusion"
// CHECK:          fusion {
// CHECK-NEXT:       operand_dims {
// CHECK-NEXT:         values: 0
// CHECK-NEXT:         values: 1
// CHECK-NEXT:       }
// CHECK-NEXT:       operand_dims {
// CHECK-NEXT:         values: 1
// CHECK-NEXT:       }
// CHECK:            op: "add"
// CHECK-NEXT:       args: 0
// CHECK-NEXT:       args: 1
// Enumerations travel by name (KernelOpInterface).
// CHECK:          op: "reduce"
// CHECK:            key: "kind"
// CHECK-NEXT:       value {
// CHECK-NEXT:         s: "max"
func.func @mlp(%x: tensor<2x4xf32> {graph.name = "x"},
               %w: tensor<4x3xf32> {graph.name = "w", graph.parameter},
               %b: tensor<3xf32>) -> (tensor<2xf32> {graph.name = "y"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = graph.broadcast_in_dim %b, dims = [1] : (tensor<3xf32>) -> tensor<2x3xf32>
  %2 = graph.add %0, %1 : tensor<2x3xf32>
  %3 = graph.reduce max %2, dims = [1] : (tensor<2x3xf32>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}

// -----

// Attributes of fused steps (a comparison's direction, a clamp's bounds)
// and a resize's modes by name; no parameters, so no parameter file.
// CHECK-LABEL: format_version: 1
// CHECK-NOT:  parameter_file
// CHECK:          op: "resize"
// CHECK:            key: "coordinate_transform"
// CHECK-NEXT:       value {
// CHECK-NEXT:         s: "asymmetric"
// CHECK:            key: "mode"
// CHECK-NEXT:       value {
// CHECK-NEXT:         s: "nearest"
// CHECK:            key: "nearest_mode"
// CHECK-NEXT:       value {
// CHECK-NEXT:         s: "round_prefer_floor"
// CHECK:            key: "scales"
// CHECK:          op: "fusion"
// CHECK:            op: "clamp"
// CHECK-NEXT:       args: 0
// CHECK-NEXT:       element_type: F32
// CHECK-NEXT:       attributes {
// CHECK-NEXT:         key: "min"
// CHECK-NEXT:         value {
// CHECK-NEXT:           f: 0
// CHECK:            op: "compare"
// CHECK-NEXT:       args: 1
// CHECK-NEXT:       args: 0
// CHECK-NEXT:       element_type: I1
// CHECK-NEXT:       attributes {
// CHECK-NEXT:         key: "direction"
// CHECK-NEXT:         value {
// CHECK-NEXT:           i: 2
func.func @image(%img: tensor<1x2x3x3xf32> {graph.name = "img"})
    -> (tensor<1x2x6x6xi1> {graph.name = "mask"}) {
  %0 = graph.resize nearest %img, transform = asymmetric, scales = [1.0, 1.0, 2.0, 2.0] : (tensor<1x2x3x3xf32>) -> tensor<1x2x6x6xf32>
  %1 = graph.clamp %0 {min = 0.0} : tensor<1x2x6x6xf32>
  %2 = graph.compare lt, %1, %0 : tensor<1x2x6x6xf32>
  return %2 : tensor<1x2x6x6xi1>
}
