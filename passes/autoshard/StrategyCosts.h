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
  /// Seconds to move a tensor of `type` from `from` to `to` (cached).
  double reshardSeconds(mlir::RankedTensorType type, const Dims &from,
                        const Dims &to);
  /// Seconds of `node`'s strategy `s`: compute, and the all-reduce of a
  /// partial result.
  std::pair<double, double> strategySeconds(const StrategyNode &node,
                                            size_t s) const;

private:
  std::vector<int64_t> groupOf(const std::vector<std::string> &names) const;

  spmd::MeshAttr mesh;
  const cost::CostModel &model;
  std::map<std::string, double> reshardCache;
};

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_STRATEGYCOSTS_H
