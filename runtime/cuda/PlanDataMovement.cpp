//===- PlanDataMovement.cpp - Copies, layouts, gathers as launches --------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

absl::Status Planner::planCopy(kernels::KernelContext &c) {
  if (absl::Status status = checkUnary(c); !status.ok())
    return status;
  if (c.operands[0].byteCount() != c.results[0].byteCount())
    return c.error("operand and result sizes differ");
  deviceCopy(c.results[0].data, c.operands[0].data, c.results[0].byteCount());
  return absl::OkStatus();
}

absl::Status Planner::planLayout(kernels::KernelContext &c) {
  const std::string &op = c.instruction.op();
  if (absl::Status status = checkUnary(c); !status.ok())
    return status;
  const TensorView &in = c.operands[0], &out = c.results[0];
  std::vector<int64_t> inStrides = in.strides(), strides;
  int64_t srcBase = 0;
  if (op == "transpose") {
    absl::StatusOr<std::vector<int64_t>> permutation =
        c.getInts("permutation");
    if (!permutation.ok())
      return permutation.status();
    for (int64_t d : *permutation) {
      if (d < 0 || d >= in.rank())
        return c.error("permutation names no dimension");
      strides.push_back(inStrides[d]);
    }
  } else if (op == "slice") {
    absl::StatusOr<std::vector<int64_t>> starts = c.getInts("start_indices");
    absl::StatusOr<std::vector<int64_t>> steps = c.getInts("strides");
    if (!starts.ok())
      return starts.status();
    if (!steps.ok())
      return steps.status();
    for (size_t d = 0; d < inStrides.size(); ++d) {
      srcBase += (*starts)[d] * inStrides[d];
      strides.push_back((*steps)[d] * inStrides[d]);
    }
  } else {
    absl::StatusOr<std::vector<int64_t>> reversed = c.getInts("dimensions");
    if (!reversed.ok())
      return reversed.status();
    strides = inStrides;
    for (int64_t d : *reversed) {
      srcBase += (in.dims[d] - 1) * strides[d];
      strides[d] = -strides[d];
    }
  }
  if (strides.size() != out.dims.size())
    return c.error("operand and result ranks differ");
  absl::Status status =
      copyBlock(out.dims, static_cast<int32_t>(kernels::byteSize(out.type)),
                in.data, strides, srcBase, out.data, out.strides(), 0);
  return status.ok() ? status : c.error(std::string(status.message()));
}

absl::Status Planner::planConcatenate(kernels::KernelContext &c) {
  if (c.results.size() != 1)
    return c.error("needs one result");
  absl::StatusOr<int64_t> dimension = c.getInt("dimension");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &out = c.results[0];
  int64_t offset = 0;
  std::vector<int64_t> outStrides = out.strides();
  for (const TensorView &operand : c.operands) {
    if (operand.type != out.type || operand.rank() != out.rank())
      return c.error("operands must have the result's type and rank");
    if (absl::Status status = copyBlock(
            operand.dims, static_cast<int32_t>(kernels::byteSize(out.type)),
            operand.data, operand.strides(), 0, out.data, outStrides,
            offset * outStrides[*dimension]);
        !status.ok())
      return c.error(std::string(status.message()));
    offset += operand.dims[*dimension];
  }
  return absl::OkStatus();
}

absl::Status Planner::planPad(kernels::KernelContext &c) {
  if (absl::Status status = checkUnary(c); !status.ok())
    return status;
  absl::StatusOr<kernels::PadAttributes> pad = kernels::padAttributes(c);
  if (!pad.ok())
    return pad.status();
  const TensorView &in = c.operands[0], &out = c.results[0];
  if (out.rank() > kMaxRank)
    return c.error("rank past the cuda backend's limit");
  PadParams p;
  p.rank = static_cast<int32_t>(out.rank());
  p.elementBytes = static_cast<int32_t>(kernels::byteSize(out.type));
  std::vector<int64_t> inStrides = in.strides();
  for (int64_t d = 0; d < out.rank(); ++d) {
    p.outDims[d] = out.dims[d];
    p.inStrides[d] = inStrides[d];
    p.low[d] = pad->low[d];
    p.period[d] = pad->interior[d] + 1;
    p.limits[d] = pad->limits[d];
  }
  kernels::encodeScalar(out.type, pad->value, p.value);
  p.src = static_cast<const char *>(in.data);
  p.dst = static_cast<char *>(out.data);
  element(KernelKind::Pad, out.numElements(), p);
  return absl::OkStatus();
}

absl::Status Planner::planGather(kernels::KernelContext &c) {
  if (c.operands.size() != 2 || c.results.size() != 1)
    return c.error("needs two operands and one result");
  absl::StatusOr<int64_t> axis = c.getInt("axis");
  if (!axis.ok())
    return axis.status();
  const TensorView &data = c.operands[0], &indices = c.operands[1];
  if (*axis < 0 || *axis >= data.rank() || kernels::isFloatType(indices.type))
    return c.error("needs an axis of the data and integer indices");
  GatherParams p;
  p.elementBytes = static_cast<int32_t>(kernels::byteSize(data.type));
  p.indexType = *dtypeOf(indices.type);
  p.count = indices.numElements();
  p.axisSize = data.dims[*axis];
  int64_t outer = 1;
  for (int64_t d = 0; d < *axis; ++d)
    outer *= data.dims[d];
  for (int64_t d = *axis + 1; d < data.rank(); ++d)
    p.inner *= data.dims[d];
  p.data = static_cast<const char *>(data.data);
  p.indices = indices.data;
  p.out = static_cast<char *>(c.results[0].data);
  p.error = reinterpret_cast<int32_t *>(workspace);
  plan.checkedInstructions.push_back(index);
  element(KernelKind::Gather, outer * p.count * p.inner, p);
  return absl::OkStatus();
}

absl::Status Planner::planIota(kernels::KernelContext &c) {
  if (c.results.size() != 1)
    return c.error("needs one result");
  absl::StatusOr<int64_t> dimension = c.getInt("dimension");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &out = c.results[0];
  if (*dimension < 0 || *dimension >= out.rank())
    return c.error("dimension out of range");
  IotaParams p;
  p.type = *dtypeOf(out.type);
  p.stride = out.strides()[*dimension];
  p.size = out.dims[*dimension];
  p.out = out.data;
  element(KernelKind::Iota, out.numElements(), p);
  return absl::OkStatus();
}

void registerDataMovementPlanners() {
  registerOpPlanner("copy", &Planner::planCopy);
  registerOpPlanner("transpose", &Planner::planLayout);
  registerOpPlanner("slice", &Planner::planLayout);
  registerOpPlanner("reverse", &Planner::planLayout);
  registerOpPlanner("concatenate", &Planner::planConcatenate);
  registerOpPlanner("pad", &Planner::planPad);
  registerOpPlanner("gather", &Planner::planGather);
  registerOpPlanner("iota", &Planner::planIota);
}

} // namespace tessel::cuda
