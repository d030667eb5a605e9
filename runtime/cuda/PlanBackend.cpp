//===- PlanBackend.cpp - Devices that run launch plans --------------------===//

#include "runtime/cuda/PlanBackend.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/host/HostDevice.h"
#include "runtime/kernels/ElementTypes.h"

namespace tessel::cuda {

std::vector<std::vector<int>>
executableGroups(const proto::Executable &executable) {
  std::vector<std::vector<int>> groups;
  for (const proto::DeviceProgram &program : executable.programs())
    for (const proto::Instruction &instruction : program.instructions()) {
      if (instruction.op() != "collective")
        continue;
      for (const proto::Ints &members : instruction.collective().groups()) {
        std::vector<int> ids(members.values().begin(), members.values().end());
        if (std::find(groups.begin(), groups.end(), ids) == groups.end())
          groups.push_back(std::move(ids));
      }
    }
  return groups;
}

namespace {

class SingleProcess : public Processes {
public:
  absl::StatusOr<std::vector<int>> localDevices(
      const proto::Executable &executable,
      const absl::StatusOr<std::vector<AlignedBytes>> &parameters) override {
    if (!parameters.ok())
      return parameters.status();
    std::vector<int> all(executable.programs_size());
    for (int i = 0; i < executable.programs_size(); ++i)
      all[i] = i;
    return all;
  }
  std::unique_ptr<IdExchange> idExchange() override { return nullptr; }
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  inputParts(const proto::Executable &executable, const std::vector<int> &local,
             const std::vector<HostTensor> &inputs) override {
    if (absl::Status status = checkInputs(executable, inputs); !status.ok())
      return status;
    std::vector<TensorRef> byIndex(inputs.begin(), inputs.end());
    return partsOf(executable, local, byIndex);
  }
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  stepInputParts(const proto::Executable &executable,
                 const std::vector<int> &local, const StepSignature &signature,
                 absl::Span<const TensorRef> inputs,
                 absl::Span<const TensorRef> outputs) override {
    if (absl::Status status =
            checkStepTensors(executable, signature, inputs, outputs);
        !status.ok())
      return status;
    // The state's entries stay empty: the devices hold the state.
    std::vector<TensorRef> byIndex(executable.inputs_size());
    for (size_t i = 0; i < signature.inputs.size(); ++i)
      byIndex[signature.inputs[i]] = inputs[i];
    return partsOf(executable, local, byIndex);
  }
  absl::StatusOr<std::vector<HostTensor>>
  assemble(const proto::Executable &executable, const std::vector<int> &local,
           const std::vector<std::vector<const char *>> &parts,
           const std::vector<int> &which) override {
    std::vector<HostTensor> outputs;
    for (size_t i = 0; i < which.size(); ++i) {
      const proto::TensorSpec &spec = executable.outputs(which[i]);
      outputs.push_back(outputFor(spec));
      for (size_t d = 0; d < local.size(); ++d)
        HostDevice::placeOutput(
            HostDevice::outputPart(executable.programs(local[d]), which[i]),
            parts[d][i], outputs.back(), spec.dims());
    }
    return outputs;
  }

private:
  /// Each local device's parts of the inputs given in `byIndex` (an entry
  /// without data: not given, the device keeps it).
  static std::vector<std::map<int64_t, std::vector<char>>>
  partsOf(const proto::Executable &executable, const std::vector<int> &local,
          const std::vector<TensorRef> &byIndex) {
    std::vector<std::map<int64_t, std::vector<char>>> parts;
    for (int device : local) {
      parts.emplace_back();
      for (const HostDevice::InputPart &part :
           HostDevice::inputParts(executable.programs(device))) {
        if (!byIndex[part.index].data)
          continue;
        std::vector<char> &bytes = parts.back()[part.index];
        bytes.resize(part.bytes);
        HostDevice::extract(part, byIndex[part.index],
                            executable.inputs(part.index).dims(), bytes.data());
      }
    }
    return parts;
  }
};

const char *opName(const NcclCall &call) {
  switch (call.op) {
  case NcclOp::AllReduce:
    return "all_reduce";
  case NcclOp::AllGather:
    return "all_gather";
  case NcclOp::ReduceScatter:
    return "reduce_scatter";
  default:
    return "send/receive";
  }
}

/// One device of the executable, loaded.
struct LoadedDevice {
  int index = 0;
  std::unique_ptr<DeviceApi> api;
  BufferLayout layout;
  DevicePlan plan;
  /// The buffers (by layout), and the workspace followed by the plan's
  /// parameter block.
  char *memory = nullptr, *workspace = nullptr, *parameters = nullptr;
  /// By plan group: this device's communicator.
  std::vector<void *> comms;
  /// Every communicator this device is in (some no collective uses).
  std::vector<void *> joined;
  /// By marker: the launch it follows (NCCL calls are marked).
  std::vector<int> markedLaunches;
};

class PlanExecutable : public LoadedExecutable {
public:
  PlanExecutable(const proto::Executable &executable,
                 std::shared_ptr<NcclApi> nccl, double timeoutSeconds,
                 std::shared_ptr<Processes> processes, bool profiling)
      : executable_(executable), nccl(std::move(nccl)),
        timeoutSeconds(timeoutSeconds), processes(std::move(processes)),
        profiling(profiling) {}
  ~PlanExecutable() override {
    for (LoadedDevice &device : devices) {
      for (void *comm : device.joined)
        nccl->destroy(comm);
      if (device.memory)
        device.api->free(device.memory);
      if (device.workspace)
        device.api->free(device.workspace);
    }
  }

