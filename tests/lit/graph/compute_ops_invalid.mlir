// RUN: tessel-opt %s --split-input-file --verify-diagnostics

func.func @dot_contracting_sizes(%a: tensor<2x4xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+2 {{lhs dimension 1 (size 4) and rhs dimension 0 (size 3) are paired but differ in size}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x4xf32>, tensor<3x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @dot_unpaired(%a: tensor<2x4xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+2 {{lhs has 1 contracting dimensions but rhs has 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [] : (tensor<2x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @dot_dimension_reused(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+2 {{lhs batching and contracting dimensions has dimension 0 twice}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [0] x [1] : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dot_element_types(%a: tensor<2x4xf32>, %b: tensor<4x5xf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x4xf32>, tensor<4x5xf16>) -> tensor<2x5xf32>
  return
}

// -----

func.func @reduce_dimension(%a: tensor<2x4xf32>) {
  // expected-error @+2 {{dimensions has dimension 2 out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.reduce sum %a, dims = [2] : (tensor<2x4xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @reduce_wrong_result(%a: tensor<2x4xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<4xf32>' are incompatible with return type(s) of operation 'tensor<2xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.reduce sum %a, dims = [0] : (tensor<2x4xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @softmax_dimension(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{dimension -1 out of range for rank 2}}
  %0 = graph.softmax %a, dim = -1 : tensor<2x4xf32>
  return
}

// -----

func.func @layer_norm_scale_shape(%x: tensor<2x4xf32>, %g: tensor<2xf32>) {
  // expected-error @+1 {{scale has type 'tensor<2xf32>' but the normalized dimensions are [4]}}
  %0 = graph.layer_norm %x, %g, %g {axis = 1, epsilon = 1.0e-5 : f64} : (tensor<2x4xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @layer_norm_axis(%x: tensor<2x4xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{axis 2 out of range for rank 2}}
  %0 = graph.layer_norm %x, %g, %g {axis = 2, epsilon = 1.0e-5 : f64} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @batch_norm_statistics(%x: tensor<2x4x8xf32>, %c: tensor<8xf32>) {
  // expected-error @+1 {{statistics have type 'tensor<8xf32>' but need 1 dimension of size 4}}
  %0 = graph.batch_norm_inference %x, %c, %c, %c, %c {epsilon = 1.0e-3 : f64, feature_index = 1} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @convolution_groups(%x: tensor<1x4x9x9xf32>, %k: tensor<6x2x3x3xf32>) {
  // expected-error @+2 {{feature_group_count 4 must divide the input channels (4) and the output channels (6)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.convolution %x, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 4} : (tensor<1x4x9x9xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x7x7xf32>
  return
}

// -----

func.func @convolution_kernel_channels(%x: tensor<1x4x9x9xf32>, %k: tensor<8x3x3x3xf32>) {
  // expected-error @+2 {{kernel has 3 input channels per group, expected 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.convolution %x, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<1x4x9x9xf32>, tensor<8x3x3x3xf32>) -> tensor<1x8x7x7xf32>
  return
}

// -----

func.func @convolution_window_too_large(%x: tensor<1x4x2x2xf32>, %k: tensor<8x4x3x3xf32>) {
  // expected-error @+2 {{window of size 3 (dilation 1) does not fit spatial dimension 0 of size 2 with padding 0/0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.convolution %x, %k {window_strides = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<1x4x2x2xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x1x1xf32>
  return
}

// -----

func.func @convolution_stride_count(%x: tensor<1x4x9x9xf32>, %k: tensor<8x4x3x3xf32>) {
  // expected-error @+2 {{strides has 1 entries, expected one per spatial dimension (2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.convolution %x, %k {window_strides = array<i64: 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<1x4x9x9xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x7x7xf32>
  return
}

// -----

func.func @pool_zero_stride(%x: tensor<1x4x9x9xf32>) {
  // expected-error @+2 {{strides of spatial dimension 1 is 0, must be at least 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.max_pool %x {window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 0>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>} : (tensor<1x4x9x9xf32>) -> tensor<1x4x4x4xf32>
  return
}

// -----

func.func @pool_rank(%x: tensor<4x9xf32>) {
  // expected-error @+2 {{operand must be [N, C, spatial...], got 'tensor<4x9xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.avg_pool %x {window_dimensions = array<i64>, window_strides = array<i64>, window_dilations = array<i64>, padding_low = array<i64>, padding_high = array<i64>} : (tensor<4x9xf32>) -> tensor<4x9xf32>
  return
}

// -----

func.func @resize_scale(%x: tensor<1x4x9x9xf32>) {
  // expected-error @+1 {{scale 0.000000e+00 of dimension 2 must be positive}}
  %0 = graph.resize nearest %x, transform = asymmetric, scales = [1.0, 1.0, 0.0, 1.0] : (tensor<1x4x9x9xf32>) -> tensor<1x4x9x9xf32>
  return
}

// -----

func.func @resize_rank(%x: tensor<1x4x9x9xf32>) {
  // expected-error @+1 {{result rank 3 differs from operand rank 4}}
  %0 = graph.resize nearest %x, transform = asymmetric, scales = [1.0, 1.0, 1.0, 1.0] : (tensor<1x4x9x9xf32>) -> tensor<4x9x9xf32>
  return
}

// -----

func.func @top_k_too_many(%a: tensor<2x4xf32>) {
  // expected-error @+2 {{k = 5 must be in [1, 4], the size of dimension 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = graph.top_k %a, k = 5, dim = 1 : (tensor<2x4xf32>) -> (tensor<2x5xf32>, tensor<2x5xi64>)
  return
}
