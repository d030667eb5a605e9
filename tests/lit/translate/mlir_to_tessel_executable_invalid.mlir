// RUN: tessel-translate %s --split-input-file --verify-diagnostics --mlir-to-tessel-executable

// Export needs the lowering's buffers; it says which pass to run.
// expected-error @+1 {{buffers are not assigned: run --graph-assign-buffers first}}
func.func @unlowered(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>) -> tensor<2x3xf32> {
  %0 = graph.dot_general %x, %w, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// expected-error @+1 {{expected one function to export, found 2}}
module {
  func.func @a() {
    return
  }
  func.func @b() {
    return
  }
}

// -----

// Elementwise ops run inside a fusion.
func.func @unfused(%x: tensor<4xf32>) -> tensor<4xf32> attributes {graph.arena_bytes = 64 : i64} {
  // expected-error @+1 {{has no host kernel; elementwise ops and broadcasts must be fused first (--graph-fuse-elementwise)}}
  %0 = graph.tanh %x {graph.buffer_offsets = array<i64: 0>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}
