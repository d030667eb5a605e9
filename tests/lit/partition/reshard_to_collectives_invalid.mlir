// RUN: tessel-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(spmd-reshard-to-collectives))'

spmd.mesh @m = <["x"=4]>
func.func @make_partial(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{cannot make a value partial over "x" (sum): only reductions remove partial axes}}
  %0 = spmd.reshard %a <@m, [{}], partial={"x": sum}> : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

spmd.mesh @m = <["x"=4]>
spmd.mesh @n = <["x"=4]>
func.func @two_meshes(%a: tensor<8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<8xf32> {
  // expected-error @+1 {{reshards from mesh @m to @n; moving between meshes is not supported}}
  %0 = spmd.reshard %a <@n, [{}]> : tensor<8xf32>
  return %0 : tensor<8xf32>
}
