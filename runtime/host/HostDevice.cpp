//===- HostDevice.cpp - One device of an executable on this host ----------===//

#include "runtime/host/HostDevice.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "runtime/Executable.h"
#include "runtime/host/ChannelsLast.h"
#include "runtime/kernels/OpenMp.h"
#include "runtime/kernels/StridedCopy.h"
#include "runtime/params/ParameterFile.h"

namespace tessel {

void AlignedBytes::resize(size_t size) {
  data.reset(
      size ? static_cast<char *>(std::aligned_alloc(64, (size + 63) / 64 * 64))
           : nullptr);
  bytes = size;
}

void AlignedBytes::Free::operator()(char *p) const { std::free(p); }

void copyPart(int64_t elementBytes, absl::Span<const int64_t> globalDims,
              absl::Span<const int64_t> offsets,
              absl::Span<const int64_t> localDims, char *global, char *local,
              bool toLocal) {
  kernels::Shape globalStrides = kernels::rowMajorStrides(globalDims);
  kernels::Shape localStrides = kernels::rowMajorStrides(localDims);
  kernels::Shape inside(localDims.begin(), localDims.end());
  int64_t start = 0, count = 1, localCount = 1;
  for (size_t d = 0; d < localDims.size(); ++d) {
    inside[d] =
        std::clamp<int64_t>(globalDims[d] - offsets[d], 0, localDims[d]);
    start += std::min(offsets[d], globalDims[d]) * globalStrides[d];
    count *= inside[d];
    localCount *= localDims[d];
  }
  if (toLocal && count < localCount)
    kernels::zeroBytes(local, localCount * elementBytes);
  if (count == 0)
    return;
  char *part = global + start * elementBytes;
  if (toLocal)
    kernels::stridedCopy(elementBytes, inside, local, localStrides, part,
                         globalStrides, 0, count);
  else
    kernels::stridedCopy(elementBytes, inside, part, globalStrides, local,
                         localStrides, 0, count);
}

absl::StatusOr<std::vector<AlignedBytes>>
loadParameters(const proto::Executable &program,
               const ParameterSource &source) {
  std::vector<AlignedBytes> parameters;
  if (program.parameters_size() == 0)
    return parameters;
  absl::StatusOr<std::shared_ptr<const ParameterStore>> store =
      openParameters(program, source);
  if (!store.ok())
    return store.status();
  for (const proto::TensorSpec &spec : program.parameters()) {
    absl::StatusOr<const proto::ParameterEntry *> entry =
        findParameter(**store, spec);
    if (!entry.ok())
      return entry.status();
    AlignedBytes &storage = parameters.emplace_back((*entry)->byte_size());
    if (absl::Status status = (*store)->read(
            **entry, absl::Span<char>(storage.data.get(), storage.bytes));
        !status.ok())
      return status;
  }
  return parameters;
}

void releaseParameters(std::vector<AlignedBytes> &parameters,
                       absl::Span<const HostDevice> devices) {
  for (size_t p = 0; p < parameters.size(); ++p)
    if (std::all_of(
            devices.begin(), devices.end(),
            [&](const HostDevice &device) { return device.ownsParameter(p); }))
      parameters[p] = AlignedBytes();
  ::malloc_trim(0);
}

absl::Status HostDevice::prepare(const proto::Executable &program, int index,
                                 const std::vector<AlignedBytes> &parameters,
                                 int threads) {
  executable = &program;
  program_ = &program.programs(index);
  // What runs copy in and out, worked out once.
  inputParts_ = inputParts(*program_);
  outputParts_.clear();
  for (int o = 0; o < program_->output_buffers_size(); ++o)
    outputParts_.push_back(outputPart(*program_, o));
  pool = std::make_unique<ThreadPool>(threads, kernels::prepareOpenMpThread);
  arena.resize(program_->arena_bytes());
  inputs.resize(program.inputs_size());
  for (const proto::Buffer &buffer : program_->buffers()) {
    if (buffer.storage() == proto::Buffer::INPUT &&
        !inputs[buffer.index()].data) {
      int64_t bytes = kernels::byteSize(buffer.element_type());
      for (int64_t dim : buffer.dims())
        bytes *= dim;
      inputs[buffer.index()].resize(bytes);
    }
  }
  // State: the device keeps its part (the part of the output that updates
  // it; validateExecutable checked that the program reads the same) of
  // every input and parameter a step updates, writable and its own.
  // Inputs start at zero, parameters at their loaded values.
  stateInputs.assign(program.inputs_size(), false);
  std::set<int64_t> updatedParameters;
  for (int k = 0; k < program.state_updates_size(); ++k) {
    const proto::StateUpdate &update = program.state_updates(k);
    const OutputPart &part = statePart(k);
    if (update.parameter()) {
      const proto::TensorSpec &spec = program.parameters(update.index());
      AlignedBytes &storage = parameterParts[update.index()];
      storage.resize(part.bytes);
      if (part.offsets.empty())
        kernels::copyBytes(storage.data.get(),
                           parameters[update.index()].data.get(), part.bytes);
      else
        copyPart(kernels::byteSize(spec.element_type()), spec.dims(),
                 part.offsets, part.dims, parameters[update.index()].data.get(),
                 storage.data.get(), /*toLocal=*/true);
      updatedParameters.insert(update.index());
    } else {
      stateInputs[update.index()] = true;
      AlignedBytes &storage = inputs[update.index()];
      if (!storage.data)
        storage.resize(part.bytes); // The program does not read it.
      kernels::zeroBytes(storage.data.get(), storage.bytes);
    }
  }
  for (const proto::Buffer &buffer : program_->buffers()) {
    kernels::TensorView view;
    view.type = buffer.element_type();
    view.dims.assign(buffer.dims().begin(), buffer.dims().end());
    switch (buffer.storage()) {
    case proto::Buffer::ARENA:
      view.data = arena.data.get() + buffer.offset();
      break;
    case proto::Buffer::INPUT:
      view.data = inputs[buffer.index()].data.get();
      break;
    case proto::Buffer::PARAMETER:
      if (buffer.global_offsets_size() > 0) {
        // This device's part of the parameter.
        const proto::TensorSpec &spec = program.parameters(buffer.index());
        AlignedBytes &part = parameterParts[buffer.index()];
        if (!part.data) {
          part.resize(kernels::byteSize(buffer.element_type()) *
                      std::max<int64_t>(1, view.numElements()));
          copyPart(kernels::byteSize(buffer.element_type()), spec.dims(),
                   buffer.global_offsets(), view.dims,
                   parameters[buffer.index()].data.get(), part.data.get(),
                   /*toLocal=*/true);
        }
        view.data = part.data.get();
      } else if (auto part = parameterParts.find(buffer.index());
                 part != parameterParts.end()) {
        view.data = part->second.data.get(); // A view of this device's part.
      } else {
        view.data = parameters[buffer.index()].data.get();
      }
      break;
    case proto::Buffer::CONSTANT:
      // Kernels never write their operands; results are never constants.
      view.data = const_cast<char *>(buffer.data().data());
      break;
    default:
      break;
    }
    // No instruction writes these (checked below): their bytes stay, but
    // for parameters that steps update.
    view.readOnly = readOnlyAtLoad(buffer, updatedParameters);
    views.push_back(std::move(view));
  }
  // Buffers between convolutions channels-last, and the instructions
  // touching them as their kernels then run.
  BufferLiveness live = bufferLiveness(*program_);
  std::vector<bool> layouts = chooseChannelsLast(*program_, *pool, live);
  rewritten = instructionsForLayouts(*program_, layouts, *pool);
  for (size_t b = 0; b < layouts.size(); ++b)
    if (layouts[b])
      views[b].dims = channelsLastDims(views[b].dims);
  int collectives = 0;
  bool async = false;
  for (const proto::Instruction &instruction : program_->instructions()) {
    if (instruction.op() == "collective") {
      ++collectives;
      async = async || instruction.collective().async();
    }
    if (instruction.op() == "collective" ||
        instruction.op() == "collective_done") {
      kernels.push_back(nullptr);
      continue;
    }
    kernels::KernelFn kernel = kernels::findKernel(instruction.op());
    if (!kernel)
      return absl::UnimplementedError(absl::StrCat(
          "the host backend has no kernel '", instruction.op(),
          "' (instruction for tensor '", instruction.location(), "')"));
    if (!kernels::kernelTakesWideTypes(instruction.op())) {
      std::vector<int64_t> ids(instruction.operands().begin(),
                               instruction.operands().end());
      ids.insert(ids.end(), instruction.results().begin(),
                 instruction.results().end());
      for (int64_t id : ids) {
        proto::ElementType type = program_->buffers(id).element_type();
        if (type == proto::F64 || type == proto::U64)
          return absl::UnimplementedError(
              absl::StrCat("the host backend has no element type ",
                           type == proto::F64 ? "f64" : "u64", " for kernel '",
                           instruction.op(), "' (instruction for tensor '",
                           instruction.location(), "'; it computes in ",
                           type == proto::F64 ? "float)" : "int64)"));
      }
    }
    for (int64_t id : instruction.results())
      if (readOnlyAtLoad(program_->buffers(id), updatedParameters))
        return absl::InvalidArgumentError(
            absl::StrCat("instruction for tensor '", instruction.location(),
                         "' writes a read-only buffer"));
    kernels.push_back(kernel);
  }
  if (async) {
    stream = std::make_unique<CollectiveStream>(collectives);
    tickets.assign(kernels.size(), -1);
  }
  states.resize(kernels.size());
  if (absl::Status status =
          runInvariants(live, runsAtLoad(*program_, updatedParameters, live));
      !status.ok())
    return status;
  absorbEpilogues(layouts, live);
  // Each instruction's views, gathered once: a run allocates nothing for
  // them (their data never moves after the load).
  contexts.resize(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i) {
    const proto::Instruction &instruction = instructionAt(i);
    std::vector<kernels::TensorView> operands, results;
    for (int64_t id : instruction.operands())
      operands.push_back(views[id]);
    for (int64_t id : instruction.results())
      results.push_back(views[id]);
    contexts[i] = std::make_unique<kernels::KernelContext>(
        instruction, std::move(operands), std::move(results), *pool,
        &states[i]);
    contexts[i]->workspace = workspace.get();
  }
  return absl::OkStatus();
}

void HostDevice::absorbEpilogues(const std::vector<bool> &layouts,
                                 const BufferLiveness &live) {
  const proto::DeviceProgram &program = *program_;
  absorbed.assign(kernels.size(), false);
  for (size_t i = 0; i < kernels.size(); ++i) {
    const proto::Instruction &producer = instructionAt(i);
    kernels::EpilogueFn takes =
        kernels[i] && !ran[i] ? kernels::findEpilogue(producer.op()) : nullptr;
    if (!takes || producer.results_size() != 1 || producer.has_fusion())
      continue;
    // The next instruction that runs, a fusion that alone reads the
    // result (once, not through a view), with one result of the same
    // shape and layout.
    size_t j = i + 1;
    while (j < kernels.size() && ran[j])
      ++j;
    if (j == kernels.size() || !kernels[j])
      continue;
    const proto::Instruction &fusion = instructionAt(j);
    int64_t produced = producer.results(0);
    // A fusion writing over state (a donated argument) runs apart.
    if (fusion.results_size() == 1 &&
        program.buffers(fusion.results(0)).storage() != proto::Buffer::ARENA)
      continue;
    if (fusion.op() != "fusion" || fusion.results_size() != 1 ||
        live.last[produced] != static_cast<int64_t>(j) ||
        std::count(fusion.operands().begin(), fusion.operands().end(),
                   produced) != 1)
      continue;
    int64_t result = fusion.results(0);
    // Written while the producer runs, the result must not take the bytes
    // of what it reads (freed for the fusion once the producer had run).
    if (std::any_of(
            producer.operands().begin(), producer.operands().end(),
            [&](int64_t id) { return arenaOverlap(program, id, result); }))
      continue;
    // Nor those of the fusion's other operands, which the product's
    // post-ops read while it writes: the embedding's gradient (a product
    // with its left operand transposed, oneDNN's GEMM-based matmul)
    // written over the output projection's, the sum's other term, came
    // out wrong for GPT-2's tied weight, in rows of up to twice the step.
    if (std::any_of(fusion.operands().begin(), fusion.operands().end(),
                    [&](int64_t id) {
                      return id != produced &&
                             arenaOverlap(program, id, result);
                    }))
      continue;
    if (views[result].dims != views[produced].dims ||
        layouts[result] != layouts[produced] || !live.viewsOf[i].empty())
      continue;
    int operand =
        static_cast<int>(std::find(fusion.operands().begin(),
                                   fusion.operands().end(), produced) -
                         fusion.operands().begin());
    std::vector<kernels::TensorView> operands, results, fusionOperands;
    for (int64_t id : producer.operands())
      operands.push_back(views[id]);
    results.push_back(views[produced]);
    for (int64_t id : fusion.operands())
      fusionOperands.push_back(views[id]);
    kernels::KernelContext context(producer, operands, results, *pool);
    if (!takes(context, fusion.fusion(), operand, fusionOperands,
               views[result]))
      continue;
    proto::Instruction merged = producer;
    for (int64_t id : fusion.operands())
      merged.add_operands(id);
    merged.add_results(result);
    *merged.mutable_fusion() = fusion.fusion();
    (*merged.mutable_attributes())["epilogue_operand"].set_i(operand);
    rewritten[i] = std::move(merged);
    absorbed[j] = true;
  }
}

absl::Status HostDevice::runInvariants(const BufferLiveness &live,
                                       const std::vector<bool> &atLoad) {
  const proto::DeviceProgram &program = *program_;
  ran.assign(kernels.size(), false);
  // Per storage in `invariants`: the buffers it holds (a result and its
  // views).
  std::vector<std::vector<int64_t>> backs;
  size_t first = invariants.size();
  for (size_t i = 0; i < kernels.size(); ++i) {
    if (!atLoad[i] || !kernels[i])
      continue;
    const proto::Instruction &instruction = instructionAt(i);
    // Its results get bytes of their own, outside the arena, which later
    // instructions reuse.
    for (int64_t r : instruction.results()) {
      backs.emplace_back(1, r);
      AlignedBytes &storage = invariants.emplace_back();
      storage.resize(std::max<int64_t>(1, views[r].byteCount()));
      char *arenaBytes = static_cast<char *>(views[r].data);
      views[r].data = storage.data.get();
      views[r].readOnly = true;
      const proto::Buffer &result = program.buffers(r);
      for (int64_t v : live.viewsOf[i]) {
        const proto::Buffer &view = program.buffers(v);
        if (view.offset() >= result.offset() &&
            view.offset() + views[v].byteCount() <=
                result.offset() + views[r].byteCount()) {
          views[v].data = storage.data.get() +
                          (static_cast<char *>(views[v].data) - arenaBytes);
          views[v].readOnly = true;
          backs.back().push_back(v);
        }
      }
    }
    std::vector<kernels::TensorView> operands, results;
    for (int64_t id : instruction.operands())
      operands.push_back(views[id]);
    for (int64_t id : instruction.results())
      results.push_back(views[id]);
    kernels::KernelContext context(instruction, std::move(operands),
                                   std::move(results), *pool, &states[i]);
    if (absl::Status status = kernels[i](context); !status.ok())
      return status;
    ran[i] = true;
  }
  // What only other load-time instructions read (an iota computed whole
  // and sliced, say) is not kept for the steps.
  std::vector<bool> read = readAfterLoad(program, ran);
  for (size_t s = 0; s < backs.size(); ++s) {
    if (std::any_of(backs[s].begin(), backs[s].end(),
                    [&](int64_t id) { return read[id]; }))
      continue;
    invariants[first + s].data.reset();
    invariants[first + s].bytes = 0;
    for (int64_t id : backs[s])
      views[id].data = nullptr;
  }
  return absl::OkStatus();
}

std::vector<HostDevice::InputPart>
HostDevice::inputParts(const proto::DeviceProgram &program) {
  // Once per input (other INPUT buffers are views of the same bytes).
  std::vector<InputPart> parts;
  std::vector<int64_t> seen;
  for (const proto::Buffer &buffer : program.buffers()) {
    if (buffer.storage() != proto::Buffer::INPUT ||
        std::find(seen.begin(), seen.end(), buffer.index()) != seen.end())
      continue;
    seen.push_back(buffer.index());
    InputPart part;
    part.index = buffer.index();
    part.dims.assign(buffer.dims().begin(), buffer.dims().end());
    part.offsets.assign(buffer.global_offsets().begin(),
                        buffer.global_offsets().end());
    int64_t elements = 1;
    for (int64_t d : part.dims)
      elements *= d;
    part.bytes = static_cast<size_t>(elements *
                                     kernels::byteSize(buffer.element_type()));
    parts.push_back(std::move(part));
  }
  return parts;
}

void HostDevice::extract(const InputPart &part, const TensorRef &input,
                         absl::Span<const int64_t> wholeDims, char *local) {
  if (part.offsets.empty())
    kernels::copyBytes(local, input.data, std::min(part.bytes, input.bytes));
  else
    copyPart(kernels::byteSize(input.type), wholeDims, part.offsets, part.dims,
             input.data, local, /*toLocal=*/true);
}

void HostDevice::scatterInputs(absl::Span<const TensorRef> given, bool state) {
  for (const InputPart &part : inputParts_)
    if (state || !stateInputs[part.index])
      extract(part, given[part.index], executable->inputs(part.index).dims(),
              inputData(part.index));
}

char *HostDevice::stateData(int k) {
  const proto::StateUpdate &update = executable->state_updates(k);
  return update.parameter() ? parameterParts[update.index()].data.get()
                            : inputData(update.index());
}

absl::Status HostDevice::writeState(int k, const TensorRef &value) {
  return extractState(*executable, *program_, k, value, stateData(k));
}

absl::Status HostDevice::extractState(const proto::Executable &executable,
                                      const proto::DeviceProgram &program,
                                      int k, const TensorRef &value,
                                      char *local) {
  const proto::StateUpdate &update = executable.state_updates(k);
  google::protobuf::RepeatedPtrField<proto::TensorSpec> spec;
  *spec.Add() = update.parameter() ? executable.parameters(update.index())
                                   : executable.inputs(update.index());
  if (absl::Status status = checkTensors(spec, {value}, "state"); !status.ok())
    return status;
  OutputPart part = outputPart(program, static_cast<int>(update.output()));
  extract({0, part.dims, part.offsets, part.bytes}, value, spec[0].dims(),
          local);
  return absl::OkStatus();
}

void HostDevice::commitState() {
  for (int k = 0; k < executable->state_updates_size(); ++k) {
    const char *from = static_cast<const char *>(
        output(executable->state_updates(k).output()).data);
    char *to = stateData(k);
    if (from != to)
      kernels::copyBytes(to, from, statePart(k).bytes);
  }
}

absl::Status HostDevice::run(const CollectiveFn &collective,
                             const ProfileFn &profile) {
  const proto::DeviceProgram &deviceProgram = *program_;
  CollectiveStream::RunFn onStream;
  if (stream) {
    onStream = [&](int i) {
      const kernels::KernelContext &context = *contexts[i];
      return collective(i, instructionAt(i), context.operands, context.results);
    };
    stream->begin(&onStream);
  }
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < deviceProgram.instructions_size() && status.ok(); ++i) {
    const proto::Instruction &instruction = instructionAt(i);
    if (ran[i] || absorbed[i])
      continue; // Computed at load, or by the instruction before.
    kernels::KernelContext &context = *contexts[i];
    auto start = std::chrono::steady_clock::now();
    if (kernels[i]) {
      status = kernels[i](context);
    } else if (!stream ||
               (instruction.op() == "collective" &&
                !instruction.collective().async() && stream->idle())) {
      // In line: no stream, or nothing in flight to keep order with.
      status = collective(i, instruction, context.operands, context.results);
    } else if (instruction.op() == "collective") {
      // On the stream, in program order; one that is not asynchronous is
      // waited for at once.
      int64_t ticket = stream->submit(i);
      if (instruction.collective().async()) {
        tickets[i] = ticket;
        continue; // Its time is the done's to report.
      }
      status = stream->wait(ticket);
    } else {
      // A collective_done: the time its collective took on the stream,
      // and apart, how long the device waited for it (the part not hidden).
      int64_t s = instruction.attributes().at("start").i();
      double seconds = 0;
      status = stream->wait(tickets[s], &seconds);
      if (profile)
        profile(profileName(instructionAt(s)) + kOverlappedSuffix, seconds);
    }
    if (profile) {
      profile(profileName(instruction),
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start)
                  .count());
    }
  }
  // Nothing may still run on this run's buffers once it returns.
  if (stream)
    stream->drain();
  return status;
}

