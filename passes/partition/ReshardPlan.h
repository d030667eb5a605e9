//===- ReshardPlan.h - The collectives a reshard becomes --------*- C++ -*-===//
//
// One source of truth for what a reshard costs: the chain of collectives
// from one layout to another, as --spmd-reshard-to-collectives emits it and
// as auto-sharding prices it.
//
// A layout is, per dimension, its axes (major to minor, named as
// collectives name them: "x", or "x:(2)2" for a sub-axis), plus the partial
// axes. The chain from the source layout to the target's only ever removes
// a dimension's minor-most axes and appends axes, so that every
// intermediate layout is one the collectives can produce: after the
// reductions, axes that are not a prefix of their target dimension leave
// (to another dimension by all_to_all where the target wants them next
// there, else by all_gather), and what the target adds comes last, by a
// local all_slice.
//
// Uneven dimensions are padded to ceil(size / parts) per part, and parts of
// one split are not always made of parts of a finer one (7 in 3 parts is
// 3+3+1, in 6 parts 2+2+2+1+0+0, and pairs of the latter are not the
// former). Where that is so, the dimension goes through whole: all its axes
// are gathered and the target's sliced afresh.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_PARTITION_RESHARDPLAN_H
#define TESSEL_PASSES_PARTITION_RESHARDPLAN_H

#include <string>
#include <utility>
#include <vector>

#include "dialects/spmd/SpmdDialect.h"

namespace tessel::partition {

using Axes = std::vector<std::string>;

struct Layout {
  std::vector<Axes> dims;
  /// (axis, reduction) pairs.
  std::vector<std::pair<std::string, std::string>> partial;

  bool operator==(const Layout &other) const {
    return dims == other.dims && partial == other.partial;
  }
};

/// The layout `sharding` gives a tensor of `rank` (none: replicated).
Layout layoutOf(spmd::ShardingAttr sharding, int64_t rank);

struct CollectiveStep {
  enum Kind { AllReduce, CollectivePermute, AllToAll, AllGather, AllSlice };
  Kind kind;
  /// The layouts the step leaves and arrives at.
  Layout before, after;
  /// all_reduce: the axes reduced; all_to_all: the one axis moved.
  Axes axes;
  /// all_reduce: "sum", "max" or "min".
  std::string reduction;
  /// all_to_all: the dimension the axis leaves and the one it joins.
  int64_t srcDim = -1, tgtDim = -1;
  /// all_gather, all_slice: per dimension, the axes gathered or sliced.
  std::vector<Axes> perDim;
};

/// The chain from `from` to `to` for a tensor of `shape` on `mesh`; an
/// error (in `error`) if there is none: a reshard cannot make a value
/// partial.
mlir::FailureOr<std::vector<CollectiveStep>>
planReshard(const Layout &from, const Layout &to, llvm::ArrayRef<int64_t> shape,
            spmd::MeshAttr mesh, std::string &error);

/// The number of parts `axes` split a dimension into.
int64_t partsOf(const Axes &axes, spmd::MeshAttr mesh);

} // namespace tessel::partition

#endif // TESSEL_PASSES_PARTITION_RESHARDPLAN_H
