//===- ShardingProjection.cpp - Dimension shardings as factor shardings ---===//

#include "passes/propagation/ShardingProjection.h"

#include <numeric>
#include <optional>

namespace tessel::propagation {

using spmd::AxisRefAttr;
using spmd::MeshAttr;

/// `axis`'s part [offset, offset * size) as an AxisRef (the whole axis when
/// that is all of it).
static AxisRefAttr subAxis(AxisRefAttr axis, int64_t offset, int64_t size,
                           MeshAttr mesh) {
  int64_t full = mesh.axisSize(axis.getName()).value_or(1);
  if (offset == 1 && size == full)
    return AxisRefAttr::get(axis.getContext(), axis.getName(), 0, 0);
  return AxisRefAttr::get(axis.getContext(), axis.getName(), offset, size);
}

/// The one factor of size > 1 among `factorSizes`, if there is exactly one.
static std::optional<size_t> soleFactor(llvm::ArrayRef<int64_t> factorSizes) {
  std::optional<size_t> sole;
  for (auto [f, size] : llvm::enumerate(factorSizes)) {
    if (size == 1)
      continue;
    if (sole)
      return std::nullopt;
    sole = f;
  }
  return sole;
}

llvm::SmallVector<AxisList>
projectToFactors(llvm::ArrayRef<AxisRefAttr> axes,
                 llvm::ArrayRef<int64_t> factorSizes, MeshAttr mesh,
                 bool *complete) {
  llvm::SmallVector<AxisList> result(factorSizes.size());
  // A dimension that is one factor is that factor: it takes every axis,
  // whether or not they divide it (an uneven split is padded).
  if (std::optional<size_t> sole = soleFactor(factorSizes)) {
    result[*sole].assign(axes.begin(), axes.end());
    if (complete)
      *complete = true;
    return result;
  }
  size_t factor = 0;
  int64_t capacity = factorSizes.empty() ? 1 : factorSizes[0];
  if (complete)
    *complete = true;
  for (AxisRefAttr axis : axes) {
    // The axis' remaining part: [offset, offset * left) of the full axis.
    int64_t offset = axis.isSubAxis() ? axis.getPreSize() : 1;
    int64_t left = axis.size(mesh);
    while (left > 1) {
      while (factor < factorSizes.size() && capacity == 1)
        capacity = ++factor < factorSizes.size() ? factorSizes[factor] : 1;
      if (factor >= factorSizes.size()) {
        if (complete)
          *complete = false;
        return result;
      }
      int64_t common = std::gcd(left, capacity);
      if (common == 1) {
        // The axis does not divide what is left of the factor.
        if (complete)
          *complete = false;
        return result;
      }
      result[factor].push_back(subAxis(axis, offset, common, mesh));
      offset *= common;
      left /= common;
      capacity /= common;
    }
  }
  return result;
}

AxisList normalizeAxes(llvm::ArrayRef<AxisRefAttr> axes, MeshAttr mesh) {
  AxisList merged;
  for (AxisRefAttr axis : axes) {
    if (!merged.empty() && axis.isSubAxis() && merged.back().isSubAxis() &&
        merged.back().getName() == axis.getName() &&
        merged.back().getPreSize() * merged.back().getSubSize() ==
            axis.getPreSize()) {
      AxisRefAttr previous = merged.pop_back_val();
      merged.push_back(subAxis(axis, previous.getPreSize(),
                               previous.getSubSize() * axis.getSubSize(),
                               mesh));
      continue;
    }
    merged.push_back(axis);
  }
  return merged;
}

AxisList projectToDimension(llvm::ArrayRef<AxisList> factorAxes,
                            llvm::ArrayRef<int64_t> factorSizes,
                            MeshAttr mesh) {
  std::optional<size_t> sole = soleFactor(factorSizes);
  AxisList axes;
  for (size_t f = 0; f < factorAxes.size(); ++f) {
    int64_t parts = totalSize(factorAxes[f], mesh);
    // A factor split unevenly is padded, which only a dimension that is
    // that factor alone can be.
    if (factorSizes[f] % parts != 0 && sole != f)
      break;
    axes.append(factorAxes[f].begin(), factorAxes[f].end());
    if (parts != factorSizes[f])
      break; // Minor factors' axes would split this one instead.
  }
  return normalizeAxes(axes, mesh);
}

bool isPrefix(llvm::ArrayRef<AxisRefAttr> prefix,
              llvm::ArrayRef<AxisRefAttr> axes) {
  return prefix.size() <= axes.size() &&
         std::equal(prefix.begin(), prefix.end(), axes.begin());
}

AxisList
agreedOperandAxes(spmd::OpShardingRuleAttr rule, int64_t factor,
                  llvm::ArrayRef<llvm::SmallVector<AxisList>> operandDims,
                  spmd::MeshAttr mesh) {
  llvm::ArrayRef<int64_t> sizes = rule.getFactorSizes();
  std::optional<AxisList> common;
  for (auto [i, dims] : llvm::enumerate(operandDims))
    for (auto [d, axes] : llvm::enumerate(dims)) {
      llvm::SmallVector<int64_t> factors = rule.factorsOf(false, i, d);
      auto at = llvm::find(factors, factor);
      if (at == factors.end())
        continue;
      llvm::SmallVector<int64_t> factorSizes;
      for (int64_t f : factors)
        factorSizes.push_back(sizes[f]);
      AxisList projected =
          projectToFactors(axes, factorSizes, mesh)[at - factors.begin()];
      if (!common) {
        common = projected;
        continue;
      }
      size_t n = 0;
      while (n < common->size() && n < projected.size() &&
             (*common)[n] == projected[n])
        ++n;
      common->resize(n);
    }
  return common.value_or(AxisList());
}

} // namespace tessel::propagation
