//===- GraphTraits.h - Traits of graph ops ----------------------*- C++ -*-===//
//
// The C++ side of the traits in GraphInterfaces.td: markers, with no
// methods, that passes test with `op->hasTrait<...>()`.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H
#define TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H

#include "mlir/IR/OpDefinition.h"

namespace tessel::graph::OpTrait {

template <typename ConcreteType>
class DataMovement : public mlir::OpTrait::TraitBase<ConcreteType, DataMovement> {};
template <typename ConcreteType>
class JointlyLinear
    : public mlir::OpTrait::TraitBase<ConcreteType, JointlyLinear> {};
template <typename ConcreteType>
class LinearInEachOperand
    : public mlir::OpTrait::TraitBase<ConcreteType, LinearInEachOperand> {};
template <typename ConcreteType>
class LinearInFirstOperand
    : public mlir::OpTrait::TraitBase<ConcreteType, LinearInFirstOperand> {};
template <typename ConcreteType>
class HostKernel : public mlir::OpTrait::TraitBase<ConcreteType, HostKernel> {};

} // namespace tessel::graph::OpTrait

#endif // TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H
