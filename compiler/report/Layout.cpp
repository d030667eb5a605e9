//===- Layout.cpp - Which device holds which block of a tensor ------------===//

#include "compiler/report/Layout.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/DeviceGroups.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "runtime/Names.h"

namespace tessel::report {

int64_t MeshShape::devices() const {
  int64_t n = 1;
  for (int64_t size : sizes)
    n *= size;
  return n;
}

int64_t TensorLayout::bytes() const {
  int64_t n = elementBytes;
  for (int64_t size : shape)
    n *= size;
  return n;
}

std::string TensorLayout::spec() const { return spmd::formatPlanSpec(axes); }

std::pair<int64_t, int64_t> TensorLayout::range(int64_t d, int64_t p) const {
  int64_t part = (shape[d] + parts[d] - 1) / parts[d];
  return {std::min(shape[d], p * part), std::min(shape[d], (p + 1) * part)};
}

namespace {

std::string elementTypeName(mlir::Type type, int64_t &bytes) {
  bytes = std::max<int64_t>(1, (type.getIntOrFloatBitWidth() + 7) / 8);
  std::string text;
  llvm::raw_string_ostream out(text);
  type.print(out);
  return text;
}

TensorLayout layoutOf(mlir::Value value, const std::string &name,
                      TensorLayout::Kind kind, spmd::MeshAttr mesh) {
  auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
  TensorLayout layout;
  layout.name = name;
  layout.kind = kind;
  layout.shape.assign(type.getShape().begin(), type.getShape().end());
  layout.elementType =
      elementTypeName(type.getElementType(), layout.elementBytes);
  spmd::ShardingAttr sharding = spmd::getSharding(value);
  llvm::SmallVector<std::string> origins = spmd::getOrigins(value);
  int64_t devices = mesh.numDevices();
  for (int64_t d = 0; d < type.getRank(); ++d) {
    llvm::ArrayRef<spmd::AxisRefAttr> dimAxes;
    if (sharding && d < static_cast<int64_t>(sharding.getDims().size()))
      dimAxes = sharding.getDims()[d].getAxes();
    std::vector<std::string> names;
    for (spmd::AxisRefAttr axis : dimAxes)
      names.push_back(spmd::axisName(axis));
    layout.axes.push_back(names);
    layout.parts.push_back(spmd::totalSize(dimAxes, mesh));
    layout.partOfDevice.push_back(dimAxes.empty()
                                      ? std::vector<int64_t>(devices, 0)
                                      : spmd::partIndicesOf(mesh, dimAxes));
    layout.origins.push_back(
        d < static_cast<int64_t>(origins.size()) ? origins[d] : "");
  }
  if (sharding)
    for (spmd::PartialAxisAttr axis : sharding.getPartial())
      layout.partial.push_back(spmd::axisName(axis.getAxis()) + ": " +
                               axis.getReduction().str());
  return layout;
}

} // namespace

ModuleLayouts moduleLayouts(mlir::ModuleOp module) {
  ModuleLayouts result;
  auto meshes = llvm::to_vector(module.getOps<spmd::MeshOp>());
  auto functions = llvm::to_vector(module.getOps<mlir::func::FuncOp>());
  if (meshes.size() != 1 || functions.size() != 1)
    return result;
  spmd::MeshAttr mesh = meshes.front().getMesh();
  for (spmd::MeshAxisAttr axis : mesh.getAxes()) {
    result.mesh.axes.push_back(axis.getName().str());
    result.mesh.sizes.push_back(axis.getSize());
  }
  mlir::func::FuncOp function = functions.front();
  std::map<std::string, int> seen;
  auto add = [&](mlir::Value value, TensorLayout::Kind kind) {
    if (!mlir::isa<mlir::RankedTensorType>(value.getType()))
      return;
    std::string name = spmd::tensorName(value);
    // One entry per name (CSE'd or fused names would repeat).
    if (name.empty() || seen[name]++)
      return;
    result.tensors.push_back(layoutOf(value, name, kind, mesh));
  };
  for (mlir::BlockArgument argument : function.getArguments())
    add(argument, function.getArgAttr(argument.getArgNumber(),
                                      graph::GraphDialect::kParameterAttr)
                      ? TensorLayout::Kind::Parameter
                      : TensorLayout::Kind::Input);
  function.walk([&](mlir::Operation *op) {
    if (mlir::isa<mlir::func::FuncOp, mlir::func::ReturnOp>(op))
      return;
    for (mlir::Value result : op->getResults())
      add(result, TensorLayout::Kind::Activation);
  });
  return result;
}

absl::StatusOr<const TensorLayout *>
ModuleLayouts::find(const std::string &name) const {
  std::vector<std::string> names;
  for (const TensorLayout &layout : tensors) {
    if (layout.name == name)
      return &layout;
    names.push_back(layout.name);
  }
  return absl::NotFoundError(
      withNameHint("'" + name + "' is no tensor of the model" +
                       (tensors.empty() ? " compiled for a mesh" : ""),
                   name, names, "tensors", /*listAtMost=*/0));
}

LayoutGrid layoutGrid(const TensorLayout &layout) {
  int64_t rank = static_cast<int64_t>(layout.shape.size());
  std::vector<int64_t> split;
  for (int64_t d = 0; d < rank; ++d)
    if (layout.parts[d] > 1)
      split.push_back(d);
  // Columns: the last dimension, or the split ones after the first;
  // rows: the first split dimension, else the first (a 1-D tensor reads
  // across, as jax draws it).
  std::vector<int64_t> rowDims, columnDims;
  if (split.size() >= 2) {
    rowDims = {split.front()};
    columnDims.assign(split.begin() + 1, split.end());
  } else if (rank == 1) {
    columnDims = {0};
  } else if (rank >= 2) {
    bool lastSplit = split.size() == 1 && split.front() == rank - 1;
    rowDims = {split.empty() || lastSplit ? 0 : split.front()};
    columnDims = {rank - 1};
  }
  auto labels = [&](const std::vector<int64_t> &dims) {
    // Mixed-radix over the dims' parts, the first the most major.
    std::vector<std::string> out;
    int64_t count = 1;
    for (int64_t d : dims)
      count *= layout.parts[d];
    for (int64_t k = 0; k < count; ++k) {
      std::vector<std::string> pieces;
      int64_t rest = k, stride = count;
      for (int64_t d : dims) {
        stride /= layout.parts[d];
        int64_t p = rest / stride;
        rest %= stride;
        auto [begin, end] = layout.range(d, p);
        pieces.push_back(absl::StrFormat(
            "%s%d:%d",
            dims.size() > 1 || rank > 2 ? absl::StrCat("d", d, " ") : "", begin,
            end));
      }
      out.push_back(pieces.empty() ? "all" : absl::StrJoin(pieces, ", "));
    }
    return out;
  };
  auto indexOf = [&](const std::vector<int64_t> &dims, int64_t device) {
    int64_t index = 0;
    for (int64_t d : dims)
      index = index * layout.parts[d] + layout.partOfDevice[d][device];
    return index;
  };
  LayoutGrid grid;
  grid.rows = labels(rowDims);
  grid.columns = labels(columnDims);
  grid.cells.assign(grid.rows.size(),
                    std::vector<std::vector<int64_t>>(grid.columns.size()));
  int64_t devices =
      layout.partOfDevice.empty()
          ? 1
          : static_cast<int64_t>(layout.partOfDevice.front().size());
  for (int64_t device = 0; device < devices; ++device) {
    if (layout.partOfDevice.empty()) {
      grid.cells[0][0].push_back(device);
      continue;
    }
    grid.cells[indexOf(rowDims, device)][indexOf(columnDims, device)].push_back(
        device);
  }
  return grid;
}

std::vector<std::string> originLines(const TensorLayout &layout) {
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  for (size_t d = 0; d < layout.origins.size(); ++d) {
    if (layout.origins[d].empty())
      continue;
    auto found = std::find_if(groups.begin(), groups.end(), [&](auto &group) {
      return group.first == layout.origins[d];
    });
    if (found == groups.end())
      groups.push_back({layout.origins[d], {d}});
    else
      found->second.push_back(d);
  }
  std::vector<std::string> lines;
  for (const auto &[origin, dims] : groups)
    lines.push_back(absl::StrCat(dims.size() > 1 ? "dims " : "dim ",
                                 absl::StrJoin(dims, ", "), ": ", origin));
  return lines;
}

std::string drawLayout(const TensorLayout &layout) {
  std::vector<std::string> dims;
  for (int64_t size : layout.shape)
    dims.push_back(absl::StrCat(size));
  std::string text =
      absl::StrFormat("'%s' %s %s, %s", layout.name,
                      dims.empty() ? "scalar" : absl::StrJoin(dims, "x"),
                      layout.elementType, layout.spec());
  if (!layout.partial.empty())
    absl::StrAppend(&text, ", partial over ",
                    absl::StrJoin(layout.partial, ", "));
  absl::StrAppend(&text, "\n");
  for (const std::string &line : originLines(layout))
    absl::StrAppend(&text, "  ", line, "\n");
  LayoutGrid grid = layoutGrid(layout);
  auto cellText = [](const std::vector<int64_t> &devices) {
    return devices.empty() ? std::string("(padding)")
                           : "dev " + absl::StrJoin(devices, ",");
  };
  size_t rowWidth = 0, width = 0;
  for (const std::string &row : grid.rows)
    rowWidth = std::max(rowWidth, row.size());
  for (const std::string &column : grid.columns)
    width = std::max(width, column.size());
  for (const auto &row : grid.cells)
    for (const auto &cell : row)
      width = std::max(width, cellText(cell).size());
  auto pad = [](const std::string &s, size_t n) {
    return s + std::string(n > s.size() ? n - s.size() : 0, ' ');
  };
  std::string rule = "  " + std::string(rowWidth, '-');
  for (size_t c = 0; c < grid.columns.size(); ++c)
    rule += "-+-" + std::string(width, '-');
  text += "  " + pad("", rowWidth);
  for (const std::string &column : grid.columns)
    text += " | " + pad(column, width);
  text += "\n" + rule + "\n";
  for (size_t r = 0; r < grid.rows.size(); ++r) {
    text += "  " + pad(grid.rows[r], rowWidth);
    for (const auto &cell : grid.cells[r])
      text += " | " + pad(cellText(cell), width);
    text += "\n";
  }
  return text;
}

} // namespace tessel::report
