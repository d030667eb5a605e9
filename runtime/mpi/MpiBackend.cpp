//===- MpiBackend.cpp - One MPI process per device ------------------------===//

#include "runtime/mpi/MpiBackend.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/Executable.h"
#include "runtime/host/CollectiveDispatch.h"
#include "runtime/host/HostDevice.h"
#include "runtime/mpi/MpiCollectives.h"
#include "runtime/mpi/MpiTransfer.h"
#include "runtime/mpi/Watchdog.h"

namespace tessel {
namespace {

class MpiExecutable : public LoadedExecutable {
public:
  MpiExecutable(proto::Executable executable, bool profiling)
      : program(std::move(executable)), profiling(profiling) {}

  absl::Status prepare(const ParameterSource &parameters, int threads);
  absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) override;
  absl::Status step(absl::Span<const TensorRef> inputs,
                    absl::Span<const TensorRef> outputs) override;
  absl::StatusOr<HostTensor> readState(const std::string &name) override;
  absl::Status writeState(const std::string &name,
                          const TensorRef &value) override;
  bool holdsResults() const override { return rank == 0; }
  const proto::Executable &executable() const override { return program; }
  /// This rank's kernels and collectives (its one device), with profiling.
  std::vector<std::pair<std::string, double>> profile() const override {
    return seconds.sorted();
  }

private:
  /// Puts this rank's parts of the inputs (`parts`, or the error getting
  /// them) in its device and runs its program.
  absl::Status
  runDevice(const absl::StatusOr<std::map<int64_t, std::vector<char>>> &parts);
  /// This rank's parts of the outputs `which`.
  std::vector<const char *> outputParts(const std::vector<int> &which) const;
  absl::Status collective(int index, const proto::Instruction &instruction,
                          const std::vector<kernels::TensorView> &operands,
                          const std::vector<kernels::TensorView> &results);

