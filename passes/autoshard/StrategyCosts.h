//===- StrategyCosts.h - What a strategy and a reshard cost -----*- C++ -*-===//
//
// Prices auto-sharding's choices with the cost model: a node's strategy
// (its share of the op's FLOPs and bytes, and the all-reduce of a partial
// result), the reshard between two layouts of a tensor (the partitioner's
// own chain of collectives, compiler/cost's price for each), and a layout's
// bytes per device.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_STRATEGYCOSTS_H
#define TESSEL_PASSES_AUTOSHARD_STRATEGYCOSTS_H

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "compiler/cost/CostModel.h"
#include "passes/autoshard/Strategies.h"

namespace tessel::autoshard {

/// FLOPs of the whole op (its graph::CostOpInterface; other dialects' ops
/// count one per result element).
double flopsOf(mlir::Operation *op);

/// The kernel family that runs `op` on a device, as a calibrated device
/// profile names it: the op's name, or "fusion" for an op without a
/// kernel of its own (elementwise ops run fused).
std::string kernelFamilyOf(mlir::Operation *op);

class StrategyCosts {
public:
  StrategyCosts(spmd::MeshAttr mesh, const cost::CostModel &model)
      : mesh(mesh), model(model) {}

  /// Bytes of one device's part of a tensor of `type` laid out as `dims`
  /// (parts rounded up, as padded shards are).
  int64_t localBytes(mlir::RankedTensorType type, const Dims &dims) const;
  /// Moving a tensor from one layout to another: the seconds, and the
  /// largest workspace a collective of it takes (CostModel::
  /// collectiveWorkspaceBytes), bytes per device.
  struct Reshard {
    double seconds = 0;
    int64_t workspace = 0;
    /// A reshard that is one all_slice of one dimension: its axes, sorted.
    std::vector<std::string> sliceAlone;
  };
  /// The partitioner's chain of collectives to move a tensor of `type`
  /// from `from` to `to`, priced (cached).
  const Reshard &reshard(mlir::RankedTensorType type, const Dims &from,
                         const Dims &to);
  /// Its seconds.
  double reshardSeconds(mlir::RankedTensorType type, const Dims &from,
                        const Dims &to) {
    return reshard(type, from, to).seconds;
  }
  /// Seconds of `node`'s strategy `s`: compute, and the all-reduce of a
  /// partial result.
  std::pair<double, double> strategySeconds(const StrategyNode &node,
                                            size_t s) const;
  /// The axes `node`'s result under strategy `s` is partial sums over,
  /// sorted; empty where it is not, or where they hold one device.
  std::vector<std::string> partialAxes(const StrategyNode &node,
                                       size_t s) const;
  /// The workspace of the all-reduce of `node`'s partial result under
  /// strategy `s` (0 without one), bytes per device.
  int64_t strategyWorkspaceBytes(const StrategyNode &node, size_t s) const;
  /// Where a reader takes `node`'s result (strategy `s`), partial sums
  /// over `axes` (sorted), laid out as `to` by slicing one dimension
  /// along exactly those axes, the partitioner makes the all-reduce and
  /// the slice one reduce_scatter (spmd.all_slice's canonicalization):
  /// its workspace, bytes per device; else 0.
  int64_t reduceScatterWorkspaceBytes(const StrategyNode &node, size_t s,
                                      const std::vector<std::string> &axes,
                                      const Dims &to);

private:
  std::vector<int64_t> groupOf(const std::vector<std::string> &names) const;
  /// The axes a strategy's partial result is summed over (empty: none),
  /// and that result's bytes per device.
  std::pair<std::vector<std::string>, double>
  partialOf(const StrategyNode &node, size_t s) const;

  spmd::MeshAttr mesh;
  const cost::CostModel &model;
  /// By the type's and the axes' pointers (reshard()).
  std::map<std::vector<const void *>, Reshard> reshardCache;
};

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_STRATEGYCOSTS_H
