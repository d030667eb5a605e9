// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(graph-fuse-elementwise))' | FileCheck %s

// A chain with a bias broadcast and a splat constant becomes one fusion;
// the dot_general stays outside.
// CHECK-LABEL: func.func @bias_gelu
// CHECK: %[[DOT:.*]] = graph.dot_general
// CHECK-NEXT: %[[F:.*]] = graph.fusion(%arg2, %[[DOT]]) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT: ^bb0(%[[B:.*]]: tensor<8xf32>, %[[D:.*]]: tensor<4x8xf32>):
// CHECK-DAG: graph.broadcast_in_dim %[[B]], dims = [1]
// CHECK-DAG: graph.constant dense<5.000000e-01> : tensor<f32>
// CHECK: graph.tanh
// CHECK: graph.yield
// CHECK-NEXT: }
// CHECK-NEXT: return %[[F]]
func.func @bias_gelu(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %1 = graph.broadcast_in_dim %b, dims = [1] : (tensor<8xf32>) -> tensor<4x8xf32>
  %2 = graph.add %0, %1 : tensor<4x8xf32>
  %c = graph.constant dense<0.5> : tensor<f32>
  %3 = graph.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<4x8xf32>
  %4 = graph.mul %2, %3 : tensor<4x8xf32>
  %5 = graph.tanh %4 : tensor<4x8xf32>
  return %5 : tensor<4x8xf32>
}

// -----

// A value read by two consumers is not fused into either (it would be
// computed twice): it is its own fusion, read by both.
// CHECK-LABEL: func.func @shared_producer
// CHECK: %[[E:.*]] = graph.fusion(%arg0)
// CHECK: graph.exp
// CHECK: graph.fusion(%[[E]])
// CHECK: graph.neg
// CHECK: graph.fusion(%[[E]])
// CHECK: graph.abs
func.func @shared_producer(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = graph.exp %x : tensor<4xf32>
  %a = graph.neg %e : tensor<4xf32>
  %b = graph.abs %e : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}

// -----

// Ops the runtime runs as kernels are never fused; a lone broadcast feeding
// one becomes a fusion of its own, and non-splat constants stay outside.
// CHECK-LABEL: func.func @boundaries
// CHECK: %[[C:.*]] = graph.constant dense<[1.000000e+00, 2.000000e+00]>
// CHECK: %[[B:.*]] = graph.fusion(%[[C]]) : (tensor<2xf32>) -> tensor<3x2xf32>
// CHECK: graph.softmax %[[B]]
func.func @boundaries() -> tensor<3x2xf32> {
  %c = graph.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = graph.broadcast_in_dim %c, dims = [1] : (tensor<2xf32>) -> tensor<3x2xf32>
  %s = graph.softmax %b, dim = 1 : tensor<3x2xf32>
  return %s : tensor<3x2xf32>
}

// -----

// A fusion stays within the operand limit: with at most two operands,
// (a + b) * c splits where the third operand would join.
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(graph-fuse-elementwise{max-operands=2}))' | FileCheck %s --check-prefix=LIMIT
// LIMIT-LABEL: func.func @operand_limit
// LIMIT: %[[SUM:.*]] = graph.fusion(%arg0, %arg1)
// LIMIT: graph.add
// LIMIT: %[[PRODUCT:.*]] = graph.fusion(%[[SUM]], %arg2)
// LIMIT: graph.mul
// LIMIT: return %[[PRODUCT]]
func.func @operand_limit(%a: tensor<4xf32>, %b: tensor<4xf32>, %c: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.add %a, %b : tensor<4xf32>
  %1 = graph.mul %0, %c : tensor<4xf32>
  return %1 : tensor<4xf32>
}
