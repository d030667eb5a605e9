// RUN: tessel-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(spmd-auto-shard{profile=%profiles/h100_sxm.textproto memory-budget=1024})'

// Nothing fits 1 KiB per device.
spmd.mesh @m = <["x"=2]>
// expected-error @+1 {{auto-sharding: no plan fits the memory budget of 1024 bytes per device}}
func.func @too_big(%x: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %e = graph.exp %x : tensor<64x64xf32>
  return %e : tensor<64x64xf32>
}

// -----

// An annotation no strategy gives: a softmax keeps its dimension whole.
spmd.mesh @m = <["x"=2]>
func.func @unsatisfiable(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{auto-sharding: no strategy gives the annotated sharding}}
  %s = graph.softmax %x, dim = 0 {spmd.shardings = [#spmd.sharding<@m, [{"x"}]>]} : tensor<8xf32>
  return %s : tensor<8xf32>
}

// -----

// An annotated argument keeps its layout even where it splits unevenly.
spmd.mesh @m = <["x"=3]>
func.func @uneven_argument(%x: tensor<8xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<8xf32> {
  %e = graph.exp %x : tensor<8xf32>
  return %e : tensor<8xf32>
}
