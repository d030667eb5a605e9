//===- Passes.h - Automatic differentiation passes --------------*- C++ -*-===//

#ifndef TESSEL_PASSES_AUTODIFF_PASSES_H
#define TESSEL_PASSES_AUTODIFF_PASSES_H

#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::autodiff {

/// Appends to `function`'s results the gradient of its result `loss` (a
/// float tensor of one element) with respect to each of `arguments`, in
/// that order (what --graph-autodiff does). Fails with a diagnostic on the
/// op or the function where it cannot.
mlir::LogicalResult appendGradients(mlir::func::FuncOp function, unsigned loss,
                                    llvm::ArrayRef<unsigned> arguments);

/// The arguments `wrt` names: "parameters", "all" or a comma-separated
/// list of graph.name values (the --graph-autodiff option).
mlir::FailureOr<llvm::SmallVector<unsigned>>
selectArguments(mlir::func::FuncOp function, llvm::StringRef wrt);

#define GEN_PASS_DECL
#include "passes/autodiff/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/autodiff/Passes.h.inc"

} // namespace tessel::autodiff

#endif // TESSEL_PASSES_AUTODIFF_PASSES_H
