//===- Passes.h - Sharding propagation passes -------------------*- C++ -*-===//

#ifndef TESSEL_PASSES_PROPAGATION_PASSES_H
#define TESSEL_PASSES_PROPAGATION_PASSES_H

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::propagation {

#define GEN_PASS_DECL
#include "passes/propagation/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/propagation/Passes.h.inc"

} // namespace tessel::propagation

#endif // TESSEL_PASSES_PROPAGATION_PASSES_H
