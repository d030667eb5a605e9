// RUN: tessel-opt %s --tessel-partition-pipeline --tessel-lowering-pipeline='overlap-collectives=2' | tessel-translate --mlir-to-tessel-executable | FileCheck %s

// The all_reduce of a split contraction starts as soon as the partial
// product exists and is waited for where the sum reads it: the
// independent product of `c` runs in between. The wait names its start
// (instruction 1) and reads the collective's result and operand.
// CHECK:      programs {
// CHECK:        instructions {
// CHECK-NEXT:     op: "dot_general"
// CHECK:        instructions {
// CHECK-NEXT:     op: "collective"
// CHECK-NEXT:     operands: [[PARTIAL:[0-9]+]]
// CHECK-NEXT:     results: [[SUM:[0-9]+]]
// CHECK:          collective {
// CHECK-NEXT:       kind: ALL_REDUCE
// CHECK:            async: true
// CHECK:        instructions {
// CHECK-NEXT:     op: "dot_general"
// CHECK:        instructions {
// CHECK-NEXT:     op: "collective_done"
// CHECK-NEXT:     operands: [[SUM]]
// CHECK-NEXT:     operands: [[PARTIAL]]
// CHECK:            key: "start"
// CHECK-NEXT:       value {
// CHECK-NEXT:         i: 1
// CHECK:        instructions {
// CHECK-NEXT:     op: "fusion"
// CHECK-NEXT:     operands: [[SUM]]
spmd.mesh @m = <["x"=2]>
func.func @rows(%a: tensor<8x8xf32> {graph.name = "a", spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>},
                %b: tensor<8x8xf32> {graph.name = "b", spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>},
                %c: tensor<8x8xf32> {graph.name = "c", spmd.sharding = #spmd.sharding<@m, [{}, {}]>})
    -> (tensor<8x8xf32> {graph.name = "d", spmd.sharding = #spmd.sharding<@m, [{}, {}]>}) {
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %1 = graph.dot_general %c, %c, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %2 = graph.add %0, %1 : tensor<8x8xf32>
  return %2 : tensor<8x8xf32>
}
