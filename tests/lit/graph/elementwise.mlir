// RUN: tessel-opt %s | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

// Round trip of the elementwise ops through the custom assembly format.
// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[ADD:.*]] = graph.add %arg0, %arg1 : tensor<4x8xf32>
  %0 = graph.add %a, %b : tensor<4x8xf32>
  // CHECK: %[[SUB:.*]] = graph.sub %[[ADD]], %arg1 : tensor<4x8xf32>
  %1 = graph.sub %0, %b : tensor<4x8xf32>
  // CHECK: graph.mul
  %2 = graph.mul %1, %a : tensor<4x8xf32>
  // CHECK: graph.div
  %3 = graph.div %2, %a : tensor<4x8xf32>
  // CHECK: graph.max
  %4 = graph.max %3, %a : tensor<4x8xf32>
  // CHECK: graph.min
  %5 = graph.min %4, %a : tensor<4x8xf32>
  return %5 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @unary
func.func @unary(%a: tensor<2x3xbf16>, %i: tensor<5xi64>) -> (tensor<2x3xbf16>, tensor<5xi64>) {
  // CHECK: graph.neg %arg0 : tensor<2x3xbf16>
  %0 = graph.neg %a : tensor<2x3xbf16>
  // CHECK: graph.exp
  %1 = graph.exp %0 : tensor<2x3xbf16>
  // CHECK: graph.tanh
  %2 = graph.tanh %1 : tensor<2x3xbf16>
  // CHECK: graph.neg %arg1 : tensor<5xi64>
  %3 = graph.neg %i : tensor<5xi64>
  return %2, %3 : tensor<2x3xbf16>, tensor<5xi64>
}
