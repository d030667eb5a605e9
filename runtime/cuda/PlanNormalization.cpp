//===- PlanNormalization.cpp - Reductions and normalisations --------------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

absl::Status Planner::planReduce(kernels::KernelContext &c) {
  if (c.operands.size() != 1 || c.results.size() != 1)
    return c.error("needs one operand and one result");
  absl::StatusOr<std::vector<int64_t>> dims = c.getInts("dimensions");
  absl::StatusOr<std::string> kind = c.getString("kind");
  if (!dims.ok())
    return dims.status();
  if (!kind.ok())
    return kind.status();
  const TensorView &in = c.operands[0], &out = c.results[0];
  ReduceParams p;
  if (!kernels::reduceKindNamed(*kind, p.kind))
    return c.error(absl::StrCat("unknown reduction '", *kind, "'"));
  if (in.rank() > kMaxRank)
    return c.error("rank past the cuda backend's limit");
  std::vector<int64_t> strides = in.strides();
  std::vector<bool> reduced(in.rank(), false);
  for (int64_t d : *dims) {
    if (d < 0 || d >= in.rank())
      return c.error("reduces a dimension the operand does not have");
    reduced[d] = true;
  }
  for (int64_t d = 0; d < in.rank(); ++d) {
    if (reduced[d]) {
      p.reducedDims[p.reducedRank] = in.dims[d];
      p.reducedStrides[p.reducedRank++] = strides[d];
      p.reducedCount *= in.dims[d];
    } else {
      p.keptDims[p.keptRank] = in.dims[d];
      p.keptStrides[p.keptRank++] = strides[d];
    }
  }
  p.inType = *dtypeOf(in.type);
  p.outType = *dtypeOf(out.type);
  p.in = in.data;
  p.out = out.data;
  element(KernelKind::Reduce, out.numElements(), p);
  return absl::OkStatus();
}

absl::Status Planner::planNormalization(kernels::KernelContext &c) {
  const std::string &op = c.instruction.op();
  bool softmax = op == "softmax";
  if (c.operands.size() != (softmax ? 1u : 3u) || c.results.size() != 1)
    return c.error(softmax ? "needs one operand and one result"
                           : "needs operand, scale, bias and one result");
  absl::StatusOr<int64_t> dimension =
      c.getInt(softmax ? "dimension" : "axis");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &in = c.operands[0], &out = c.results[0];
  if (!kernels::isFloatType(in.type) || !kernels::isFloatType(out.type))
    return c.error("needs floating-point operands");
  if (*dimension < 0 || *dimension >= std::max<int64_t>(in.rank(), 1))
    return c.error("dimension out of range");
  RowParams p;
  p.inType = *dtypeOf(in.type);
  p.outType = *dtypeOf(out.type);
  p.in = in.data;
  p.out = out.data;
  int64_t inner = 1;
  for (int64_t d = *dimension + 1; d < in.rank(); ++d)
    inner *= in.dims[d];
  if (softmax) {
    p.length = in.rank() ? in.dims[*dimension] : 1;
    p.stride = inner;
    element(KernelKind::Softmax,
            in.numElements() / std::max<int64_t>(p.length, 1), p);
    return absl::OkStatus();
  }
  absl::StatusOr<double> epsilon = c.getFloat("epsilon");
  if (!epsilon.ok())
    return epsilon.status();
  p.length = in.rank() ? in.dims[*dimension] * inner : 1;
  p.epsilon = *epsilon;
  p.scaleType = *dtypeOf(c.operands[1].type);
  p.biasType = *dtypeOf(c.operands[2].type);
  p.scale = c.operands[1].data;
  p.bias = c.operands[2].data;
  element(KernelKind::LayerNorm,
          in.numElements() / std::max<int64_t>(p.length, 1), p);
  return absl::OkStatus();
}

absl::Status Planner::planBatchNorm(kernels::KernelContext &c) {
  if (c.operands.size() != 5 || c.results.size() != 1)
    return c.error("needs operand, scale, offset, mean, variance");
  absl::StatusOr<int64_t> feature = c.getInt("feature_index");
  absl::StatusOr<double> epsilon = c.getFloat("epsilon");
  if (!feature.ok())
    return feature.status();
  if (!epsilon.ok())
    return epsilon.status();
  const TensorView &in = c.operands[0], &out = c.results[0];
  if (*feature < 0 || *feature >= in.rank())
    return c.error("feature_index out of range");
  BatchNormPrepareParams prepare;
  prepare.epsilon = *epsilon;
  for (int k = 0; k < 4; ++k) {
    prepare.types[k] = *dtypeOf(c.operands[k + 1].type);
    prepare.values[k] = c.operands[k + 1].data;
  }
  int64_t channels = in.dims[*feature];
  auto *factors = reinterpret_cast<float *>(
      scratch(static_cast<uint64_t>(2 * channels) * sizeof(float)));
  prepare.multiplier = factors;
  prepare.shift = factors ? factors + channels : nullptr;
  element(KernelKind::BatchNormPrepare, channels, prepare);
  BatchNormParams p;
  p.inType = *dtypeOf(in.type);
  p.outType = *dtypeOf(out.type);
  p.channels = channels;
  for (int64_t d = *feature + 1; d < in.rank(); ++d)
    p.inner *= in.dims[d];
  p.in = in.data;
  p.multiplier = prepare.multiplier;
  p.shift = prepare.shift;
  p.out = out.data;
  element(KernelKind::BatchNorm, in.numElements(), p);
  return absl::OkStatus();
}

void registerNormalizationPlanners() {
  registerOpPlanner("reduce", &Planner::planReduce);
  registerOpPlanner("softmax", &Planner::planNormalization);
  registerOpPlanner("layer_norm", &Planner::planNormalization);
  registerOpPlanner("batch_norm_inference", &Planner::planBatchNorm);
}

} // namespace tessel::cuda
