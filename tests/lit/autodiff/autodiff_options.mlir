// RUN: tessel-opt %s --graph-autodiff='loss=1 wrt=x,b' | FileCheck %s

// The loss is result 1; gradients with respect to the named arguments,
// an input among them, in the order named. Only what they need is built:
// x's gradient, not w's.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> (tensor<4x2xf32> {graph.name = "y"}, tensor<f32> {graph.name = "loss"}, tensor<4x3xf32> {graph.name = "x.grad"}, tensor<2xf32> {graph.name = "b.grad"})
func.func @mlp(%x: tensor<4x3xf32> {graph.name = "x"},
               %w: tensor<3x2xf32> {graph.name = "w", graph.parameter},
               %b: tensor<2xf32> {graph.name = "b", graph.parameter})
    -> (tensor<4x2xf32> {graph.name = "y"}, tensor<f32> {graph.name = "loss"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = graph.broadcast_in_dim %b, dims = [1] : (tensor<2xf32>) -> tensor<4x2xf32>
  %2 = graph.add %0, %1 : tensor<4x2xf32>
  %3 = graph.tanh %2 : tensor<4x2xf32>
  %4 = graph.reduce mean %3, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<f32>
  // CHECK: %[[GX:.*]] = graph.dot_general %{{.*}}, %arg1, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x2xf32>, tensor<3x2xf32>) -> tensor<4x3xf32>
  // CHECK-NOT: contracting_dims = [0] x [0]
  // CHECK: return %{{.*}}, %{{.*}}, %[[GX]], %{{.*}}
  return %3, %4 : tensor<4x2xf32>, tensor<f32>
}
