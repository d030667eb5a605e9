// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-ring-attention))' | FileCheck %s
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-ring-attention{balance-causal=false}))' | FileCheck %s --check-prefix=UNBALANCED

// A causal attention whose mask is made of iotas (key position > query
// position, the queries this device's rows: all_slice), 16 positions over
// x=4 in blocks of 4: balanced (zigzag). Half blocks of the queries, keys
// and values move into the zigzag order (device c: chunks c and 7-c), the
// diagonal step is masked by local iotas, the three later steps score two
// unmasked quarter blocks each, chosen per device by a flag
// (spmd.ring_block of a table), and the output's halves move back.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @iota_mask
// UNBALANCED-LABEL: func.func @iota_mask
func.func @iota_mask(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  // CHECK-NOT: spmd.all_gather
  // CHECK: graph.constant dense<[true, false, true, false]> : tensor<4xi1>
  // CHECK: spmd.ring_block %{{.*}} @m ["x"] dim = 0, shift = 0 : tensor<4xi1> -> tensor<1xi1>
  // CHECK: %[[Q0:.*]] = graph.slice %arg0 [0:2, 0:2, 0:8]
  // CHECK: spmd.ring_permute %[[Q0]] @m ["x"] targets = [0, 2, 3, 1] : tensor<2x2x8xf32>
  // CHECK: spmd.ring_permute %{{.*}} @m ["x"] targets = [1, 3, 2, 0] : tensor<2x2x8xf32>
  // The diagonal: chunk c's queries against chunk c, chunk 7-c's against
  // both, under masks of local positions.
  // CHECK: graph.dot_general {{.*}} -> tensor<2x2x2xf32>
  // CHECK: graph.iota dim = 1 : tensor<2x2xi64>
  // CHECK: graph.dot_general {{.*}} -> tensor<2x2x4xf32>
  // CHECK: graph.iota dim = 1 : tensor<2x4xi64>
  // Later steps: no mask, quarter blocks.
  // CHECK: spmd.ring_shift %{{.*}} @m ["x"] shift = 1 : tensor<2x4x8xf32>
  // CHECK: spmd.ring_shift %{{.*}} @m ["x"] shift = 1 : tensor<2x4x8xf32>
  // CHECK-NOT: graph.iota
  // CHECK: spmd.ring_block %{{.*}} @m ["x"] dim = 0, shift = 1 : tensor<4xi1> -> tensor<1xi1>
  // CHECK: spmd.ring_shift
  // CHECK: spmd.ring_shift
  // CHECK: spmd.ring_block %{{.*}} @m ["x"] dim = 0, shift = 2
  // CHECK: spmd.ring_shift
  // CHECK: spmd.ring_shift
  // CHECK: spmd.ring_block %{{.*}} @m ["x"] dim = 0, shift = 3
  // CHECK-NOT: spmd.ring_shift
  // The output back: the even chunks to their homes, the odd ones.
  // CHECK: spmd.ring_permute %{{.*}} @m ["x"] targets = [0, 3, 1, 2] : tensor<2x2x8xf32>
  // CHECK: spmd.ring_permute %{{.*}} @m ["x"] targets = [3, 0, 2, 1] : tensor<2x2x8xf32>
  // CHECK: %[[OUT:.*]] = graph.concatenate {{.*}} dim = 1 : (tensor<2x2x8xf32>, tensor<2x2x8xf32>) -> tensor<2x4x8xf32>
  // CHECK-NEXT: return %[[OUT]]
  // UNBALANCED-NOT: spmd.ring_permute
  // UNBALANCED: spmd.ring_block %{{.*}} @m ["x"] dim = 1, shift = 0 : tensor<4x16xi1> -> tensor<4x4xi1>
  // UNBALANCED-COUNT-6: spmd.ring_shift
  // UNBALANCED-NOT: spmd.ring_permute
  %kf = spmd.all_gather %k {gathering_axes = [[], ["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}, {}]>} : tensor<2x4x8xf32> -> tensor<2x16x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [[], ["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}, {}]>} : tensor<2x4x8xf32> -> tensor<2x16x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [0] x [0], contracting_dims = [2] x [2] {spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}, {}]>]} : (tensor<2x4x8xf32>, tensor<2x16x8xf32>) -> tensor<2x4x16xf32>
  %c = graph.constant dense<0.25> : tensor<f32>
  %cb = graph.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<2x4x16xf32>
  %scaled = graph.mul %s, %cb : tensor<2x4x16xf32>
  %rows = graph.iota dim = 0 : tensor<16x16xi64>
  %cols = graph.iota dim = 1 : tensor<16x16xi64>
  %future = graph.compare gt, %cols, %rows : tensor<16x16xi64>
  %mine = spmd.all_slice %future {out_sharding = #spmd.sharding<@m, [{"x"}, {}]>, slicing_axes = [["x"], []]} : tensor<16x16xi1> -> tensor<4x16xi1>
  %mb = graph.broadcast_in_dim %mine, dims = [1, 2] : (tensor<4x16xi1>) -> tensor<2x4x16xi1>
  %ninf = graph.constant dense<0xFF800000> : tensor<f32>
  %ninfb = graph.broadcast_in_dim %ninf, dims = [] : (tensor<f32>) -> tensor<2x4x16xf32>
  %masked = graph.select %mb, %ninfb, %scaled : tensor<2x4x16xi1>, tensor<2x4x16xf32>
  %p = graph.softmax %masked, dim = 2 : tensor<2x4x16xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x4x16xf32>, tensor<2x16x8xf32>) -> tensor<2x4x8xf32>
  return %o : tensor<2x4x8xf32>
}

