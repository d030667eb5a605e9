//===- SpmdOps.h - Ops of the spmd dialect ----------------------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SPMDOPS_H
#define TESSEL_DIALECTS_SPMD_SPMDOPS_H

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace tessel::spmd::OpTrait {
/// Moves data between devices (a collective at run time).
template <typename ConcreteType>
class Communicates
    : public mlir::OpTrait::TraitBase<ConcreteType, Communicates> {};
/// May write its result over its input's bytes (see SpmdOps.td).
template <typename ConcreteType>
class InPlace : public mlir::OpTrait::TraitBase<ConcreteType, InPlace> {};
} // namespace tessel::spmd::OpTrait

#define GET_OP_CLASSES
#include "dialects/spmd/SpmdOps.h.inc"

#endif // TESSEL_DIALECTS_SPMD_SPMDOPS_H
