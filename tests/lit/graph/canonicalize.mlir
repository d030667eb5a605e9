// RUN: tessel-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @reshape_chain
func.func @reshape_chain(%a: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // CHECK-NEXT: %[[R:.*]] = graph.reshape %arg0 : (tensor<2x3xf32>) -> tensor<3x2xf32>
  // CHECK-NEXT: return %[[R]]
  %0 = graph.reshape %a : (tensor<2x3xf32>) -> tensor<6xf32>
  %1 = graph.reshape %0 : (tensor<6xf32>) -> tensor<3x2xf32>
  return %1 : tensor<3x2xf32>
}

// CHECK-LABEL: func.func @reshape_identity
func.func @reshape_identity(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK-NEXT: return %arg0
  %0 = graph.reshape %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @reshape_constant
func.func @reshape_constant() -> tensor<2x2xi64> {
  // CHECK-NEXT: %[[C:.*]] = graph.constant dense<{{\[}}[1, 2], [3, 4]]> : tensor<2x2xi64>
  // CHECK-NEXT: return %[[C]]
  %0 = graph.constant dense<[1, 2, 3, 4]> : tensor<4xi64>
  %1 = graph.reshape %0 : (tensor<4xi64>) -> tensor<2x2xi64>
  return %1 : tensor<2x2xi64>
}
