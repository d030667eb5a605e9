//===- Selection.cpp - top_k ----------------------------------------------===//
//
// The k largest (or smallest) elements of each row along a dimension, by a
// partial sort of the row's positions: O(n log k) per row of n. Values are
// copied as bytes from the positions chosen, so every element type is
// exact; keys compare as double for float types and as int64 for integers.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/kernels/KernelContext.h"

namespace tessel::kernels {
namespace {

template <typename Key>
void selectRow(const TensorView &in, int64_t base, int64_t stride, int64_t n,
               int64_t k, bool largest, Key (*load)(const void *,
                                                    proto::ElementType,
                                                    int64_t),
               std::vector<std::pair<Key, int64_t>> &row) {
  row.clear();
  for (int64_t i = 0; i < n; ++i)
    row.emplace_back(load(in.data, in.type, base + i * stride), i);
  // Of equal keys the lower position first, as ONNX's TopK.
  auto before = [largest](const std::pair<Key, int64_t> &a,
                          const std::pair<Key, int64_t> &b) {
    if (a.first != b.first)
      return largest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  };
  std::partial_sort(row.begin(), row.begin() + k, row.end(), before);
}

double loadKeyFloat(const void *data, proto::ElementType type, int64_t i) {
  return loadFloat(data, type, i);
}
int64_t loadKeyInt(const void *data, proto::ElementType type, int64_t i) {
  return loadInt(data, type, i);
}

absl::Status topKKernel(KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 2)
    return context.error("needs one operand and two results");
  absl::StatusOr<int64_t> k = context.getInt("k");
  absl::StatusOr<int64_t> dimension = context.getInt("dimension");
  if (!k.ok())
    return k.status();
  if (!dimension.ok())
    return dimension.status();
  absl::StatusOr<int64_t> largestAttribute = context.getInt("largest");
  bool largest = !largestAttribute.ok() || *largestAttribute != 0;
  const TensorView &in = context.operands[0];
  const TensorView &values = context.results[0], &indices = context.results[1];
  int64_t rank = in.rank(), d = *dimension;
  if (d < 0 || d >= rank)
    return context.error(absl::StrCat("dimension ", d, " out of range"));
  int64_t n = in.dims[d];
  if (*k < 1 || *k > n)
    return context.error(absl::StrCat("k = ", *k, " is not in [1, ", n, "]"));
  std::vector<int64_t> expected = in.dims;
  expected[d] = *k;
  if (values.dims != expected || indices.dims != expected ||
      values.type != in.type || indices.type != proto::I64)
    return context.error("the results must be the operand's shape with k "
                         "along the dimension, values of its type and i64 "
                         "indices");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i)
    outer *= in.dims[i];
  for (int64_t i = d + 1; i < rank; ++i)
    inner *= in.dims[i];
  int64_t bytes = byteSize(in.type);
  bool isFloat = isFloatType(in.type);
  context.pool.parallelFor(outer * inner, 16, [&](int64_t first, int64_t last) {
    std::vector<std::pair<double, int64_t>> floatRow;
    std::vector<std::pair<int64_t, int64_t>> intRow;
    for (int64_t r = first; r < last; ++r) {
      int64_t o = r / inner, i = r % inner;
      int64_t base = o * n * inner + i;
      auto write = [&](int64_t j, int64_t position) {
        int64_t at = (o * *k + j) * inner + i;
        std::memcpy(static_cast<char *>(values.data) + at * bytes,
                    static_cast<const char *>(in.data) +
                        (base + position * inner) * bytes,
                    bytes);
        static_cast<int64_t *>(indices.data)[at] = position;
      };
      if (isFloat) {
        selectRow<double>(in, base, inner, n, *k, largest, loadKeyFloat,
                          floatRow);
        for (int64_t j = 0; j < *k; ++j)
          write(j, floatRow[j].second);
      } else {
        selectRow<int64_t>(in, base, inner, n, *k, largest, loadKeyInt,
                           intRow);
        for (int64_t j = 0; j < *k; ++j)
          write(j, intRow[j].second);
      }
    }
  });
  return absl::OkStatus();
}

} // namespace

void registerSelectionKernels() { registerKernel("top_k", topKKernel); }

} // namespace tessel::kernels
