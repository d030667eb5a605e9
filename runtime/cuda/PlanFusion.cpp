//===- PlanFusion.cpp - Fusions as element kernels ------------------------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

absl::Status Planner::fusion(kernels::KernelContext &c) {
  const proto::Fusion &fusion = c.instruction.fusion();
  if (c.results.empty())
    return c.error("a fusion needs a result");
  const std::vector<int64_t> &dims = c.results[0].dims;
  for (const TensorView &result : c.results)
    if (result.dims != dims)
      return c.error("the results of a fusion must have one shape");
  if (fusion.operand_dims_size() != static_cast<int>(c.operands.size()))
    return c.error("operand_dims must have one entry per operand");
  if (dims.size() > static_cast<size_t>(kMaxRank) ||
      c.operands.size() > static_cast<size_t>(kMaxFusionOperands) ||
      fusion.steps_size() > kMaxFusionSteps ||
      c.results.size() > static_cast<size_t>(kMaxFusionOutputs))
    return c.error(absl::StrCat(
        "a fusion of rank ", dims.size(), ", ", c.operands.size(),
        " operands, ", fusion.steps_size(), " steps and ", c.results.size(),
        " results is past the cuda backend's limits (", kMaxRank, ", ",
        kMaxFusionOperands, ", ", kMaxFusionSteps, ", ", kMaxFusionOutputs,
        ")"));
  // Large: built on the heap.
  auto p = std::make_unique<FusionParams>();
  p->rank = static_cast<int32_t>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d)
    p->dims[d] = dims[d];
  p->numOperands = static_cast<int32_t>(c.operands.size());
  for (size_t k = 0; k < c.operands.size(); ++k) {
    const TensorView &operand = c.operands[k];
    const proto::Ints &mapping = fusion.operand_dims(k);
    if (mapping.values_size() != operand.rank())
      return c.error(absl::StrCat("operand ", k, " has rank ", operand.rank(),
                                  " but ", mapping.values_size(), " dims"));
    std::vector<int64_t> strides = operand.strides();
    for (int64_t i = 0; i < operand.rank(); ++i) {
      int64_t d = mapping.values(i);
      if (d < 0 || d >= static_cast<int64_t>(dims.size()) ||
          (operand.dims[i] != 1 && operand.dims[i] != dims[d]))
        return c.error(absl::StrCat("operand ", k, " dimension ", i,
                                    " does not broadcast"));
      if (operand.dims[i] != 1)
        p->operandStrides[k][d] = strides[i];
    }
    p->operandTypes[k] = *dtypeOf(operand.type);
    p->operands[k] = operand.data;
  }
  p->numSteps = fusion.steps_size();
  for (int s = 0; s < fusion.steps_size(); ++s) {
    const proto::FusionStep &source = fusion.steps(s);
    StepOp op;
    if (!kernels::stepOpNamed(source.op(), op))
      return c.error(absl::StrCat("unknown fusion step '", source.op(), "'"));
    absl::StatusOr<DType> type = dtypeOf(source.element_type());
    if (!type.ok())
      return c.error(std::string(type.status().message()));
    FusionStepCode &step = p->steps[s];
    step.op = op;
    step.type = *type;
    if (source.args_size() > 3)
      return c.error("a fusion step has more than three arguments");
    for (int a = 0; a < source.args_size(); ++a) {
      int64_t arg = source.args(a);
      bool valid = step.op == StepOp::Load ? arg >= 0 && arg < p->numOperands
                                           : arg >= 0 && arg < s;
      if (!valid)
        return c.error(step.op == StepOp::Load
                           ? "a load step names no operand"
                           : "a fusion step reads a later step");
      step.args[a] = static_cast<int32_t>(arg);
    }
    int needed = kernels::stepArity(step.op);
    if (source.args_size() < needed)
      return c.error(absl::StrCat("fusion step '", source.op(), "' needs ",
                                  needed, " arguments"));
    kernels::StepAttributes attributes = kernels::stepAttributes(source);
    step.value = attributes.value;
    step.direction = static_cast<int32_t>(attributes.direction);
    step.hasMin = attributes.hasMin;
    step.min = attributes.min;
    step.hasMax = attributes.hasMax;
    step.max = attributes.max;
    if (step.op == StepOp::Pow &&
        p->steps[step.args[1]].op == StepOp::Constant) {
      step.hasConstantExponent = 1;
      step.exponent = p->steps[step.args[1]].value;
    }
  }
  if (fusion.outputs_size() != static_cast<int>(c.results.size()))
    return c.error("a fusion needs one output step per result");
  p->numOutputs = fusion.outputs_size();
  for (int r = 0; r < fusion.outputs_size(); ++r) {
    int64_t output = fusion.outputs(r);
    if (output < 0 || output >= p->numSteps)
      return c.error("an output names no step");
    p->outputs[r] = static_cast<int32_t>(output);
    p->outputTypes[r] = *dtypeOf(c.results[r].type);
    p->results[r] = c.results[r].data;
  }
  element(KernelKind::Fusion, c.results[0].numElements(), *p);
  return absl::OkStatus();
}

void registerFusionPlanners() {
  registerOpPlanner("fusion", &Planner::fusion);
}

} // namespace tessel::cuda
