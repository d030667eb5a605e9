// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(spmd-reshard-to-collectives))' | FileCheck %s

spmd.mesh @m = <["x"=2, "y"=4, "z"=2]>

// A sharded dimension becomes replicated: all_gather.
// CHECK-LABEL: func.func @gather
func.func @gather(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[G:.*]] = spmd.all_gather %arg0 {gathering_axes = {{\[}}[], ["y"]], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>}
  // CHECK-NEXT: return %[[G]]
  %0 = spmd.reshard %a <@m, [{"x"}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// Replicated to sharded: a local all_slice; the source has no sharding, so
// it is replicated.
// CHECK-LABEL: func.func @slice
func.func @slice(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[S:.*]] = spmd.all_slice %arg0 {out_sharding = #spmd.sharding<@m, [{"x", "z"}, {"y"}]>, slicing_axes = {{\[}}["x", "z"], ["y"]]}
  // CHECK-NEXT: return %[[S]]
  %0 = spmd.reshard %a <@m, [{"x", "z"}, {"y"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// An axis moves between dimensions: all_to_all.
// CHECK-LABEL: func.func @move
func.func @move(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", "y"}, {}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[M:.*]] = spmd.all_to_all %arg0 {axes = ["y"], out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>, src_dim = 0 : i64, tgt_dim = 1 : i64}
  // CHECK-NEXT: return %[[M]]
  %0 = spmd.reshard %a <@m, [{"x"}, {"y"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// Partial to replicated, and partial to sharded: all_reduce (then the
// slice, which the canonicalizer will fold into a reduce_scatter).
// CHECK-LABEL: func.func @partial
func.func @partial(%a: tensor<8x16xf32>, %b: tensor<16x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %p = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}], partial={"y": sum}>]} : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  // CHECK: %[[R:.*]] = spmd.all_reduce %{{.*}} {out_sharding = #spmd.sharding<@m, [{"x"}, {}]>, reduction = "sum", reduction_axes = ["y"]}
  %0 = spmd.reshard %p <@m, [{"x"}, {}]> : tensor<8x4xf32>
  // CHECK: %[[R2:.*]] = spmd.all_reduce
  // CHECK-NEXT: spmd.all_slice %[[R2]] {out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>, slicing_axes = {{\[}}[], ["y"]]}
  %1 = spmd.reshard %p <@m, [{"x"}, {"y"}]> : tensor<8x4xf32>
  return %0, %1 : tensor<8x4xf32>, tensor<8x4xf32>
}

// The same number of parts per dimension in another order: devices swap
// whole parts.
// CHECK-LABEL: func.func @permute
func.func @permute(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", "z"}, {}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[P:.*]] = spmd.collective_permute %arg0 {in_sharding = #spmd.sharding<@m, [{"x", "z"}, {}]>, out_sharding = #spmd.sharding<@m, [{"z", "x"}, {}]>}
  // CHECK-NEXT: return %[[P]]
  %0 = spmd.reshard %a <@m, [{"z", "x"}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// Axes of different sizes trade dimensions: neither can move while the
// other is in the way, so both are gathered (one dimension at a time) and
// the target sliced.
// CHECK-LABEL: func.func @swap_axes
func.func @swap_axes(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {"x"}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[G0:.*]] = spmd.all_gather %arg0 {gathering_axes = {{\[}}["y"], []], out_sharding = #spmd.sharding<@m, [{}, {"x"}]>}
  // CHECK-NEXT: %[[G1:.*]] = spmd.all_gather %[[G0]] {gathering_axes = {{\[}}[], ["x"]], out_sharding = #spmd.sharding<@m, [{}, {}]>}
  // CHECK-NEXT: spmd.all_slice %[[G1]] {out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>, slicing_axes = {{\[}}["x"], ["y"]]}
  %0 = spmd.reshard %a <@m, [{"x"}, {"y"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// Moving one axis out and keeping the rest: all_to_all then all_slice.
// CHECK-LABEL: func.func @move_then_slice
func.func @move_then_slice(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", "y"}, {}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[M:.*]] = spmd.all_to_all %arg0 {axes = ["y"], out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>, src_dim = 0 : i64, tgt_dim = 1 : i64}
  // CHECK-NEXT: spmd.all_slice %[[M]] {out_sharding = #spmd.sharding<@m, [{"x"}, {"y", "z"}]>, slicing_axes = {{\[}}[], ["z"]]}
  %0 = spmd.reshard %a <@m, [{"x"}, {"y", "z"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// A reshard to the same sharding disappears.
// CHECK-LABEL: func.func @noop
func.func @noop(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> tensor<8x16xf32> {
  // CHECK-NEXT: return %arg0
  %0 = spmd.reshard %a <@m, [{"x"}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// Reshards in a row are one: from the first layout straight to the last
// (here nothing moves at all).
// CHECK-LABEL: func.func @chain
func.func @chain(%a: tensor<8x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> tensor<8x8xf32> {
  // CHECK-NEXT: return %arg0
  %0 = spmd.reshard %a <@m, [{}, {"y"}]> : tensor<8x8xf32>
  %1 = spmd.reshard %0 <@m, [{"x"}, {}]> : tensor<8x8xf32>
  return %1 : tensor<8x8xf32>
}

// Sub-axes (a reshape splitting "y" over two dimensions) are named as
// collectives name them: "y:(1)2" the major half of "y".
// CHECK-LABEL: func.func @sub_axes
func.func @sub_axes(%a: tensor<2x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"y":(1)2}, {"y":(2)2}]>}) -> tensor<2x8xf32> {
  // CHECK-NEXT: %[[G:.*]] = spmd.all_gather %arg0 {gathering_axes = {{\[}}["y:(1)2"], []], out_sharding = #spmd.sharding<@m, [{}, {"y":(2)2}]>}
  // CHECK-NEXT: %[[H:.*]] = spmd.all_gather %[[G]] {gathering_axes = {{\[}}[], ["y:(2)2"]], out_sharding = #spmd.sharding<@m, [{}, {}]>}
  // CHECK-NEXT: spmd.all_slice %[[H]] {out_sharding = #spmd.sharding<@m, [{}, {"y"}]>, slicing_axes = {{\[}}[], ["y"]]}
  %0 = spmd.reshard %a <@m, [{}, {"y"}]> : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}
