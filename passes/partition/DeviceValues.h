//===- DeviceValues.h - Elements a device's program computes ----*- C++ -*-===//
//
// On local shapes, some values do not depend on the model's inputs: masks
// made of iotas and comparisons, of constants, or of a parameter whose value
// the IR records (graph.diagonal_band), cut to each device's part by
// spmd.all_slice. DeviceEvaluator reads such a value element by element as
// one device of the mesh computes it, following each element back through
// shape and elementwise ops, so that a pass can prove a fact about it (ring
// attention: that a mask is causal) without materializing it.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_PARTITION_DEVICEVALUES_H
#define TESSEL_PASSES_PARTITION_DEVICEVALUES_H

#include <optional>
#include <vector>

#include "dialects/spmd/SpmdDialect.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

namespace tessel::partition {

class DeviceEvaluator {
public:
  /// Device `device` (an id, as spmd::partIndices numbers them) of `mesh`.
  DeviceEvaluator(spmd::MeshAttr mesh, int64_t device)
      : mesh(mesh), device(device) {}

  /// The element of `value` at `index` (bools and integers as numbers);
  /// std::nullopt if it depends on something unknown here (an input, a
  /// parameter without a recorded value, an op this evaluator does not
  /// follow).
  std::optional<double> at(mlir::Value value, llvm::ArrayRef<int64_t> index);

  /// `count` elements of `value` along its last dimension from `index`,
  /// `step` apart: a row at once, for the cost of following one element
  /// where the ops keep the last dimension in place.
  std::optional<std::vector<double>> row(mlir::Value value,
                                         llvm::ArrayRef<int64_t> index,
                                         int64_t count, int64_t step = 1);

private:
  spmd::MeshAttr mesh;
  int64_t device;
  /// Constants' elements, decoded once.
  llvm::DenseMap<mlir::Operation *, std::vector<double>> constants;
  /// Per all_slice, this device's offset in each dimension.
  llvm::DenseMap<mlir::Operation *, std::vector<int64_t>> offsets;
};

} // namespace tessel::partition

#endif // TESSEL_PASSES_PARTITION_DEVICEVALUES_H
