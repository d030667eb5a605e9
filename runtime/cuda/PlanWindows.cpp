//===- PlanWindows.cpp - Resizes and pools as launches --------------------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

absl::Status Planner::planResize(kernels::KernelContext &c) {
  absl::StatusOr<std::vector<std::vector<kernels::ResizeTap>>> taps =
      kernels::resizeTaps(c);
  if (!taps.ok())
    return taps.status();
  const TensorView &in = c.operands[0], &out = c.results[0];
  if (out.rank() > kMaxRank)
    return c.error("rank past the cuda backend's limit");
  ResizeParams p;
  p.rank = static_cast<int32_t>(out.rank());
  p.inType = *dtypeOf(in.type);
  p.outType = *dtypeOf(out.type);
  std::vector<int64_t> inStrides = in.strides();
  for (int64_t d = 0; d < out.rank(); ++d) {
    p.outDims[d] = out.dims[d];
    p.inStrides[d] = inStrides[d];
    p.taps[d] = static_cast<const kernels::ResizeTap *>(table(
        (*taps)[d].data(), (*taps)[d].size() * sizeof(kernels::ResizeTap)));
  }
  p.in = in.data;
  p.out = out.data;
  element(KernelKind::Resize, out.numElements(), p);
  return absl::OkStatus();
}

absl::Status Planner::planPool(kernels::KernelContext &c) {
  const std::string &op = c.instruction.op();
  if (c.operands.size() != 1 || c.results.size() != 1)
    return c.error("needs one operand and one result");
  absl::StatusOr<std::vector<int64_t>> window =
      c.getInts("window_dimensions");
  absl::StatusOr<std::vector<int64_t>> strides = c.getInts("window_strides");
  absl::StatusOr<std::vector<int64_t>> dilations =
      c.getInts("window_dilations");
  absl::StatusOr<std::vector<int64_t>> padLow = c.getInts("padding_low");
  absl::StatusOr<std::vector<int64_t>> padHigh = c.getInts("padding_high");
  for (auto *status : {&window, &strides, &dilations, &padLow, &padHigh})
    if (!status->ok())
      return status->status();
  PoolParams p;
  p.isMax = op == "max_pool";
  if (!p.isMax && c.has("count_include_pad")) {
    absl::StatusOr<int64_t> flag = c.getInt("count_include_pad");
    if (!flag.ok())
      return flag.status();
    p.countPadding = *flag != 0;
  }
  const TensorView &in = c.operands[0], &out = c.results[0];
  int64_t spatial = in.rank() - 2;
  if (spatial < 0 || spatial > kMaxRank || out.rank() != in.rank() ||
      static_cast<int64_t>(window->size()) != spatial ||
      static_cast<int64_t>(strides->size()) != spatial ||
      static_cast<int64_t>(dilations->size()) != spatial ||
      static_cast<int64_t>(padLow->size()) != spatial ||
      static_cast<int64_t>(padHigh->size()) != spatial)
    return c.error("window attributes do not match the operand's rank");
  p.spatial = static_cast<int32_t>(spatial);
  for (int64_t d = 0; d < spatial; ++d) {
    p.inSize[d] = in.dims[d + 2];
    p.outSize[d] = out.dims[d + 2];
    p.window[d] = (*window)[d];
    p.strides[d] = (*strides)[d];
    p.dilations[d] = (*dilations)[d];
    p.padLow[d] = (*padLow)[d];
    p.padHigh[d] = (*padHigh)[d];
    p.inPixels *= p.inSize[d];
    p.outPixels *= p.outSize[d];
    p.windowSize *= p.window[d];
  }
  p.inType = *dtypeOf(in.type);
  p.outType = *dtypeOf(out.type);
  p.in = in.data;
  p.out = out.data;
  element(KernelKind::Pool, out.numElements(), p);
  return absl::OkStatus();
}

void registerWindowPlanners() {
  registerOpPlanner("resize", &Planner::planResize);
  registerOpPlanner("max_pool", &Planner::planPool);
  registerOpPlanner("avg_pool", &Planner::planPool);
}

} // namespace tessel::cuda
