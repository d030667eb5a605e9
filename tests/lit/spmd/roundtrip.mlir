// RUN: tessel-opt %s | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

// CHECK: spmd.mesh @m = <["x"=2, "y"=4]>
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK: spmd.mesh @ring = <["r"=4], device_ids=[3, 2, 1, 0]>
spmd.mesh @ring = <["r"=4], device_ids=[3, 2, 1, 0]>

// CHECK-LABEL: func.func @shardings
// CHECK-SAME: %arg0: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y", ?}]>}
// CHECK-SAME: -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{?}, {}], replicated={"x"}, partial={"y": sum}>})
func.func @shardings(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y", ?}]>})
    -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{?}, {}], replicated={"x"}, partial={"y": sum}>}) {
  // CHECK: spmd.sharding_constraint %arg0 <@m, [{"x", "y"}p0, {}]> : tensor<8x16xf32>
  %0 = spmd.sharding_constraint %a <@m, [{"x", "y"}p0, {}]> : tensor<8x16xf32>
  // A sub-axis: the second half of "y" (size 2 after a part of size 2).
  // CHECK: spmd.reshard %0 <@m, [{"y":(2)2}, {"x", "y":(1)2}]> : tensor<8x16xf32>
  %1 = spmd.reshard %0 <@m, [{"y":(2)2}, {"x", "y":(1)2}]> : tensor<8x16xf32>
  // CHECK: graph.exp %1 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]}
  %2 = graph.exp %1 {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}]>]} : tensor<8x16xf32>
  // CHECK: graph.neg %2 {spmd.sharding_rule = #spmd.rule<([i, j])->([i, j]) {i=8, j=16}>}
  %3 = graph.neg %2 {spmd.sharding_rule = #spmd.rule<([i, j])->([i, j]) {i=8, j=16}>} : tensor<8x16xf32>
  return %3 : tensor<8x16xf32>
}

// CHECK-LABEL: func.func @collectives
func.func @collectives(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // CHECK: spmd.all_gather %arg0 {gathering_axes = {{\[}}["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>}
  %0 = spmd.all_gather %a {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  // CHECK: spmd.all_slice
  %1 = spmd.all_slice %0 {slicing_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{}, {"y"}]>} : tensor<8x16xf32>
  // CHECK: spmd.all_reduce
  %2 = spmd.all_reduce %1 {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {"y"}]>} : tensor<8x16xf32>
  // CHECK: spmd.reduce_scatter
  %3 = spmd.reduce_scatter %2 {scatter_axes = [["x"], []], reduction = "max", out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>} : tensor<8x16xf32>
  // CHECK: spmd.all_to_all
  %4 = spmd.all_to_all %3 {axes = ["x"], src_dim = 0, tgt_dim = 1, out_sharding = #spmd.sharding<@m, [{}, {"y", "x"}]>} : tensor<8x16xf32>
  // CHECK: spmd.collective_permute
  %5 = spmd.collective_permute %4 {in_sharding = #spmd.sharding<@m, [{}, {"x", "y"}]>, out_sharding = #spmd.sharding<@m, [{}, {"y", "x"}]>} : tensor<8x16xf32>
  return %5 : tensor<8x16xf32>
}

// CHECK-LABEL: func.func @manual
func.func @manual(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // CHECK: spmd.manual_computation
  %0 = spmd.manual_computation(%a) {in_shardings = [#spmd.sharding<@m, [{"x"}, {}]>], out_shardings = [#spmd.sharding<@m, [{"x"}, {}]>], manual_axes = ["x"]} : (tensor<8x16xf32>) -> tensor<8x16xf32> {
  ^bb0(%local: tensor<4x16xf32>):
    %1 = graph.exp %local : tensor<4x16xf32>
    spmd.return %1 : tensor<4x16xf32>
  }
  return %0 : tensor<8x16xf32>
}

// Collectives on local parts print both types.
// CHECK-LABEL: func.func @local_collectives
func.func @local_collectives(%a: tensor<4x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> tensor<8x4xf32> {
  // CHECK: spmd.all_gather %arg0 {{.*}} : tensor<4x16xf32> -> tensor<8x16xf32>
  %0 = spmd.all_gather %a {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x16xf32> -> tensor<8x16xf32>
  // CHECK: spmd.all_slice %0 {{.*}} : tensor<8x16xf32> -> tensor<8x4xf32>
  %1 = spmd.all_slice %0 {slicing_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{}, {"y"}]>} : tensor<8x16xf32> -> tensor<8x4xf32>
  return %1 : tensor<8x4xf32>
}

// Ring ops on local parts.
// CHECK-LABEL: func.func @ring_ops
func.func @ring_ops(%a: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // CHECK: spmd.ring_shift %arg0 @m ["y"] shift = 1 : tensor<4x16xf32>
  %0 = spmd.ring_shift %a @m ["y"] shift = 1 : tensor<4x16xf32>
  // CHECK: spmd.ring_permute %0 @m ["y"] targets = [0, 2, 3, 1] : tensor<4x16xf32>
  %1 = spmd.ring_permute %0 @m ["y"] targets = [0, 2, 3, 1] : tensor<4x16xf32>
  return %1 : tensor<4x16xf32>
}

// A device's part number along a dimension, sub-axes included.
// CHECK-LABEL: func.func @part_index
func.func @part_index() -> (tensor<i64>, tensor<i32>) {
  // CHECK: spmd.part_index <@m, [{"x", "y"}, {}]> dim = 0 : tensor<i64>
  %0 = spmd.part_index <@m, [{"x", "y"}, {}]> dim = 0 : tensor<i64>
  // CHECK: spmd.part_index <@m, [{}, {"y":(2)2}]> dim = 1 : tensor<i32>
  %1 = spmd.part_index <@m, [{}, {"y":(2)2}]> dim = 1 : tensor<i32>
  return %0, %1 : tensor<i64>, tensor<i32>
}
