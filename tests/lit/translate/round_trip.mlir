// The translation's binary output is the executable tessel-compile makes:
// tessel-run gives the same outputs for both, on the same random inputs.
// RUN: rm -rf %t && mkdir -p %t
// RUN: tessel-opt %s --tessel-lowering-pipeline | tessel-translate --mlir-to-tessel-executable --tessel-executable-binary -o %t/translated.tessel
// RUN: tessel-compile %s -o %t/compiled.tessel
// RUN: tessel-run %t/compiled.tessel --seed 7 --outputs y=%t/y.npy
// RUN: tessel-run %t/translated.tessel --seed 7 --expect y=%t/y.npy --rtol 0 --atol 0 | FileCheck %s
// CHECK: vs {{.*}}y.npy: largest error 0 (relative 0), 0 elements outside tolerance
func.func @mlp(%x: tensor<2x4xf32> {graph.name = "x"}, %w: tensor<4x3xf32> {graph.name = "w"})
    -> (tensor<2xf32> {graph.name = "y"}) {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = graph.tanh %0 : tensor<2x3xf32>
  %2 = graph.reduce max %1, dims = [1] : (tensor<2x3xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
