//===- PlanSelection.cpp - top_k as a launch ------------------------------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

/// One element kernel over the rows (DeviceOps.h's topKElement).
absl::Status Planner::planTopK(kernels::KernelContext &c) {
  if (c.operands.size() != 1 || c.results.size() != 2)
    return c.error("needs one operand and two results");
  absl::StatusOr<int64_t> k = c.getInt("k");
  absl::StatusOr<int64_t> dimension = c.getInt("dimension");
  if (!k.ok())
    return k.status();
  if (!dimension.ok())
    return dimension.status();
  absl::StatusOr<int64_t> largest = c.getInt("largest");
  const TensorView &in = c.operands[0];
  const TensorView &values = c.results[0], &indices = c.results[1];
  int64_t d = *dimension;
  if (d < 0 || d >= in.rank() || *k < 1 || *k > in.dims[d])
    return c.error("k and the dimension must fit the operand");
  std::vector<int64_t> expected = in.dims;
  expected[d] = *k;
  if (values.dims != expected || indices.dims != expected ||
      values.type != in.type || indices.type != proto::I64)
    return c.error("the results must be the operand's shape with k along "
                   "the dimension, values of its type and i64 indices");
  TopKParams p;
  p.type = *dtypeOf(in.type);
  p.elementBytes = static_cast<int32_t>(kernels::byteSize(in.type));
  p.largest = !largest.ok() || *largest != 0;
  p.n = in.dims[d];
  p.k = *k;
  int64_t outer = 1;
  for (int64_t i = 0; i < d; ++i)
    outer *= in.dims[i];
  for (int64_t i = d + 1; i < in.rank(); ++i)
    p.inner *= in.dims[i];
  p.in = static_cast<const char *>(in.data);
  p.values = static_cast<char *>(values.data);
  p.indices = static_cast<int64_t *>(indices.data);
  element(KernelKind::TopK, outer * p.inner, p);
  return absl::OkStatus();
}

void registerSelectionPlanners() {
  registerOpPlanner("top_k", &Planner::planTopK);
}

} // namespace tessel::cuda
