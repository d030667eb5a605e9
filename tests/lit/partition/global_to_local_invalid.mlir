// RUN: tessel-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(spmd-global-to-local))'

spmd.mesh @m = <["x"=2]>
func.func @iota() -> tensor<8xi64> {
  // expected-error @+1 {{an iota counting along a split dimension is not supported by the partitioner yet}}
  %i = graph.iota dim = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<8xi64>
  return %i : tensor<8xi64>
}

// -----

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
