//===- MpiTransfer.cpp - Inputs and outputs of a run under mpirun ---------===//

#include "runtime/mpi/MpiTransfer.h"

#include <mpi.h>

#include <functional>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "runtime/host/HostDevice.h"
#include "runtime/mpi/MpiCollectives.h"

namespace tessel {

absl::StatusOr<int> joinWorld(const proto::Executable &executable) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != executable.programs_size())
    return absl::InvalidArgumentError(absl::StrCat(
        "the executable is partitioned for ", executable.programs_size(),
        " devices, but mpirun started ", world,
        " ranks (one rank per device)"));
  // Every rank must run this executable before any collective: a rank
  // that runs another fails here, one that never comes ends the job.
  // (Serialized deterministically: maps would otherwise come in any order.)
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    executable.SerializeToCodedStream(&coded);
  }
  if (absl::Status status =
          MpiGroup::worldAgrees(std::hash<std::string>()(bytes));
      !status.ok())
    return status;
  return rank;
}

absl::StatusOr<std::map<int64_t, std::vector<char>>>
distributeInputs(const proto::Executable &executable,
                 const std::vector<HostTensor> &inputs) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int ok = 1;
  absl::Status checked;
  if (rank == 0) {
    checked = checkInputs(executable, inputs);
    ok = checked.ok();
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok)
    return rank == 0
               ? checked
               : absl::InvalidArgumentError("rank 0 found the inputs wrong");
  std::map<int64_t, std::vector<char>> mine;
  if (rank == 0) {
    for (int r = 0; r < world; ++r)
      for (const HostDevice::InputPart &part :
           HostDevice::inputParts(executable.programs(r))) {
        std::vector<char> bytes(part.bytes);
        HostDevice::extract(part, inputs[part.index], bytes.data());
        if (r == 0)
          mine[part.index] = std::move(bytes);
        else
          MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, r,
                   static_cast<int>(part.index), MPI_COMM_WORLD);
      }
    return mine;
  }
  for (const HostDevice::InputPart &part :
       HostDevice::inputParts(executable.programs(rank))) {
    std::vector<char> &bytes = mine[part.index];
    bytes.resize(part.bytes);
    MPI_Recv(bytes.data(), static_cast<int>(part.bytes), MPI_BYTE, 0,
             static_cast<int>(part.index), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  return mine;
}

absl::StatusOr<std::vector<HostTensor>>
assembleOutputs(const proto::Executable &executable,
                const std::vector<const char *> &parts) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::vector<HostTensor> outputs;
  for (int o = 0; o < executable.outputs_size(); ++o) {
    if (rank != 0) {
      HostDevice::OutputPart part =
          HostDevice::outputPart(executable.programs(rank), o);
      MPI_Send(parts[o], static_cast<int>(part.bytes), MPI_BYTE, 0, o,
               MPI_COMM_WORLD);
      continue;
    }
    HostTensor output = outputFor(executable.outputs(o));
    for (int r = 0; r < world; ++r) {
      // Rank r's part: its program's buffer for the output, placed by its
      // offsets.
      HostDevice::OutputPart part =
          HostDevice::outputPart(executable.programs(r), o);
      if (r == 0) {
        HostDevice::placeOutput(part, parts[o], output);
        continue;
      }
      std::vector<char> bytes(part.bytes);
      MPI_Recv(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, r, o,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      HostDevice::placeOutput(part, bytes.data(), output);
    }
    outputs.push_back(std::move(output));
  }
  return outputs;
}

} // namespace tessel
