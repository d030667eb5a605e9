// RUN: tessel-opt %s --split-input-file --verify-diagnostics

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @axis_twice(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{axis "x" is used twice}}
  %0 = spmd.sharding_constraint %a <@m, [{"x"}, {"x"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @unknown_axis(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{unknown axis "z" in mesh @m}}
  %0 = spmd.sharding_constraint %a <@m, [{"z"}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @unknown_mesh(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{unknown mesh @nowhere}}
  %0 = spmd.sharding_constraint %a <@nowhere, [{}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @rank_mismatch(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{sharding has 1 dimensions but the tensor has rank 2}}
  %0 = spmd.reshard %a <@m, [{"x"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @partial_and_sharding(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{axis "x" is both partial and sharding}}
  %0 = spmd.reshard %a <@m, [{"x"}, {}], partial={"x": sum}> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @bad_reduction(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{partial axis "y" has reduction 'mean'; expected sum, max or min}}
  %0 = spmd.reshard %a <@m, [{}, {}], partial={"y": mean}> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @bad_sub_axis(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{sub-axis "y":(3)2 does not divide axis "y" of size 4}}
  %0 = spmd.reshard %a <@m, [{"y":(3)2}, {}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @overlapping_sub_axes(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{axis "y" is used twice}}
  %0 = spmd.reshard %a <@m, [{"y":(1)2}, {"y"}]> : tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// expected-error @+1 {{mesh axis "x" is declared twice}}
spmd.mesh @m = <["x"=2, "x"=4]>

// -----

// expected-error @+1 {{device_ids must be a permutation of 0..3}}
spmd.mesh @m = <["x"=4], device_ids=[0, 1, 1, 2]>

// -----

spmd.mesh @m = <["x"=2]>
// expected-error @+1 {{sharding has 2 dimensions but the tensor has rank 1}}
func.func @argument(%a: tensor<8xf32> {spmd.sharding = #spmd.sharding<@m, [{}, {}]>}) {
  return
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @shardings_count(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'spmd.shardings' needs one sharding per result (1)}}
  %0 = graph.exp %a {spmd.shardings = []} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @rule_sizes(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{the sharding rule's factors of operand 0 dimension 0 multiply to 4, not its size 8}}
  %0 = graph.exp %a {spmd.sharding_rule = #spmd.rule<([i])->([i]) {i=4}>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @manual_local_shape(%a: tensor<8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{input 0 is 'tensor<8x16xf32>' in the body, expected the local 'tensor<4x16xf32>'}}
  %0 = spmd.manual_computation(%a) {in_shardings = [#spmd.sharding<@m, [{"x"}, {}]>], out_shardings = [#spmd.sharding<@m, [{}, {}]>], manual_axes = ["x"]} : (tensor<8x16xf32>) -> tensor<8x16xf32> {
  ^bb0(%local: tensor<8x16xf32>):
    spmd.return %local : tensor<8x16xf32>
  }
  return %0 : tensor<8x16xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @collective_axis(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{names axis "q", which mesh @m does not have}}
  %0 = spmd.all_reduce %a {reduction_axes = ["q"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @collective_local_types(%a: tensor<4xf32> {spmd.sharding = #spmd.sharding<@m, [{"x"}]>}) -> tensor<6xf32> {
  // expected-error @+1 {{'spmd.all_gather' op operand 'tensor<4xf32>' and result 'tensor<6xf32>' are neither the same global type nor local parts of one shape under the operand's and the result's shardings}}
  %0 = spmd.all_gather %a {gathering_axes = [["x"]], out_sharding = #spmd.sharding<@m, [{}]>} : tensor<4xf32> -> tensor<6xf32>
  return %0 : tensor<6xf32>
}

// -----

spmd.mesh @m = <["x"=2, "y"=4]>
func.func @permute_part_counts(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'spmd.collective_permute' op dimension 0 has 2 parts before and 4 after; a permutation keeps part counts}}
  %0 = spmd.collective_permute %a {in_sharding = #spmd.sharding<@m, [{"x"}]>, out_sharding = #spmd.sharding<@m, [{"y"}]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @origins_per_dimension(%a: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'spmd.origins' needs, per result, an array of one string per dimension}}
  %0 = graph.exp %a {spmd.origins = [["the plan"]]} : tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// expected-error @+1 {{'spmd.origins' on a function argument must be an array of one string per dimension of a ranked tensor}}
func.func @origins_argument(%a: tensor<4xf32> {spmd.origins = [1]}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @async_read_directly(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{an asynchronous collective's result is read by one spmd.collective_done alone}}
  %0 = spmd.all_reduce %a {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}]>, spmd.async} : tensor<4xf32>
  %1 = graph.exp %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

func.func @async_not_collective(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'spmd.async' is a unit attribute of a collective}}
  %0 = graph.exp %a {spmd.async} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=2]>
func.func @done_of_synchronous(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = spmd.all_reduce %a {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}]>} : tensor<4xf32>
  // expected-error @+1 {{waits for a value that no asynchronous collective made}}
  %1 = spmd.collective_done %0 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=4]>
func.func @ring_permute_not_a_permutation(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{targets must be a permutation of 0..3}}
  %0 = spmd.ring_permute %a @m ["x"] targets = [1, 1, 2, 3] : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=4]>
func.func @ring_permute_short(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{has 2 targets for a ring of 4}}
  %0 = spmd.ring_permute %a @m ["x"] targets = [1, 0] : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

spmd.mesh @m = <["x"=4]>
func.func @part_index_dim() -> tensor<i64> {
  // expected-error @+1 {{dimension 1 is out of range for a sharding of rank 1}}
  %0 = spmd.part_index <@m, [{"x"}]> dim = 1 : tensor<i64>
  return %0 : tensor<i64>
}

// -----

spmd.mesh @m = <["x"=4]>
func.func @part_index_bool() -> tensor<i1> {
  // expected-error @+1 {{counts parts in a boolean}}
  %0 = spmd.part_index <@m, [{"x"}]> dim = 0 : tensor<i1>
  return %0 : tensor<i1>
}
