// RUN: tessel-opt %s --split-input-file --verify-diagnostics

func.func @mismatched_shapes(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{all non-scalar operands/results must have the same shape and base type}}
  %0 = "graph.add"(%a, %b) : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @dynamic_shape(%a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{statically shaped tensor}}
  %0 = graph.neg %a : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @unsupported_element_type(%a: tensor<4xf64>) -> tensor<4xf64> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = graph.exp %a : tensor<4xf64>
  return %0 : tensor<4xf64>
}

// -----

func.func @float_only_on_integers(%a: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{must be statically shaped tensor of 32-bit float}}
  %0 = graph.tanh %a : tensor<4xi32>
  return %0 : tensor<4xi32>
}
