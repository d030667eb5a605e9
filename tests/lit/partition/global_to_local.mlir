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