  proto::Executable program;
  StepSignature signature = stepSignature(program);
  bool profiling;
  KernelProfile seconds;
  int rank = 0, world = 1;
  /// Runs begun, for the watchdog's messages.
  int steps = 0;
  std::vector<AlignedBytes> parameters;
  HostDevice device;
  /// Per instruction: this rank's group of the collective (null otherwise),
  /// and for a permute each member's source. Collectives that partition
  /// the ranks alike share one group (`communicators`, by partition).
  std::vector<MpiGroup *> groups;
  std::map<std::vector<std::vector<int>>, std::unique_ptr<MpiGroup>>
      communicators;
  std::vector<std::vector<int>> sources;
};

absl::Status MpiExecutable::prepare(const ParameterSource &source,
                                    int threads) {
  absl::StatusOr<std::vector<AlignedBytes>> loaded =
      loadParameters(program, source);
  // Every rank learns whether all loaded theirs before any goes on.
  absl::StatusOr<int> joined = joinWorld(program, loaded);
  if (!joined.ok())
    return joined.status();
  parameters = std::move(*loaded);
  rank = *joined;
  world = program.programs_size();
  int cores =
      threads > 0
          ? threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The single-device program is the caller's, for a check.
  keepOnlyDevice(program, rank, /*keepReference=*/false);
  if (absl::Status status = device.prepare(program, rank, parameters, cores);
      !status.ok())
    return status;
  releaseParameters(parameters, absl::MakeConstSpan(&device, 1));
  // Every rank makes a communicator for each partition of the ranks its
  // collectives use, at the partition's first collective: the same calls
  // in the same order everywhere, since every rank runs the same program
  // (compared above). A communicator per collective instead took Open MPI
  // about 8 KiB per rank each and a world-wide split at load (146 on the
  // GPT-2 bench model's ZeRO-3 step over 8 ranks); one carries them all,
  // since a rank runs its collectives one at a time in program order.
  const proto::DeviceProgram &mine = device.program();
  groups.resize(mine.instructions_size());
  sources.resize(mine.instructions_size());
  for (int i = 0; i < mine.instructions_size(); ++i) {
    const proto::Instruction &instruction = mine.instructions(i);
    if (instruction.op() != "collective")
      continue;
    const proto::Collective &collective = instruction.collective();
    std::vector<std::vector<int>> partition;
    for (const proto::Ints &members : collective.groups())
      partition.emplace_back(members.values().begin(), members.values().end());
    for (const std::vector<int> &ids : partition) {
      if (std::find(ids.begin(), ids.end(), rank) == ids.end())
        continue;
      std::unique_ptr<MpiGroup> &made = communicators[partition];
      if (!made) {
        absl::StatusOr<std::unique_ptr<MpiGroup>> group = MpiGroup::create(ids);
        if (!group.ok())
          return absl::Status(group.status().code(),
                              absl::StrCat("collective for tensor '",
                                           instruction.location(),
                                           "': ", group.status().message()));
        // Every rank loaded the same executable (compared above).
        (*group)->trustShapes();
        made = std::move(*group);
      }
      groups[i] = made.get();
      sources[i] = permuteSources(collective, ids);
    }
    if (!groups[i])
      return absl::InvalidArgumentError(
          absl::StrCat("collective for tensor '", instruction.location(),
                       "' leaves out device ", rank));
  }
  return absl::OkStatus();
}

absl::Status
MpiExecutable::collective(int index, const proto::Instruction &instruction,
                          const std::vector<kernels::TensorView> &operands,
                          const std::vector<kernels::TensorView> &results) {
  Watchdog::Label label(absl::StrCat("step ", steps,
                                     ", collective for tensor '",
                                     instruction.location(), "'"));
  return runCollective(*groups[index], instruction, sources[index], operands,
                       results, absl::StrCat("rank ", rank));
}

absl::StatusOr<std::vector<HostTensor>>
MpiExecutable::run(const std::vector<HostTensor> &inputs) {
  ++steps;
  // Rank 0 holds the inputs and sends every rank its parts.
  if (absl::Status status = runDevice(distributeInputs(program, inputs));
      !status.ok())
    return status;
  // Outputs: every rank's part to rank 0, which assembles them.
  std::vector<int> all(program.outputs_size());
  std::iota(all.begin(), all.end(), 0);
  return assembleOutputs(program, outputParts(all), all);
}

std::vector<const char *>
MpiExecutable::outputParts(const std::vector<int> &which) const {
  std::vector<const char *> mine;
  for (int o : which)
    mine.push_back(static_cast<const char *>(device.output(o).data));
  return mine;
}

absl::Status MpiExecutable::runDevice(
    const absl::StatusOr<std::map<int64_t, std::vector<char>>> &parts) {
  if (!parts.ok())
    return parts.status();
  for (const auto &[index, bytes] : *parts)
    std::copy(bytes.begin(), bytes.end(), device.inputData(index));
  return device.run(
      [this](int i, const proto::Instruction &instruction,
             const std::vector<kernels::TensorView> &operands,
             const std::vector<kernels::TensorView> &results) {
        return collective(i, instruction, operands, results);
      },
      profiling
          ? HostDevice::ProfileFn([this](const std::string &name, double time) {
              seconds.add(name, time);
            })
          : HostDevice::ProfileFn());
}

absl::Status MpiExecutable::step(absl::Span<const TensorRef> inputs,
                                 absl::Span<const TensorRef> outputs) {
  ++steps;
  if (absl::Status status =
          runDevice(distributeStepInputs(program, signature, inputs, outputs));
      !status.ok())
    return status;
  // This rank's memory is its own: the update can follow the run at once.
  device.commitState();
  absl::StatusOr<std::vector<HostTensor>> assembled = assembleOutputs(
      program, outputParts(signature.outputs), signature.outputs);
  if (!assembled.ok())
    return assembled.status();
  for (size_t o = 0; o < assembled->size(); ++o)
    std::copy((*assembled)[o].bytes.begin(), (*assembled)[o].bytes.end(),
              outputs[o].data);
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> MpiExecutable::readState(const std::string &name) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  absl::StatusOr<std::vector<HostTensor>> assembled =
      assembleOutputs(program, {device.stateData(*k)},
                      {static_cast<int>(program.state_updates(*k).output())});
  if (!assembled.ok())
    return assembled.status();
  return rank == 0 ? std::move(assembled->front()) : HostTensor();
}

absl::Status MpiExecutable::writeState(const std::string &name,
                                       const TensorRef &value) {
  absl::StatusOr<int> k = signature.indexOf(name);
  if (!k.ok())
    return k.status();
  return device.writeState(*k, value);
}

} // namespace

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
MpiBackend::load(const proto::Executable &executable,
                 const ParameterSource &parameters) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized)
    return absl::FailedPreconditionError(
        "the MPI backend needs MPI initialized: run under mpirun with "
        "--backend mpi");
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return status;
  auto loaded = std::make_unique<MpiExecutable>(executable, profiling);
  if (absl::Status status = loaded->prepare(parameters, threads); !status.ok())
    return status;
  return std::unique_ptr<LoadedExecutable>(std::move(loaded));
}

} // namespace tessel
