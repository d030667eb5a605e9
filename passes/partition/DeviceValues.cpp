//===- DeviceValues.cpp - Elements a device's program computes ------------===//

#include "passes/partition/DeviceValues.h"

#include <cmath>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/DeviceGroups.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"

namespace tessel::partition {

namespace {

using Index = llvm::SmallVector<int64_t, 6>;

llvm::ArrayRef<int64_t> shapeOf(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType()).getShape();
}

/// The element a row-major index into `from` is in `to` (same count).
Index regroup(llvm::ArrayRef<int64_t> index, llvm::ArrayRef<int64_t> from,
              llvm::ArrayRef<int64_t> to) {
  int64_t linear = 0;
  for (auto [i, size] : llvm::zip_equal(index, from))
    linear = linear * size + i;
  Index result(to.size());
  for (int64_t d = int64_t(to.size()) - 1; d >= 0; --d) {
    result[d] = to[d] ? linear % to[d] : 0;
    linear = to[d] ? linear / to[d] : 0;
  }
  return result;
}

bool compare(graph::ComparisonDirection direction, double a, double b) {
  switch (direction) {
  case graph::ComparisonDirection::EQ:
    return a == b;
  case graph::ComparisonDirection::NE:
    return a != b;
  case graph::ComparisonDirection::LT:
    return a < b;
  case graph::ComparisonDirection::LE:
    return a <= b;
  case graph::ComparisonDirection::GT:
    return a > b;
  case graph::ComparisonDirection::GE:
    return a >= b;
  }
  return false;
}

} // namespace

std::optional<double> DeviceEvaluator::at(mlir::Value value,
                                          llvm::ArrayRef<int64_t> index) {
  std::optional<std::vector<double>> one = row(value, index, 1);
  if (!one)
    return std::nullopt;
  return (*one)[0];
}

