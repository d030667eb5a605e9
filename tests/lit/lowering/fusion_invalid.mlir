// RUN: tessel-opt %s --split-input-file --verify-diagnostics

func.func @softmax_in_fusion(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = graph.fusion(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32> {
  ^bb0(%a: tensor<2x2xf32>):
    // expected-error @+1 {{cannot be fused: a fusion holds elementwise ops, broadcasts and splat constants}}
    %1 = graph.softmax %a, dim = 1 : tensor<2x2xf32>
    graph.yield %1 : tensor<2x2xf32>
  }
  return %0 : tensor<2x2xf32>
}

// -----

func.func @wrong_yield(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{yields 'tensor<2x2xf16>' but the result is 'tensor<2x2xf32>'}}
  %0 = graph.fusion(%x) : (tensor<2x2xf32>) -> tensor<2x2xf32> {
  ^bb0(%a: tensor<2x2xf32>):
    %1 = graph.convert %a : (tensor<2x2xf32>) -> tensor<2x2xf16>
    graph.yield %1 : tensor<2x2xf16>
  }
  return %0 : tensor<2x2xf32>
}
