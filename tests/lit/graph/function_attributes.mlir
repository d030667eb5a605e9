// RUN: tessel-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Arguments and results carry their source names; weights are parameters.
// CHECK-LABEL: func.func @named
// CHECK-SAME: (%arg0: tensor<2x3xf32> {graph.name = "x"}, %arg1: tensor<3x4xf32> {graph.name = "fc.weight", graph.parameter})
// CHECK-SAME: -> (tensor<2x4xf32> {graph.name = "y"})
func.func @named(%x: tensor<2x3xf32> {graph.name = "x"},
                 %w: tensor<3x4xf32> {graph.name = "fc.weight", graph.parameter})
    -> (tensor<2x4xf32> {graph.name = "y"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// expected-error @+1 {{'graph.name' must be a string, got 3 : i64}}
func.func @name_not_string(%x: tensor<2xf32> {graph.name = 3}) {
  return
}

// -----

// expected-error @+1 {{'graph.parameter' takes no value, got "w"}}
func.func @parameter_with_value(%x: tensor<2xf32> {graph.parameter = "w"}) {
  return
}

// -----

// expected-error @+1 {{unknown result attribute 'graph.parameter'}}
func.func @parameter_on_result(%x: tensor<2xf32>) -> (tensor<2xf32> {graph.parameter}) {
  return %x : tensor<2xf32>
}

// -----

// expected-error @+1 {{unknown argument attribute 'graph.weight'}}
func.func @unknown(%x: tensor<2xf32> {graph.weight}) {
  return
}

// -----

// A parameter's recorded value: 1 on diagonals -3..0 (a causal mask).
// CHECK-LABEL: func.func @diagonal_band
// CHECK-SAME: graph.diagonal_band = array<i64: -3, 0>
func.func @diagonal_band(%m: tensor<1x4x4xf32> {graph.diagonal_band = array<i64: -3, 0>, graph.parameter}) {
  return
}

// -----

// expected-error @+1 {{'graph.diagonal_band' must be array<i64: low, high> with low <= high, got array<i64: 1, 0>}}
func.func @diagonal_band_reversed(%m: tensor<4x4xf32> {graph.diagonal_band = array<i64: 1, 0>}) {
  return
}
