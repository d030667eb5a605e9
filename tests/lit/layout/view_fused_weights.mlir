// RUN: tessel-opt %s --split-input-file --graph-view-fused-weights --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s

// GPT-2's fused q/k/v: x @ W^T + b, W [3h, h], sliced into three h-wide
// parts. The weight is viewed as [3, h, h] and the bias as [3, h], both
// recording their stored shapes; each slice takes one part and a reshape
// gives it its old shape and name.
// CHECK-LABEL: func.func @qkv
// CHECK-SAME: %arg1: tensor<3x8x8xf32> {graph.name = "qkv.weight", graph.parameter, graph.stored_shape = array<i64: 24, 8>}
// CHECK-SAME: %arg2: tensor<3x8xf32> {graph.name = "qkv.bias", graph.parameter, graph.stored_shape = array<i64: 24>}
// CHECK: %[[T:.*]] = graph.transpose %arg1, perm = [2, 0, 1] : (tensor<3x8x8xf32>) -> tensor<8x3x8xf32>
// CHECK: %[[D:.*]] = graph.dot_general %arg0, %[[T]], batching_dims = [] x [], contracting_dims = [2] x [0] : (tensor<2x4x8xf32>, tensor<8x3x8xf32>) -> tensor<2x4x3x8xf32>
// CHECK: %[[B:.*]] = graph.broadcast_in_dim %arg2, dims = [2, 3] : (tensor<3x8xf32>) -> tensor<2x4x3x8xf32>
// CHECK: %[[A:.*]] = graph.add %[[B]], %[[D]] : tensor<2x4x3x8xf32>
// CHECK: %[[Q:.*]] = graph.slice %[[A]] [0:2, 0:4, 0:1, 0:8] : (tensor<2x4x3x8xf32>) -> tensor<2x4x1x8xf32> loc(fused<"part">["q"])
// CHECK: graph.reshape %[[Q]] : (tensor<2x4x1x8xf32>) -> tensor<2x4x8xf32> loc("q")
// CHECK: %[[K:.*]] = graph.slice %[[A]] [0:2, 0:4, 1:2, 0:8]
// CHECK: %[[V:.*]] = graph.slice %[[A]] [0:2, 0:4, 2:3, 0:8]
// CHECK-NOT: tensor<2x4x24xf32>
func.func @qkv(%x: tensor<2x4x8xf32>,
               %w: tensor<24x8xf32> {graph.name = "qkv.weight", graph.parameter},
               %b: tensor<24xf32> {graph.name = "qkv.bias", graph.parameter})
    -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) {
  %t = graph.transpose %w, perm = [1, 0] : (tensor<24x8xf32>) -> tensor<8x24xf32>
  %d = graph.dot_general %x, %t, batching_dims = [] x [], contracting_dims = [2] x [0] : (tensor<2x4x8xf32>, tensor<8x24xf32>) -> tensor<2x4x24xf32>
  %bb = graph.broadcast_in_dim %b, dims = [2] : (tensor<24xf32>) -> tensor<2x4x24xf32>
  %a = graph.add %bb, %d : tensor<2x4x24xf32>
  %q = graph.slice %a [0:2, 0:4, 0:8] : (tensor<2x4x24xf32>) -> tensor<2x4x8xf32> loc("q")
  %k = graph.slice %a [0:2, 0:4, 8:16] : (tensor<2x4x24xf32>) -> tensor<2x4x8xf32>
  %v = graph.slice %a [0:2, 0:4, 16:24] : (tensor<2x4x24xf32>) -> tensor<2x4x8xf32>
  return %q, %k, %v : tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>
}

// -----

// Without a transpose and without a bias, the weight [h, 2h] read as is:
// its free dimension (1) becomes [2, h].
// CHECK-LABEL: func.func @kv_untransposed
// CHECK-SAME: %arg1: tensor<8x2x8xf32> {graph.parameter, graph.stored_shape = array<i64: 8, 16>}
// CHECK: graph.dot_general %arg0, %arg1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x2x8xf32>) -> tensor<4x2x8xf32>
// CHECK: graph.slice %{{.*}} [0:4, 1:2, 0:8] : (tensor<4x2x8xf32>) -> tensor<4x1x8xf32>
func.func @kv_untransposed(%x: tensor<4x8xf32>,
                           %w: tensor<8x16xf32> {graph.parameter})
    -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %d = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %k = graph.slice %d [0:4, 0:8] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %v = graph.slice %d [0:4, 8:16] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  return %k, %v : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Left alone: parts of unequal width; a result read whole besides its
// slices; a weight that is not a parameter; a weight read twice; a
// parameter that already has a sharding.
// CHECK-LABEL: func.func @not_fused
// CHECK-NOT: graph.stored_shape
// CHECK-NOT: tensor<{{.*}}x2x8xf32>
spmd.mesh @m = <["x"=2]>
func.func @not_fused(%x: tensor<4x8xf32>,
                     %w1: tensor<8x16xf32> {graph.parameter},
                     %w2: tensor<8x16xf32> {graph.parameter},
                     %w3: tensor<8x16xf32>,
                     %w4: tensor<8x16xf32> {graph.parameter},
                     %w5: tensor<8x16xf32> {graph.parameter, spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>})
    -> (tensor<4x4xf32>, tensor<4x12xf32>, tensor<4x16xf32>, tensor<4x8xf32>,
        tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %d1 = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %a = graph.slice %d1 [0:4, 0:4] : (tensor<4x16xf32>) -> tensor<4x4xf32>
  %b = graph.slice %d1 [0:4, 4:16] : (tensor<4x16xf32>) -> tensor<4x12xf32>
  %d2 = graph.dot_general %x, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %c = graph.slice %d2 [0:4, 0:8] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %d = graph.slice %d2 [0:4, 8:16] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %d3 = graph.dot_general %x, %w3, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %e = graph.slice %d3 [0:4, 0:8] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %f = graph.slice %d3 [0:4, 8:16] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %d4 = graph.dot_general %x, %w4, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %d4b = graph.dot_general %x, %w4, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %g = graph.slice %d4 [0:4, 0:8] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %d5 = graph.dot_general %x, %w5, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %h = graph.slice %d5 [0:4, 0:8] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %i = graph.slice %d5 [0:4, 8:16] : (tensor<4x16xf32>) -> tensor<4x8xf32>
  return %a, %b, %d2, %c, %e, %g, %h, %i : tensor<4x4xf32>, tensor<4x12xf32>, tensor<4x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
