// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-propagate))' | FileCheck %s

// Megatron's MLP: the first weight split by columns, the second by rows. The
// hidden activation is split like the first weight's columns; the second
// product contracts over "y", so its result is partial over "y" (one sum
// to reduce, where the partitioner decides). The batch follows "x".
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @megatron_mlp
// CHECK-SAME: -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", ?}, {?}]>})
func.func @megatron_mlp(%x: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                        %w1: tensor<16x64xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                        %w2: tensor<64x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>}) -> tensor<8x16xf32> {
  // CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {"y", ?}]>]
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32>
  // CHECK: graph.tanh {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {"y", ?}]>]
  %g = graph.tanh %h : tensor<8x64xf32>
  // CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}], partial={"y": sum}>]
  %o = graph.dot_general %g, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x64xf32>, tensor<64x16xf32>) -> tensor<8x16xf32>
  return %o : tensor<8x16xf32>
}

// -----

// Attention heads: the width split by "y" becomes the heads dimension after
// the reshape (4 heads of 8 over y=4), then stays on heads through the
// transpose and the batched products; the softmax dimension is never split.
spmd.mesh @m = <["y"=4]>
// The other operand of the product is split like the query's heads.
// CHECK-LABEL: func.func @attention_heads
// CHECK-SAME: %arg1: tensor<2x4x8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{?}, {"y", ?}, {?}, {?}]>}
func.func @attention_heads(%q: tensor<2x16x32xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}, {"y"}]>},
                           %k: tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32> {
  // CHECK: graph.reshape {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}, {?}, {"y", ?}, {?}]>]
  %r = graph.reshape %q : (tensor<2x16x32xf32>) -> tensor<2x16x4x8xf32>
  // CHECK: graph.transpose {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}, {"y", ?}, {?}, {?}]>]
  %t = graph.transpose %r, perm = [0, 2, 1, 3] : (tensor<2x16x4x8xf32>) -> tensor<2x4x16x8xf32>
  // CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}, {"y", ?}, {?}, {?}]>]
  %s = graph.dot_general %t, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [2] : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  // CHECK: graph.softmax {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}, {"y", ?}, {?}, {?}]>]
  %p = graph.softmax %s, dim = 3 : tensor<2x4x16x16xf32>
  return %p : tensor<2x4x16x16xf32>
}

// -----

// A reshape that splits a sharded dimension: 128 split by "y"=4 into
// [2, 64] puts half of "y" on each dimension (sub-axes), and merging back
// restores the whole axis.
spmd.mesh @m = <["y"=4]>
// CHECK-LABEL: func.func @reshape_sub_axes
func.func @reshape_sub_axes(%a: tensor<128xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}]>}) -> tensor<128xf32> {
  // CHECK: graph.reshape {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"y":(1)2, ?}, {"y":(2)2, ?}]>]
  %0 = graph.reshape %a : (tensor<128xf32>) -> tensor<2x64xf32>
  // CHECK: graph.exp {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"y":(1)2, ?}, {"y":(2)2, ?}]>]
  %1 = graph.exp %0 : tensor<2x64xf32>
  // CHECK: graph.reshape {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"y", ?}]>]
  %2 = graph.reshape %1 : (tensor<2x64xf32>) -> tensor<128xf32>
  return %2 : tensor<128xf32>
}

// -----

// Priorities: p0 propagates before p1, so where both could reach, p0's
// sharding wins even though p1's shards more.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @priorities
func.func @priorities(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", ?}p0, {?}]>},
                      %b: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"y", ?}p1, {?}]>}) -> tensor<8x8xf32> {
  // CHECK: graph.add {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}p0, {?}]>]
  %0 = graph.add %a, %b : tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}

// -----

// Without priorities the most sharded proposal wins.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @most_sharded
func.func @most_sharded(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", ?}, {?}]>},
                        %b: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"y", ?}, {?}]>}) -> tensor<8x8xf32> {
  // CHECK: graph.add {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"y", ?}, {?}]>]
  %0 = graph.add %a, %b : tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}

// -----

