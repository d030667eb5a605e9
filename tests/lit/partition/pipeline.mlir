// RUN: tessel-opt %s --tessel-propagation-pipeline --tessel-collectives-pipeline | FileCheck %s
// RUN: tessel-opt %s --tessel-propagation-pipeline --tessel-partition-pipeline | FileCheck %s --check-prefix=LOCAL
// RUN: tessel-opt %s --tessel-propagation-pipeline --tessel-partition-pipeline --tessel-lowering-pipeline | FileCheck %s --check-prefix=LOWERED

// The named pipelines the driver runs (passes/Pipelines.h). Megatron's MLP
// from annotations to collectives: the only communication is one
// all_reduce of the row-parallel product, over "y".
spmd.mesh @m = <["x"=2, "y"=4]>
// CHECK-LABEL: func.func @megatron_mlp
func.func @megatron_mlp(%x: tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                        %w1: tensor<16x64xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {"y"}]>},
                        %w2: tensor<64x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"y"}, {}]>})
    -> (tensor<8x16xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>}) {
  // CHECK-NEXT: graph.dot_general
  // CHECK-NEXT: graph.tanh
  // CHECK-NEXT: %[[O:.*]] = graph.dot_general
  // CHECK-NEXT: %[[R:.*]] = spmd.all_reduce %[[O]] {out_sharding = #spmd.sharding<@m, [{"x"}, {}]>, reduction = "sum", reduction_axes = ["y"]}
  // CHECK-NEXT: return %[[R]]
  // CHECK-NOT: spmd.
  // On each device (partition): a quarter of the hidden features, half of
  // the batch.
  // LOCAL: func.func @megatron_mlp(%arg0: tensor<4x16xf32> {spmd.global_shape = array<i64: 8, 16>
  // LOCAL-SAME: %arg1: tensor<16x16xf32>
  // LOCAL: graph.tanh {{.*}} : tensor<4x16xf32>
  // LOCAL: spmd.all_reduce {{.*}} : tensor<4x16xf32>
  // Lowered: the tanh fused, every buffer placed in the arena.
  // LOWERED: attributes {graph.arena_bytes = 512 : i64}
  // LOWERED: graph.fusion
  // LOWERED-NEXT: ^bb0
  // LOWERED-NEXT: graph.tanh
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32>
  %g = graph.tanh %h : tensor<8x64xf32>
  %o = graph.dot_general %g, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x64xf32>, tensor<64x16xf32>) -> tensor<8x16xf32>
  return %o : tensor<8x16xf32>
}
