// RUN: tessel-opt %s --split-input-file --verify-diagnostics

func.func @iota_dimension(%a: tensor<2xf32>) {
  // expected-error @+1 {{dimension 2 out of range for rank 2}}
  %0 = graph.iota dim = 2 : tensor<2x3xi64>
  return
}

// -----

func.func @constant_type_mismatch() {
  // expected-error @+1 {{all of {value, result} have same type}}
  %0 = "graph.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<3xf32>
  return
}

// -----

func.func @broadcast_wrong_size(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{operand dimension 1 of size 3 cannot broadcast to result dimension 1 of size 4}}
  %0 = graph.broadcast_in_dim %a, dims = [0, 1] : (tensor<2x3xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @broadcast_dimension_twice(%a: tensor<2x2xf32>) {
  // expected-error @+1 {{broadcast_dimensions has dimension 0 twice}}
  %0 = graph.broadcast_in_dim %a, dims = [0, 0] : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return
}

// -----

func.func @broadcast_rank(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{broadcast_dimensions has 1 entries, expected 2}}
  %0 = graph.broadcast_in_dim %a, dims = [0] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @broadcast_element_type(%a: tensor<2xf32>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = graph.broadcast_in_dim %a, dims = [0] : (tensor<2xf32>) -> tensor<2xf16>
  return
}

// -----

func.func @transpose_not_a_permutation(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{permutation has dimension 1 twice}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.transpose %a, perm = [1, 1] : (tensor<2x3xf32>) -> tensor<3x3xf32>
  return
}

// -----

func.func @transpose_wrong_result(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<3x2xf32>' are incompatible with return type(s) of operation 'tensor<2x3xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.transpose %a, perm = [1, 0] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{cannot reshape 'tensor<2x3xf32>' to 'tensor<7xf32>': the element counts differ}}
  %0 = graph.reshape %a : (tensor<2x3xf32>) -> tensor<7xf32>
  return
}

// -----

func.func @slice_out_of_bounds(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{slice [1, 4) of dimension 1 is outside [0, 3]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.slice %a [0:2, 1:4] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @slice_zero_stride(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{stride 0 of dimension 0 must be at least 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.slice %a [0:2:0, 0:3] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @slice_rank(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{start_indices has 1 entries, expected 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.slice %a [0:2] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @concatenate_sizes(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) {
  // expected-error @+2 {{input 1 has size 3 in dimension 0, expected 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.concatenate %a, %b dim = 1 : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concatenate_dimension(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{dimension 2 out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.concatenate %a, %a dim = 2 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @pad_negative_interior(%a: tensor<2xf32>) {
  // expected-error @+2 {{interior padding -1 of dimension 0 is negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.pad %a {edge_padding_low = array<i64: 0>, edge_padding_high = array<i64: 0>, interior_padding = array<i64: -1>} : (tensor<2xf32>) -> tensor<1xf32>
  return
}

// -----

func.func @pad_removes_too_much(%a: tensor<2xf32>) {
  // expected-error @+2 {{padding of dimension 0 removes more than its 2 elements}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.pad %a {edge_padding_low = array<i64: -2>, edge_padding_high = array<i64: -1>, interior_padding = array<i64: 0>} : (tensor<2xf32>) -> tensor<0xf32>
  return
}

// -----

func.func @reverse_dimension(%a: tensor<2xf32>) {
  // expected-error @+1 {{dimensions has dimension 1 out of range for rank 1}}
  %0 = graph.reverse %a, dims = [1] : tensor<2xf32>
  return
}

// -----

func.func @gather_axis(%a: tensor<2x3xf32>, %i: tensor<4xi64>) {
  // expected-error @+2 {{axis 2 out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.gather %a[%i] axis = 2 : (tensor<2x3xf32>, tensor<4xi64>) -> tensor<2x3x4xf32>
  return
}

// -----

func.func @gather_float_indices(%a: tensor<2x3xf32>, %i: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = graph.gather %a[%i] axis = 0 : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<4x3xf32>
  return
}
