// RUN: tessel-opt %s --canonicalize --cse | FileCheck %s

spmd.mesh @m = <["x"=2, "y"=4]>

// all_reduce then all_slice over the same axes is one reduce_scatter.
// CHECK-LABEL: func.func @reduce_scatter
func.func @reduce_scatter(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // CHECK-NEXT: %[[R:.*]] = spmd.reduce_scatter %arg0 {out_sharding = #spmd.sharding<@m, [{}, {"y"}]>, reduction = "sum", scatter_axes = {{\[}}[], ["y"]]}
  // CHECK-NEXT: return %[[R]]
  %0 = spmd.all_reduce %a {reduction_axes = ["y"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  %1 = spmd.all_slice %0 {slicing_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{}, {"y"}]>} : tensor<8x16xf32>
  return %1 : tensor<8x16xf32>
}

// Not when the reduced value is also used whole, nor when other axes are
// sliced, nor over several dimensions.
// CHECK-LABEL: func.func @kept
func.func @kept(%a: tensor<8x16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) {
  // CHECK: spmd.all_reduce
  // CHECK: spmd.all_slice
  // CHECK: spmd.all_reduce
  // CHECK: spmd.all_slice
  // CHECK-NOT: reduce_scatter
  %0 = spmd.all_reduce %a {reduction_axes = ["y"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  %1 = spmd.all_slice %0 {slicing_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{}, {"y"}]>} : tensor<8x16xf32>
  %2 = spmd.all_reduce %a {reduction_axes = ["y"], reduction = "max", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  %3 = spmd.all_slice %2 {slicing_axes = [["x"], ["y"]], out_sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>} : tensor<8x16xf32>
  return %0, %1, %3 : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>
}

// Collectives that move nothing fold away; identical ones are merged (by
// CSE: collectives are pure).
// CHECK-LABEL: func.func @no_ops
func.func @no_ops(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) -> (tensor<8x16xf32>, tensor<8x16xf32>) {
  // CHECK-NEXT: %[[G:.*]] = spmd.all_gather %arg0
  // CHECK-NEXT: return %[[G]], %[[G]]
  %0 = spmd.all_gather %a {gathering_axes = [[], []], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %1 = spmd.all_slice %0 {slicing_axes = [[], []], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %2 = spmd.all_reduce %1 {reduction_axes = [], reduction = "sum", out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %3 = spmd.all_to_all %2 {axes = [], src_dim = 0, tgt_dim = 1, out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %4 = spmd.collective_permute %3 {in_sharding = #spmd.sharding<@m, [{"x"}, {}]>, out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %5 = spmd.all_gather %4 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  %6 = spmd.all_gather %4 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  return %5, %6 : tensor<8x16xf32>, tensor<8x16xf32>
}

// Collectives in a row combine: reductions of one kind, gathers along one
// dimension (the outer one's axes are the more major), slices.
// CHECK-LABEL: func.func @combined
func.func @combined(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x", "y"}, {}]>}) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) {
  // CHECK-NEXT: spmd.all_reduce %arg0 {out_sharding = #spmd.sharding<@m, [{}, {}]>, reduction = "sum", reduction_axes = ["x", "y"]}
  %0 = spmd.all_reduce %a {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}], partial={"y": sum}>} : tensor<8x16xf32>
  %1 = spmd.all_reduce %0 {reduction_axes = ["y"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  // CHECK-NEXT: spmd.all_gather %arg0 {gathering_axes = {{\[}}["x", "y"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>}
  %2 = spmd.all_gather %a {gathering_axes = [["y"], []], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %3 = spmd.all_gather %2 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  // CHECK-NEXT: spmd.all_slice %{{.*}} {out_sharding = #spmd.sharding<@m, [{"y"}, {"x"}]>, slicing_axes = {{\[}}["y"], ["x"]]}
  %4 = spmd.all_slice %3 {slicing_axes = [["y"], []], out_sharding = #spmd.sharding<@m, [{"y"}, {}]>} : tensor<8x16xf32>
  %5 = spmd.all_slice %4 {slicing_axes = [[], ["x"]], out_sharding = #spmd.sharding<@m, [{"y"}, {"x"}]>} : tensor<8x16xf32>
  return %1, %3, %5 : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>
}

// Gathers along different dimensions stay apart (an executable gathers
// along one per collective), as do reductions of different kinds.
// CHECK-LABEL: func.func @apart
func.func @apart(%a: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {"y"}]>}) -> (tensor<8x16xf32>, tensor<8x16xf32>) {
  // CHECK-COUNT-2: spmd.all_gather
  %0 = spmd.all_gather %a {gathering_axes = [[], ["y"]], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<8x16xf32>
  %1 = spmd.all_gather %0 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  // CHECK-COUNT-2: spmd.all_reduce
  %2 = spmd.all_reduce %a {reduction_axes = ["x"], reduction = "max", out_sharding = #spmd.sharding<@m, [{}, {}], partial={"y": sum}>} : tensor<8x16xf32>
  %3 = spmd.all_reduce %2 {reduction_axes = ["y"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x16xf32>
  return %1, %3 : tensor<8x16xf32>, tensor<8x16xf32>
}