// A conflict between closed shardings is not resolved by dropping one: both
// operands keep theirs (the partitioner reshards), the result takes one.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @conflict
// CHECK-SAME: %arg0: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}
// CHECK-SAME: %arg1: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}
func.func @conflict(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                    %b: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}) -> tensor<8x8xf32> {
  // CHECK: graph.add {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}]>]
  %0 = graph.add %a, %b : tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}

// -----

// Explicitly replicated axes are not used; need-replication dimensions
// (softmax's) are not split; a sharding constraint acts like an annotation.
spmd.mesh @m = <["x"=2, "y"=4]>
// The argument receives "x" backwards through the constraint; "y" stays out.
// CHECK-LABEL: func.func @replicated_and_constraints
// CHECK-SAME: %arg0: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", ?}, {?}], replicated={"y"}>}
func.func @replicated_and_constraints(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{?}, {?}], replicated={"y"}>}) -> tensor<8x8xf32> {
  // CHECK: spmd.sharding_constraint %arg0 <@m, [{"x"}, {?}]>
  %0 = spmd.sharding_constraint %a <@m, [{"x"}, {?}]> : tensor<8x8xf32>
  // CHECK: graph.softmax {{.*}}spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}]>]
  %1 = graph.softmax %0, dim = 1 : tensor<8x8xf32>
  return %1 : tensor<8x8xf32>
}

// -----

// Partial results take the op's reduction: max for a max over a sharded
// dimension, none for a product, which cannot be combined across devices
// and so keeps the reduced dimension whole. Where operands disagree on a
// contracting dimension, only the axes they share are partial.
spmd.mesh @m = <["x"=2, "y"=2]>
// CHECK-LABEL: func.func @partial_reductions
func.func @partial_reductions(%a: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>},
                              %b: tensor<4x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x", "y"}]>},
                              %c: tensor<8x6xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>})
    -> (tensor<4xf32>, tensor<4xf32>, tensor<4x6xf32>) {
  // CHECK: graph.reduce max {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}], partial={"x": max}>]
  %max = graph.reduce max %a, dims = [1] : (tensor<4x8xf32>) -> tensor<4xf32>
  // CHECK: graph.reduce prod {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}]>]
  %prod = graph.reduce prod %a, dims = [1] : (tensor<4x8xf32>) -> tensor<4xf32>
  // CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{?}, {?}], partial={"x": sum}>]
  %dot = graph.dot_general %b, %c, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x6xf32>
  return %max, %prod, %dot : tensor<4xf32>, tensor<4xf32>, tensor<4x6xf32>
}

// -----

// A tensor never takes an axis twice: %e already has "y" on its first
// dimension (from %b) when the product's result asks for "y" on its second.
// CHECK-LABEL: func @no_axis_twice
// CHECK: graph.exp %{{.*}} {spmd.shardings = [#spmd.sharding<@m, [{"y", ?}, {?}]>]}
spmd.mesh @m = <["y"=3]>
func.func @no_axis_twice(%a: tensor<4x12xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                         %b: tensor<12x6xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>})
    -> (tensor<4x6xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>}) {
  %e = graph.exp %b : tensor<12x6xf32>
  %p = graph.dot_general %a, %e, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x12xf32>, tensor<12x6xf32>) -> tensor<4x6xf32>
  return %p : tensor<4x6xf32>
}

// -----

// An uneven split passes through ops whose dimension is one factor (10 in 3
// parts is padded), but not into a dimension a reshape merges it into.
// CHECK-LABEL: func @uneven
// CHECK: graph.neg %{{.*}} {spmd.shardings = [#spmd.sharding<@m, [{"x", ?}, {?}]>]}
// CHECK: graph.reshape %{{.*}} {spmd.shardings = [#spmd.sharding<@m, [{?}]>]}
spmd.mesh @m = <["x"=3]>
func.func @uneven(%a: tensor<10x4xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> tensor<40xf32> {
  %n = graph.neg %a : tensor<10x4xf32>
  %r = graph.reshape %n : (tensor<10x4xf32>) -> tensor<40xf32>
  return %r : tensor<40xf32>
}
