//===- Passes.h - Lowering passes -------------------------------*- C++ -*-===//

#ifndef TESSEL_PASSES_LOWERING_PASSES_H
#define TESSEL_PASSES_LOWERING_PASSES_H

#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace tessel::lowering {

/// Attribute names written by --graph-assign-buffers.
inline constexpr llvm::StringLiteral kBufferOffsetsAttr =
    "graph.buffer_offsets";
inline constexpr llvm::StringLiteral kArenaBytesAttr = "graph.arena_bytes";
/// Per result of an op: the number of the function argument whose storage
/// the result is written into (a training step's update computed over the
/// state it replaces: the argument's last reader), or -1 for the arena.
inline constexpr llvm::StringLiteral kDonatedArgumentsAttr =
    "graph.donated_arguments";

#define GEN_PASS_DECL
#include "passes/lowering/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/lowering/Passes.h.inc"

} // namespace tessel::lowering

#endif // TESSEL_PASSES_LOWERING_PASSES_H
