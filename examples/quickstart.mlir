// A small program in the graph dialect: the quickstart runs tessel-opt on it
// with the generic cleanups (the duplicated `exp` below is merged by CSE).
// The partitioner issue replaces this with compiling and running a real model
// on a mesh of host devices.
func.func @gated_residual(%x: tensor<8x16xf32>, %gate: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %e0 = graph.exp %gate : tensor<8x16xf32>
  %e1 = graph.exp %gate : tensor<8x16xf32>
  %t = graph.tanh %x : tensor<8x16xf32>
  %m = graph.mul %t, %e0 : tensor<8x16xf32>
  %d = graph.div %m, %e1 : tensor<8x16xf32>
  %r = graph.add %d, %x : tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
