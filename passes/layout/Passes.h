//===- Passes.h - Layout passes ---------------------------------*- C++ -*-===//

#ifndef TESSEL_PASSES_LAYOUT_PASSES_H
#define TESSEL_PASSES_LAYOUT_PASSES_H

#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::layout {

#define GEN_PASS_DECL
#include "passes/layout/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/layout/Passes.h.inc"

} // namespace tessel::layout

#endif // TESSEL_PASSES_LAYOUT_PASSES_H
