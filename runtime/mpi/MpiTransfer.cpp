//===- MpiTransfer.cpp - Inputs and outputs of a run under mpirun ---------===//

#include "runtime/mpi/MpiTransfer.h"

#include <mpi.h>

#include <functional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "runtime/host/HostDevice.h"
#include "runtime/mpi/MpiCollectives.h"

namespace tessel {

absl::StatusOr<int>
joinWorld(const proto::Executable &executable,
          const absl::StatusOr<std::vector<AlignedBytes>> &parameters) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
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
  // A stale or damaged copy of the parameter file on one host would give
  // wrong numbers silently: the parameters are compared too.
  uint64_t parametersFingerprint = 0;
  if (parameters.ok())
    for (const AlignedBytes &parameter : *parameters)
      parametersFingerprint = parametersFingerprint * 1000003 ^
                              std::hash<std::string_view>()(std::string_view(
                                  parameter.data.get(), parameter.bytes));
  if (absl::Status status =
          MpiGroup::worldAgrees(std::hash<std::string>()(bytes),
                                parametersFingerprint, parameters.status());
      !status.ok())
    return status;
  // The same executable everywhere: its device count is wrong for all.
  if (world != executable.programs_size())
    return jobError(
        absl::InvalidArgumentError(absl::StrCat(
            "the executable is partitioned for ", executable.programs_size(),
            " devices, but mpirun started ", world,
            " ranks: run it as mpirun -np ", executable.programs_size(),
            " tessel-run ... --backend mpi")),
        0);
  return rank;
}

namespace {
/// distributeInputs and distributeStepInputs: `tensorOf` gives rank 0's
/// whole input `index`, or null for an input the devices keep.
absl::StatusOr<std::map<int64_t, std::vector<char>>>
distribute(const proto::Executable &executable, const absl::Status &verdict,
           const std::function<const TensorRef *(int64_t index)> &tensorOf,
           const std::function<bool(int64_t index)> &kept) {
  // Non-blocking calls waited on with the collective timeout: a rank that
  // is stuck or gone ends the job instead of holding the others forever.
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  // Rank 0's verdict on the inputs first, to every rank.
  constexpr int kVerdictTag = 32766;
  int ok = 1;
  absl::Status checked;
  std::vector<MPI_Request> requests;
  std::vector<int> peers;
  if (rank == 0) {
    checked = verdict;
    ok = checked.ok();
    for (int r = 1; r < world; ++r) {
      requests.emplace_back();
      peers.push_back(r);
      MPI_Isend(&ok, 1, MPI_INT, r, kVerdictTag, MPI_COMM_WORLD,
                &requests.back());
    }
  } else {
    requests.emplace_back();
    peers.push_back(0);
    MPI_Irecv(&ok, 1, MPI_INT, 0, kVerdictTag, MPI_COMM_WORLD,
              &requests.back());
  }
  if (absl::Status status = MpiGroup::waitTransfers(
          requests, "inputs", "inputs (rank 0's check)", peers);
      !status.ok())
    return status;
  if (!ok)
    return rank == 0
               ? checked
               : absl::InvalidArgumentError("rank 0 found the inputs wrong");
  std::map<int64_t, std::vector<char>> mine;
  requests.clear();
  peers.clear();
  if (rank == 0) {
    std::vector<std::vector<char>> sent;
    for (int r = 0; r < world; ++r)
      for (const HostDevice::InputPart &part :
           HostDevice::inputParts(executable.programs(r))) {
        if (kept(part.index))
          continue;
        std::vector<char> bytes(part.bytes);
        HostDevice::extract(part, *tensorOf(part.index),
                            executable.inputs(part.index).dims(), bytes.data());
        if (r == 0) {
          mine[part.index] = std::move(bytes);
          continue;
        }
        sent.push_back(std::move(bytes));
        requests.emplace_back();
        peers.push_back(r);
        MPI_Isend(sent.back().data(), static_cast<int>(sent.back().size()),
                  MPI_BYTE, r, static_cast<int>(part.index), MPI_COMM_WORLD,
                  &requests.back());
      }
    if (absl::Status status = MpiGroup::waitTransfers(
            requests, "inputs", "inputs (sending every rank its parts)", peers);
        !status.ok())
      return status;
    return mine;
  }
  for (const HostDevice::InputPart &part :
       HostDevice::inputParts(executable.programs(rank))) {
    if (kept(part.index))
      continue;
    std::vector<char> &bytes = mine[part.index];
    bytes.resize(part.bytes);
    requests.emplace_back();
    peers.push_back(0);
    MPI_Irecv(bytes.data(), static_cast<int>(part.bytes), MPI_BYTE, 0,
              static_cast<int>(part.index), MPI_COMM_WORLD, &requests.back());
  }
  if (absl::Status status = MpiGroup::waitTransfers(
          requests, "inputs", "inputs (receiving this rank's parts)", peers);
      !status.ok())
    return status;
  return mine;
}
} // namespace

