//===- Passes.td - Automatic differentiation passes --------*- tablegen -*-===//

#ifndef TESSEL_PASSES_AUTODIFF_PASSES_TD
#define TESSEL_PASSES_AUTODIFF_PASSES_TD

include "mlir/Pass/PassBase.td"

def AutodiffPass : Pass<"graph-autodiff", "::mlir::func::FuncOp"> {
  let summary = "Append the gradients of a scalar result with respect to arguments";
  let description = [{
    Reverse-mode differentiation of a function of `graph` ops: the
    gradient of result `loss` (a float tensor of one element) with respect
    to the chosen arguments is built after the forward ops, op by op in
    reverse, from each op's gradient rule (`GradientOpInterface`), and
    appended to the function's results, one per argument, of the
    argument's type and named `<argument name>.grad`. Gradients reaching a
    value along several uses are summed. Only float values that depend on
    a chosen argument and on which the loss depends are differentiated
    (activity analysis), so integer indices, masks and constants need no
    rule; an op on such a path without a rule is an error naming the op
    and the arguments whose gradients flow through it. An argument the
    loss does not depend on gets zeros.
  }];
  let options = [
    Option<"loss", "loss", "unsigned", /*default=*/"0",
           "Index of the function result to differentiate">,
    Option<"wrt", "wrt", "std::string", /*default=*/"\"parameters\"",
           "Arguments to differentiate with respect to: parameters (those "
           "marked graph.parameter), all (every float argument), or a "
           "comma-separated list of argument names (graph.name)">,
  ];
  let dependentDialects = ["::tessel::graph::GraphDialect"];
}

#endif // TESSEL_PASSES_AUTODIFF_PASSES_TD
