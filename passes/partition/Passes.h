//===- Passes.h - SPMD partitioning passes ----------------------*- C++ -*-===//

#ifndef TESSEL_PASSES_PARTITION_PASSES_H
#define TESSEL_PASSES_PARTITION_PASSES_H

#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::partition {

#define GEN_PASS_DECL
#include "passes/partition/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/partition/Passes.h.inc"

} // namespace tessel::partition

#endif // TESSEL_PASSES_PARTITION_PASSES_H
