// RUN: tessel-opt %s --tessel-partition-pipeline --tessel-lowering-pipeline | tessel-translate --mlir-to-tessel-executable | FileCheck %s

// A partitioned program: the mesh, global shapes for the interface, one
// program per device with local buffers placed in the global tensors, and
// the all_reduce of the split contraction with its device group.
// CHECK:      mesh {
// CHECK-NEXT:   axes {
// CHECK-NEXT:     name: "x"
// CHECK-NEXT:     size: 2
// CHECK:      inputs {
// CHECK-NEXT:   name: "a"
// CHECK-NEXT:   element_type: F32
// CHECK-NEXT:   dims: 8
// CHECK-NEXT:   dims: 8
// CHECK:      programs {
// CHECK:        buffers {
// CHECK-NEXT:     storage: INPUT
// CHECK-NEXT:     element_type: F32
// CHECK-NEXT:     dims: 8
// CHECK-NEXT:     dims: 4
// CHECK-NEXT:     global_offsets: 0
// CHECK-NEXT:     global_offsets: 0
// CHECK:          op: "collective"
// CHECK:          collective {
// CHECK-NEXT:       kind: ALL_REDUCE
// CHECK-NEXT:       reduction: SUM
// CHECK-NEXT:       groups {
// CHECK-NEXT:         values: 0
// CHECK-NEXT:         values: 1
// CHECK:      programs {
// CHECK-NEXT:   device_id: 1
// CHECK:        buffers {
// CHECK-NEXT:     storage: INPUT
// CHECK-NEXT:     element_type: F32
// CHECK-NEXT:     dims: 8
// CHECK-NEXT:     dims: 4
// CHECK-NEXT:     global_offsets: 0
// CHECK-NEXT:     global_offsets: 4
// CHECK:          op: "collective"
spmd.mesh @m = <["x"=2]>
func.func @rows(%a: tensor<8x8xf32> {graph.name = "a", spmd.sharding = #spmd.sharding<@m, [{}, {"x"}]>},
                %b: tensor<8x8xf32> {graph.name = "b", spmd.sharding = #spmd.sharding<@m, [{"x"}, {}]>})
    -> (tensor<8x8xf32> {graph.name = "c", spmd.sharding = #spmd.sharding<@m, [{}, {}]>}) {
  %0 = graph.dot_general %a, %b, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %0 : tensor<8x8xf32>
}
