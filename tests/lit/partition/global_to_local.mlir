// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-global-to-local))' | FileCheck %s

// Megatron's MLP with its collective: every type becomes one device's part;
// the all_reduce keeps its shape, a slice's limit on a split dimension
// becomes the local size, and gathers grow their local operand.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @megatron_mlp
// CHECK-SAME: (%arg0: tensor<4x16xf32> {{.*}}, %arg1: tensor<16x16xf32> {{.*}}, %arg2: tensor<16x16xf32> {{.*}}) -> (tensor<4x16xf32>
func.func @megatron_mlp(%x: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                        %w1: tensor<16x64xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                        %w2: tensor<64x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>})
    -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) {
  // CHECK-NEXT: graph.dot_general {{.*}} : (tensor<4x16xf32>, tensor<16x16xf32>) -> tensor<4x16xf32>
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {"y"}]>]} : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32>
  // CHECK-NEXT: graph.tanh {{.*}} : tensor<4x16xf32>
  %g = graph.tanh %h {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {"y"}]>]} : tensor<8x64xf32>
  // CHECK-NEXT: graph.dot_general {{.*}} : (tensor<4x16xf32>, tensor<16x16xf32>) -> tensor<4x16xf32>
  %o = graph.dot_general %g, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}], partial={"y": sum}>]} : (tensor<8x64xf32>, tensor<64x16xf32>) -> tensor<8x16xf32>
  // CHECK-NEXT: spmd.all_reduce {{.*}} : tensor<4x16xf32>
  %r = spmd.all_reduce %o {reduction_axes = ["y"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @gather_then_slice
func.func @gather_then_slice(%a: tensor<8x192xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>}) -> tensor<8x64xf32> {
  // CHECK-NEXT: %[[G:.*]] = spmd.all_gather %arg0 {{.*}} : tensor<4x48xf32> -> tensor<4x192xf32>
  %g = spmd.all_gather %a {gathering_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x192xf32>
  // CHECK-NEXT: %[[S:.*]] = graph.slice %[[G]] [0:4, 64:128] {{.*}} : (tensor<4x192xf32>) -> tensor<4x64xf32>
  %s = graph.slice %g [0:8, 64:128] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : (tensor<8x192xf32>) -> tensor<8x64xf32>
  // CHECK-NEXT: spmd.all_slice %[[S]] {{.*}} : tensor<4x64xf32> -> tensor<4x16xf32>
  %t = spmd.all_slice %s {slicing_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>} : tensor<8x64xf32>
  // A splat constant split like its user is a smaller splat.
  // CHECK-NEXT: graph.constant {{.*}}dense<1.000000e+00> : tensor<4x16xf32>
  %c = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {"y"}]>]} dense<1.0> : tensor<8x64xf32>
  %u = graph.add %t, %c {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {"y"}]>]} : tensor<8x64xf32>
  return %u : tensor<8x64xf32>
}

// -----

// Nothing split: nothing changes.
// CHECK-LABEL: func.func @unsharded
// CHECK-NEXT: graph.exp %arg0 : tensor<4xf32>
func.func @unsharded(%a: tensor<4xf32>) -> tensor<4xf32> {
  %e = graph.exp %a : tensor<4xf32>
  return %e : tensor<4xf32>
}

// -----

// Uneven splits are padded: 10 in 3 parts is 4 per device (4+4+2). The
// padding is masked with the identity before a reduction over it (0 for a
// sum, -inf for a max) and before a contraction over it; arguments arrive
// with zero padding, so a sum of one needs no mask. Global shapes of
// arguments and results are recorded for whoever places the parts.
spmd.mesh @m = <["x"=3]>
// CHECK-LABEL: func.func @uneven
// CHECK-SAME: (%arg0: tensor<4x4xf32> {spmd.global_shape = array<i64: 10, 4>
// CHECK-SAME: %arg1: tensor<4x2xf32> {spmd.global_shape = array<i64: 10, 2>
// CHECK-SAME: -> (tensor<4xf32> {spmd.global_shape = array<i64: 4>}, tensor<4xf32> {spmd.global_shape = array<i64: 4>}, tensor<4x2xf32> {spmd.global_shape = array<i64: 4, 2>}, tensor<4xf32> {spmd.global_shape = array<i64: 4>})
func.func @uneven(%a: tensor<10x4xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                  %b: tensor<10x2xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>})
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4x2xf32>, tensor<4xf32>) {
  // CHECK-NEXT: %[[E:.*]] = graph.exp %arg0 {{.*}} : tensor<4x4xf32>
  %e = graph.exp %a {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<10x4xf32>
  // CHECK-NEXT: %[[M:.*]] = spmd.mask_padding %[[E]], 0.000000e+00 <@m, [{"x"}, {}]>, global = [10, 4] : tensor<4x4xf32>
  // CHECK-NEXT: graph.reduce sum %[[M]], dims = [0] {{.*}} : (tensor<4x4xf32>) -> tensor<4xf32>
  %s = graph.reduce sum %e, dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]} : (tensor<10x4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %[[X:.*]] = spmd.mask_padding %[[E]], 0xFFF0000000000000 <@m, [{"x"}, {}]>, global = [10, 4] : tensor<4x4xf32>
  // CHECK-NEXT: graph.reduce max %[[X]]
  %x = graph.reduce max %e, dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": max}>]} : (tensor<10x4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %[[L:.*]] = spmd.mask_padding %[[E]], 0.000000e+00
  // CHECK-NEXT: graph.dot_general %[[L]], %arg1, {{.*}} : (tensor<4x4xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
  %d = graph.dot_general %e, %b, batching_dims = [] x [], contracting_dims = [0] x [0] {spmd.shardings = [#spmd.sharding<@m, [{}, {}], partial={"x": sum}>]} : (tensor<10x4xf32>, tensor<10x2xf32>) -> tensor<4x2xf32>
  // CHECK-NEXT: graph.reduce sum %arg0, dims = [0]
  %t = graph.reduce sum %a, dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]} : (tensor<10x4xf32>) -> tensor<4xf32>
  return %s, %x, %d, %t : tensor<4xf32>, tensor<4xf32>, tensor<4x2xf32>, tensor<4xf32>
}