  absl::Status load(const ParameterSource &source, const DeviceFactory &make);
  absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) override;
  absl::Status step(absl::Span<const TensorRef> inputs,
                    absl::Span<const TensorRef> outputs) override;
  absl::StatusOr<HostTensor> readState(const std::string &name) override;
  absl::Status writeState(const std::string &name,
                          const TensorRef &value) override;
  bool holdsResults() const override { return processes->holdsResults(); }
  const proto::Executable &executable() const override { return executable_; }
  std::vector<std::pair<std::string, double>> profile() const override {
    return seconds.sorted();
  }

private:
  absl::Status prepare(LoadedDevice &device,
                       const std::vector<AlignedBytes> &parameters);
  absl::Status join(LoadedDevice &device, IdExchange &exchange,
                    const std::vector<std::vector<int>> &groups);
  /// Every device here: each group's communicators at once.
  absl::Status joinAll(const std::vector<std::vector<int>> &groups);
  /// Records `comm` as `device`'s in `members`.
  void keep(LoadedDevice &device, const std::vector<int> &members, void *comm);
  absl::Status runDevice(LoadedDevice &device,
                         const std::map<int64_t, std::vector<char>> &inputs);
  /// Runs every local device on its parts of the inputs.
  absl::Status
  runDevices(const std::vector<std::map<int64_t, std::vector<char>>> &parts);
  /// Outputs `which` (their spec's shapes) assembled from each device's
  /// parts, copied from device memory at `at(device, i)` for which[i].
  absl::StatusOr<std::vector<HostTensor>>
  assemble(const std::vector<int> &which,
           const std::function<const char *(const LoadedDevice &, int)> &at);
  /// Writes every state update of the last step over its target.
  absl::Status commitState(LoadedDevice &device);
  /// Where `device` holds output `o` of its program.
  char *outputAt(const LoadedDevice &device, int o) const {
    return device.memory +
           device.layout.bufferOffsets[executable_.programs(device.index)
                                           .output_buffers(o)];
  }
  absl::Status enqueue(LoadedDevice &device, const Launch &launch);
  absl::Status wait(LoadedDevice &device);
  /// Ends every communicator (once a device failed), so no device waits on
  /// a peer that will not come.
  void abortAll();
  absl::Status where(const LoadedDevice &device, int instruction,
                     const absl::Status &status) const;

