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

func.func @float_op_of_integers(%a: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
  %0 = graph.exp %a : tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

func.func @float_only_on_integers(%a: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{must be statically shaped tensor of 32-bit float}}
  %0 = graph.tanh %a : tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

func.func @logic_on_floats(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{must be statically shaped tensor of 1-bit signless integer values}}
  %0 = graph.and %a, %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @arithmetic_on_booleans(%a: tensor<4xi1>) -> tensor<4xi1> {
  // expected-error @+1 {{must be statically shaped tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type or 8-bit signless integer or 16-bit signless integer or 32-bit signless integer or 64-bit signless integer or 8-bit unsigned integer or 16-bit unsigned integer or 32-bit unsigned integer or 64-bit unsigned integer values}}
  %0 = graph.add %a, %a : tensor<4xi1>
  return %0 : tensor<4xi1>
}

// -----

func.func @compare_result_not_bool(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{result #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = "graph.compare"(%a, %a) {direction = 0 : i32} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @compare_operand_types_differ(%a: tensor<4xf32>, %b: tensor<4xf16>) -> tensor<4xi1> {
  // expected-error @+1 {{requires all operands to have the same type}}
  %0 = "graph.compare"(%a, %b) {direction = 0 : i32} : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xi1>
  return %0 : tensor<4xi1>
}

// -----

func.func @select_predicate_shape(%p: tensor<3xi1>, %a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{all of {pred, result} have same shape}}
  %0 = graph.select %p, %a, %a : tensor<3xi1>, tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @select_predicate_not_bool(%p: tensor<4xi32>, %a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 1-bit signless integer values}}
  %0 = graph.select %p, %a, %a : tensor<4xi32>, tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @convert_changes_shape(%a: tensor<4xf32>) -> tensor<2x2xf16> {
  // expected-error @+1 {{all of {operand, result} have same shape}}
  %0 = graph.convert %a : (tensor<4xf32>) -> tensor<2x2xf16>
  return %0 : tensor<2x2xf16>
}

// -----

func.func @clamp_bounds_inverted(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'graph.clamp' op min 6.000000e+00 exceeds max 0.000000e+00}}
  %0 = graph.clamp %a {min = 6.0, max = 0.0} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @shift_signed(%a: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{must be statically shaped tensor of 8-bit unsigned integer or 16-bit unsigned integer or 32-bit unsigned integer or 64-bit unsigned integer values}}
  %0 = graph.shift_left %a, %a : tensor<4xi32>
  return %0 : tensor<4xi32>
}
