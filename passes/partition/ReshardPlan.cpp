//===- ReshardPlan.cpp - The collectives a reshard becomes ----------------===//

#include "passes/partition/ReshardPlan.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"

namespace tessel::partition {
namespace {

bool isPrefix(const Axes &prefix, const Axes &of) {
  return prefix.size() <= of.size() &&
         std::equal(prefix.begin(), prefix.end(), of.begin());
}

} // namespace

Layout layoutOf(spmd::ShardingAttr sharding, int64_t rank) {
  Layout layout;
  layout.dims.resize(rank);
  if (!sharding)
    return layout;
  for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
    for (spmd::AxisRefAttr axis : dim.getAxes())
      layout.dims[d].push_back(spmd::axisName(axis));
  for (spmd::PartialAxisAttr partial : sharding.getPartial())
    layout.partial.emplace_back(spmd::axisName(partial.getAxis()),
                                partial.getReduction().str());
  return layout;
}

int64_t partsOf(const Axes &axes, spmd::MeshAttr mesh) {
  int64_t result = 1;
  for (const std::string &name : axes)
    if (spmd::AxisRefAttr axis = spmd::parseAxisName(mesh.getContext(), name))
      result *= axis.size(mesh);
  return result;
}

mlir::FailureOr<std::vector<CollectiveStep>>
planReshard(const Layout &from, const Layout &to, llvm::ArrayRef<int64_t> shape,
            spmd::MeshAttr mesh, std::string &error) {
  std::vector<CollectiveStep> steps;
  Layout layout = from;
  auto parts = [&](const Axes &axes) { return partsOf(axes, mesh); };
  // Whether dimension `d`, split by `axes`, can be split further by `more`
  // (or joined from that) in place: each part of the coarser split is the
  // finer split's parts, padding included. From whole, a split pads the
  // end; to whole, a gather drops it.
  auto regroups = [&](size_t d, const Axes &axes, const Axes &more) {
    int64_t coarse = parts(axes), factor = parts(more);
    return coarse == 1 ||
           llvm::divideCeil(shape[d], coarse) ==
               factor * llvm::divideCeil(shape[d], coarse * factor);
  };
  auto step = [&](CollectiveStep::Kind kind) -> CollectiveStep & {
    steps.push_back({kind, layout, layout, {}, {}, -1, -1, {}});
    return steps.back();
  };

  // 1. Reduce the partial axes the target does not keep, one all_reduce per
  // reduction kind.
  for (const auto &[axis, reduction] : to.partial)
    if (!llvm::is_contained(layout.partial, std::make_pair(axis, reduction))) {
      error = "cannot make a value partial over \"" + axis + "\" (" +
              reduction + "): only reductions remove partial axes";
      return mlir::failure();
    }
  while (true) {
    auto pending = llvm::find_if(layout.partial, [&](const auto &partial) {
      return !llvm::is_contained(to.partial, partial);
    });
    if (pending == layout.partial.end())
      break;
    std::string reduction = pending->second;
    CollectiveStep &reduce = step(CollectiveStep::AllReduce);
    reduce.reduction = reduction;
    llvm::erase_if(layout.partial, [&](const auto &partial) {
      if (partial.second != reduction ||
          llvm::is_contained(to.partial, partial))
        return false;
      reduce.axes.push_back(partial.first);
      return true;
    });
    reduce.after = layout;
  }

  // 2. The same number of parts per dimension: devices swap whole parts.
  size_t rank = layout.dims.size();
  if (layout.dims != to.dims &&
      llvm::all_of(llvm::seq<size_t>(0, rank), [&](size_t d) {
        return parts(layout.dims[d]) == parts(to.dims[d]);
      })) {
    CollectiveStep &permute = step(CollectiveStep::CollectivePermute);
    layout.dims = to.dims;
    permute.after = layout;
  }

  // 3. Move or gather what is out of place, then slice what is missing.
  auto rest = [&](size_t d) {
    return Axes(to.dims[d].begin() + layout.dims[d].size(), to.dims[d].end());
  };
  auto misplaced = [&](size_t d) {
    return !isPrefix(layout.dims[d], to.dims[d]) ||
           !regroups(d, layout.dims[d], rest(d));
  };
  while (llvm::any_of(llvm::seq<size_t>(0, rank), misplaced)) {
    bool moved = false;
    for (size_t d = 0; d < rank && !moved; ++d) {
      if (!misplaced(d))
        continue;
      const std::string axis = layout.dims[d].back();
      for (size_t e = 0; e < rank; ++e) {
        if (e == d || misplaced(e))
          continue;
        const Axes &want = to.dims[e];
        size_t next = layout.dims[e].size();
        Axes remaining(layout.dims[d].begin(), layout.dims[d].end() - 1);
        if (next < want.size() && want[next] == axis &&
            regroups(d, remaining, {axis}) &&
            regroups(e, layout.dims[e], {axis})) {
          CollectiveStep &move = step(CollectiveStep::AllToAll);
          layout.dims[d].pop_back();
          layout.dims[e].push_back(axis);
          move.axes = {axis};
          move.srcDim = static_cast<int64_t>(d);
          move.tgtDim = static_cast<int64_t>(e);
          move.after = layout;
          moved = true;
          break;
        }
      }
    }
    if (moved)
      continue;
    // Nothing can move: gather every misplaced dimension's axes beyond its
    // common prefix with the target, one all_gather per dimension (each
    // concatenates along one dimension, as runtimes do).
    for (size_t d = 0; d < rank; ++d) {
      size_t keep = 0;
      while (keep < layout.dims[d].size() && keep < to.dims[d].size() &&
             layout.dims[d][keep] == to.dims[d][keep])
        ++keep;
      Axes prefix(layout.dims[d].begin(), layout.dims[d].begin() + keep);
      if (!regroups(
              d, prefix,
              Axes(layout.dims[d].begin() + keep, layout.dims[d].end())) ||
          !regroups(d, prefix,
                    Axes(to.dims[d].begin() + keep, to.dims[d].end())))
        keep = 0;
      if (keep == layout.dims[d].size())
        continue;
      CollectiveStep &gather = step(CollectiveStep::AllGather);
      gather.perDim.resize(rank);
      gather.perDim[d].assign(layout.dims[d].begin() + keep,
                              layout.dims[d].end());
      layout.dims[d].resize(keep);
      gather.after = layout;
    }
  }
  if (layout.dims != to.dims) {
    CollectiveStep &slice = step(CollectiveStep::AllSlice);
    slice.perDim.resize(rank);
    for (size_t d = 0; d < rank; ++d)
      slice.perDim[d].assign(to.dims[d].begin() + layout.dims[d].size(),
                             to.dims[d].end());
    layout.dims = to.dims;
    slice.after = layout;
  }
  return steps;
}

} // namespace tessel::partition