absl::StatusOr<std::map<int64_t, std::vector<char>>>
distributeInputs(const proto::Executable &executable,
                 const std::vector<HostTensor> &inputs) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<TensorRef> refs(inputs.begin(), inputs.end());
  return distribute(
      executable, rank == 0 ? checkInputs(executable, inputs) : absl::Status(),
      [&](int64_t index) { return &refs[index]; },
      [](int64_t) { return false; });
}

absl::StatusOr<std::map<int64_t, std::vector<char>>> distributeStepInputs(
    const proto::Executable &executable, const StepSignature &step,
    absl::Span<const TensorRef> inputs, absl::Span<const TensorRef> outputs) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<const TensorRef *> byIndex(executable.inputs_size(), nullptr);
  absl::Status verdict;
  if (rank == 0) {
    verdict = checkStepTensors(executable, inputs, outputs);
    if (verdict.ok())
      for (size_t i = 0; i < step.inputs.size(); ++i)
        byIndex[step.inputs[i]] = &inputs[i];
  }
  std::vector<bool> taken(executable.inputs_size(), false);
  for (int i : step.inputs)
    taken[i] = true;
  return distribute(
      executable, verdict, [&](int64_t index) { return byIndex[index]; },
      [&](int64_t index) { return !taken[index]; });
}

absl::StatusOr<std::vector<HostTensor>>
assembleOutputs(const proto::Executable &executable,
                const std::vector<const char *> &parts) {
  std::vector<int> all(executable.outputs_size());
  for (int o = 0; o < executable.outputs_size(); ++o)
    all[o] = o;
  return assembleOutputs(executable, parts, all);
}

absl::StatusOr<std::vector<HostTensor>>
assembleOutputs(const proto::Executable &executable,
                const std::vector<const char *> &parts,
                const std::vector<int> &which) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::vector<MPI_Request> requests;
  std::vector<int> peers;
  int count = static_cast<int>(which.size());
  if (rank != 0) {
    for (int i = 0; i < count; ++i) {
      HostDevice::OutputPart part =
          HostDevice::outputPart(executable.programs(rank), which[i]);
      requests.emplace_back();
      peers.push_back(0);
      MPI_Isend(parts[i], static_cast<int>(part.bytes), MPI_BYTE, 0, i,
                MPI_COMM_WORLD, &requests.back());
    }
    if (absl::Status status = MpiGroup::waitTransfers(
            requests, "outputs", "outputs (sending this rank's parts)", peers);
        !status.ok())
      return status;
    return std::vector<HostTensor>();
  }
  // Rank r's part of output which[i]: its program's buffer for it, placed
  // by its offsets.
  std::vector<std::vector<std::vector<char>>> received(
      count, std::vector<std::vector<char>>(world));
  for (int i = 0; i < count; ++i)
    for (int r = 1; r < world; ++r) {
      received[i][r].resize(
          HostDevice::outputPart(executable.programs(r), which[i]).bytes);
      requests.emplace_back();
      peers.push_back(r);
      MPI_Irecv(received[i][r].data(), static_cast<int>(received[i][r].size()),
                MPI_BYTE, r, i, MPI_COMM_WORLD, &requests.back());
    }
  if (absl::Status status = MpiGroup::waitTransfers(
          requests, "outputs", "outputs (assembling them on rank 0)", peers);
      !status.ok())
    return status;
  std::vector<HostTensor> outputs;
  for (int i = 0; i < count; ++i) {
    HostTensor output = outputFor(executable.outputs(which[i]));
    for (int r = 0; r < world; ++r)
      HostDevice::placeOutput(
          HostDevice::outputPart(executable.programs(r), which[i]),
          r == 0 ? parts[i] : received[i][r].data(), output,
          executable.outputs(which[i]).dims());
    outputs.push_back(std::move(output));
  }
  return outputs;
}

} // namespace tessel