// -----

// A gather's padded indices are masked with 0 (padding may hold any index).
spmd.mesh @m = <["x"=3]>
// CHECK-LABEL: func.func @uneven_indices
func.func @uneven_indices(%table: tensor<8x4xf32>, %ids: tensor<5xi64> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<5x4xf32> {
  // CHECK: %[[I:.*]] = graph.add
  %one = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} dense<1> : tensor<5xi64>
  %i = graph.add %ids, %one {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<5xi64>
  // CHECK-NEXT: %[[M:.*]] = spmd.mask_padding %[[I]], 0.000000e+00 <@m, [{"x"}]>, global = [5] : tensor<2xi64>
  // CHECK-NEXT: graph.gather %arg0[%[[M]]]
  %g = graph.gather %table[%i] axis = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : (tensor<8x4xf32>, tensor<5xi64>) -> tensor<5x4xf32>
  return %g : tensor<5x4xf32>
}

// -----

// A window over a split spatial dimension: the input takes its halo from
// the neighbours (one row each side for a 3x3 window padded by 1), and the
// op keeps no padding there. A max pool's halo past the ends is -inf; over
// an uneven split (8 in 3 parts of 3) its input's padding is masked first,
// so that the halo the last part sends or keeps is -inf too.
spmd.mesh @m = <["x"=2, "y"=3]>
// CHECK-LABEL: func.func @halos
func.func @halos(%a: tensor<1x4x8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}, {"x"}, {}]>},
                 %k: tensor<6x4x3x3xf32>,
                 %b: tensor<1x2x8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}, {}, {"y"}]>})
    -> (tensor<1x6x8x8xf32>, tensor<1x2x8x8xf32>) {
  // CHECK-NEXT: %[[H:.*]] = spmd.halo_exchange %arg0 @m ["x"] dim = 2, low = 1, high = 1, padding = 0.000000e+00 : tensor<1x4x4x8xf32> -> tensor<1x4x6x8xf32>
  // CHECK-NEXT: graph.convolution %[[H]], %arg1 {{{.*}}padding_high = array<i64: 0, 1>, padding_low = array<i64: 0, 1>{{.*}}} : (tensor<1x4x6x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x4x8xf32>
  %c = graph.convolution %a, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1, spmd.shardings = [#spmd.sharding<@m, [{}, {}, {"x"}, {}]>]} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32>
  // CHECK-NEXT: %[[M:.*]] = spmd.mask_padding %arg2, 0xFFF0000000000000 <@m, [{}, {}, {}, {"y"}]>, global = [1, 2, 8, 8] : tensor<1x2x8x3xf32>
  // CHECK-NEXT: %[[P:.*]] = spmd.halo_exchange %[[M]] @m ["y"] dim = 3, low = 1, high = 1, padding = 0xFFF0000000000000 : tensor<1x2x8x3xf32> -> tensor<1x2x8x5xf32>
  // CHECK-NEXT: graph.max_pool %[[P]] {{.*}} : (tensor<1x2x8x5xf32>) -> tensor<1x2x8x3xf32>
  %p = graph.max_pool %b {window_dimensions = array<i64: 1, 3>, window_strides = array<i64: 1, 1>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 0, 1>, padding_high = array<i64: 0, 1>, spmd.shardings = [#spmd.sharding<@m, [{}, {}, {}, {"y"}]>]} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %c, %p : tensor<1x6x8x8xf32>, tensor<1x2x8x8xf32>
}

// -----

// A table split along its rows (vocabulary-parallel embedding): each
// device shifts the indices by where its rows start (its part_index times
// 3 rows: 10 in 4 parts is 3+3+3+1), picks the rows it holds, and zeros
// for the others; the result is the partial sum the all_reduce completes.
// Negative indices count from the end of the whole table first.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @split_table
func.func @split_table(%t: tensor<10x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                       %i: tensor<2x5xi64>) -> tensor<2x5x8xf32> {
  // CHECK-DAG: %[[NONE:.*]] = graph.constant dense<0> : tensor<2x5xi64>
  // CHECK-DAG: %[[ROWS:.*]] = graph.constant dense<10> : tensor<2x5xi64>
  // CHECK-DAG: %[[UP:.*]] = graph.add %arg1, %[[ROWS]]
  // CHECK-DAG: %[[NEG:.*]] = graph.compare lt, %arg1, %[[NONE]]
  // CHECK: %[[WRAPPED:.*]] = graph.select %[[NEG]], %[[UP]], %arg1
  // CHECK-NEXT: %[[ZERO:.*]] = graph.constant dense<0> : tensor<2x5xi64>
  // CHECK-NEXT: %[[PART:.*]] = spmd.part_index <@m, [{"x"}, {}]> dim = 0 : tensor<i64>
  // CHECK-NEXT: %[[SIZE:.*]] = graph.constant dense<3> : tensor<i64>
  // CHECK-NEXT: %[[START:.*]] = graph.mul %[[PART]], %[[SIZE]]
  // CHECK-NEXT: %[[STARTS:.*]] = graph.broadcast_in_dim %[[START]], dims = [] : (tensor<i64>) -> tensor<2x5xi64>
  // CHECK-NEXT: %[[SHIFTED:.*]] = graph.sub %[[WRAPPED]], %[[STARTS]]
  // CHECK-DAG: %[[LOCAL:.*]] = graph.constant dense<3> : tensor<2x5xi64>
  // CHECK-DAG: %[[BELOW:.*]] = graph.compare lt, %[[SHIFTED]], %[[LOCAL]]
  // CHECK-DAG: %[[ABOVE:.*]] = graph.compare ge, %[[SHIFTED]], %[[ZERO]]
  // CHECK: %[[MINE:.*]] = graph.and %[[ABOVE]], %[[BELOW]]
  // CHECK-NEXT: %[[SAFE:.*]] = graph.select %[[MINE]], %[[SHIFTED]], %[[ZERO]]
  // CHECK-NEXT: %[[G:.*]] = graph.gather %arg0[%[[SAFE]]] axis = 0 {{.*}} : (tensor<3x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32>
  // CHECK-NEXT: %[[MASK:.*]] = graph.broadcast_in_dim %[[MINE]], dims = [0, 1] {{.*}} -> tensor<2x5x8xi1>
  // CHECK-NEXT: %[[ZEROS:.*]] = graph.constant {{.*}}dense<0.000000e+00> : tensor<2x5x8xf32>
  // CHECK-NEXT: %[[PICKED:.*]] = graph.select %[[MASK]], %[[G]], %[[ZEROS]] {spmd.shardings = [#spmd.sharding<@m, [{}, {}, {}], partial={"x": sum}>]}
  // CHECK-NEXT: spmd.all_reduce %[[PICKED]]
  %g = graph.gather %t[%i] axis = 0 {spmd.shardings = [#spmd.sharding<@m, [{}, {}, {}], partial={"x": sum}>]} : (tensor<10x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32>
  %r = spmd.all_reduce %g {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}, {}]>} : tensor<2x5x8xf32>
  return %r : tensor<2x5x8xf32>
}

// -----

// An iota counting along a split dimension adds where each part starts.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @split_iota
func.func @split_iota() -> (tensor<8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) {
  // CHECK-NEXT: %[[I:.*]] = graph.iota dim = 0 {{.*}} : tensor<4xf32>
  // CHECK-NEXT: %[[PART:.*]] = spmd.part_index <@m, [{"x"}]> dim = 0 : tensor<i64>
  // CHECK-NEXT: %[[P:.*]] = graph.convert %[[PART]] : (tensor<i64>) -> tensor<f32>
  // CHECK-NEXT: %[[SIZE:.*]] = graph.constant dense<4.000000e+00> : tensor<f32>
  // CHECK-NEXT: %[[START:.*]] = graph.mul %[[P]], %[[SIZE]] : tensor<f32>
  // CHECK-NEXT: %[[STARTS:.*]] = graph.broadcast_in_dim %[[START]]{{.*}} -> tensor<4xf32>
  // CHECK-NEXT: graph.add %[[I]], %[[STARTS]] {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<4xf32>
  %i = graph.iota dim = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<8xf32>
  return %i : tensor<8xf32>
}
