// RUN: tessel-opt %s --pass-pipeline='builtin.module(func.func(graph-assign-buffers))' | FileCheck %s

// Temporaries reuse the bytes of values no longer read; a fusion writes in
// place over an operand that dies there; a reshape is a view, so its
// operand's bytes live as long as the view is read.
// CHECK-LABEL: func.func @liveness
// CHECK-SAME: attributes {graph.arena_bytes = 2048 : i64}
func.func @liveness(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  // CHECK: graph.dot_general {{.*}} {graph.buffer_offsets = array<i64: 0>}
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x64xf32>, tensor<64x64xf32>) -> tensor<4x64xf32>
  // In place: %0 dies here, same shape and width.
  // CHECK: graph.fusion(%{{.*}}) {graph.buffer_offsets = array<i64: 0>}
  %1 = graph.fusion(%0) : (tensor<4x64xf32>) -> tensor<4x64xf32> {
  ^bb0(%a: tensor<4x64xf32>):
    %e = graph.exp %a : tensor<4x64xf32>
    graph.yield %e : tensor<4x64xf32>
  }
  // CHECK: graph.reshape
  %2 = graph.reshape %1 : (tensor<4x64xf32>) -> tensor<256xf32>
  // %1 is still read through the view %2: a new range.
  // CHECK: graph.dot_general {{.*}} {graph.buffer_offsets = array<i64: 1024>}
  %3 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<4x64xf32>, tensor<64x64xf32>) -> tensor<4x64xf32>
  %4 = graph.reshape %2 : (tensor<256xf32>) -> tensor<4x64xf32>
  // Both die here; the result takes over the first one's bytes.
  // CHECK: graph.fusion(%{{.*}}, %{{.*}}) {graph.buffer_offsets = array<i64: 0>}
  %5 = graph.fusion(%4, %3) : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32> {
  ^bb0(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>):
    %s = graph.add %a, %b : tensor<4x64xf32>
    graph.yield %s : tensor<4x64xf32>
  }
  return %5 : tensor<4x64xf32>
}

// A training step's update (a result named as the argument it replaces)
// is written over the argument by the fusion that reads it last: the
// argument is donated, and the result takes no arena bytes. An update
// whose fusion is not the argument's last reader gets arena bytes.
// CHECK-LABEL: func.func @donated
// CHECK-SAME: attributes {graph.arena_bytes = 128 : i64}
func.func @donated(%p: tensor<16xf32> {graph.name = "p", graph.parameter},
                   %m: tensor<16xf32> {graph.name = "m"},
                   %g: tensor<16xf32> {graph.name = "g"})
    -> (tensor<16xf32> {graph.name = "p"}, tensor<16xf32> {graph.name = "m"}) {
  // CHECK: graph.fusion(%arg1, %arg2) {graph.buffer_offsets = array<i64: 0>}
  %m2 = graph.fusion(%m, %g) : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%a: tensor<16xf32>, %b: tensor<16xf32>):
    %s = graph.add %a, %b : tensor<16xf32>
    graph.yield %s : tensor<16xf32>
  }
  // CHECK: graph.fusion(%arg0, %{{.*}}) {graph.buffer_offsets = array<i64: -1>, graph.donated_arguments = array<i64: 0>}
  %p2 = graph.fusion(%p, %m2) : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%a: tensor<16xf32>, %b: tensor<16xf32>):
    %s = graph.sub %a, %b : tensor<16xf32>
    graph.yield %s : tensor<16xf32>
  }
  // %m is read again here: %m2 could not take its storage.
  %x = graph.fusion(%m) : (tensor<16xf32>) -> tensor<16xf32> {
  ^bb0(%a: tensor<16xf32>):
    %e = graph.exp %a : tensor<16xf32>
    graph.yield %e : tensor<16xf32>
  }
  return %p2, %m2 : tensor<16xf32>, tensor<16xf32>
}

// An all-reduce (the spmd InPlace trait) writes over its input where the
// input dies: a data-parallel weight gradient is summed in its own bytes.
// One still read after it gets a buffer of its own.
spmd.mesh @m = <["x"=2]>
// CHECK-LABEL: func.func @reduced_in_place
// CHECK-SAME: attributes {graph.arena_bytes = 3072 : i64}
func.func @reduced_in_place(%x: tensor<4x16xf32>, %dy: tensor<4x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>) {
  // CHECK: graph.dot_general {{.*}} {graph.buffer_offsets = array<i64: 0>}
  %g = graph.dot_general %dy, %x, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<16x16xf32>
  // CHECK: spmd.all_reduce {{.*}}graph.buffer_offsets = array<i64: 0>
  %r = spmd.all_reduce %g {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<16x16xf32>
  // CHECK: graph.dot_general {{.*}} {graph.buffer_offsets = array<i64: 1024>}
  %h = graph.dot_general %x, %dy, batching_dims = [] x [], contracting_dims = [0] x [0] : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<16x16xf32>
  // %h is read below: the sum goes to new bytes.
  // CHECK: spmd.all_reduce {{.*}}graph.buffer_offsets = array<i64: 2048>
  %s = spmd.all_reduce %h {reduction_axes = ["x"], reduction = "sum", out_sharding = #spmd.sharding<@m, [{}, {}]>} : tensor<16x16xf32>
  %t = graph.fusion(%s, %h) : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32> {
  ^bb0(%a: tensor<16x16xf32>, %b: tensor<16x16xf32>):
    %d = graph.sub %a, %b : tensor<16x16xf32>
    graph.yield %d : tensor<16x16xf32>
  }
  return %r, %t : tensor<16x16xf32>, tensor<16x16xf32>
}
