// RUN: tessel-opt %s | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

// CHECK-LABEL: func.func @constants
func.func @constants() -> (tensor<2xf32>, tensor<2x3xi64>, tensor<i1>) {
  // CHECK: graph.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %0 = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: graph.iota dim = 1 : tensor<2x3xi64>
  %1 = graph.iota dim = 1 : tensor<2x3xi64>
  // CHECK: graph.constant dense<true> : tensor<i1>
  %2 = graph.constant dense<true> : tensor<i1>
  return %0, %1, %2 : tensor<2xf32>, tensor<2x3xi64>, tensor<i1>
}

// CHECK-LABEL: func.func @movement
func.func @movement(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>, %i: tensor<4x2xi32>) {
  // CHECK: graph.broadcast_in_dim %arg0, dims = [1, 2] : (tensor<2x3xf32>) -> tensor<4x2x3xf32>
  %0 = graph.broadcast_in_dim %a, dims = [1, 2] : (tensor<2x3xf32>) -> tensor<4x2x3xf32>
  // CHECK: graph.reshape %arg0 : (tensor<2x3xf32>) -> tensor<6xf32>
  %r = graph.reshape %a : (tensor<2x3xf32>) -> tensor<6xf32>
  %r2 = graph.reshape %r : (tensor<6xf32>) -> tensor<1x6xf32>
  // CHECK: graph.slice %{{.*}} [0:1, 0:3] : (tensor<1x6xf32>) -> tensor<1x3xf32>
  %s3 = graph.slice %r2 [0:1, 0:3] : (tensor<1x6xf32>) -> tensor<1x3xf32>
  // A size-1 dimension repeats; dimensions may be reordered.
  // CHECK: graph.broadcast_in_dim %{{.*}}, dims = [2, 0] : (tensor<1x3xf32>) -> tensor<3x4x5xf32>
  %1 = graph.broadcast_in_dim %s3, dims = [2, 0] : (tensor<1x3xf32>) -> tensor<3x4x5xf32>
  // CHECK: graph.transpose %arg0, perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %2 = graph.transpose %a, perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  // CHECK: graph.slice %arg1 [0:2, 1:5:2] : (tensor<2x5xf32>) -> tensor<2x2xf32>
  %3 = graph.slice %b [0:2, 1:5:2] : (tensor<2x5xf32>) -> tensor<2x2xf32>
  // CHECK: graph.concatenate %arg0, %arg1 dim = 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  %4 = graph.concatenate %a, %b dim = 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  // Low, high and interior padding: 1 + 2 + 0 and 0 + 3 + 2 * 1 + 2.
  // CHECK: graph.pad %arg0 {edge_padding_high = array<i64: 0, 2>, edge_padding_low = array<i64: 1, 0>, interior_padding = array<i64: 0, 1>, padding_value = -1.000000e+00 : f64} : (tensor<2x3xf32>) -> tensor<3x7xf32>
  %5 = graph.pad %a {edge_padding_low = array<i64: 1, 0>, edge_padding_high = array<i64: 0, 2>, interior_padding = array<i64: 0, 1>, padding_value = -1.0 : f64} : (tensor<2x3xf32>) -> tensor<3x7xf32>
  // Negative padding removes elements.
  // CHECK: graph.pad %arg1 {{.*}} : (tensor<2x5xf32>) -> tensor<2x3xf32>
  %6 = graph.pad %b {edge_padding_low = array<i64: 0, -1>, edge_padding_high = array<i64: 0, -1>, interior_padding = array<i64: 0, 0>} : (tensor<2x5xf32>) -> tensor<2x3xf32>
  // CHECK: graph.reverse %arg0, dims = [0, 1] : tensor<2x3xf32>
  %7 = graph.reverse %a, dims = [0, 1] : tensor<2x3xf32>
  // operand[:axis] ++ indices ++ operand[axis+1:]
  // CHECK: graph.gather %arg1[%arg2] axis = 1 : (tensor<2x5xf32>, tensor<4x2xi32>) -> tensor<2x4x2xf32>
  %8 = graph.gather %b[%i] axis = 1 : (tensor<2x5xf32>, tensor<4x2xi32>) -> tensor<2x4x2xf32>
  return
}
