// RUN: tessel-opt %s --split-input-file --graph-autodiff | FileCheck %s

// A linear layer, relu and a squared-sum loss, differentiated with respect
// to the parameters: the gradients follow the forward ops in reverse and
// are appended as results named after the parameters. A matmul's
// gradients need no transpose.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> (tensor<f32> {graph.name = "loss"}, tensor<3x2xf32> {graph.name = "w.grad"}, tensor<2xf32> {graph.name = "b.grad"})
func.func @mlp(%x: tensor<4x3xf32> {graph.name = "x"},
               %w: tensor<3x2xf32> {graph.name = "w", graph.parameter},
               %b: tensor<2xf32> {graph.name = "b", graph.parameter})
    -> (tensor<f32> {graph.name = "loss"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = graph.broadcast_in_dim %b, dims = [1] : (tensor<2xf32>) -> tensor<4x2xf32>
  %2 = graph.add %0, %1 : tensor<4x2xf32>
  %3 = graph.relu %2 : tensor<4x2xf32>
  %4 = graph.mul %3, %3 : tensor<4x2xf32>
  %5 = graph.reduce sum %4, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<f32>
  // The seed, spread back over the sum, then d(y*y) = 2 y g, summed over
  // its two uses.
  // CHECK: %[[ONE:.*]] = graph.constant dense<1.000000e+00> : tensor<f32>
  // CHECK: %[[G4:.*]] = graph.broadcast_in_dim %[[ONE]], dims = []
  // CHECK: %[[L:.*]] = graph.mul %[[G4]], %{{.*}}
  // CHECK: %[[R:.*]] = graph.mul %[[G4]], %{{.*}}
  // CHECK: %[[G3:.*]] = graph.add %[[L]], %[[R]]
  // CHECK: %[[POSITIVE:.*]] = graph.compare gt, %{{.*}}, %{{.*}}
  // CHECK: %[[G2:.*]] = graph.select %[[POSITIVE]], %[[G3]], %{{.*}}
  // CHECK: %[[GB:.*]] = graph.reduce sum %[[G2]], dims = [0] : (tensor<4x2xf32>) -> tensor<2xf32>
  // CHECK: %[[GW:.*]] = graph.dot_general %arg0, %[[G2]], batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
  // CHECK-NOT: graph.transpose
  // CHECK: return %{{.*}}, %[[GW]], %[[GB]]
  return %5 : tensor<f32>
}

// -----

// A linear layer as torch exports it, the weight [out, in] read as x W^T:
// its gradient is built as dy^T x, already [out, in] (not (x^T dy)^T,
// which would copy every weight gradient once more).
// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<4x3xf32> {graph.name = "x"},
                  %w: tensor<2x3xf32> {graph.name = "w", graph.parameter})
    -> (tensor<f32> {graph.name = "loss"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  %1 = graph.reduce sum %0, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<f32>
  // CHECK: %[[G:.*]] = graph.broadcast_in_dim
  // CHECK: %[[GW:.*]] = graph.dot_general %[[G]], %arg0, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  // CHECK-NOT: graph.transpose
  // CHECK: return %{{.*}}, %[[GW]]
  return %1 : tensor<f32>
}

// -----

// The same weight read through a transpose op (ONNX's Gemm with transB):
// the transpose's rule swaps the product only it reads, so the gradient
// is again dy^T x with no transpose.
// CHECK-LABEL: func.func @transposed_weight
func.func @transposed_weight(%x: tensor<4x3xf32> {graph.name = "x"},
                             %w: tensor<2x3xf32> {graph.name = "w", graph.parameter})
    -> (tensor<f32> {graph.name = "loss"}) {
  %t = graph.transpose %w, perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %0 = graph.dot_general %x, %t, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = graph.reduce sum %0, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<f32>
  // CHECK: %[[G:.*]] = graph.broadcast_in_dim
  // CHECK: %[[GW:.*]] = graph.dot_general %[[G]], %arg0, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  // CHECK-NOT: graph.transpose {{.*}}tensor<3x2xf32>) -> tensor<2x3xf32>
  // CHECK: return %{{.*}}, %[[GW]]
  return %1 : tensor<f32>
}

// -----

// The gradient a transpose's rule receives is another operand's too (add
// gives both its result's): the product is built swapped beside it, and
// the original stays as c's gradient.
// CHECK-LABEL: func.func @shared_gradient
func.func @shared_gradient(%x: tensor<4x3xf32> {graph.name = "x"},
                           %w: tensor<2x3xf32> {graph.name = "w", graph.parameter},
                           %c: tensor<3x2xf32> {graph.name = "c", graph.parameter})
    -> (tensor<f32> {graph.name = "loss"}) {
  %t = graph.transpose %w, perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %s = graph.add %t, %c : tensor<3x2xf32>
  %0 = graph.dot_general %x, %s, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = graph.reduce sum %0, dims = [0, 1] : (tensor<4x2xf32>) -> tensor<f32>
  // CHECK: %[[G:.*]] = graph.broadcast_in_dim
  // CHECK-DAG: %[[GC:.*]] = graph.dot_general %arg0, %[[G]], batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
  // CHECK-DAG: %[[GW:.*]] = graph.dot_general %[[G]], %arg0, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  // CHECK: return %{{.*}}, %[[GW]], %[[GC]]
  return %1 : tensor<f32>
}

// -----

// Integer values carry no gradient, so an index computation needs no
// rule; a parameter the loss does not depend on gets zeros. Other results
// stay.
// CHECK-LABEL: func.func @inactive
// CHECK-SAME: -> (tensor<f32>, tensor<4xi64>, tensor<4xf32> {graph.name = "p.grad"}, tensor<4xf32> {graph.name = "unused.grad"})
func.func @inactive(%p: tensor<4xf32> {graph.name = "p", graph.parameter},
                    %unused: tensor<4xf32> {graph.name = "unused", graph.parameter})
    -> (tensor<f32>, tensor<4xi64>) {
  %i = graph.convert %p : (tensor<4xf32>) -> tensor<4xi64>
  %e = graph.exp %p : tensor<4xf32>
  %s = graph.reduce sum %e, dims = [0] : (tensor<4xf32>) -> tensor<f32>
  // CHECK: %[[ZEROS:.*]] = graph.constant dense<0.000000e+00> : tensor<4xf32>
  // CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %[[ZEROS]]
  return %s, %i : tensor<f32>, tensor<4xi64>
}
