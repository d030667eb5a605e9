// RUN: tessel-opt %s --split-input-file --graph-decompose-batch-norm | FileCheck %s
// RUN: tessel-opt %s --split-input-file --graph-decompose-batch-norm --graph-fuse-elementwise | FileCheck %s --check-prefix=FUSED

spmd.mesh @m = <["x"=2]>

// After a convolution whose result it alone reads, the scale goes into the
// convolution's kernel (along its output features, dimension 0) and the
// shift stays, broadcast along the feature dimension; the result keeps the
// batch norm's sharding.
// CHECK-LABEL: func.func @after_convolution
// CHECK-DAG: %[[EPS:.*]] = graph.constant dense<9.99999974E-6> : tensor<8xf32>
// CHECK: %[[SHIFTED:.*]] = graph.add %arg5, %[[EPS]] : tensor<8xf32>
// CHECK: %[[INV:.*]] = graph.rsqrt %[[SHIFTED]] : tensor<8xf32>
// CHECK: %[[A:.*]] = graph.mul %arg2, %[[INV]] : tensor<8xf32>
// CHECK: %[[MA:.*]] = graph.mul %arg4, %[[A]] : tensor<8xf32>
// CHECK: %[[B:.*]] = graph.sub %arg3, %[[MA]] : tensor<8xf32>
// CHECK: %[[BA:.*]] = graph.broadcast_in_dim %[[A]], dims = [0] : (tensor<8xf32>) -> tensor<8x3x3x3xf32>
// CHECK: %[[W:.*]] = graph.mul %arg1, %[[BA]] : tensor<8x3x3x3xf32>
// CHECK: %[[CONV:.*]] = graph.convolution %arg0, %[[W]]
// CHECK: %[[BB:.*]] = graph.broadcast_in_dim %[[B]], dims = [1] : (tensor<8xf32>) -> tensor<2x8x5x5xf32>
// CHECK: %[[R:.*]] = graph.add %[[CONV]], %[[BB]] {spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}, {}, {}]>]} : tensor<2x8x5x5xf32>
// CHECK: graph.relu %[[R]]
// CHECK-NOT: batch_norm_inference

// After fusion the shift and the activation are one kernel reading the
// convolution's result; the vectors and the scaled kernel are computed
// apart, from the parameters alone.
// FUSED-LABEL: func.func @after_convolution
// FUSED: %[[A:.*]] = graph.fusion({{.*}}) -> tensor<8xf32>
// FUSED: graph.rsqrt
// FUSED: %[[W:.*]] = graph.fusion({{.*}}%[[A]]{{.*}}) -> tensor<8x3x3x3xf32>
// FUSED: %[[CONV:.*]] = graph.convolution %arg0, %[[W]]
// FUSED: graph.fusion(%{{.*}}, %[[CONV]])
// FUSED: graph.relu
// FUSED: return
// FUSED-LABEL: func.func @convolution_read_twice
func.func @after_convolution(%x: tensor<2x3x5x5xf32>, %w: tensor<8x3x3x3xf32>, %scale: tensor<8xf32>, %offset: tensor<8xf32>, %mean: tensor<8xf32>, %variance: tensor<8xf32>) -> tensor<2x8x5x5xf32> {
  %0 = graph.convolution %x, %w {window_strides = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<2x3x5x5xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x5x5xf32>
  %1 = graph.batch_norm_inference %0, %scale, %offset, %mean, %variance {epsilon = 1.0e-5 : f64, feature_index = 1 : i64, spmd.shardings = [#spmd.sharding<@m, [{"x"}, {}, {}, {}]>]} : (tensor<2x8x5x5xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x5x5xf32>
  %2 = graph.relu %1 : tensor<2x8x5x5xf32>
  return %2 : tensor<2x8x5x5xf32>
}

// -----

// A convolution's result read by more than the batch norm: the kernel
// stays, the batch norm becomes a multiply-add on the result.
// CHECK-LABEL: func.func @convolution_read_twice
// CHECK: %[[CONV:.*]] = graph.convolution %arg0, %arg1
// CHECK: %[[A:.*]] = graph.mul %arg2, %{{.*}} : tensor<8xf32>
// CHECK: %[[BA:.*]] = graph.broadcast_in_dim %[[A]], dims = [1] : (tensor<8xf32>) -> tensor<2x8x5x5xf32>
// CHECK: graph.mul %[[CONV]], %[[BA]] : tensor<2x8x5x5xf32>
// CHECK-NOT: batch_norm_inference
func.func @convolution_read_twice(%x: tensor<2x3x5x5xf32>, %w: tensor<8x3x3x3xf32>, %scale: tensor<8xf32>, %offset: tensor<8xf32>, %mean: tensor<8xf32>, %variance: tensor<8xf32>) -> (tensor<2x8x5x5xf32>, tensor<2x8x5x5xf32>) {
  %0 = graph.convolution %x, %w {window_strides = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<2x3x5x5xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x5x5xf32>
  %1 = graph.batch_norm_inference %0, %scale, %offset, %mean, %variance {epsilon = 1.0e-5 : f64, feature_index = 1 : i64} : (tensor<2x8x5x5xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x5x5xf32>
  return %0, %1 : tensor<2x8x5x5xf32>, tensor<2x8x5x5xf32>
}

// -----

// A statistic computed after the convolution cannot go into its kernel.
// CHECK-LABEL: func.func @statistic_after_convolution
// CHECK: %[[CONV:.*]] = graph.convolution %arg0, %arg1
// CHECK: graph.mul %[[CONV]], %{{.*}} : tensor<2x8x5x5xf32>
func.func @statistic_after_convolution(%x: tensor<2x3x5x5xf32>, %w: tensor<8x3x3x3xf32>, %scale: tensor<8xf32>, %offset: tensor<8xf32>, %mean: tensor<8xf32>, %variance: tensor<8xf32>) -> tensor<2x8x5x5xf32> {
  %0 = graph.convolution %x, %w {window_strides = array<i64: 1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, 1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, 1>, feature_group_count = 1} : (tensor<2x3x5x5xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x5x5xf32>
  %s = graph.exp %scale : tensor<8xf32>
  %1 = graph.batch_norm_inference %0, %s, %offset, %mean, %variance {epsilon = 1.0e-5 : f64, feature_index = 1 : i64} : (tensor<2x8x5x5xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x5x5xf32>
  return %1 : tensor<2x8x5x5xf32>
}

// -----

// Any feature dimension and element type: the last one here, in f64.
// CHECK-LABEL: func.func @last_dimension_f64
// CHECK: graph.constant dense<1.000000e-03> : tensor<4xf64>
// CHECK: graph.broadcast_in_dim %{{.*}}, dims = [1] : (tensor<4xf64>) -> tensor<6x4xf64>
// CHECK-NOT: batch_norm_inference
func.func @last_dimension_f64(%x: tensor<6x4xf64>, %s: tensor<4xf64>, %o: tensor<4xf64>, %m: tensor<4xf64>, %v: tensor<4xf64>) -> tensor<6x4xf64> {
  %0 = graph.batch_norm_inference %x, %s, %o, %m, %v {epsilon = 1.0e-3 : f64, feature_index = 1 : i64} : (tensor<6x4xf64>, tensor<4xf64>, tensor<4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<6x4xf64>
  return %0 : tensor<6x4xf64>
}
