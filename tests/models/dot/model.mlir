// A matrix product in the graph dialect, for the APIs' MLIR input
// (tests/unit/api, tests/python): c = a @ b.
func.func @main(%a: tensor<4x8xf32> {graph.name = "a"},
                %b: tensor<8x3xf32> {graph.name = "b"})
    -> (tensor<4x3xf32> {graph.name = "c"}) {
  %c = graph.dot_general %a, %b, batching_dims = [] x [],
      contracting_dims = [1] x [0]
      : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<4x3xf32>
  return %c : tensor<4x3xf32>
}