  proto::Executable executable_;
  std::shared_ptr<NcclApi> nccl;
  double timeoutSeconds;
  std::shared_ptr<Processes> processes;
  /// Per instruction kind, the seconds spent over every device and run.
  bool profiling;
  KernelProfile seconds;
  /// The devices of this process (indices into the programs).
  std::vector<int> local;
  std::vector<LoadedDevice> devices;
  std::once_flag aborted;
  /// Set once a failed run has aborted the communicators.
  bool communicatorsEnded = false;
  /// The training state the devices keep (empty when no output updates).
  StepSignature signature;
};

/// Runs `body(i)` for every device on its own thread; the first error.
absl::Status onEveryDevice(int count,
                           const std::function<absl::Status(int)> &body,
                           const std::function<void()> &onError) {
  std::vector<absl::Status> statuses(count);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i)
    threads.emplace_back([&, i] {
      statuses[i] = body(i);
      if (!statuses[i].ok() && onError)
        onError();
    });
  for (std::thread &thread : threads)
    thread.join();
  // The first failure that is not a consequence of another's abort.
  for (const absl::Status &status : statuses)
    if (!status.ok() && !absl::IsAborted(status))
      return status;
  for (const absl::Status &status : statuses)
    if (!status.ok())
      return status;
  return absl::OkStatus();
}

absl::Status PlanExecutable::where(const LoadedDevice &device, int instruction,
                                   const absl::Status &status) const {
  const proto::Instruction &inst =
      executable_.programs(device.index).instructions(instruction);
  return absl::Status(status.code(),
                      absl::StrCat("device ", device.index, " (",
                                   device.api->describe(), "): ", inst.op(),
                                   " for tensor '", inst.location(),
                                   "': ", status.message()));
}

void PlanExecutable::abortAll() {
  std::call_once(aborted, [&] {
    communicatorsEnded = true;
    for (LoadedDevice &device : devices)
      for (void *comm : device.joined)
        nccl->abort(comm);
  });
}

absl::Status PlanExecutable::load(const ParameterSource &source,
                                  const DeviceFactory &make) {
  int count = executable_.programs_size();
  if (count == 0)
    return absl::InvalidArgumentError("the executable has no programs");
  signature = stepSignature(executable_);
  absl::StatusOr<std::vector<AlignedBytes>> parameters =
      loadParameters(executable_, source);
  // Under mpirun every process learns whether all loaded their parameters.
  absl::StatusOr<std::vector<int>> mine =
      processes->localDevices(executable_, parameters);
  if (!mine.ok())
    return mine.status();
  local = std::move(*mine);
  devices.resize(local.size());
  for (size_t i = 0; i < local.size(); ++i) {
    devices[i].index = local[i];
    absl::StatusOr<std::unique_ptr<DeviceApi>> api = make(local[i], count);
    if (!api.ok())
      return api.status();
    devices[i].api = std::move(*api);
  }
  // Plans first, on this thread: a program the backend cannot run fails
  // before any communicator is made.
  for (LoadedDevice &device : devices)
    if (absl::Status status = prepare(device, *parameters); !status.ok())
      return status;
  std::vector<std::vector<int>> groups = executableGroups(executable_);
  std::unique_ptr<IdExchange> exchange = processes->idExchange();
  if (!exchange)
    return joinAll(groups);
  return onEveryDevice(
      static_cast<int>(devices.size()),
      [&](int i) { return join(devices[i], *exchange, groups); }, nullptr);
}

