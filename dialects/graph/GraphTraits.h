//===- GraphTraits.h - Traits of graph ops ----------------------*- C++ -*-===//
//
// The C++ side of the traits in GraphInterfaces.td: markers, with no
// methods, that passes test with `op->hasTrait<...>()`; and what the
// linearity traits say, read once for every pass that needs it.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H
#define TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H

#include <optional>

#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/STLExtras.h"

namespace tessel::graph::OpTrait {

template <typename ConcreteType>
class DataMovement
    : public mlir::OpTrait::TraitBase<ConcreteType, DataMovement> {};
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

namespace tessel::graph {

/// Which operand's partial sums `op` passes on to its result unreduced,
/// by its linearity trait, given which operands arrive partial (`partial`)
/// and whether those all are over the same axes (`same`): every operand
/// alike (JointlyLinear), the one partial operand (LinearInEachOperand),
/// the first when it alone is (LinearInFirstOperand). None otherwise.
inline std::optional<unsigned>
carriedPartialOperand(mlir::Operation *op, llvm::ArrayRef<bool> partial,
                      bool same) {
  auto count = llvm::count(partial, true);
  if (op->hasTrait<OpTrait::JointlyLinear>())
    return !partial.empty() && count == static_cast<long>(partial.size()) &&
                   same
               ? std::optional<unsigned>(0)
               : std::nullopt;
  if (op->hasTrait<OpTrait::LinearInEachOperand>())
    return count == 1 ? std::optional<unsigned>(static_cast<unsigned>(
                            llvm::find(partial, true) - partial.begin()))
                      : std::nullopt;
  if (op->hasTrait<OpTrait::LinearInFirstOperand>())
    return count == 1 && partial.front() ? std::optional<unsigned>(0)
                                         : std::nullopt;
  return std::nullopt;
}

} // namespace tessel::graph

#endif // TESSEL_DIALECTS_GRAPH_GRAPHTRAITS_H
