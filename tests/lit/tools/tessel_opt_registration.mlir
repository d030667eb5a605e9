// tessel-opt loads Tessel's dialects next to func, arith and tensor, and
// offers the upstream passes Tessel's pipelines use.

// RUN: tessel-opt %s --canonicalize --cse | FileCheck %s
// RUN: tessel-opt --show-dialects | FileCheck %s --check-prefix=DIALECTS
// DIALECTS-DAG: arith
// DIALECTS-DAG: func
// DIALECTS-DAG: graph
// DIALECTS-DAG: tensor

// CHECK-LABEL: func.func @mixed
func.func @mixed(%t: tensor<4xf32>) -> (tensor<4xf32>, index) {
  // CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
  %c0 = arith.constant 0 : index
  %d = tensor.dim %t, %c0 : tensor<4xf32>
  // CHECK: %[[E:.*]] = graph.exp %arg0
  %e0 = graph.exp %t : tensor<4xf32>
  %e1 = graph.exp %t : tensor<4xf32>
  // CHECK: %[[S:.*]] = graph.add %[[E]], %[[E]]
  %s = graph.add %e0, %e1 : tensor<4xf32>
  // CHECK: return %[[S]], %[[C4]]
  return %s, %d : tensor<4xf32>, index
}
