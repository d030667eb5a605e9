// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(spmd-propagate,spmd-insert-explicit-reshards,spmd-reshard-to-collectives))' | FileCheck %s

// Megatron's MLP from annotations to collectives: the only communication
// is one all_reduce of the row-parallel product, over "y".
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
  %h = graph.dot_general %x, %w1, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x64xf32>) -> tensor<8x64xf32>
  %g = graph.tanh %h : tensor<8x64xf32>
  %o = graph.dot_general %g, %w2, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x64xf32>, tensor<64x16xf32>) -> tensor<8x16xf32>
  return %o : tensor<8x16xf32>
}