void HostDevice::gatherOutput(int o, const TensorRef &whole) const {
  placeOutput(outputParts_[o], static_cast<const char *>(output(o).data), whole,
              executable->outputs(o).dims());
}

HostDevice::OutputPart
HostDevice::outputPart(const proto::DeviceProgram &program, int o) {
  const proto::Buffer &buffer = program.buffers(program.output_buffers(o));
  OutputPart part;
  part.dims.assign(buffer.dims().begin(), buffer.dims().end());
  int64_t elements = 1;
  for (int64_t d : part.dims)
    elements *= d;
  part.bytes =
      static_cast<size_t>(elements * kernels::byteSize(buffer.element_type()));
  if (program.output_offsets_size() > 0)
    part.offsets.assign(program.output_offsets(o).values().begin(),
                        program.output_offsets(o).values().end());
  return part;
}

void HostDevice::placeOutput(const OutputPart &part, const char *data,
                             const TensorRef &whole,
                             absl::Span<const int64_t> wholeDims) {
  if (part.offsets.empty()) {
    kernels::copyBytes(whole.data, data, std::min(part.bytes, whole.bytes));
    return;
  }
  copyPart(kernels::byteSize(whole.type), wholeDims, part.offsets, part.dims,
           whole.data, const_cast<char *>(data),
           /*toLocal=*/false);
}

std::string profileName(const proto::Instruction &instruction) {
  return instruction.op() == "collective"
             ? proto::Collective::Kind_Name(instruction.collective().kind())
             : instruction.op();
}

HostTensor outputFor(const proto::TensorSpec &spec) {
  HostTensor output;
  output.type = spec.element_type();
  const auto &dims = storedDims(spec); // As the user sees it.
  output.dims.assign(dims.begin(), dims.end());
  output.bytes.resize(kernels::byteSize(output.type) *
                      std::max<int64_t>(1, output.numElements()));
  return output;
}

} // namespace tessel
