// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(spmd-hoist-shrinking-collectives))' | FileCheck %s

// A gradient's reduce-scatter and an argument's slice, placed by the
// partitioner before the update at the end, move to just after what they
// read: the whole gradient dies once it is reduced.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @hoist
func.func @hoist(%p: tensor<8xf32>, %g0: tensor<8xf32>) -> tensor<8xf32> {
  // CHECK-NEXT: %[[S:.*]] = spmd.all_slice %arg0
  // CHECK-NEXT: %[[G:.*]] = graph.exp %arg1
  // CHECK-NEXT: %[[R:.*]] = spmd.reduce_scatter %[[G]]
  // CHECK-NEXT: graph.neg
  %g = graph.exp %g0 {spmd.shardings = [#spmd.sharding<@m, [{}], partial={"x": sum}>]} : tensor<8xf32>
  %other = graph.neg %g0 : tensor<8xf32>
  %r = spmd.reduce_scatter %g {out_sharding = #spmd.sharding<@m, [{"x"}]>, reduction = "sum", scatter_axes = [["x"]]} : tensor<8xf32>
  %s = spmd.all_slice %p {out_sharding = #spmd.sharding<@m, [{"x"}]>, slicing_axes = [["x"]]} : tensor<8xf32>
  // CHECK: graph.sub %[[S]], %[[R]]
  %u = graph.sub %s, %r {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<8xf32>
  return %u : tensor<8xf32>
}
