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

// A transposed weight folds into the contracting dimensions.
// CHECK-LABEL: func.func @dot_of_transpose
func.func @dot_of_transpose(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  // CHECK-NEXT: %[[D:.*]] = graph.dot_general %arg0, %arg1, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: return %[[D]]
  %t = graph.transpose %w, perm = [1, 0] : (tensor<8x16xf32>) -> tensor<16x8xf32>
  %0 = graph.dot_general %x, %t, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// Attention heads: [b, t, h, d] transposed to [b, h, t, d] becomes batch
// dimensions [0, 2] of the original.
// CHECK-LABEL: func.func @dot_of_head_transpose
func.func @dot_of_head_transpose(%q: tensor<2x16x4x8xf32>, %k: tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32> {
  // CHECK-NEXT: graph.dot_general %arg0, %arg1, batching_dims = [0, 2] x [0, 1], contracting_dims = [3] x [2]
  %t = graph.transpose %q, perm = [0, 2, 1, 3] : (tensor<2x16x4x8xf32>) -> tensor<2x4x16x8xf32>
  %0 = graph.dot_general %t, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [2] : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  return %0 : tensor<2x4x16x16xf32>
}

// A transpose that would reorder the result's free dimensions stays.
// CHECK-LABEL: func.func @dot_keeps_reordering_transpose
func.func @dot_keeps_reordering_transpose(%x: tensor<3x4x16xf32>, %w: tensor<16x8xf32>) -> tensor<4x3x8xf32> {
  // CHECK-NEXT: graph.transpose
  %t = graph.transpose %x, perm = [1, 0, 2] : (tensor<3x4x16xf32>) -> tensor<4x3x16xf32>
  %0 = graph.dot_general %t, %w, batching_dims = [] x [], contracting_dims = [2] x [0] : (tensor<4x3x16xf32>, tensor<16x8xf32>) -> tensor<4x3x8xf32>
  return %0 : tensor<4x3x8xf32>
}

// A weight's gradient computed as x^T dy and transposed to the weight's
// [out, in] is dy^T x: the operands swap and the transpose goes.
// CHECK-LABEL: func.func @transpose_of_dot
func.func @transpose_of_dot(%x: tensor<2x16x64xf32>, %dy: tensor<2x16x96xf32>) -> tensor<96x64xf32> {
  // CHECK-NEXT: %[[D:.*]] = graph.dot_general %arg1, %arg0, batching_dims = [] x [], contracting_dims = [0, 1] x [0, 1] : (tensor<2x16x96xf32>, tensor<2x16x64xf32>) -> tensor<96x64xf32>
  // CHECK-NEXT: return %[[D]]
  %0 = graph.dot_general %x, %dy, batching_dims = [] x [], contracting_dims = [0, 1] x [0, 1] : (tensor<2x16x64xf32>, tensor<2x16x96xf32>) -> tensor<64x96xf32>
  %t = graph.transpose %0, perm = [1, 0] : (tensor<64x96xf32>) -> tensor<96x64xf32>
  return %t : tensor<96x64xf32>
}

// With batching dimensions (attention's scores transposed per head), and
// with several free dimensions on a side, kept in order.
// CHECK-LABEL: func.func @transpose_of_batched_dot
func.func @transpose_of_batched_dot(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x12x3x8xf32>) -> tensor<2x4x12x3x16xf32> {
  // CHECK-NEXT: %[[D:.*]] = graph.dot_general %arg1, %arg0, batching_dims = [0, 1] x [0, 1], contracting_dims = [4] x [3] : (tensor<2x4x12x3x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x12x3x16xf32>
  // CHECK-NEXT: return %[[D]]
  %0 = graph.dot_general %q, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [4] : (tensor<2x4x16x8xf32>, tensor<2x4x12x3x8xf32>) -> tensor<2x4x16x12x3xf32>
  %t = graph.transpose %0, perm = [0, 1, 3, 4, 2] : (tensor<2x4x16x12x3xf32>) -> tensor<2x4x12x3x16xf32>
  return %t : tensor<2x4x12x3x16xf32>
}

// Stays: a permutation that is not the swap (the rhs's free dimensions
// reordered), and the swap of a product read elsewhere too.
// CHECK-LABEL: func.func @transpose_of_dot_stays
func.func @transpose_of_dot_stays(%x: tensor<16x4xf32>, %w: tensor<16x3x5xf32>) -> (tensor<5x3x4xf32>, tensor<3x5x4xf32>, tensor<4x3x5xf32>) {
  // CHECK: graph.transpose
  // CHECK: graph.transpose
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<16x4xf32>, tensor<16x3x5xf32>) -> tensor<4x3x5xf32>
  %t = graph.transpose %0, perm = [2, 1, 0] : (tensor<4x3x5xf32>) -> tensor<5x3x4xf32>
  %u = graph.transpose %0, perm = [1, 2, 0] : (tensor<4x3x5xf32>) -> tensor<3x5x4xf32>
  return %t, %u, %0 : tensor<5x3x4xf32>, tensor<3x5x4xf32>, tensor<4x3x5xf32>
}
