// RUN: tessel-opt %s | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

// CHECK-LABEL: func.func @contractions
func.func @contractions(%a: tensor<2x4x8xf32>, %b: tensor<2x8x3xf32>, %w: tensor<8x16xf32>) {
  // Result: batch, then lhs free, then rhs free dimensions.
  // CHECK: graph.dot_general %arg0, %arg1, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x4x8xf32>, tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
  %0 = graph.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x4x8xf32>, tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
  // CHECK: graph.dot_general %arg0, %arg2, batching_dims = [] x [], contracting_dims = [2] x [0] : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  %1 = graph.dot_general %a, %w, batching_dims = [] x [], contracting_dims = [2] x [0] : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  // An outer product contracts nothing.
  // CHECK: graph.dot_general %arg2, %arg2, batching_dims = [] x [], contracting_dims = [] x [] : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16x8x16xf32>
  %2 = graph.dot_general %w, %w, batching_dims = [] x [], contracting_dims = [] x [] : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16x8x16xf32>
  // CHECK: graph.reduce sum %arg0, dims = [1, 2] : (tensor<2x4x8xf32>) -> tensor<2xf32>
  %3 = graph.reduce sum %a, dims = [1, 2] : (tensor<2x4x8xf32>) -> tensor<2xf32>
  // CHECK: graph.reduce max
  %4 = graph.reduce max %a, dims = [0] : (tensor<2x4x8xf32>) -> tensor<4x8xf32>
  // CHECK: graph.reduce min
  %5 = graph.reduce min %a, dims = [2] : (tensor<2x4x8xf32>) -> tensor<2x4xf32>
  // CHECK: graph.reduce mean %arg0, dims = [0, 1, 2] : (tensor<2x4x8xf32>) -> tensor<f32>
  %6 = graph.reduce mean %a, dims = [0, 1, 2] : (tensor<2x4x8xf32>) -> tensor<f32>
  // CHECK: graph.reduce prod
  %7 = graph.reduce prod %a, dims = [] : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  // The 3 largest along dimension 2, and where they were.
  // CHECK: graph.top_k %arg0, k = 3, dim = 2 : (tensor<2x4x8xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xi64>)
  %8:2 = graph.top_k %a, k = 3, dim = 2 : (tensor<2x4x8xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xi64>)
  // CHECK: graph.top_k %arg0, k = 1, dim = 0 {largest = false}
  %9:2 = graph.top_k %a, k = 1, dim = 0 {largest = false} : (tensor<2x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8xi64>)
  return
}

// CHECK-LABEL: func.func @normalizations
func.func @normalizations(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>, %c: tensor<4xf32>) {
  // CHECK: graph.softmax %arg0, dim = 2 : tensor<2x4x8xf32>
  %0 = graph.softmax %x, dim = 2 : tensor<2x4x8xf32>
  // CHECK: graph.layer_norm %arg0, %arg1, %arg1 {axis = 2 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %1 = graph.layer_norm %x, %g, %g {axis = 2, epsilon = 1.0e-5 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK: graph.batch_norm_inference %arg0, %arg2, %arg2, %arg2, %arg2 {epsilon = 1.000000e-03 : f64, feature_index = 1 : i64}
  %2 = graph.batch_norm_inference %x, %c, %c, %c, %c {epsilon = 1.0e-3 : f64, feature_index = 1} : (tensor<2x4x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8xf32>
  return
}

// CHECK-LABEL: func.func @windows
func.func @windows(%x: tensor<1x4x9x9xf32>, %k: tensor<8x2x3x3xf32>, %t: tensor<4x4x3x3xf32>) {
  // Two groups, stride 2, padding 1: (9 + 2 - 3) / 2 + 1 = 5.
  // CHECK: graph.convolution %arg0, %arg1 {feature_group_count = 2 : i64, lhs_dilation = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, window_strides = array<i64: 2, 2>} : (tensor<1x4x9x9xf32>, tensor<8x2x3x3xf32>) -> tensor<1x8x5x5xf32>
  %0 = graph.convolution %x, %k {window_strides = array<i64: 2, 2>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 2} : (tensor<1x4x9x9xf32>, tensor<8x2x3x3xf32>) -> tensor<1x8x5x5xf32>
  // A transposed convolution: input dilated by 2, padded by 2: 17 + 4 - 3 + 1 = 19.
  // CHECK: graph.convolution %arg0, %arg2 {{.*}} -> tensor<1x4x19x19xf32>
  %1 = graph.convolution %x, %t {window_strides = array<i64: 1, 1>, padding_low = array<i64: 2, 2>, padding_high = array<i64: 2, 2>, lhs_dilation = array<i64: 2, 2>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<1x4x9x9xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x19x19xf32>
  // Kernel dilation 2 makes a 5x5 window: 9 - 5 + 1 = 5.
  // CHECK: graph.convolution %arg0, %arg2 {{.*}} -> tensor<1x4x5x5xf32>
  %2 = graph.convolution %x, %t {window_strides = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 2, 2>, feature_group_count = 1} : (tensor<1x4x9x9xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x5x5xf32>
  // Floor: (9 - 2) / 2 + 1 = 4; ceil: 5, the last window starting at 8 < 9.
  // CHECK: graph.max_pool %arg0 {{.*}} : (tensor<1x4x9x9xf32>) -> tensor<1x4x4x4xf32>
  %3 = graph.max_pool %x {window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 2>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>} : (tensor<1x4x9x9xf32>) -> tensor<1x4x4x4xf32>
  // CHECK: graph.max_pool %arg0 {ceil_mode = true, {{.*}}} : (tensor<1x4x9x9xf32>) -> tensor<1x4x5x5xf32>
  %4 = graph.max_pool %x {window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 2>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: 0, 0>, ceil_mode = true} : (tensor<1x4x9x9xf32>) -> tensor<1x4x5x5xf32>
  // CHECK: graph.avg_pool %arg0 {count_include_pad = true, {{.*}}} : (tensor<1x4x9x9xf32>) -> tensor<1x4x9x9xf32>
  %5 = graph.avg_pool %x {window_dimensions = array<i64: 3, 3>, window_strides = array<i64: 1, 1>, window_dilations = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, count_include_pad = true} : (tensor<1x4x9x9xf32>) -> tensor<1x4x9x9xf32>
  // CHECK: graph.resize nearest %arg0, transform = asymmetric, scales = [1.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00], nearest_mode = floor : (tensor<1x4x9x9xf32>) -> tensor<1x4x18x18xf32>
  %6 = graph.resize nearest %x, transform = asymmetric, scales = [1.0, 1.0, 2.0, 2.0], nearest_mode = floor : (tensor<1x4x9x9xf32>) -> tensor<1x4x18x18xf32>
  // The default nearest_mode is not printed.
  // CHECK: graph.resize linear %arg0, transform = half_pixel, scales = [1.000000e+00, 1.000000e+00, 5.000000e-01, 5.000000e-01] : (tensor<1x4x9x9xf32>) -> tensor<1x4x4x4xf32>
  %7 = graph.resize linear %x, transform = half_pixel, scales = [1.0, 1.0, 0.5, 0.5], nearest_mode = round_prefer_floor : (tensor<1x4x9x9xf32>) -> tensor<1x4x4x4xf32>
  return
}