absl::Status
PlanExecutable::prepare(LoadedDevice &device,
                        const std::vector<AlignedBytes> &parameters) {
  const proto::DeviceProgram &program = executable_.programs(device.index);
  absl::StatusOr<BufferLayout> layout =
      layoutBuffers(executable_, device.index);
  if (!layout.ok())
    return layout.status();
  device.layout = std::move(*layout);
  // The buffers first; then a plan without scratch gives the workspace
  // size, and the plan with it. (Plans depend on which buffers alias, so
  // both see the real buffers.)
  auto where = [&](const absl::Status &status) {
    return absl::Status(status.code(),
                        absl::StrCat("device ", device.index, " (",
                                     device.api->describe(),
                                     "): ", status.message()));
  };
  absl::StatusOr<char *> memory =
      device.api->allocate(device.layout.totalBytes);
  if (!memory.ok())
    return where(memory.status());
  device.memory = *memory;
  PlanOptions options;
  options.convolutionLaunches = device.api->hasConvolution();
  for (const StepSignature::State &state : signature.state)
    if (state.update->parameter())
      options.writableParameters.insert(state.update->index());
  absl::StatusOr<DevicePlan> dry =
      planDevice(executable_, device.index, device.layout, device.memory,
                 nullptr, options);
  if (!dry.ok())
    return dry.status();
  uint64_t parametersOffset = (dry->workspaceBytes + 255) / 256 * 256;
  absl::StatusOr<char *> scratch =
      device.api->allocate(parametersOffset + dry->parameterBlock.size());
  if (!scratch.ok())
    return where(scratch.status());
  device.workspace = *scratch;
  device.parameters = device.workspace + parametersOffset;
  options.parameterBlock = device.parameters;
  absl::StatusOr<DevicePlan> plan =
      planDevice(executable_, device.index, device.layout, device.memory,
                 device.workspace, options);
  if (!plan.ok())
    return plan.status();
  if (plan->workspaceBytes != dry->workspaceBytes ||
      plan->parameterBlock.size() != dry->parameterBlock.size())
    return absl::InternalError(
        absl::StrCat("device ", device.index,
                     ": the plan changed once given memory (a planner bug)"));
  device.plan = std::move(*plan);
  DeviceApi &api = *device.api;
  if (absl::Status status =
          api.toDevice(device.parameters, device.plan.parameterBlock.data(),
                       device.plan.parameterBlock.size());
      !status.ok())
    return status;
  // Constants, and the parameters (this device's parts where split).
  for (int id = 0; id < program.buffers_size(); ++id) {
    const proto::Buffer &buffer = program.buffers(id);
    if (buffer.storage() != proto::Buffer::CONSTANT)
      continue;
    if (absl::Status status =
            api.toDevice(device.memory + device.layout.bufferOffsets[id],
                         buffer.data().data(), buffer.data().size());
        !status.ok())
      return status;
  }
  // A parameter a step updates: the part the update writes (the part the
  // program reads, where it reads it; validateExecutable checked).
  std::map<int64_t, HostDevice::OutputPart> stateParts;
  for (const StepSignature::State &state : signature.state)
    if (state.update->parameter())
      stateParts[state.update->index()] =
          HostDevice::outputPart(program, state.update->output());
  for (const auto &[index, offset] : device.layout.parameterOffsets) {
    auto partBuffer = device.layout.parameterParts.find(index);
    const proto::Buffer *part = partBuffer == device.layout.parameterParts.end()
                                    ? nullptr
                                    : &program.buffers(partBuffer->second);
    std::vector<int64_t> dims, offsets;
    if (auto state = stateParts.find(index); state != stateParts.end()) {
      dims = state->second.dims;
      offsets = state->second.offsets;
    } else if (part) {
      dims.assign(part->dims().begin(), part->dims().end());
      offsets.assign(part->global_offsets().begin(),
                     part->global_offsets().end());
    }
    const AlignedBytes &whole = parameters[index];
    char *target = device.memory + offset;
    absl::Status status;
    if (!offsets.empty()) {
      const proto::TensorSpec &spec = executable_.parameters(index);
      int64_t elementBytes = kernels::byteSize(spec.element_type());
      int64_t bytes = elementBytes;
      for (int64_t d : dims)
        bytes *= d;
      std::vector<char> local(static_cast<size_t>(std::max<int64_t>(bytes, 1)));
      copyPart(elementBytes, spec.dims(), offsets, dims, whole.data.get(),
               local.data(), /*toLocal=*/true);
      status = api.toDevice(target, local.data(), bytes);
    } else {
      status = api.toDevice(target, whole.data.get(), whole.bytes);
    }
    if (!status.ok())
      return status;
  }
  // State inputs start at zero.
  for (size_t k = 0; k < signature.state.size(); ++k) {
    const proto::StateUpdate &update = *signature.state[k].update;
    if (update.parameter())
      continue;
    std::vector<char> zeros(
        HostDevice::outputPart(program, update.output()).bytes);
    if (zeros.empty())
      continue;
    if (absl::Status status =
            api.toDevice(device.memory + device.layout.stateOffsets[k],
                         zeros.data(), zeros.size());
        !status.ok())
      return status;
  }
  return absl::OkStatus();
}

