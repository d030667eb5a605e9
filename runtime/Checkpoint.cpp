//===- Checkpoint.cpp - Training state on disk ----------------------------===//

#include "runtime/Checkpoint.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/Executable.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/params/ParameterFile.h"

namespace tessel {
namespace {

/// The executable's state, or an error saying it has none.
absl::StatusOr<StepSignature> stateOf(const LoadedExecutable &loaded) {
  StepSignature signature = stepSignature(loaded.executable());
  if (signature.state.empty())
    return absl::FailedPreconditionError(
        "the executable keeps no state between steps (no output updates an "
        "input or a parameter: compile a training step with tessel-compile "
        "--train)");
  return signature;
}

/// Adds `tensor` to `set` as `name`, its bytes kept by the set.
void addTensor(ParameterSet &set, const std::string &name, HostTensor tensor) {
  set.addOwned(name, tensor.type, tensor.dims,
               std::string(tensor.bytes.begin(), tensor.bytes.end()));
}

} // namespace

absl::Status saveCheckpoint(LoadedExecutable &loaded, int64_t steps,
                            const std::string &path) {
  absl::StatusOr<StepSignature> signature = stateOf(loaded);
  if (!signature.ok())
    return signature.status();
  ParameterSet checkpoint(path);
  for (const StepSignature::State &state : signature->state) {
    absl::StatusOr<HostTensor> value = loaded.readState(state.name);
    if (!value.ok())
      return value.status();
    addTensor(checkpoint, state.name, std::move(*value));
  }
  if (!loaded.holdsResults())
    return absl::OkStatus(); // Rank 0 writes.
  std::string count(sizeof(int64_t), '\0');
  std::memcpy(count.data(), &steps, sizeof(steps));
  checkpoint.addOwned(kCheckpointStepsEntry, proto::I64, {}, std::move(count));
  return checkpoint.write(path);
}

absl::StatusOr<int64_t> loadCheckpoint(LoadedExecutable &loaded,
                                       const std::string &path) {
  absl::StatusOr<StepSignature> signature = stateOf(loaded);
  if (!signature.ok())
    return signature.status();
  absl::StatusOr<ParameterFile> file = ParameterFile::open(path);
  if (!file.ok())
    return file.status();
  absl::StatusOr<const proto::ParameterEntry *> stepsEntry =
      file->find(kCheckpointStepsEntry);
  if (!stepsEntry.ok() || (*stepsEntry)->element_type() != proto::I64 ||
      (*stepsEntry)->dims_size() != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is no checkpoint: it has no i64 scalar '",
                     kCheckpointStepsEntry, "' (the steps taken)"));
  int64_t steps = 0;
  if (absl::Status status = file->read(
          **stepsEntry,
          absl::Span<char>(reinterpret_cast<char *>(&steps), sizeof(steps)));
      !status.ok())
    return status;
  if (steps < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint '", path, "' records ", steps, " steps taken"));
  for (const StepSignature::State &state : signature->state) {
    absl::StatusOr<const proto::ParameterEntry *> entry =
        file->find(state.name);
    if (!entry.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint '", path, "' has no '", state.name,
                       "', a state tensor of the executable (was it made "
                       "by another training step?)"));
    const proto::TensorSpec &spec = *state.spec;
    const google::protobuf::RepeatedField<int64_t> &dims = storedDims(spec);
    if ((*entry)->element_type() != spec.element_type() ||
        !std::equal(dims.begin(), dims.end(), (*entry)->dims().begin(),
                    (*entry)->dims().end()))
      return absl::InvalidArgumentError(absl::StrCat(
          "'", state.name, "' is ",
          describeTensor((*entry)->element_type(), (*entry)->dims()),
          " in checkpoint '", path, "' but the executable keeps ",
          describeTensor(spec.element_type(), dims)));
    HostTensor value;
    value.type = spec.element_type();
    value.dims.assign(dims.begin(), dims.end());
    value.bytes.resize((*entry)->byte_size());
    if (absl::Status status = file->read(
            **entry, absl::Span<char>(value.bytes.data(), value.bytes.size()));
        !status.ok())
      return status;
    if (absl::Status status = loaded.writeState(state.name, value);
        !status.ok())
      return status;
  }
  return steps;
}

absl::Status saveParameters(LoadedExecutable &loaded,
                            const ParameterSource &source,
                            const std::string &path) {
  const proto::Executable &executable = loaded.executable();
  StepSignature signature = stepSignature(executable);
  ParameterSet trained(path);
  std::shared_ptr<const ParameterStore> store;
  for (const proto::TensorSpec &spec : executable.parameters()) {
    const StepSignature::State *state = signature.find(spec.name());
    if (state && state->update->parameter()) {
      absl::StatusOr<HostTensor> value = loaded.readState(spec.name());
      if (!value.ok())
        return value.status();
      addTensor(trained, spec.name(), std::move(*value));
      continue;
    }
    // Not trained (frozen): as loaded, by the process that writes.
    if (!loaded.holdsResults())
      continue;
    if (!store) {
      absl::StatusOr<std::shared_ptr<const ParameterStore>> opened =
          openParameters(executable, source);
      if (!opened.ok())
        return opened.status();
      store = std::move(*opened);
    }
    absl::StatusOr<const proto::ParameterEntry *> entry =
        findParameter(*store, spec);
    if (!entry.ok())
      return entry.status();
    std::string bytes((*entry)->byte_size(), '\0');
    if (absl::Status status =
            store->read(**entry, absl::Span<char>(bytes.data(), bytes.size()));
        !status.ok())
      return status;
    trained.addOwned(spec.name(), spec.element_type(),
                     {storedDims(spec).begin(), storedDims(spec).end()},
                     std::move(bytes));
  }
  if (!loaded.holdsResults())
    return absl::OkStatus();
  return trained.write(path);
}

} // namespace tessel
