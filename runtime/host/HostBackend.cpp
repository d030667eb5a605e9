//===- HostBackend.cpp - Threads of this machine as devices ---------------===//

#include "runtime/host/HostBackend.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/Executable.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/CollectiveDispatch.h"
#include "runtime/host/Collectives.h"
#include "runtime/host/DeviceThreads.h"
#include "runtime/host/HostDevice.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"
#include "runtime/params/ParameterFile.h"

namespace tessel {
namespace {

/// A collective instruction as one device takes part in it.
struct Membership {
  HostGroup *group = nullptr;
  int rank = 0;
  /// collective_permute: each rank's source rank, or -1.
  std::vector<int> sources;
};

class HostExecutable : public LoadedExecutable {
public:
  HostExecutable(proto::Executable executable, bool profiling)
      : program(std::move(executable)), profiling(profiling) {}

  absl::Status prepare(const ParameterSource &parameters, int threads);
  absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) override;
  absl::Status runInto(const std::vector<HostTensor> &inputs,
                       std::vector<HostTensor> &outputs) override;
  absl::Status runBuffers(absl::Span<const TensorRef> inputs,
                          absl::Span<const TensorRef> outputs) override;
  absl::Status step(absl::Span<const TensorRef> inputs,
                    absl::Span<const TensorRef> outputs) override;
  absl::StatusOr<HostTensor> readState(const std::string &name) override;
  absl::Status writeState(const std::string &name,
                          const TensorRef &value) override;
  const proto::Executable &executable() const override { return program; }
  std::vector<std::pair<std::string, double>> profile() const override {
    return seconds.sorted();
  }

private:
  absl::Status runDevice(int d);
  /// Runs every device's program on the inputs scattered to them.
  absl::Status runDevices();
  /// Creates the groups of every collective and each device's place in
  /// them, once.
  absl::Status prepareCollectives();

