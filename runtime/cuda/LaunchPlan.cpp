//===- LaunchPlan.cpp - A device program as GPU launches ------------------===//

#include "runtime/cuda/LaunchPlan.h"

#include <map>
#include <mutex>
#include <unordered_map>

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

namespace {
/// Each element type in both spellings.
constexpr std::pair<proto::ElementType, DType> kTypes[] = {
    {proto::F32, DType::F32},   {proto::F16, DType::F16},
    {proto::BF16, DType::BF16}, {proto::I32, DType::I32},
    {proto::I64, DType::I64},   {proto::I1, DType::I1}};
} // namespace

absl::StatusOr<DType> dtypeOf(proto::ElementType type) {
  for (const auto &[proto, dtype] : kTypes)
    if (proto == type)
      return dtype;
  return absl::InvalidArgumentError(absl::StrCat(
      "the cuda backend has no element type ", proto::ElementType_Name(type)));
}

proto::ElementType protoTypeOf(DType type) {
  for (const auto &[proto, dtype] : kTypes)
    if (dtype == type)
      return proto;
  return proto::ELEMENT_TYPE_UNSPECIFIED;
}

Reduction hostReduction(NcclReduction reduction) {
  return reduction == NcclReduction::Max   ? Reduction::Max
         : reduction == NcclReduction::Min ? Reduction::Min
                                           : Reduction::Sum;
}

namespace {
std::unordered_map<std::string, OpPlanFn> &planners() {
  static std::unordered_map<std::string, OpPlanFn> registry;
  return registry;
}
} // namespace

void registerOpPlanner(const std::string &op, OpPlanFn planner) {
  planners()[op] = planner;
}

OpPlanFn findOpPlanner(const std::string &op) {
  static std::once_flag once;
  std::call_once(once, [] {
    registerContractionPlanners();
    registerFusionPlanners();
    registerDataMovementPlanners();
    registerNormalizationPlanners();
    registerWindowPlanners();
    registerSelectionPlanners();
    registerCollectivePlanners();
  });
  auto it = planners().find(op);
  return it == planners().end() ? nullptr : it->second;
}

bool hasOpPlanner(const std::string &op) {
  return findOpPlanner(op) != nullptr;
}

absl::Status Planner::planInstruction(kernels::KernelContext &c) {
  if (OpPlanFn planner = findOpPlanner(c.instruction.op()))
    return (this->*planner)(c);
  return absl::UnimplementedError(absl::StrCat(
      "the cuda backend has no kernel '", c.instruction.op(),
      "' (instruction for tensor '", c.instruction.location(), "')"));
}

