// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(spmd-auto-shard{profile=%profiles/h100_sxm.textproto})' | FileCheck %s

// A small batch through large weights on 8 H100s: the weights split (the
// first by columns), the activations follow; every argument and op result
// gets a closed sharding.
// CHECK-LABEL: func.func @wide
// CHECK-SAME: %arg0: tensor<16x16384xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}]>}
// CHECK-SAME: %arg1: tensor<16384x16384xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}
// CHECK: graph.dot_general {{.*}}spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]
spmd.mesh @m = <["x"=8]>
func.func @wide(%x: tensor<16x16384xf32>, %w: tensor<16384x16384xf32>) -> tensor<16x16384xf32> {
  %h = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<16x16384xf32>, tensor<16384x16384xf32>) -> tensor<16x16384xf32>
  %g = graph.tanh %h : tensor<16x16384xf32>
  return %g : tensor<16x16384xf32>
}

// -----

// A large batch through small weights would go data parallel
// (tests/e2e/autoshard.test), but an annotation is a constraint: the bias
// split by features keeps its sharding, and the product follows it into
// column splits rather than pay to reshard it.
// CHECK-LABEL: func.func @tall
// CHECK-SAME: %arg0: tensor<65536x1024xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}]>}
// CHECK-SAME: %arg1: tensor<1024x1024xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>}
// CHECK-SAME: %arg2: tensor<1024xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}
spmd.mesh @m = <["x"=8]>
func.func @tall(%x: tensor<65536x1024xf32>, %w: tensor<1024x1024xf32>,
                %b: tensor<1024xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<65536x1024xf32> {
  %h = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<65536x1024xf32>, tensor<1024x1024xf32>) -> tensor<65536x1024xf32>
  %bb = graph.broadcast_in_dim %b, dims = [1] : (tensor<1024xf32>) -> tensor<65536x1024xf32>
  %y = graph.add %h, %bb : tensor<65536x1024xf32>
  return %y : tensor<65536x1024xf32>
}

// -----

// The weight @wide splits is annotated fully replicated (closed, no axes):
// that is a constraint too, not the absence of one. The weight stays whole
// on every device (each computes its columns from its copy).
// CHECK-LABEL: func.func @wide_replicated
// CHECK-SAME: %arg1: tensor<16384x16384xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}]>}
// CHECK: graph.dot_general
spmd.mesh @m = <["x"=8]>
func.func @wide_replicated(%x: tensor<16x16384xf32>,
    %w: tensor<16384x16384xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}]>}) -> tensor<16x16384xf32> {
  %h = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<16x16384xf32>, tensor<16384x16384xf32>) -> tensor<16x16384xf32>
  %g = graph.tanh %h : tensor<16x16384xf32>
  return %g : tensor<16x16384xf32>
}