  proto::Executable program;
  StepSignature signature = stepSignature(program);
  bool profiling;
  KernelProfile seconds;
  std::vector<AlignedBytes> parameters;
  std::vector<HostDevice> devices;
  /// Per device, per instruction: its place in the collective.
  std::vector<std::vector<Membership>> memberships;
  std::vector<std::unique_ptr<HostGroup>> groups;
  /// Set when a device fails, so that the others stop waiting for it.
  std::atomic<bool> cancelled{false};
  /// Each device's status in a run, and a step's inputs in the order of
  /// the program's: kept, so that a run allocates nothing.
  std::vector<absl::Status> statuses;
  std::vector<TensorRef> stepInputs;
  /// A thread per device beyond the first, started at load.
  std::unique_ptr<DeviceThreads> deviceThreads;
};

absl::Status HostExecutable::prepare(const ParameterSource &source,
                                     int threads) {
  // Parameters are loaded once, shared by the devices' views.
  absl::StatusOr<std::vector<AlignedBytes>> loaded =
      loadParameters(program, source);
  if (!loaded.ok())
    return loaded.status();
  parameters = std::move(*loaded);
  int cores =
      threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  int perDevice = std::max<int>(1, cores / program.programs_size());
  devices.resize(program.programs_size());
  if (program.programs_size() > 1)
    deviceThreads = std::make_unique<DeviceThreads>(program.programs_size());
  for (int d = 0; d < program.programs_size(); ++d)
    if (absl::Status status =
            devices[d].prepare(program, d, parameters, perDevice);
        !status.ok())
      return status;
  releaseParameters(parameters, devices);
  return prepareCollectives();
}

absl::Status HostExecutable::prepareCollectives() {
  int64_t count = devices.front().program().instructions_size();
  for (const HostDevice &device : devices)
    if (device.program().instructions_size() != count)
      return absl::InvalidArgumentError(
          "the devices' programs differ in length; collectives cannot pair "
          "up");
  groups.clear();
  memberships.assign(devices.size(), std::vector<Membership>(count));
  int64_t numDevices = devices.size();
  for (int64_t i = 0; i < count; ++i) {
    const proto::Instruction &instruction =
        devices.front().program().instructions(i);
    if (instruction.op() != "collective")
      continue;
    const proto::Collective &collective = instruction.collective();
    std::vector<int> seen(numDevices, 0);
    for (const proto::Ints &members : collective.groups()) {
      auto &group = groups.emplace_back(
          std::make_unique<HostGroup>(members.values_size(), &cancelled));
      for (int rank = 0; rank < members.values_size(); ++rank) {
        int64_t id = members.values(rank);
        if (id < 0 || id >= numDevices || seen[id]++)
          return absl::InvalidArgumentError(absl::StrCat(
              "collective for tensor '", instruction.location(),
              "' names device ", id, " outside the mesh or twice"));
        memberships[id][i].group = group.get();
        memberships[id][i].rank = rank;
      }
    }
    for (int64_t id = 0; id < numDevices; ++id)
      if (!seen[id])
        return absl::InvalidArgumentError(
            absl::StrCat("collective for tensor '", instruction.location(),
                         "' leaves out device ", id));
    if (collective.kind() == proto::Collective::COLLECTIVE_PERMUTE) {
      // One group of every device; ranks are positions in it.
      const proto::Ints &all = collective.groups(0);
      std::vector<int> rankOf(numDevices, -1);
      for (int rank = 0; rank < all.values_size(); ++rank)
        rankOf[all.values(rank)] = rank;
      std::vector<int> sources(all.values_size(), -1);
      for (const proto::Ints &pair : collective.pairs()) {
        if (pair.values_size() != 2 || pair.values(0) < 0 ||
            pair.values(0) >= numDevices || pair.values(1) < 0 ||
            pair.values(1) >= numDevices || rankOf[pair.values(0)] < 0 ||
            rankOf[pair.values(1)] < 0)
          return absl::InvalidArgumentError(
              absl::StrCat("collective_permute for tensor '",
                           instruction.location(), "' has a bad pair"));
        sources[rankOf[pair.values(1)]] = rankOf[pair.values(0)];
      }
      for (std::vector<Membership> &device : memberships)
        device[i].sources = sources;
    }
  }
  return absl::OkStatus();
}

absl::Status HostExecutable::runDevice(int d) {
  return devices[d].run(
      [&](int i, const proto::Instruction &instruction,
          const std::vector<kernels::TensorView> &operands,
          const std::vector<kernels::TensorView> &results) {
        Membership &membership = memberships[d][i];
        RankedHostGroup group{*membership.group, membership.rank};
        return runCollective(group, instruction, membership.sources, operands,
                             results);
      },
      profiling
          ? HostDevice::ProfileFn([&](const std::string &name, double time) {
              seconds.add(name, time);
            })
          : HostDevice::ProfileFn());
}

absl::StatusOr<std::vector<HostTensor>>
HostExecutable::run(const std::vector<HostTensor> &inputs) {
  std::vector<HostTensor> outputs;
  if (absl::Status status = runInto(inputs, outputs); !status.ok())
    return status;
  return outputs;
}

absl::Status HostExecutable::runInto(const std::vector<HostTensor> &inputs,
                                     std::vector<HostTensor> &outputs) {
  // Outputs already of the right type and shape are reused.
  outputs.resize(program.outputs_size());
  for (int o = 0; o < program.outputs_size(); ++o) {
    const proto::TensorSpec &spec = program.outputs(o);
    HostTensor &output = outputs[o];
    const google::protobuf::RepeatedField<int64_t> &dims = storedDims(spec);
    if (output.type != spec.element_type() ||
        !std::equal(output.dims.begin(), output.dims.end(), dims.begin(),
                    dims.end()) ||
        output.bytes.size() !=
            static_cast<size_t>(kernels::byteSize(spec.element_type()) *
                                std::max<int64_t>(1, output.numElements())))
      output = outputFor(spec);
  }
  std::vector<TensorRef> in(inputs.begin(), inputs.end());
  std::vector<TensorRef> out(outputs.begin(), outputs.end());
  return runBuffers(in, out);
}

absl::Status HostExecutable::runBuffers(absl::Span<const TensorRef> inputs,
                                        absl::Span<const TensorRef> outputs) {
  if (absl::Status status = checkInputs(program, inputs); !status.ok())
    return status;
  if (absl::Status status = checkOutputs(program, outputs); !status.ok())
    return status;
  // Each device gets its part of every input.
  for (HostDevice &device : devices)
    device.scatterInputs(inputs);
  if (absl::Status status = runDevices(); !status.ok())
    return status;
  // Outputs are assembled from the devices' parts, which cover them.
  for (int o = 0; o < program.outputs_size(); ++o)
    for (const HostDevice &device : devices)
      device.gatherOutput(o, outputs[o]);
  return absl::OkStatus();
}

absl::Status HostExecutable::step(absl::Span<const TensorRef> inputs,
                                  absl::Span<const TensorRef> outputs) {
  if (absl::Status status =
          checkStepTensors(program, signature, inputs, outputs);
      !status.ok())
    return status;
  // The state's entries stay empty: the devices hold the state.
  stepInputs.resize(program.inputs_size());
  for (size_t i = 0; i < signature.inputs.size(); ++i)
    stepInputs[signature.inputs[i]] = inputs[i];
  for (HostDevice &device : devices)
    device.scatterInputs(stepInputs, /*state=*/false);
  if (absl::Status status = runDevices(); !status.ok())
    return status;
  for (size_t o = 0; o < signature.outputs.size(); ++o)
    for (const HostDevice &device : devices)
      device.gatherOutput(signature.outputs[o], outputs[o]);
  // Every device has finished reading the state it updates.
  for (HostDevice &device : devices)
    device.commitState();
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> HostExecutable::readState(const std::string &name) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  HostTensor whole = outputFor(*signature.state[*k].spec);
  for (HostDevice &device : devices)
    HostDevice::placeOutput(device.statePart(*k), device.stateData(*k), whole,
                            signature.state[*k].spec->dims());
  return whole;
}

absl::Status HostExecutable::writeState(const std::string &name,
                                        const TensorRef &value) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  for (HostDevice &device : devices)
    if (absl::Status status = device.writeState(*k, value); !status.ok())
      return status;
  return absl::OkStatus();
}

