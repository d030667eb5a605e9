// Bad invocations of tessel-opt fail with a message, never a crash.

// RUN: not tessel-opt %t.does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: cannot open input file '{{.*}}does-not-exist.mlir': No such file or directory

// RUN: echo 'func.func @f( {' | not tessel-opt 2>&1 | FileCheck %s --check-prefix=SYNTAX
// SYNTAX: <stdin>:1:14: error: expected non-function type

// RUN: echo '"graph.no_such_op"() : () -> ()' | not tessel-opt 2>&1 | FileCheck %s --check-prefix=UNKNOWN-OP
// UNKNOWN-OP: error: unregistered operation 'graph.no_such_op' found in dialect ('graph') that does not allow unknown operations

// RUN: not tessel-opt %s --no-such-pass 2>&1 | FileCheck %s --check-prefix=UNKNOWN-FLAG
// UNKNOWN-FLAG: Unknown command line argument '--no-such-pass'

// RUN: echo 'func.func @f(%a: tensor<2xf32>, %b: tensor<3xf32>) { %0 = "graph.add"(%a, %b) : (tensor<2xf32>, tensor<3xf32>) -> tensor<2xf32> return }' \
// RUN:   | not tessel-opt 2>&1 | FileCheck %s --check-prefix=VERIFIER
// VERIFIER: <stdin>:1:{{[0-9]+}}: error: 'graph.add' op all non-scalar operands/results must have the same shape and base type

// A valid module in this file, so that the unknown-flag case fails on the flag.
func.func @empty() {
  return
}
