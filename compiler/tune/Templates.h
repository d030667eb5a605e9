//===- Templates.h - Expert partition plans for tessel-tune -----*- C++ -*-===//
//
// The expert plans tessel-tune measures beside the cost model's: data
// parallel, Megatron tensor parallel (Shoeybi et al., 2019) and data x
// tensor. Megatron's rule, for any model: the weights that contractions
// (dot_general, convolution: ops whose sharding rule sums a factor the
// weight shares with an activation) read are split in turn on their output
// features (column parallel: the activation comes out split on them) and on
// their contracted features (row parallel: it comes out partial, summed by
// one all-reduce), so that each column-parallel layer feeds the next
// row-parallel one without communication. The ops and dimensions come from
// the ops' sharding rules, nothing from op names.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TUNE_TEMPLATES_H
#define TESSEL_COMPILER_TUNE_TEMPLATES_H

#include <string>
#include <vector>

#include "compiler/plan/plan.pb.h"
#include "mlir/IR/BuiltinOps.h"

namespace tessel::tune {

/// A parameter that a contraction reads as its weight, and which of its
/// dimensions are the contraction's output features and contracted
/// features (-1: none).
struct WeightUse {
  std::string parameter;
  int64_t rank = 0;
  int64_t outputDim = -1, contractedDim = -1;
};

/// In program order, every contraction of the module's entry function with
/// a weight: an operand that is a parameter (through transposes and other
/// ops that only move dimensions) while another operand is not.
std::vector<WeightUse> weightUses(mlir::ModuleOp module);

/// "[null, \"x\"]": dimension `dim` of a tensor of `rank` split over
/// `axes`, the others whole (no axes, or dim -1: all whole).
std::string splitSpec(int64_t rank, int64_t dim,
                      const std::vector<std::string> &axes);

/// Megatron tensor parallelism over `axes`: the weights of successive
/// contractions split column then row parallel, in turn (a contraction
/// whose turn its weight cannot take takes the other, and the turns go on
/// from it); a parameter read by several contractions keeps its first
/// split. Empty if no weight can be split.
proto::Plan megatronPlan(const std::vector<WeightUse> &uses,
                         const std::vector<std::string> &axes);

} // namespace tessel::tune

#endif // TESSEL_COMPILER_TUNE_TEMPLATES_H
