//===- ShardingProjection.h - Dimensions as factor shardings ----*- C++ -*-===//
//
// Propagation works on factors, not dimensions: a dimension's axes are
// projected onto the factors of the dimension (major to minor), and the
// factors' axes are projected back onto dimensions.
//
// Example: a dimension of size 128 made of factors [8, 16] (a reshape of
// [8, 16]) sharded by {"x"=2, "y"=4, "z"=2}: "x" and "y" fill the first
// factor (2 * 4 = 8) and "z" goes to the second. Sharded by {"y"=4} with
// factors [2, 64], "y" is split into sub-axes: "y":(1)2 for the first factor
// and "y":(2)2 for the second.
//
// Back from factors, a dimension's axes are its factors' axes in order, but
// a factor's axes follow the previous factor's only if that one is fully
// sharded (otherwise the minor axes would split the major factor, not the
// minor one).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_PROPAGATION_SHARDINGPROJECTION_H
#define TESSEL_PASSES_PROPAGATION_SHARDINGPROJECTION_H

#include "dialects/spmd/SpmdDialect.h"
#include "llvm/ADT/SmallVector.h"

namespace tessel::propagation {

using AxisList = llvm::SmallVector<spmd::AxisRefAttr>;

/// Projects `axes` (one dimension's) onto factors of `factorSizes`. A
/// dimension that is a single factor (the others of size 1) passes all its
/// axes to it, dividing its size or not (uneven shards are padded); in a
/// dimension of several factors, axes that do not fit evenly are left out
/// (`complete` is false then), since padding one factor would not pad the
/// dimension at its end.
llvm::SmallVector<AxisList>
projectToFactors(llvm::ArrayRef<spmd::AxisRefAttr> axes,
                 llvm::ArrayRef<int64_t> factorSizes, spmd::MeshAttr mesh,
                 bool *complete = nullptr);

/// The axes of a dimension made of factors with `factorSizes` whose axes
/// are `factorAxes`, sub-axes merged back where they meet. A factor split
/// unevenly contributes only if it is the dimension's single factor.
AxisList projectToDimension(llvm::ArrayRef<AxisList> factorAxes,
                            llvm::ArrayRef<int64_t> factorSizes,
                            spmd::MeshAttr mesh);

/// Merges adjacent sub-axes of one axis ("y":(1)2, "y":(2)2 -> "y").
AxisList normalizeAxes(llvm::ArrayRef<spmd::AxisRefAttr> axes,
                       spmd::MeshAttr mesh);

/// The number of parts `axes` split into (the dialect's).
using spmd::totalSize;

/// Whether `prefix` is a prefix of `axes` (equal axes).
bool isPrefix(llvm::ArrayRef<spmd::AxisRefAttr> prefix,
              llvm::ArrayRef<spmd::AxisRefAttr> axes);

/// The axes on which every operand of an op holding `factor` of `rule`
/// agrees (their common prefix): the axes a reduction factor is split by.
/// `operandDims[i][d]` are operand i's dimension d axes.
AxisList
agreedOperandAxes(spmd::OpShardingRuleAttr rule, int64_t factor,
                  llvm::ArrayRef<llvm::SmallVector<AxisList>> operandDims,
                  spmd::MeshAttr mesh);

} // namespace tessel::propagation

#endif // TESSEL_PASSES_PROPAGATION_SHARDINGPROJECTION_H