absl::StatusOr<BufferLayout> layoutBuffers(const proto::Executable &executable,
                                           int device) {
  if (device < 0 || device >= executable.programs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("no program for device ", device));
  const proto::DeviceProgram &program = executable.programs(device);
  BufferLayout layout;
  uint64_t next = alignUp(program.arena_bytes());
  layout.inputOffsets.assign(executable.inputs_size(), -1);
  // Parameters: this device's part where any buffer names one (the other
  // buffers of that parameter are views of the part), else the whole.
  std::map<int64_t, uint64_t> parts, wholes, parameterBytes;
  for (int id = 0; id < program.buffers_size(); ++id) {
    const proto::Buffer &buffer = program.buffers(id);
    if (buffer.storage() != proto::Buffer::PARAMETER)
      continue;
    if (buffer.index() < 0 || buffer.index() >= executable.parameters_size())
      return absl::InvalidArgumentError(
          absl::StrCat("a buffer names parameter ", buffer.index(), " of ",
                       executable.parameters_size()));
    uint64_t bytes = static_cast<uint64_t>(bufferBytes(buffer));
    if (buffer.global_offsets_size() > 0)
      layout.parameterParts.emplace(buffer.index(), id);
    uint64_t &held = buffer.global_offsets_size() > 0 ? parts[buffer.index()]
                                                      : wholes[buffer.index()];
    held = std::max(held, bytes);
  }
  for (const auto &[index, bytes] : wholes)
    parameterBytes[index] = parts.count(index) ? parts[index] : bytes;
  for (const auto &[index, bytes] : parts)
    parameterBytes[index] = bytes;
  for (const proto::Buffer &buffer : program.buffers()) {
    if (buffer.storage() != proto::Buffer::INPUT)
      continue;
    if (buffer.index() < 0 || buffer.index() >= executable.inputs_size())
      return absl::InvalidArgumentError(absl::StrCat("a buffer names input ",
                                                     buffer.index(), " of ",
                                                     executable.inputs_size()));
    if (layout.inputOffsets[buffer.index()] < 0) {
      layout.inputOffsets[buffer.index()] = static_cast<int64_t>(next);
      next += alignUp(static_cast<uint64_t>(bufferBytes(buffer)));
    }
  }
  for (const auto &[index, bytes] : parameterBytes) {
    layout.parameterOffsets[index] = next;
    next += alignUp(bytes);
  }
  // Training state: in its input's or parameter's bytes; an input the
  // program does not read gets its own (the part of the output that
  // updates it).
  for (const proto::StateUpdate &update : executable.state_updates()) {
    if (update.output() < 0 || update.output() >= program.output_buffers_size())
      return absl::InvalidArgumentError(
          absl::StrCat("a state update names output ", update.output(), " of ",
                       program.output_buffers_size()));
    int64_t id = program.output_buffers(update.output());
    if (id < 0 || id >= program.buffers_size())
      return absl::InvalidArgumentError(
          absl::StrCat("output ", update.output(), " names buffer ", id, " of ",
                       program.buffers_size()));
    if (update.parameter()) {
      if (update.index() < 0 || update.index() >= executable.parameters_size())
        return absl::InvalidArgumentError(
            absl::StrCat("a state update names parameter ", update.index(),
                         " of ", executable.parameters_size()));
      if (!layout.parameterOffsets.count(update.index())) {
        layout.parameterOffsets[update.index()] = next;
        next +=
            alignUp(static_cast<uint64_t>(bufferBytes(program.buffers(id))));
      }
      layout.stateOffsets.push_back(layout.parameterOffsets[update.index()]);
      continue;
    }
    if (update.index() < 0 || update.index() >= executable.inputs_size())
      return absl::InvalidArgumentError(
          absl::StrCat("a state update names input ", update.index(), " of ",
                       executable.inputs_size()));
    if (layout.inputOffsets[update.index()] < 0) {
      layout.inputOffsets[update.index()] = static_cast<int64_t>(next);
      next += alignUp(static_cast<uint64_t>(bufferBytes(program.buffers(id))));
    }
    layout.stateOffsets.push_back(
        static_cast<uint64_t>(layout.inputOffsets[update.index()]));
  }
  for (const proto::Buffer &buffer : program.buffers()) {
    switch (buffer.storage()) {
    case proto::Buffer::ARENA:
      if (buffer.offset() + bufferBytes(buffer) > program.arena_bytes())
        return absl::InvalidArgumentError("a buffer runs past the arena");
      layout.bufferOffsets.push_back(buffer.offset());
      break;
    case proto::Buffer::INPUT:
      layout.bufferOffsets.push_back(layout.inputOffsets[buffer.index()]);
      break;
    case proto::Buffer::PARAMETER:
      layout.bufferOffsets.push_back(layout.parameterOffsets[buffer.index()]);
      break;
    case proto::Buffer::CONSTANT:
      layout.bufferOffsets.push_back(next);
      next += alignUp(buffer.data().size());
      break;
    default:
      return absl::InvalidArgumentError("a buffer has no storage");
    }
  }
  layout.totalBytes = std::max<uint64_t>(next, kAlign);
  return layout;
}

absl::StatusOr<DevicePlan> planDevice(const proto::Executable &executable,
                                      int device, const BufferLayout &layout,
                                      char *base, char *workspace,
                                      const PlanOptions &options) {
  if (device < 0 || device >= executable.programs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("no program for device ", device));
  Planner planner(executable, device, layout, base, workspace, options);
  if (absl::Status status = planner.planAll(); !status.ok())
    return status;
  return std::move(planner.plan);
}

} // namespace tessel::cuda
