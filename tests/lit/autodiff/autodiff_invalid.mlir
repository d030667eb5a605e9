// RUN: tessel-opt %s --split-input-file --graph-autodiff --verify-diagnostics

// The gradient needs to pass through a top_k (its operand depends on a
// parameter), which has no rule yet.
func.func @no_rule(%x: tensor<2x4xf32> {graph.name = "x"},
                   %w: tensor<2x4xf32> {graph.name = "w", graph.parameter}) -> tensor<f32> {
  %0 = graph.mul %x, %w : tensor<2x4xf32>
  // expected-error @+1 {{'graph.top_k' op has no gradient rule, and the gradient of the loss with respect to 'w' flows through it}}
  %1:2 = graph.top_k %0, k = 2, dim = 1 : (tensor<2x4xf32>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  %2 = graph.reduce sum %1#0, dims = [0, 1] : (tensor<2x2xf32>) -> tensor<f32>
  return %2 : tensor<f32>
}

// -----

// The loss must be a scalar.
// expected-error @+1 {{the loss (result 0) must be a float tensor of one element, not 'tensor<2xf32>'}}
func.func @not_scalar(%w: tensor<2xf32> {graph.name = "w", graph.parameter}) -> tensor<2xf32> {
  %0 = graph.exp %w : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{no argument to differentiate with respect to: the function has no float argument marked graph.parameter}}
func.func @no_parameters(%x: tensor<2xf32> {graph.name = "x"}) -> tensor<f32> {
  %0 = graph.reduce sum %x, dims = [0] : (tensor<2xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}
