// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-propagate{origins=true}))' | FileCheck %s
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-propagate))' | FileCheck %s --check-prefix=OFF

// Each dimension records where its axes came from: an annotation's own
// recorded origin (what the plan or --auto wrote), else the annotation
// itself, and for a propagated dimension the op that last carried it.
// Dimensions nothing split record nothing.
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @megatron_mlp
// CHECK-SAME: %arg0: tensor<8x16xf32> {graph.name = "x", spmd.origins = ["the plan's entry for tensor 'x'", ""]
// CHECK-SAME: %arg1: tensor<16x64xf32> {graph.name = "w1", spmd.origins = ["", "the annotation of 'w1'"]
func.func @megatron_mlp(%x: tensor<8x16xf32> {graph.name = "x", spmd.origins = ["the plan's entry for tensor 'x'", ""], spmd.sharding = #spmd.sharding<@m, [{"x"}, {?}]>},
                        %w1: tensor<16x64xf32> {graph.name = "w1", spmd.sharding = #spmd.sharding<@m, [{?}, {"y"}]>}) -> tensor<8x64xf32> {
  // CHECK: graph.dot_general
  // CHECK-SAME: spmd.origins = {{\[}}["the plan's entry for tensor 'x', through graph.dot_general 'h'", "the annotation of 'w1', through graph.dot_general 'h'"]]
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32> loc("h")
  // The next op's origin is the last op that carried it.
  // CHECK: graph.tanh
  // CHECK-SAME: spmd.origins = {{\[}}["the plan's entry for tensor 'x', through graph.tanh 'g'", "the annotation of 'w1', through graph.tanh 'g'"]]
  %g = graph.tanh %h : tensor<8x64xf32> loc("g")
  return %g : tensor<8x64xf32>
}

// Without the option nothing is added (the plan's recorded origin stays).
// OFF-LABEL: func.func @megatron_mlp
// OFF-NOT: through
// OFF: return
