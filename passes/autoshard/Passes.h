//===- Passes.h - Cost-driven auto-sharding ---------------------*- C++ -*-===//

#ifndef TESSEL_PASSES_AUTOSHARD_PASSES_H
#define TESSEL_PASSES_AUTOSHARD_PASSES_H

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::autoshard {

#define GEN_PASS_DECL
#include "passes/autoshard/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/autoshard/Passes.h.inc"

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_PASSES_H
