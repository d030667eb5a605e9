// RUN: tessel-opt %s --tessel-auto-shard-pipeline='profile=h100_sxm seconds=2' | FileCheck %s

// The auto-sharding pipeline (passes/Pipelines.h), with a built-in profile
// by name: the cost model chooses the weight's split, propagation gives
// every op its sharding.
// CHECK-LABEL: func.func @wide
// CHECK-SAME: %arg1: tensor<16384x16384xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}
// CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]
// CHECK: graph.tanh {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]
spmd.mesh @m = <["x"=8]>
func.func @wide(%x: tensor<16x16384xf32>, %w: tensor<16384x16384xf32>) -> tensor<16x16384xf32> {
  %h = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<16x16384xf32>, tensor<16384x16384xf32>) -> tensor<16x16384xf32>
  %g = graph.tanh %h : tensor<16x16384xf32>
  return %g : tensor<16x16384xf32>
}
