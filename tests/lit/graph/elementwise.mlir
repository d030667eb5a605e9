// RUN: tessel-opt %s | FileCheck %s
// RUN: tessel-opt %s --mlir-print-op-generic | tessel-opt | FileCheck %s

// CHECK-LABEL: func.func @binary
func.func @binary(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK: %[[ADD:.*]] = graph.add %arg0, %arg1 : tensor<4x8xf32>
  %0 = graph.add %a, %b : tensor<4x8xf32>
  // CHECK: %[[SUB:.*]] = graph.sub %[[ADD]], %arg1 : tensor<4x8xf32>
  %1 = graph.sub %0, %b : tensor<4x8xf32>
  // CHECK: graph.mul
  %2 = graph.mul %1, %a : tensor<4x8xf32>
  // CHECK: graph.div
  %3 = graph.div %2, %a : tensor<4x8xf32>
  // CHECK: graph.max
  %4 = graph.max %3, %a : tensor<4x8xf32>
  // CHECK: graph.min
  %5 = graph.min %4, %a : tensor<4x8xf32>
  // CHECK: graph.pow
  %6 = graph.pow %5, %a : tensor<4x8xf32>
  // CHECK: graph.rem
  %7 = graph.rem %6, %a : tensor<4x8xf32>
  return %7 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @unary
func.func @unary(%a: tensor<2x3xbf16>, %i: tensor<5xi64>) -> (tensor<2x3xbf16>, tensor<5xi64>) {
  // CHECK: graph.neg %arg0 : tensor<2x3xbf16>
  %0 = graph.neg %a : tensor<2x3xbf16>
  // CHECK: graph.exp
  %1 = graph.exp %0 : tensor<2x3xbf16>
  // CHECK: graph.tanh
  %2 = graph.tanh %1 : tensor<2x3xbf16>
  // CHECK: graph.log
  %3 = graph.log %2 : tensor<2x3xbf16>
  // CHECK: graph.erf
  %4 = graph.erf %3 : tensor<2x3xbf16>
  // CHECK: graph.sqrt
  %5 = graph.sqrt %4 : tensor<2x3xbf16>
  // CHECK: graph.rsqrt
  %6 = graph.rsqrt %5 : tensor<2x3xbf16>
  // CHECK: graph.sigmoid
  %7 = graph.sigmoid %6 : tensor<2x3xbf16>
  // CHECK: graph.reciprocal
  %8 = graph.reciprocal %7 : tensor<2x3xbf16>
  // CHECK: graph.sin
  %9 = graph.sin %8 : tensor<2x3xbf16>
  // CHECK: graph.cos
  %10 = graph.cos %9 : tensor<2x3xbf16>
  // CHECK: graph.floor
  %11 = graph.floor %10 : tensor<2x3xbf16>
  // CHECK: graph.ceil
  %12 = graph.ceil %11 : tensor<2x3xbf16>
  // CHECK: graph.round
  %13 = graph.round %12 : tensor<2x3xbf16>
  // CHECK: graph.neg %arg1 : tensor<5xi64>
  %i0 = graph.neg %i : tensor<5xi64>
  // CHECK: graph.abs
  %i1 = graph.abs %i0 : tensor<5xi64>
  // CHECK: graph.sign
  %i2 = graph.sign %i1 : tensor<5xi64>
  // CHECK: graph.relu
  %i3 = graph.relu %i2 : tensor<5xi64>
  return %13, %i3 : tensor<2x3xbf16>, tensor<5xi64>
}

// CHECK-LABEL: func.func @logic
func.func @logic(%a: tensor<3xi1>, %b: tensor<3xi1>) -> tensor<3xi1> {
  // CHECK: graph.and %arg0, %arg1 : tensor<3xi1>
  %0 = graph.and %a, %b : tensor<3xi1>
  // CHECK: graph.or
  %1 = graph.or %0, %b : tensor<3xi1>
  // CHECK: graph.xor
  %2 = graph.xor %1, %a : tensor<3xi1>
  // CHECK: graph.not
  %3 = graph.not %2 : tensor<3xi1>
  return %3 : tensor<3xi1>
}

// CHECK-LABEL: func.func @compare_select_convert_clamp
func.func @compare_select_convert_clamp(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf16>, tensor<2x3xi32>) {
  // CHECK: %[[LT:.*]] = graph.compare lt, %arg0, %arg1 : tensor<2x3xf32>
  %lt = graph.compare lt, %a, %b : tensor<2x3xf32>
  // CHECK: graph.compare ge, %arg0, %arg1 : tensor<2x3xf32>
  %ge = graph.compare ge, %a, %b : tensor<2x3xf32>
  // CHECK: %[[SEL:.*]] = graph.select %[[LT]], %arg0, %arg1 : tensor<2x3xi1>, tensor<2x3xf32>
  %s = graph.select %lt, %a, %b : tensor<2x3xi1>, tensor<2x3xf32>
  // CHECK: graph.clamp %[[SEL]] {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64} : tensor<2x3xf32>
  %c = graph.clamp %s {min = 0.0, max = 6.0} : tensor<2x3xf32>
  // CHECK: graph.clamp %{{.*}} {min = 1.000000e+00 : f64} : tensor<2x3xf32>
  %c1 = graph.clamp %c {min = 1.0} : tensor<2x3xf32>
  // CHECK: graph.convert %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf16>
  %h = graph.convert %c1 : (tensor<2x3xf32>) -> tensor<2x3xf16>
  // CHECK: graph.convert %{{.*}} : (tensor<2x3xi1>) -> tensor<2x3xi32>
  %i = graph.convert %ge : (tensor<2x3xi1>) -> tensor<2x3xi32>
  return %c1, %h, %i : tensor<2x3xf32>, tensor<2x3xf16>, tensor<2x3xi32>
}

// Shifts and the narrow and unsigned integers.
// CHECK-LABEL: func.func @unsigned
func.func @unsigned(%a: tensor<4xui8>, %b: tensor<4xui8>, %c: tensor<4xi16>) -> tensor<4xui8> {
  // CHECK: graph.shift_left %arg0, %arg1 : tensor<4xui8>
  %0 = graph.shift_left %a, %b : tensor<4xui8>
  // CHECK: graph.shift_right %0, %arg1 : tensor<4xui8>
  %1 = graph.shift_right %0, %b : tensor<4xui8>
  // CHECK: graph.add %arg2, %arg2 : tensor<4xi16>
  %2 = graph.add %c, %c : tensor<4xi16>
  return %1 : tensor<4xui8>
}
