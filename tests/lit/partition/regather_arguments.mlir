// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(spmd-regather-arguments))' | FileCheck %s

// A split weight gathered once (after CSE) and read by a forward and a
// backward op is gathered again before each reader, its transpose with
// it; a gather with one reader, or of a computed value, stays.
spmd.mesh @m = <["x"=4]>
// CHECK-LABEL: func.func @regather
func.func @regather(%w: tensor<2x8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                    %a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) {
  %t = graph.transpose %w, perm = [1, 0] {spmd.shardings = [#spmd.sharding<@m, [{}, {"x"}]>]} : (tensor<2x8xf32>) -> tensor<8x2xf32>
  %g = spmd.all_gather %t {gathering_axes = [[], ["x"]], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x2xf32> -> tensor<8x8xf32>
  // CHECK: %[[T1:.*]] = graph.transpose %arg0
  // CHECK-NEXT: %[[G1:.*]] = spmd.all_gather %[[T1]]
  // CHECK-NEXT: graph.add %arg1, %[[G1]]
  %f = graph.add %a, %g : tensor<8x8xf32>
  %e = graph.exp %f : tensor<8x8xf32>
  // CHECK: graph.exp
  // CHECK-NEXT: %[[T2:.*]] = graph.transpose %arg0
  // CHECK-NEXT: %[[G2:.*]] = spmd.all_gather %[[T2]]
  // CHECK-NEXT: graph.mul %{{.*}}, %[[G2]]
  %k = graph.mul %e, %g : tensor<8x8xf32>
  // One reader: as it is.
  // CHECK: %[[H:.*]] = spmd.all_gather %{{.*}} {{.*}} : tensor<8x2xf32> -> tensor<8x8xf32>
  // CHECK-NEXT: graph.sub %[[H]], %[[H]]
  %n = graph.neg %b : tensor<8x8xf32>
  %s = graph.slice %n [0:8, 0:2] : (tensor<8x8xf32>) -> tensor<8x2xf32>
  %h = spmd.all_gather %s {gathering_axes = [[], ["x"]], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x2xf32> -> tensor<8x8xf32>
  %d = graph.sub %h, %h : tensor<8x8xf32>
  return %f, %k, %d : tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>
}
