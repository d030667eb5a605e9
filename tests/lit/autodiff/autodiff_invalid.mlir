// RUN: tessel-opt %s --split-input-file --graph-autodiff --verify-diagnostics

// The gradient needs to pass through a batch norm (its scale is a
// parameter), which has no rule yet; the statistics are inputs here.
func.func @no_rule(%x: tensor<2x4xf32> {graph.name = "x"},
                   %scale: tensor<4xf32> {graph.name = "bn.weight", graph.parameter},
                   %stat: tensor<4xf32> {graph.name = "stat"}) -> tensor<f32> {
  // expected-error @+1 {{'graph.batch_norm_inference' op has no gradient rule, and the gradient of the loss with respect to 'bn.weight' flows through it}}
  %0 = graph.batch_norm_inference %x, %scale, %stat, %stat, %stat {epsilon = 1.0e-3 : f64, feature_index = 1} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %1 = graph.reduce sum %0, dims = [0, 1] : (tensor<2x4xf32>) -> tensor<f32>
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