absl::Status PlanExecutable::join(LoadedDevice &device, IdExchange &exchange,
                                  const std::vector<std::vector<int>> &groups) {
  int self = static_cast<int>(executable_.programs(device.index).device_id());
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<int> &members = groups[g];
    NcclId mine;
    if (members.front() == self) {
      absl::StatusOr<NcclId> id = nccl->uniqueId();
      if (!id.ok())
        return id.status();
      mine = *id;
    }
    absl::StatusOr<NcclId> id =
        exchange.share(static_cast<int>(g), members.front(), self, mine);
    if (!id.ok())
      return id.status();
    if (std::find(members.begin(), members.end(), self) == members.end())
      continue;
    int rank = static_cast<int>(
        std::find(members.begin(), members.end(), self) - members.begin());
    absl::StatusOr<void *> comm = nccl->join(*id, members, rank, *device.api);
    if (!comm.ok())
      return absl::Status(
          comm.status().code(),
          absl::StrCat("device ", device.index, ": joining the group of ",
                       members.size(), " devices: ", comm.status().message()));
    keep(device, members, *comm);
  }
  return absl::OkStatus();
}

void PlanExecutable::keep(LoadedDevice &device, const std::vector<int> &members,
                          void *comm) {
  device.joined.push_back(comm);
  device.comms.resize(device.plan.groups.size(), nullptr);
  auto used =
      std::find(device.plan.groups.begin(), device.plan.groups.end(), members);
  if (used != device.plan.groups.end())
    device.comms[used - device.plan.groups.begin()] = comm;
}

absl::Status
PlanExecutable::joinAll(const std::vector<std::vector<int>> &groups) {
  std::map<int64_t, LoadedDevice *> byId;
  for (LoadedDevice &device : devices)
    byId[executable_.programs(device.index).device_id()] = &device;
  for (const std::vector<int> &members : groups) {
    std::vector<DeviceApi *> apis;
    for (int id : members) {
      auto device = byId.find(id);
      if (device == byId.end())
        return absl::InvalidArgumentError(
            absl::StrCat("a collective's group names device ", id,
                         ", which has no program"));
      apis.push_back(device->second->api.get());
    }
    absl::StatusOr<std::vector<void *>> comms = nccl->joinAll(members, apis);
    if (!comms.ok())
      return absl::Status(
          comms.status().code(),
          absl::StrCat("making the communicators of a group of ",
                       members.size(), " devices: ", comms.status().message()));
    for (size_t r = 0; r < members.size(); ++r)
      keep(*byId[members[r]], members, (*comms)[r]);
  }
  return absl::OkStatus();
}

