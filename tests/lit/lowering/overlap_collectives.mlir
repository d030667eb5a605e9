// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-overlap-collectives))' | FileCheck %s
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-overlap-collectives{max-in-flight=1}))' | FileCheck %s --check-prefix=ONE
// RUN: tessel-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(spmd-overlap-collectives{max-in-flight=0}))' | FileCheck %s --check-prefix=OFF

// A data-parallel backward pass: each layer's weight gradient is
// all-reduced while the layers below compute. The all-reduces start as
// soon as their gradient exists, in program order, and are waited for
// just before the update reads them. With two in flight, the third start
// waits for the first, whose update comes soon after.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @backward
// OFF-LABEL: func.func @backward
// OFF-NOT: spmd.collective_done
// OFF-NOT: spmd.async
func.func @backward(%g: tensor<4x8xf32>, %w1: tensor<8x8xf32>, %w2: tensor<8x8xf32>, %w3: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) {
  // CHECK: %[[G3:.*]] = graph.dot_general %arg0, %arg0
  // CHECK-NEXT: %[[R3:.*]] = spmd.all_reduce %[[G3]] {{{.*}}spmd.async
  // CHECK-NEXT: %[[A2:.*]] = graph.dot_general %arg0, %arg3
  // CHECK-NEXT: %[[G2:.*]] = graph.dot_general %[[A2]], %[[A2]]
  // CHECK-NEXT: %[[R2:.*]] = spmd.all_reduce %[[G2]] {{{.*}}spmd.async
  // CHECK-NEXT: %[[A1:.*]] = graph.dot_general %[[A2]], %arg2
  // CHECK-NEXT: %[[G1:.*]] = graph.dot_general %[[A1]], %[[A1]]
  // CHECK-NEXT: %[[D3:.*]] = spmd.collective_done %[[R3]]
  // CHECK-NEXT: %[[R1:.*]] = spmd.all_reduce %[[G1]] {{{.*}}spmd.async
  // CHECK-NEXT: %[[U3:.*]] = graph.sub %arg3, %[[D3]]
  // CHECK-NEXT: %[[D2:.*]] = spmd.collective_done %[[R2]]
  // CHECK-NEXT: %[[U2:.*]] = graph.sub %arg2, %[[D2]]
  // CHECK-NEXT: %[[D1:.*]] = spmd.collective_done %[[R1]]
  // CHECK-NEXT: %[[U1:.*]] = graph.sub %arg1, %[[D1]]
  // CHECK-NEXT: return %[[U1]], %[[U2]], %[[U3]]
  // With one in flight, each all-reduce is waited for where the next
  // starts: it hides behind the next layer's backward work, not behind
  // the optimizer's update alone.
  // ONE: %[[G3:.*]] = graph.dot_general %arg0, %arg0
  // ONE-NEXT: %[[R3:.*]] = spmd.all_reduce %[[G3]]
  // ONE-NEXT: graph.dot_general
  // ONE-NEXT: %[[G2:.*]] = graph.dot_general
  // ONE-NEXT: spmd.collective_done %[[R3]]
  // ONE-NEXT: %[[R2:.*]] = spmd.all_reduce %[[G2]]
  // ONE-NEXT: graph.dot_general
  // ONE-NEXT: %[[G1:.*]] = graph.dot_general
  // ONE-NEXT: spmd.collective_done %[[R2]]
  // ONE-NEXT: %[[R1:.*]] = spmd.all_reduce %[[G1]]
  // ONE-NEXT: graph.sub
  // ONE-NEXT: graph.sub
  // ONE-NEXT: spmd.collective_done %[[R1]]
  // ONE-NEXT: graph.sub
  %g3 = graph.dot_general %g, %g, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
  %a2 = graph.dot_general %g, %w3, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %g2 = graph.dot_general %a2, %a2, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
  %a1 = graph.dot_general %a2, %w2, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %g1 = graph.dot_general %a1, %a1, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
  %r3 = spmd.all_reduce %g3 {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x8xf32>
  %u3 = graph.sub %w3, %r3 : tensor<8x8xf32>
  %r2 = spmd.all_reduce %g2 {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x8xf32>
  %u2 = graph.sub %w2, %r2 : tensor<8x8xf32>
  %r1 = spmd.all_reduce %g1 {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x8xf32>
  %u1 = graph.sub %w1, %r1 : tensor<8x8xf32>
  return %u1, %u2, %u3 : tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>
}

// -----

// Gathers of weights (ZeRO-3, or a plan that splits them): each starts
// at the top only as the window allows, so one layer's weights are
// gathered while the layer before computes, not all at once. The first,
// with nothing to hide behind, stays in line. A collective
// of a collective's result starts once the first is done; a result only
// returned is waited for before the return; all_slice does not
// communicate.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @prefetch
func.func @prefetch(%x: tensor<4x8xf32>, %w1: tensor<4x8xf32>, %w2: tensor<4x8xf32>, %w3: tensor<4x8xf32>) -> (tensor<2x8xf32>, tensor<8x8xf32>) {
  // CHECK: %[[W1:.*]] = spmd.all_gather %arg1
  // CHECK-NOT: spmd.async
  // CHECK-SAME: -> tensor<8x8xf32>
  // CHECK-NEXT: %[[W2:.*]] = spmd.all_gather %arg2 {{{.*}}spmd.async
  // CHECK-NEXT: %[[W3:.*]] = spmd.all_gather %arg3 {{{.*}}spmd.async
  // CHECK-NEXT: %[[Y1:.*]] = graph.dot_general %arg0, %[[W1]]
  // CHECK-NEXT: %[[D2:.*]] = spmd.collective_done %[[W2]]
  // CHECK-NEXT: %[[Y2:.*]] = graph.dot_general %[[Y1]], %[[D2]]
  // CHECK-NEXT: %[[D3:.*]] = spmd.collective_done %[[W3]]
  // CHECK-NEXT: %[[R:.*]] = spmd.all_reduce %[[D3]] {{{.*}}spmd.async
  // CHECK-NEXT: %[[Y3:.*]] = graph.dot_general %[[Y2]], %[[D3]]
  // CHECK-NEXT: %[[S:.*]] = spmd.all_slice %[[Y3]]
  // CHECK-NEXT: %[[DR:.*]] = spmd.collective_done %[[R]]
  // CHECK-NEXT: return %[[S]], %[[DR]]
  %f1 = spmd.all_gather %w1 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %y1 = graph.dot_general %x, %f1, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %f2 = spmd.all_gather %w2 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %y2 = graph.dot_general %y1, %f2, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %f3 = spmd.all_gather %w3 {gathering_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32> -> tensor<8x8xf32>
  %y3 = graph.dot_general %y2, %f3, batching_dims = [] x [], contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %s = spmd.all_slice %y3 {slicing_axes = [["x"], []], out_sharding = #spmd.sharding<@m, [{"x"}, {}]>} : tensor<4x8xf32> -> tensor<2x8xf32>
  %r = spmd.all_reduce %f3 {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<8x8xf32>
  // One in flight: each layer's weights are gathered while the layer
  // before computes.
  // ONE-LABEL: func.func @prefetch
  // ONE: %[[W1:.*]] = spmd.all_gather %arg1
  // ONE-NEXT: %[[W2:.*]] = spmd.all_gather %arg2 {{{.*}}spmd.async
  // ONE-NEXT: graph.dot_general %arg0, %[[W1]]
  // ONE-NEXT: %[[D2:.*]] = spmd.collective_done %[[W2]]
  // ONE-NEXT: %[[W3:.*]] = spmd.all_gather %arg3 {{{.*}}spmd.async
  // ONE-NEXT: graph.dot_general {{.*}}, %[[D2]]
  // ONE-NEXT: spmd.collective_done %[[W3]]
  return %s, %r : tensor<2x8xf32>, tensor<8x8xf32>
}

// -----

// Tensor parallelism: the all-reduce of a partial product is read at once,
// but work that does not need it (a weight gradient's product) moves up
// before the wait and runs while it communicates.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @pull_up
func.func @pull_up(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>, %v: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  // CHECK: %[[P:.*]] = graph.dot_general %arg0, %arg1
  // CHECK-NEXT: %[[R:.*]] = spmd.all_reduce %[[P]] {{{.*}}spmd.async
  // CHECK-NEXT: %[[G:.*]] = graph.dot_general %arg0, %arg2
  // CHECK-NEXT: %[[D:.*]] = spmd.collective_done %[[R]]
  // CHECK-NEXT: %[[Y:.*]] = graph.exp %[[D]]
  // CHECK-NEXT: return %[[Y]], %[[G]]
  %p = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %r = spmd.all_reduce %p {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<4x8xf32>
  %y = graph.exp %r : tensor<4x8xf32>
  %g = graph.dot_general %x, %v, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %y, %g : tensor<4x8xf32>, tensor<4x8xf32>
}
