//===- Layout.h - Which device holds which block of a tensor ----*- C++ -*-===//
//
// A tensor's layout on the mesh as data: its global shape, its sharding
// per dimension, and for every device the block it holds (the part index
// along each dimension). Taken from a propagated module (every tensor has
// a sharding), kept MLIR-free for the drawings: drawLayout draws it in
// text as jax.debug.visualize_array_sharding does (a grid of blocks, each
// with the devices that hold it), and the HTML report (PlanReport.h) in
// colour.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_REPORT_LAYOUT_H
#define TESSEL_COMPILER_REPORT_LAYOUT_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"

namespace tessel::report {

/// The mesh: axis names and sizes, devices numbered row-major.
struct MeshShape {
  std::vector<std::string> axes;
  std::vector<int64_t> sizes;
  int64_t devices() const;
};

struct TensorLayout {
  enum class Kind { Input, Parameter, Activation };
  std::string name;
  Kind kind = Kind::Activation;
  std::vector<int64_t> shape;
  std::string elementType;
  int64_t elementBytes = 4;
  /// Per dimension, the axes splitting it (axisName form, major first).
  std::vector<std::vector<std::string>> axes;
  /// Axes the values are partial sums over ("y: sum").
  std::vector<std::string> partial;
  /// Per dimension, where its layout came from (empty: not recorded).
  std::vector<std::string> origins;
  /// Per dimension: its number of parts, and each device's part.
  std::vector<int64_t> parts;
  std::vector<std::vector<int64_t>> partOfDevice;

  int64_t bytes() const;
  /// The layout as the plan writes it: ["x", null].
  std::string spec() const;
  /// [begin, end) of part `p` of dimension `d` (the last parts of an
  /// uneven split are short or empty).
  std::pair<int64_t, int64_t> range(int64_t d, int64_t p) const;
};

/// The mesh of `module` and the layout of each named tensor of its one
/// function (arguments, then op results, in program order), read from
/// the shardings propagation wrote. Empty if the module has no mesh.
struct ModuleLayouts {
  MeshShape mesh;
  std::vector<TensorLayout> tensors;
  /// The layout of the tensor `name`; an error naming the nearest name if
  /// there is none.
  absl::StatusOr<const TensorLayout *> find(const std::string &name) const;
};
ModuleLayouts moduleLayouts(mlir::ModuleOp module);

/// Where the layout came from, one line per distinct origin: "dims 0, 1:
/// the plan's entry for tensor 'w'".
std::vector<std::string> originLines(const TensorLayout &layout);

/// The tensor's blocks as a grid, with the devices holding each:
///
///   'w' 64x192 f32, ["x", "y"]
///              cols 0:48   cols 48:96  ...
///   rows 0:32  0           1
///   rows 32:64 4           5
///
/// Rows follow the first split dimension, columns the others (for an
/// unsplit tensor, its first and last dimensions).
std::string drawLayout(const TensorLayout &layout);

/// The grid drawLayout draws: row and column labels, and per cell the
/// devices holding that block.
struct LayoutGrid {
  std::vector<std::string> rows, columns;
  std::vector<std::vector<std::vector<int64_t>>> cells;
};
LayoutGrid layoutGrid(const TensorLayout &layout);

} // namespace tessel::report

#endif // TESSEL_COMPILER_REPORT_LAYOUT_H