absl::Status PlanExecutable::enqueue(LoadedDevice &device,
                                     const Launch &launch) {
  DeviceApi &api = *device.api;
  switch (launch.type) {
  case Launch::Type::Element:
    return api.element(launch.kind,
                       device.plan.parameterBlock.data() + launch.params,
                       device.parameters + launch.params, launch.count);
  case Launch::Type::Gemm:
    return api.gemm(launch.gemm);
  case Launch::Type::Convolution:
    return api.convolution(launch.convolution);
  case Launch::Type::DeviceCopy:
    return api.deviceCopy(launch.dst, launch.src, launch.bytes);
  case Launch::Type::Record:
  case Launch::Type::Wait:
    return absl::InternalError("an event is not enqueued as work");
  case Launch::Type::Nccl:
    break;
  }
  const NcclCall &call = launch.nccl;
  void *comm = device.comms[call.comm];
  void *stream = api.stream();
  switch (call.op) {
  case NcclOp::AllReduce:
    return nccl->allReduce(call.send, call.receive, call.count, call.type,
                           call.reduction, comm, stream);
  case NcclOp::AllGather:
    return nccl->allGather(call.send, call.receive, call.count, call.type, comm,
                           stream);
  case NcclOp::ReduceScatter:
    return nccl->reduceScatter(call.send, call.receive, call.count, call.type,
                               call.reduction, comm, stream);
  case NcclOp::SendRecv:
    break;
  }
  if (absl::Status status = nccl->groupStart(); !status.ok())
    return status;
  absl::Status status;
  for (const NcclCall::Transfer &transfer : call.sends)
    if (status.ok())
      status = nccl->send(transfer.data, transfer.bytes, transfer.peer, comm,
                          stream);
  for (const NcclCall::Transfer &transfer : call.receives)
    if (status.ok())
      status = nccl->receive(transfer.data, transfer.bytes, transfer.peer, comm,
                             stream);
  absl::Status ended = nccl->groupEnd();
  return status.ok() ? ended : status;
}