absl::Status HostExecutable::runDevices() {
  if (devices.size() == 1) {
    if (absl::Status status = runDevice(0); !status.ok())
      return status;
  } else {
    statuses.assign(devices.size(), absl::OkStatus());
    cancelled = false;
    deviceThreads->run([&](int d) {
      statuses[d] = runDevice(d);
      if (!statuses[d].ok())
        cancelled = true;
    });
    if (cancelled) {
      // The groups' barriers were left mid-way: make them anew, and report
      // the failure that started it rather than the waits it cut short.
      if (absl::Status status = prepareCollectives(); !status.ok())
        return status;
      size_t first = devices.size();
      for (size_t d = 0; d < devices.size(); ++d)
        if (!statuses[d].ok() &&
            (first == devices.size() || absl::IsAborted(statuses[first])))
          first = d;
      return absl::Status(
          statuses[first].code(),
          absl::StrCat("device ", first, ": ", statuses[first].message()));
    }
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
HostBackend::load(const proto::Executable &executable,
                  const ParameterSource &parameters) {
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return status;
  if (devices > 0 && executable.programs_size() > devices)
    return absl::InvalidArgumentError(absl::StrCat(
        "the executable is partitioned for ", executable.programs_size(),
        " devices, but the host backend has ", devices));
  auto loaded = std::make_unique<HostExecutable>(executable, profiling);
  if (absl::Status status = loaded->prepare(parameters, threads); !status.ok())
    return status;
  return std::unique_ptr<LoadedExecutable>(std::move(loaded));
}

} // namespace tessel
