//===- MpiBackend.cpp - One MPI process per device ------------------------===//

#include "runtime/mpi/MpiBackend.h"

#include <algorithm>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "runtime/Executable.h"
#include "runtime/host/CollectiveDispatch.h"
#include "runtime/host/HostDevice.h"
#include "runtime/mpi/MpiCollectives.h"

namespace tessel {
namespace {

class MpiExecutable : public LoadedExecutable {
public:
  explicit MpiExecutable(proto::Executable executable)
      : program(std::move(executable)) {}

  absl::Status prepare(const std::string &directory, int threads);
  absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) override;
  const proto::Executable &executable() const override { return program; }

private:
  absl::Status collective(int index, const proto::Instruction &instruction,
                          const std::vector<kernels::TensorView> &operands,
                          const std::vector<kernels::TensorView> &results);

  proto::Executable program;
  int rank = 0, world = 1;
  std::vector<AlignedBytes> parameters;
  HostDevice device;
  /// Per instruction: this rank's group of the collective (null otherwise),
  /// and for a permute each member's source.
  std::vector<std::unique_ptr<MpiGroup>> groups;
  std::vector<std::vector<int>> sources;
};

absl::Status MpiExecutable::prepare(const std::string &directory, int threads) {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != program.programs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("the executable is partitioned for ",
                     program.programs_size(), " devices, but mpirun started ",
                     world, " ranks (one rank per device)"));
  // Every rank must run this executable before any collective: a rank
  // that runs another fails here, one that never comes ends the job.
  // (Serialized deterministically: maps would otherwise come in any order.)
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    program.SerializeToCodedStream(&coded);
  }
  if (absl::Status status =
          MpiGroup::worldAgrees(std::hash<std::string>()(bytes));
      !status.ok())
    return status;
  absl::StatusOr<std::vector<AlignedBytes>> loaded =
      loadParameters(program, directory);
  if (!loaded.ok())
    return loaded.status();
  parameters = std::move(*loaded);
  int cores =
      threads > 0
          ? threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (absl::Status status = device.prepare(program, rank, parameters, cores);
      !status.ok())
    return status;
  // Every rank makes every collective's groups, in program order.
  const proto::DeviceProgram &mine = device.program();
  groups.resize(mine.instructions_size());
  sources.resize(mine.instructions_size());
  for (int i = 0; i < mine.instructions_size(); ++i) {
    const proto::Instruction &instruction = mine.instructions(i);
    if (instruction.op() != "collective")
      continue;
    const proto::Collective &collective = instruction.collective();
    for (const proto::Ints &members : collective.groups()) {
      std::vector<int> ids(members.values().begin(), members.values().end());
      if (std::find(ids.begin(), ids.end(), rank) == ids.end())
        continue;
      absl::StatusOr<std::unique_ptr<MpiGroup>> group = MpiGroup::create(ids);
      if (!group.ok())
        return absl::Status(group.status().code(),
                            absl::StrCat("collective for tensor '",
                                         instruction.location(),
                                         "': ", group.status().message()));
      groups[i] = std::move(*group);
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
  return runCollective(*groups[index], instruction, sources[index], operands,
                       results, absl::StrCat("rank ", rank));
}

absl::StatusOr<std::vector<HostTensor>>
MpiExecutable::run(const std::vector<HostTensor> &inputs) {
  // Rank 0 holds the inputs and sends every rank its parts.
  int ok = 1;
  absl::Status checked;
  if (rank == 0) {
    checked = checkInputs(program, inputs);
    ok = checked.ok();
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok)
    return rank == 0
               ? checked
               : absl::InvalidArgumentError("rank 0 found the inputs wrong");
  if (rank == 0) {
    device.scatterInputs(inputs);
    for (int r = 1; r < world; ++r)
      for (const HostDevice::InputPart &part :
           HostDevice::inputParts(program.programs(r))) {
        std::vector<char> bytes(part.bytes);
        HostDevice::extract(part, inputs[part.index], bytes.data());
        MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, r,
                 static_cast<int>(part.index), MPI_COMM_WORLD);
      }
  } else {
    for (const HostDevice::InputPart &part :
         HostDevice::inputParts(device.program()))
      MPI_Recv(device.inputData(part.index), static_cast<int>(part.bytes),
               MPI_BYTE, 0, static_cast<int>(part.index), MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  }
  if (absl::Status status = device.run(
          [this](int i, const proto::Instruction &instruction,
                 const std::vector<kernels::TensorView> &operands,
                 const std::vector<kernels::TensorView> &results) {
            return collective(i, instruction, operands, results);
          },
          HostDevice::ProfileFn());
      !status.ok())
    return status;
  // Outputs: every rank's part to rank 0, which assembles them.
  std::vector<HostTensor> outputs;
  for (int o = 0; o < program.outputs_size(); ++o) {
    const kernels::TensorView &mine = device.output(o);
    if (rank != 0) {
      MPI_Send(mine.data, static_cast<int>(mine.byteCount()), MPI_BYTE, 0, o,
               MPI_COMM_WORLD);
      continue;
    }
    HostTensor output = outputFor(program.outputs(o));
    device.gatherOutput(o, output);
    for (int r = 1; r < world; ++r) {
      // Rank r's part: its program's buffer for the output, placed by its
      // offsets.
      HostDevice::OutputPart part =
          HostDevice::outputPart(program.programs(r), o);
      std::vector<char> bytes(part.bytes);
      MPI_Recv(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, r, o,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      HostDevice::placeOutput(part, bytes.data(), output);
    }
    outputs.push_back(std::move(output));
  }
  return outputs;
}

} // namespace

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
MpiBackend::load(const proto::Executable &executable,
                 const std::string &directory) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized)
    return absl::FailedPreconditionError(
        "the MPI backend needs MPI initialized: run under mpirun with "
        "--backend mpi");
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return status;
  auto loaded = std::make_unique<MpiExecutable>(executable);
  if (absl::Status status = loaded->prepare(directory, threads); !status.ok())
    return status;
  return std::unique_ptr<LoadedExecutable>(std::move(loaded));
}

} // namespace tessel
