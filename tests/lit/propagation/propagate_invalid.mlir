// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-propagate))' --verify-diagnostics

spmd.mesh @a = <["x"=2]>
spmd.mesh @b = <["y"=2]>
// expected-error @+1 {{propagation needs one mesh per function, found @a and @b}}
func.func @two_meshes(%x: tensor<4xf32> {spmd.sharding = #spmd.sharding<@a, [{"x"}]>},
                      %y: tensor<4xf32> {spmd.sharding = #spmd.sharding<@b, [{"y"}]>}) -> tensor<4xf32> {
  %0 = graph.add %x, %y : tensor<4xf32>
  return %0 : tensor<4xf32>
}
