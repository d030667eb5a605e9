// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(spmd-populate-rules))' | FileCheck %s

// One rule per graph op.
// CHECK-LABEL: func.func @rules
func.func @rules(%a: tensor<4x8xf32>, %b: tensor<8x6xf32>, %v: tensor<8xf32>, %i: tensor<3xi64>,
                 %img: tensor<2x4x9x9xf32>, %k: tensor<6x4x3x3xf32>, %c: tensor<4xf32>, %p: tensor<4x8xi1>,
                 %pool: tensor<2x4x8x8xf32>) {
  // CHECK: graph.add {{.*}}#spmd.rule<([i, j], [i, j])->([i, j]) {i=4, j=8}>
  %0 = graph.add %a, %a : tensor<4x8xf32>
  // TopK: the selected dimension stays whole, in and out.
  // CHECK: graph.top_k {{.*}}#spmd.rule<([i, j])->([i, k], [i, k]) {i=4, j=8, k=3}, need_replication={j, k}>
  %tk:2 = graph.top_k %a, k = 3, dim = 1 : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  // CHECK: graph.select {{.*}}#spmd.rule<([i, j], [i, j], [i, j])->([i, j]) {i=4, j=8}>
  %s = graph.select %p, %a, %a : tensor<4x8xi1>, tensor<4x8xf32>
  // CHECK: graph.compare {{.*}}#spmd.rule<([i, j], [i, j])->([i, j]) {i=4, j=8}>
  %cm = graph.compare lt, %a, %a : tensor<4x8xf32>
  // CHECK: graph.convert {{.*}}#spmd.rule<([i, j])->([i, j]) {i=4, j=8}>
  %cv = graph.convert %a : (tensor<4x8xf32>) -> tensor<4x8xf16>
  // CHECK: graph.clamp {{.*}}#spmd.rule<([i, j])->([i, j]) {i=4, j=8}>
  %cl = graph.clamp %a {min = 0.0} : tensor<4x8xf32>
  // CHECK: graph.constant {{.*}}#spmd.rule<()->([i, j]) {i=4, j=8}>
  %cst = graph.constant dense<1.0> : tensor<4x8xf32>
  // CHECK: graph.iota {{.*}}#spmd.rule<()->([i]) {i=8}>
  %io = graph.iota dim = 0 : tensor<8xi64>
  // Broadcast: the new dimension has a factor only on the result.
  // CHECK: graph.broadcast_in_dim {{.*}}#spmd.rule<([j])->([i, j]) {i=4, j=8}>
  %1 = graph.broadcast_in_dim %v, dims = [1] : (tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: graph.transpose {{.*}}#spmd.rule<([j, i])->([i, j]) {i=8, j=4}>
  %2 = graph.transpose %a, perm = [1, 0] : (tensor<4x8xf32>) -> tensor<8x4xf32>
  // Reshapes merge and split factors.
  // CHECK: graph.reshape {{.*}}#spmd.rule<([i, j])->([ij]) {i=4, j=8}>
  %3 = graph.reshape %a : (tensor<4x8xf32>) -> tensor<32xf32>
  // CHECK: graph.reshape {{.*}}#spmd.rule<([i, jk])->([ij, k]) {i=4, j=2, k=4}>
  %4 = graph.reshape %a : (tensor<4x8xf32>) -> tensor<8x4xf32>
  // Sliced dimensions cannot carry a sharding through.
  // CHECK: graph.slice {{.*}}#spmd.rule<([i, j])->([i, k]) {i=4, j=8, k=3}, need_replication={j, k}>
  %5 = graph.slice %a [0:4, 2:5] : (tensor<4x8xf32>) -> tensor<4x3xf32>
  // CHECK: graph.pad {{.*}}need_replication=
  %6 = graph.pad %a {edge_padding_low = array<i64: 0, 1>, edge_padding_high = array<i64: 0, 0>, interior_padding = array<i64: 0, 0>} : (tensor<4x8xf32>) -> tensor<4x9xf32>
  // CHECK: graph.concatenate {{.*}}#spmd.rule<([i, j], [i, k])->([i, l]) {i=4, j=8, k=8, l=16}, need_replication={j, k, l}>
  %7 = graph.concatenate %a, %a dim = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>
  // CHECK: graph.reverse {{.*}}#spmd.rule<([i, j])->([i, j]) {i=4, j=8}, permutation={j}>
  %8 = graph.reverse %a, dims = [1] : tensor<4x8xf32>
  // A float table's gathered axis is a reduction (each device picks the
  // rows it holds); an integer table's stays whole.
  // CHECK: graph.gather {{.*}}#spmd.rule<([i, j], [k])->([i, k]) {i=4, j=8, k=3}, reduction={j}>
  %9 = graph.gather %a[%i] axis = 1 : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<4x3xf32>
  // CHECK: graph.dot_general {{.*}}#spmd.rule<([i, k], [k, j])->([i, j]) {i=4, j=6, k=8}, reduction={k}>
  %10 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x6xf32>
  // CHECK: graph.reduce {{.*}}#spmd.rule<([i, j])->([i]) {i=4, j=8}, reduction={j}>
  %11 = graph.reduce sum %a, dims = [1] : (tensor<4x8xf32>) -> tensor<4xf32>
  // A product cannot be combined from partial results: the reduced dimension
  // must stay whole.
  // CHECK: graph.reduce prod {{.*}}#spmd.rule<([i, j])->([i]) {i=4, j=8}, need_replication={j}>
  %prod = graph.reduce prod %a, dims = [1] : (tensor<4x8xf32>) -> tensor<4xf32>
  // CHECK: graph.softmax {{.*}}#spmd.rule<([i, j])->([i, j]) {i=4, j=8}, need_replication={j}>
  %12 = graph.softmax %a, dim = 1 : tensor<4x8xf32>
  // CHECK: graph.layer_norm {{.*}}#spmd.rule<([i, j], [j], [j])->([i, j]) {i=4, j=8}, need_replication={j}>
  %13 = graph.layer_norm %a, %v, %v {axis = 1, epsilon = 1.0e-5 : f64} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: graph.batch_norm_inference {{.*}}#spmd.rule<([i, j, k, l], [j], [j], [j], [j])->([i, j, k, l]) {i=2, j=4, k=9, l=9}>
  %14 = graph.batch_norm_inference %img, %c, %c, %c, %c {epsilon = 1.0e-3 : f64, feature_index = 1} : (tensor<2x4x9x9xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x9x9xf32>
  // Convolution: batch and output features pass through, input features are
  // summed, spatial dimensions need halos.
  // CHECK: graph.convolution {{.*}}#spmd.rule<([i, k, l, o], [j, k, n, q])->([i, j, m, p]) {i=2, j=6, k=4, l=9, m=7, n=3, o=9, p=7, q=3}, reduction={k}, need_replication={l, m, n, o, p, q}>
  %15 = graph.convolution %img, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<2x4x9x9xf32>, tensor<6x4x3x3xf32>) -> tensor<2x6x7x7xf32>
  // CHECK: graph.max_pool {{.*}}#spmd.rule<([i, j, k, m])->([i, j, l, n]) {i=2, j=4, k=9, l=4, m=9, n=4}, need_replication={k, l, m, n}>
  %16 = graph.max_pool %img {window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 2>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>} : (tensor<2x4x9x9xf32>) -> tensor<2x4x4x4xf32>
  // CHECK: graph.resize {{.*}}#spmd.rule<([i, j, k, m])->([i, j, l, n]) {i=2, j=4, k=9, l=18, m=9, n=18}, need_replication={k, l, m, n}>
  %17 = graph.resize nearest %img, transform = asymmetric, scales = [1.0, 1.0, 2.0, 2.0] : (tensor<2x4x9x9xf32>) -> tensor<2x4x18x18xf32>
  // Windows whose input is stride times their output can split it with
  // halos: one factor of the output's size on both sides (the input's
  // minor factor of the stride stays whole); the kernel's window stays
  // whole.
  // CHECK: graph.convolution {{.*}}#spmd.rule<([i, k, l, n], [j, k, m, o])->([i, j, l, n]) {i=2, j=6, k=4, l=9, m=3, n=9, o=3}, reduction={k}, need_replication={m, o}>
  %18 = graph.convolution %img, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<2x4x9x9xf32>, tensor<6x4x3x3xf32>) -> tensor<2x6x9x9xf32>
  // CHECK: graph.max_pool {{.*}}#spmd.rule<([i, j, kl, mn])->([i, j, k, m]) {i=2, j=4, k=4, l=2, m=4, n=2}, need_replication={l, n}>
  %19 = graph.max_pool %pool {window_dimensions = array<i64: 3, 3>, window_strides = array<i64: 2, 2>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 0, 0>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  return
}

// A rule an op carries replaces its own.
// CHECK-LABEL: func.func @custom
func.func @custom(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: graph.exp %arg0 {spmd.sharding_rule = #spmd.rule<([i, j])->([i, j]) {i=4, j=8}, need_replication={j}>}
  %0 = graph.exp %a {spmd.sharding_rule = #spmd.rule<([i, j])->([i, j]) {i=4, j=8}, need_replication={j}>} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
