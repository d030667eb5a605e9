// RUN: tessel-opt %s --split-input-file --graph-autodiff --verify-diagnostics

// The gradient needs to pass through a gather (its table is a parameter),
// which has no rule yet.
func.func @no_rule(%table: tensor<10x4xf32> {graph.name = "embedding", graph.parameter},
                   %ids: tensor<3xi64> {graph.name = "ids"}) -> tensor<f32> {
  // expected-error @+1 {{'graph.gather' op has no gradient rule, and the gradient of the loss with respect to 'embedding' flows through it}}
  %0 = graph.gather %table[%ids] axis = 0 : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  %1 = graph.reduce sum %0, dims = [0, 1] : (tensor<3x4xf32>) -> tensor<f32>
  return %1 : tensor<f32>
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