std::optional<std::vector<double>>
DeviceEvaluator::row(mlir::Value value, llvm::ArrayRef<int64_t> index,
                     int64_t count, int64_t step) {
  using Row = std::optional<std::vector<double>>;
  int64_t rank = index.size();
  auto fill = [&](std::optional<double> x) -> Row {
    if (!x)
      return std::nullopt;
    return std::vector<double>(count, *x);
  };
  // Element by element, where an op moves the last dimension.
  auto each = [&](auto element) -> Row {
    std::vector<double> values;
    Index at(index);
    for (int64_t i = 0; i < count; ++i) {
      at.back() = index.back() + i * step;
      std::optional<double> x = element(at);
      if (!x)
        return std::nullopt;
      values.push_back(*x);
    }
    return values;
  };
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    // A parameter with a recorded band, whole or this device's part.
    auto function =
        mlir::dyn_cast<mlir::func::FuncOp>(argument.getOwner()->getParentOp());
    if (!function || rank < 2)
      return std::nullopt;
    auto band = function.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
        argument.getArgNumber(), graph::GraphDialect::kDiagonalBandAttr);
    if (!band || band.size() != 2)
      return std::nullopt;
    Index global(index);
    if (auto sharding = spmd::getSharding(value)) {
      llvm::ArrayRef<int64_t> local = shapeOf(value);
      for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
        if (int64_t(d) < rank && !dim.getAxes().empty())
          global[d] +=
              spmd::partIndicesOf(mesh, dim.getAxes())[device] * local[d];
    }
    std::vector<double> values;
    for (int64_t i = 0; i < count; ++i) {
      int64_t diagonal = global.back() + i * step - global[rank - 2];
      values.push_back(band[0] <= diagonal && diagonal <= band[1] ? 1.0 : 0.0);
    }
    return values;
  }
  mlir::Operation *op = value.getDefiningOp();
  auto same = [&](unsigned i) {
    return row(op->getOperand(i), index, count, step);
  };
  // The rows of the first `arity` operands, unless one is unknown.
  auto operands =
      [&](unsigned arity) -> std::optional<std::vector<std::vector<double>>> {
    std::vector<std::vector<double>> rows;
    for (unsigned k = 0; k < arity; ++k) {
      Row r = same(k);
      if (!r)
        return std::nullopt;
      rows.push_back(std::move(*r));
    }
    return rows;
  };
  auto unary = [&](auto apply) -> Row {
    auto x = operands(1);
    if (!x)
      return std::nullopt;
    for (double &v : (*x)[0])
      v = apply(v);
    return std::move((*x)[0]);
  };
  auto binary = [&](auto combine) -> Row {
    auto x = operands(2);
    if (!x)
      return std::nullopt;
    for (int64_t i = 0; i < count; ++i)
      (*x)[0][i] = combine((*x)[0][i], (*x)[1][i]);
    return std::move((*x)[0]);
  };
  return llvm::TypeSwitch<mlir::Operation *, Row>(op)
      .Case([&](graph::ConstantOp constant) -> Row {
        auto elements =
            mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue());
        if (!elements)
          return std::nullopt;
        auto [it, fresh] = constants.try_emplace(op);
        std::vector<double> &values = it->second;
        if (fresh) {
          mlir::Type element = elements.getElementType();
          if (mlir::isa<mlir::FloatType>(element)) {
            for (const llvm::APFloat &x : elements.getValues<llvm::APFloat>())
              values.push_back(x.convertToDouble());
          } else if (element.isInteger(1)) {
            for (bool x : elements.getValues<bool>())
              values.push_back(x);
          } else {
            for (const llvm::APInt &x : elements.getValues<llvm::APInt>())
              values.push_back(element.isUnsignedInteger()
                                   ? double(x.getZExtValue())
                                   : double(x.getSExtValue()));
          }
        }
        if (values.size() == 1)
          return fill(values[0]);
        return each([&](llvm::ArrayRef<int64_t> at) {
          return values[regroup(at, shapeOf(value),
                                {int64_t(values.size())})[0]];
        });
      })
      .Case([&](graph::IotaOp iota) -> Row {
        int64_t dim = iota.getDimension();
        if (dim != rank - 1)
          return fill(double(index[dim]));
        std::vector<double> values;
        for (int64_t i = 0; i < count; ++i)
          values.push_back(double(index.back() + i * step));
        return values;
      })
      .Case([&](graph::BroadcastInDimOp broadcast) -> Row {
        llvm::ArrayRef<int64_t> source = shapeOf(broadcast.getOperand());
        llvm::ArrayRef<int64_t> dims = broadcast.getBroadcastDimensions();
        Index inner;
        for (auto [d, to] : llvm::enumerate(dims))
          inner.push_back(source[d] == 1 ? 0 : index[to]);
        // The row runs along the source's last dimension, or along none.
        bool along =
            !source.empty() && dims.back() == rank - 1 && source.back() != 1;
        if (along)
          return row(broadcast.getOperand(), inner, count, step);
        if (!llvm::is_contained(dims, rank - 1) ||
            source[llvm::find(dims, rank - 1) - dims.begin()] == 1)
          return fill(at(broadcast.getOperand(), inner));
        return each([&](llvm::ArrayRef<int64_t> at) {
          Index moved;
          for (auto [d, to] : llvm::enumerate(dims))
            moved.push_back(source[d] == 1 ? 0 : at[to]);
          return this->at(broadcast.getOperand(), moved);
        });
      })
      .Case([&](graph::SliceOp slice) -> Row {
        Index inner;
        for (auto [i, start, stride] : llvm::zip_equal(
                 index, slice.getStartIndices(), slice.getStrides()))
          inner.push_back(start + i * stride);
        return row(slice.getOperand(), inner, count,
                   step * slice.getStrides().back());
      })
      .Case([&](graph::ReshapeOp reshape) -> Row {
        llvm::ArrayRef<int64_t> source = shapeOf(reshape.getOperand());
        return each([&](llvm::ArrayRef<int64_t> at) {
          return this->at(reshape.getOperand(),
                          regroup(at, shapeOf(value), source));
        });
      })
      .Case([&](graph::TransposeOp transpose) -> Row {
        llvm::ArrayRef<int64_t> permutation = transpose.getPermutation();
        auto inner = [&](llvm::ArrayRef<int64_t> at) {
          Index moved(at.size());
          for (auto [i, from] : llvm::enumerate(permutation))
            moved[from] = at[i];
          return moved;
        };
        if (permutation.back() == rank - 1)
          return row(transpose.getOperand(), inner(index), count, step);
        return each([&](llvm::ArrayRef<int64_t> at) {
          return this->at(transpose.getOperand(), inner(at));
        });
      })
      .Case([&](spmd::AllSliceOp slice) -> Row {
        auto [it, fresh] = offsets.try_emplace(op);
        if (fresh) {
          llvm::ArrayRef<int64_t> local = shapeOf(value);
          for (auto [d, list] : llvm::enumerate(slice.getSlicingAxes()))
            it->second.push_back(
                spmd::partIndices(
                    mesh,
                    spmd::namesOf(mlir::cast<mlir::ArrayAttr>(list)))[device] *
                local[d]);
        }
        Index inner;
        for (auto [i, offset] : llvm::zip_equal(index, it->second))
          inner.push_back(i + offset);
        llvm::ArrayRef<int64_t> whole = shapeOf(slice.getInput());
        for (auto [i, size] : llvm::zip_equal(inner, whole))
          if (i >= size)
            return std::nullopt; // padding of an uneven split
        if (inner.back() + (count - 1) * step >= whole.back())
          return std::nullopt;
        return row(slice.getInput(), inner, count, step);
      })
      .Case([&](graph::ConvertOp) -> Row {
        mlir::Type element = mlir::cast<mlir::RankedTensorType>(value.getType())
                                 .getElementType();
        if (mlir::isa<mlir::FloatType>(element))
          return same(0);
        if (element.isInteger(1))
          return unary([](double x) { return x != 0.0 ? 1.0 : 0.0; });
        return unary([](double x) { return std::trunc(x); });
      })
      .Case([&](graph::CompareOp compareOp) -> Row {
        auto direction = compareOp.getDirection();
        return binary([&](double a, double b) {
          return compare(direction, a, b) ? 1.0 : 0.0;
        });
      })
      .Case([&](graph::SelectOp) -> Row {
        auto x = operands(3);
        if (!x)
          return std::nullopt;
        std::vector<double> &pred = (*x)[0], &onTrue = (*x)[1],
                            &onFalse = (*x)[2];
        for (int64_t i = 0; i < count; ++i)
          pred[i] = pred[i] != 0.0 ? onTrue[i] : onFalse[i];
        return std::move(pred);
      })
      .Case([&](graph::NotOp) {
        return unary([](double x) { return x != 0.0 ? 0.0 : 1.0; });
      })
      .Case([&](graph::NegOp) { return unary([](double x) { return -x; }); })
      .Case([&](graph::AndOp) {
        return binary([](double a, double b) {
          return a != 0.0 && b != 0.0 ? 1.0 : 0.0;
        });
      })
      .Case([&](graph::OrOp) {
        return binary([](double a, double b) {
          return a != 0.0 || b != 0.0 ? 1.0 : 0.0;
        });
      })
      .Case([&](graph::AddOp) {
        return binary([](double a, double b) { return a + b; });
      })
      .Case([&](graph::SubOp) {
        return binary([](double a, double b) { return a - b; });
      })
      .Case([&](graph::MulOp) {
        return binary([](double a, double b) { return a * b; });
      })
      .Default([](mlir::Operation *) { return std::nullopt; });
}

} // namespace tessel::partition
