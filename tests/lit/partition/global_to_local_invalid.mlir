// RUN: tessel-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(spmd-global-to-local))'

spmd.mesh @m = <["x"=2]>
func.func @constant() -> tensor<4xf32> {
  // expected-error @+1 {{splitting a non-splat constant is not supported by the partitioner yet}}
  %c = graph.constant {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @reverse(%a: tensor<4xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<4xf32> {
  // expected-error @+1 {{reversing a split dimension is not supported by the partitioner yet}}
  %r = graph.reverse %a, dims = [0] {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @leftover(%a: tensor<4xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<4xf32> {
  // expected-error @+1 {{'spmd.reshard' op is left for --spmd-global-to-local; run --spmd-reshard-to-collectives first}}
  %r = spmd.reshard %a <@m, [{}]> : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// 8 in 3 parts is 3+3+2, but a stride of 2 needs each input part twice its
// output part (4 in 3 parts is 2+2+0).
spmd.mesh @m = <["x"=3]>
func.func @window_parts(%a: tensor<1x1x8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}, {"x"}]>}) -> tensor<1x1x4xf32> {
  // expected-error @+1 {{a window over a split spatial dimension whose parts do not line up (uneven, with a stride) or whose halo is wider than a part is not supported by the partitioner yet}}
  %p = graph.max_pool %a {window_dimensions = array<i64: 2>, window_strides = array<i64: 2>, window_dilations = array<i64: 1>, padding_low = array<i64: 0>, padding_high = array<i64: 0>, spmd.shardings = [#spmd.sharding<@m, [{}, {}, {"x"}]>]} : (tensor<1x1x8xf32>) -> tensor<1x1x4xf32>
  return %p : tensor<1x1x4xf32>
}