// -----

// The mask a parameter whose value the import recorded (lower triangle:
// graph.diagonal_band), as torch keeps it, made additive (0 kept, -1e9
// masked), over 2 devices: balanced. On 2 devices the even chunks stay
// where they are (no permute for them).
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @band_parameter
func.func @band_parameter(%q: tensor<4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>, %tril: tensor<8x8xf32> {graph.diagonal_band = array<i64: -7, 0>, graph.parameter}) -> tensor<4x8xf32> {
  // CHECK-NOT: spmd.all_gather
  // CHECK-COUNT-3: spmd.ring_permute %{{.*}} @m ["x"] targets = [1, 0] : tensor<2x8xf32>
  // CHECK-NOT: spmd.ring_block %arg3
  // CHECK-COUNT-2: spmd.ring_shift
  // CHECK: spmd.ring_permute %{{.*}} @m ["x"] targets = [1, 0] : tensor<2x8xf32>
  // CHECK-NOT: spmd.ring_permute
  // CHECK: graph.concatenate
  %kf = spmd.all_gather %k {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [] x [], contracting_dims = [1] x [1] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %one = graph.constant dense<1.0> : tensor<8x8xf32>
  %big = graph.constant dense<1.0e9> : tensor<8x8xf32>
  %off = graph.sub %tril, %one : tensor<8x8xf32>
  %bias = graph.mul %off, %big : tensor<8x8xf32>
  %mine = spmd.all_slice %bias {out_sharding = #spmd.sharding<@m, [{"x"}, {}]>, slicing_axes = [["x"], []]} : tensor<8x8xf32> -> tensor<4x8xf32>
  %b = graph.add %s, %mine : tensor<4x8xf32>
  %p = graph.softmax %b, dim = 1 : tensor<4x8xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// -----

// Not causal (the diagonal itself masked too: key >= query): every device
// scores every block under the mask, as unbalanced.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @not_causal
func.func @not_causal(%q: tensor<4x8xf32>, %k: tensor<4x8xf32>, %v: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK-NOT: spmd.ring_permute
  // CHECK: spmd.ring_block %{{.*}} @m ["x"] dim = 1, shift = 0 : tensor<4x8xi1> -> tensor<4x4xi1>
  // CHECK-NOT: spmd.ring_permute
  %kf = spmd.all_gather %k {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %vf = spmd.all_gather %v {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %s = graph.dot_general %q, %kf, batching_dims = [] x [], contracting_dims = [1] x [1] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %rows = graph.iota dim = 0 : tensor<8x8xi64>
  %cols = graph.iota dim = 1 : tensor<8x8xi64>
  %future = graph.compare ge, %cols, %rows : tensor<8x8xi64>
  %mine = spmd.all_slice %future {out_sharding = #spmd.sharding<@m, [{"x"}, {}]>, slicing_axes = [["x"], []]} : tensor<8x8xi1> -> tensor<4x8xi1>
  %ninf = graph.constant dense<0xFF800000> : tensor<4x8xf32>
  %masked = graph.select %mine, %ninf, %s : tensor<4x8xi1>, tensor<4x8xf32>
  %p = graph.softmax %masked, dim = 1 : tensor<4x8xf32>
  %o = graph.dot_general %p, %vf, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}
