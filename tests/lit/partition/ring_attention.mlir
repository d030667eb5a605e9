// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-ring-attention))' | FileCheck %s

// Causal attention on local shapes, queries split by sequence over x=4:
// keys and values gathered whole. Becomes four steps over the ring: the
// key and value blocks shift three times, the mask is cut to each step's
// columns, the scale rebuilt at the block's size, the softmax replaced by
// a running maximum and sum.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @causal
func.func @causal(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>, %mask: tensor<1x4x16xi1>) -> tensor<2x4x8xf32> {
  // CHECK-NOT: spmd.all_gather
  // CHECK-NOT: graph.softmax
  // CHECK: %[[S0:.*]] = graph.dot_general %arg0, %arg1, {{.*}} -> tensor<2x4x4xf32>
  // CHECK: %[[M0:.*]] = spmd.ring_block %arg3 @m ["x"] dim = 2, shift = 0 : tensor<1x4x16xi1> -> tensor<1x4x4xi1>
  // CHECK: graph.reduce max
  // CHECK: graph.exp
  // CHECK: graph.reduce sum
  // CHECK: %[[K1:.*]] = spmd.ring_shift %arg1 @m ["x"] shift = 1 : tensor<2x4x8xf32>
  // CHECK: %[[V1:.*]] = spmd.ring_shift %arg2 @m ["x"] shift = 1 : tensor<2x4x8xf32>
  // CHECK: graph.dot_general %arg0, %[[K1]]
  // CHECK: spmd.ring_block %arg3 @m ["x"] dim = 2, shift = 1
  // CHECK: %[[K2:.*]] = spmd.ring_shift %[[K1]] @m ["x"] shift = 1
  // CHECK: spmd.ring_block %arg3 @m ["x"] dim = 2, shift = 2
  // CHECK: %[[K3:.*]] = spmd.ring_shift %[[K2]] @m ["x"] shift = 1
  // CHECK: spmd.ring_block %arg3 @m ["x"] dim = 2, shift = 3
  // CHECK-NOT: spmd.ring_shift
  // CHECK: %[[OUT:.*]] = graph.div
  // CHECK-NEXT: return %[[OUT]]
  %kf = spmd.all_gather %k {gathering_axes = [[], ["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}, {}]>} : tensor<2x4x8xf32> -> tensor<2x16x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [[], ["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}, {}]>} : tensor<2x4x8xf32> -> tensor<2x16x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [0] x [0], contracting_dims = [2] x [2] : (tensor<2x4x8xf32>, tensor<2x16x8xf32>) -> tensor<2x4x16xf32>
  %c = graph.constant dense<0.25> : tensor<f32>
  %cb = graph.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<2x4x16xf32>
  %scaled = graph.mul %s, %cb : tensor<2x4x16xf32>
  %ninf = graph.constant dense<0xFF800000> : tensor<f32>
  %ninfb = graph.broadcast_in_dim %ninf, dims = [] : (tensor<f32>) -> tensor<2x4x16xf32>
  %mb = graph.broadcast_in_dim %mask, dims = [0, 1, 2] : (tensor<1x4x16xi1>) -> tensor<2x4x16xi1>
  %masked = graph.select %mb, %ninfb, %scaled : tensor<2x4x16xi1>, tensor<2x4x16xf32>
  %p = graph.softmax %masked, dim = 2 : tensor<2x4x16xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x4x16xf32>, tensor<2x16x8xf32>) -> tensor<2x4x8xf32>
  return %o : tensor<2x4x8xf32>
}

// -----

// Without a mask, keys gathered over two axes (one ring of x*y devices).
spmd.mesh @m = <["x"=2, "y"=2]>
// CHECK-LABEL: func.func @two_axes
func.func @two_axes(%q: tensor<4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK-COUNT-6: spmd.ring_shift %{{.*}} @m ["x", "y"] shift = 1 : tensor<4x8xf32>
  // CHECK-NOT: spmd.ring_shift
  // CHECK-NOT: graph.softmax
  %kf = spmd.all_gather %k {gathering_axes = [["x", "y"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<16x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [["x", "y"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<16x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %p = graph.softmax %s, dim = 1 : tensor<4x16xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// -----

// The probabilities read elsewhere (a training step keeps them for the
// backward pass): the gathers stay.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @probabilities_kept
func.func @probabilities_kept(%q: tensor<4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK: spmd.all_gather
  // CHECK: spmd.all_gather
  // CHECK: graph.softmax
  // CHECK-NOT: spmd.ring_shift
  %kf = spmd.all_gather %k {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %p = graph.softmax %s, dim = 1 : tensor<4x8xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %o, %p : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Keys gathered unevenly (10 rows over 4 devices, blocks of 3): the
// blocks' padding rows are zeroed by their layout, the key dimension of
// the bias is padded to 12 and cut per step, and the padding columns are
// masked out like masked keys.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @uneven
func.func @uneven(%q: tensor<3x8xf32>, %k: tensor<3x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}, %v: tensor<3x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}, %bias: tensor<3x10xf32>) -> tensor<3x8xf32> {
  // CHECK-NOT: spmd.all_gather
  // CHECK: %[[ISKEY:.*]] = graph.constant dense<[true, true, true, true, true, true, true, true, true, true, false, false]>
  // CHECK: %[[K:.*]] = spmd.mask_padding %arg1, 0.000000e+00 <@m, [{"x"}, {}]>, global = [10, 8]
  // CHECK: %[[V:.*]] = spmd.mask_padding %arg2, 0.000000e+00 <@m, [{"x"}, {}]>, global = [10, 8]
  // CHECK: graph.dot_general %arg0, %[[K]]
  // CHECK: %[[PADDED:.*]] = graph.pad %arg3 {{.*}} : (tensor<3x10xf32>) -> tensor<3x12xf32>
  // CHECK: spmd.ring_block %[[PADDED]] @m ["x"] dim = 1, shift = 0 : tensor<3x12xf32> -> tensor<3x3xf32>
  // CHECK: spmd.ring_block %[[ISKEY]] @m ["x"] dim = 0, shift = 0 : tensor<12xi1> -> tensor<3xi1>
  // CHECK: graph.select
  // CHECK-COUNT-3: spmd.ring_shift %{{.*}} @m ["x"] shift = 1 : tensor<3x8xf32>
  %kf = spmd.all_gather %k {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<3x8xf32> -> tensor<10x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<3x8xf32> -> tensor<10x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<3x8xf32>, tensor<10x8xf32>) -> tensor<3x10xf32>
  %b = graph.add %s, %bias : tensor<3x10xf32>
  %p = graph.softmax %b, dim = 1 : tensor<3x10xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<3x10xf32>, tensor<10x8xf32>) -> tensor<3x8xf32>
  return %o : tensor<3x8xf32>
}