absl::Status PlanExecutable::wait(LoadedDevice &device) {
  using Clock = std::chrono::steady_clock;
  auto since = Clock::now();
  int last = -2;
  for (;;) {
    absl::StatusOr<int> pending = device.api->progress();
    if (!pending.ok())
      return pending.status();
    if (*pending < 0)
      return absl::OkStatus();
    if (*pending >= static_cast<int>(device.markedLaunches.size())) {
      // Computing after the last collective: no deadline on kernels.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    int launch = device.markedLaunches[*pending];
    const Launch &stuck = device.plan.launches[launch];
    if (absl::Status status = nccl->asyncError(device.comms[stuck.nccl.comm]);
        !status.ok())
      return where(
          device, stuck.instruction,
          absl::Status(status.code(), absl::StrCat("NCCL ", opName(stuck.nccl),
                                                   ": ", status.message())));
    if (*pending != last) {
      last = *pending;
      since = Clock::now();
    } else if (std::chrono::duration<double>(Clock::now() - since).count() >
               timeoutSeconds) {
      return where(
          device, stuck.instruction,
          absl::DeadlineExceededError(absl::StrCat(
              "NCCL ", opName(stuck.nccl), " among ",
              device.plan.groups[stuck.nccl.comm].size(),
              " devices did not complete in ", timeoutSeconds,
              " s (a peer is stuck, gone, or was given another input)")));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

absl::Status
PlanExecutable::runDevice(LoadedDevice &device,
                          const std::map<int64_t, std::vector<char>> &inputs) {
  DeviceApi &api = *device.api;
  const proto::DeviceProgram &program = executable_.programs(device.index);
  int32_t zero[kErrorWordBytes / 4] = {};
  if (absl::Status status = api.toDevice(device.workspace, zero, sizeof(zero));
      !status.ok())
    return status;
  for (const auto &[index, bytes] : inputs)
    if (absl::Status status =
            api.toDevice(device.memory + device.layout.inputOffsets[index],
                         bytes.data(), bytes.size());
        !status.ok())
      return status;
  device.markedLaunches.clear();
  // Profiling: each instruction waited for (with the collective deadline)
  // before the next starts, and timed.
  using Clock = std::chrono::steady_clock;
  int timed = -1;
  Clock::time_point start;
  auto account = [&]() -> absl::Status {
    if (!profiling || timed < 0)
      return absl::OkStatus();
    if (absl::Status status = wait(device); !status.ok())
      return status;
    double elapsed =
        std::chrono::duration<double>(Clock::now() - start).count();
    seconds.add(profileName(program.instructions(timed)), elapsed);
    return absl::OkStatus();
  };
  for (size_t i = 0; i < device.plan.launches.size(); ++i) {
    const Launch &launch = device.plan.launches[i];
    if (launch.instruction != timed) {
      if (absl::Status status = account(); !status.ok())
        return status;
      timed = launch.instruction;
      start = Clock::now();
    }
    absl::Status status;
    if (launch.type == Launch::Type::Record) {
      status = api.record(launch.event, launch.stream);
    } else if (launch.type == Launch::Type::Wait) {
      // Errors of communication work the emulation ran only now come back
      // here, already naming their instruction.
      status = api.waitFor(launch.event, launch.stream);
    } else {
      // The launch and the device outlive the run (the closure may run
      // later in it, on the emulation).
      LoadedDevice *on = &device;
      const Launch *work = &launch;
      status = api.onStream(launch.stream, [this, on, work, i] {
        if (absl::Status status = enqueue(*on, *work); !status.ok())
          return where(*on, work->instruction, status);
        if (work->type != Launch::Type::Nccl)
          return absl::OkStatus();
        on->markedLaunches.push_back(static_cast<int>(i));
        if (absl::Status status =
                on->api->mark(static_cast<int>(on->markedLaunches.size()) - 1);
            !status.ok())
          return where(*on, work->instruction, status);
        return absl::OkStatus();
      });
    }
    if (!status.ok())
      return status;
  }
  if (absl::Status status = account(); !status.ok())
    return status;
  if (absl::Status status = wait(device); !status.ok())
    return status;
  int32_t error = 0;
  if (absl::Status status = api.toHost(&error, device.workspace, sizeof(error));
      !status.ok())
    return status;
  if (error) {
    std::string tensors;
    for (int instruction : device.plan.checkedInstructions)
      absl::StrAppend(&tensors, tensors.empty() ? "'" : ", '",
                      program.instructions(instruction).location(), "'");
    return absl::InvalidArgumentError(absl::StrCat(
        "device ", device.index,
        ": a gather index is out of range (gathers for ", tensors, ")"));
  }
  return absl::OkStatus();
}

absl::Status PlanExecutable::runDevices(
    const std::vector<std::map<int64_t, std::vector<char>>> &parts) {
  return onEveryDevice(
      static_cast<int>(devices.size()),
      [&](int i) { return runDevice(devices[i], parts[i]); },
      [&] { abortAll(); });
}

absl::StatusOr<std::vector<HostTensor>> PlanExecutable::assemble(
    const std::vector<int> &which,
    const std::function<const char *(const LoadedDevice &, int)> &at) {
  // Each device's part of each output, copied out.
  std::vector<std::vector<std::vector<char>>> bytes(devices.size());
  std::vector<std::vector<const char *>> pointers(devices.size());
  for (size_t d = 0; d < devices.size(); ++d) {
    LoadedDevice &device = devices[d];
    const proto::DeviceProgram &program = executable_.programs(device.index);
    for (size_t i = 0; i < which.size(); ++i) {
      HostDevice::OutputPart part = HostDevice::outputPart(program, which[i]);
      bytes[d].emplace_back(std::max<size_t>(part.bytes, 1));
      if (absl::Status copied =
              device.api->toHost(bytes[d].back().data(),
                                 at(device, static_cast<int>(i)), part.bytes);
          !copied.ok())
        return copied;
    }
    for (const std::vector<char> &part : bytes[d])
      pointers[d].push_back(part.data());
  }
  return processes->assemble(executable_, local, pointers, which);
}

namespace {
absl::Status endedCommunicators() {
  return absl::FailedPreconditionError(
      "an earlier run failed and ended the communicators: load the "
      "executable again");
}
} // namespace

absl::StatusOr<std::vector<HostTensor>>
PlanExecutable::run(const std::vector<HostTensor> &inputs) {
  if (communicatorsEnded)
    return endedCommunicators();
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>> parts =
      processes->inputParts(executable_, local, inputs);
  if (!parts.ok())
    return parts.status();
  if (absl::Status status = runDevices(*parts); !status.ok())
    return status;
  std::vector<int> all(executable_.outputs_size());
  for (int o = 0; o < executable_.outputs_size(); ++o)
    all[o] = o;
  return assemble(all, [&](const LoadedDevice &device, int o) {
    return outputAt(device, o);
  });
}

absl::Status PlanExecutable::step(absl::Span<const TensorRef> inputs,
                                  absl::Span<const TensorRef> outputs) {
  if (communicatorsEnded)
    return endedCommunicators();
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>> parts =
      processes->stepInputParts(executable_, local, signature, inputs, outputs);
  if (!parts.ok())
    return parts.status();
  if (absl::Status status = runDevices(*parts); !status.ok())
    return status;
  absl::StatusOr<std::vector<HostTensor>> results =
      assemble(signature.outputs, [&](const LoadedDevice &device, int i) {
        return outputAt(device, signature.outputs[i]);
      });
  if (!results.ok())
    return results.status();
  if (processes->holdsResults())
    for (size_t i = 0; i < results->size(); ++i)
      std::memcpy(outputs[i].data, (*results)[i].bytes.data(),
                  std::min(outputs[i].bytes, (*results)[i].bytes.size()));
  // Every device has finished reading the state it updates.
  return onEveryDevice(
      static_cast<int>(devices.size()),
      [&](int i) { return commitState(devices[i]); }, [&] { abortAll(); });
}

absl::Status PlanExecutable::commitState(LoadedDevice &device) {
  const proto::DeviceProgram &program = executable_.programs(device.index);
  for (size_t k = 0; k < signature.state.size(); ++k) {
    int output = static_cast<int>(signature.state[k].update->output());
    const char *from = outputAt(device, output);
    char *to = device.memory + device.layout.stateOffsets[k];
    int64_t bytes =
        static_cast<int64_t>(HostDevice::outputPart(program, output).bytes);
    if (from == to || bytes == 0)
      continue;
    if (absl::Status status = device.api->onStream(
            Stream::Compute,
            [&] { return device.api->deviceCopy(to, from, bytes); });
        !status.ok())
      return status;
  }
  return wait(device);
}

absl::StatusOr<HostTensor> PlanExecutable::readState(const std::string &name) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  absl::StatusOr<std::vector<HostTensor>> whole =
      assemble({static_cast<int>(signature.state[*k].update->output())},
               [&](const LoadedDevice &device, int) {
                 return device.memory + device.layout.stateOffsets[*k];
               });
  if (!whole.ok())
    return whole.status();
  if (whole->empty())
    return HostTensor(); // Another process reports it.
  // The state's own spec (an input's or parameter's name and shape).
  HostTensor value = outputFor(*signature.state[*k].spec);
  value.bytes = std::move(whole->front().bytes);
  return value;
}

absl::Status PlanExecutable::writeState(const std::string &name,
                                        const TensorRef &value) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  for (LoadedDevice &device : devices) {
    const proto::DeviceProgram &program = executable_.programs(device.index);
    HostDevice::OutputPart part =
        HostDevice::outputPart(program, signature.state[*k].update->output());
    std::vector<char> bytes(std::max<size_t>(part.bytes, 1));
    if (absl::Status status = HostDevice::extractState(executable_, program, *k,
                                                       value, bytes.data());
        !status.ok())
      return status;
    if (absl::Status status =
            device.api->toDevice(device.memory + device.layout.stateOffsets[*k],
                                 bytes.data(), part.bytes);
        !status.ok())
      return status;
  }
  return absl::OkStatus();
}

} // namespace

std::unique_ptr<Processes> singleProcess() {
  return std::make_unique<SingleProcess>();
}

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
PlanBackend::load(const proto::Executable &executable,
                  const ParameterSource &parameters) {
  auto loaded = std::make_unique<PlanExecutable>(
      executable, nccl, timeoutSeconds, processes, profile);
  if (absl::Status status = loaded->load(parameters, devices); !status.ok())
    return status;
  return loaded;
}

} // namespace tessel::cuda
