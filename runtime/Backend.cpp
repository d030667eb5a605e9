//===- Backend.cpp - Where executables run --------------------------------===//

#include "runtime/Backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/Executable.h"
#include "runtime/kernels/ElementTypes.h"

namespace tessel {

int64_t HostTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : dims)
    count *= dim;
  return count;
}

void KernelProfile::add(const std::string &kernel, double time) {
  std::lock_guard<std::mutex> lock(mutex);
  seconds[kernel] += time;
}

std::vector<std::pair<std::string, double>> KernelProfile::sorted() const {
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<std::pair<std::string, double>> result(seconds.begin(),
                                                     seconds.end());
  std::sort(result.begin(), result.end(),
            [](const auto &a, const auto &b) { return a.second > b.second; });
  return result;
}

int64_t TensorRef::numElements() const {
  int64_t count = 1;
  for (int64_t dim : dims)
    count *= dim;
  return count;
}

/// Checks one tensor against its spec (nothing allocated unless it fails:
/// runs check their tensors every time).
static absl::Status checkTensor(const proto::TensorSpec &spec,
                                const TensorRef &tensor, const char *what) {
  bool output = std::string_view(what) == "output";
  // A viewed tensor (TensorSpec.stored_dims) is given and made as stored.
  const google::protobuf::RepeatedField<int64_t> &dims = storedDims(spec);
  bool sameDims = std::equal(tensor.dims.begin(), tensor.dims.end(),
                             dims.begin(), dims.end());
  if (tensor.type != spec.element_type() || !sameDims)
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", spec.name(), "' is ",
        describeTensor(tensor.type,
                       google::protobuf::RepeatedField<int64_t>(
                           tensor.dims.begin(), tensor.dims.end())),
        " but the program ", output ? "makes " : "expects ",
        describeTensor(spec.element_type(), dims)));
  // An input holds exactly its bytes; an output may have room to spare.
  int64_t needed = tensor.numElements() * kernels::byteSize(tensor.type);
  int64_t held = static_cast<int64_t>(tensor.bytes);
  if (output ? held < needed : held != needed)
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", spec.name(), "' holds ", tensor.bytes,
                     " bytes, its shape needs ", needed));
  if (tensor.bytes > 0 && !tensor.data)
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", spec.name(), "' has no data"));
  return absl::OkStatus();
}

/// Checks `tensors` against the specs `specs[indices[i]]`.
template <typename Specs, typename Indices>
static absl::Status checkEach(const Specs &specs, const Indices &indices,
                              absl::Span<const TensorRef> tensors,
                              const char *what) {
  if (tensors.size() != indices.size())
    return absl::InvalidArgumentError(absl::StrCat("the program has ",
                                                   indices.size(), " ", what,
                                                   "s, got ", tensors.size()));
  for (size_t i = 0; i < indices.size(); ++i)
    if (absl::Status status = checkTensor(specs[indices[i]], tensors[i], what);
        !status.ok())
      return status;
  return absl::OkStatus();
}

namespace {
/// 0, 1, ..., size - 1 without storing them.
struct Identity {
  size_t count;
  size_t size() const { return count; }
  int operator[](size_t i) const { return static_cast<int>(i); }
};
} // namespace

absl::Status
checkTensors(const google::protobuf::RepeatedPtrField<proto::TensorSpec> &specs,
             absl::Span<const TensorRef> tensors, const char *what) {
  return checkEach(specs, Identity{static_cast<size_t>(specs.size())}, tensors,
                   what);
}

absl::StatusOr<std::shared_ptr<const ParameterStore>>
openParameters(const proto::Executable &executable,
               const ParameterSource &source) {
  if (source.store)
    return source.store;
  if (executable.parameter_file().empty())
    return absl::FailedPreconditionError(
        "the executable has parameters but names no parameter file");
  // Relative to the executable's folder, unless absolute.
  std::string path = executable.parameter_file().front() == '/'
                         ? executable.parameter_file()
                         : source.directory + "/" + executable.parameter_file();
  absl::StatusOr<ParameterFile> file = ParameterFile::open(path);
  if (!file.ok())
    return absl::Status(
        file.status().code(),
        absl::StrCat("cannot load the parameters: ", file.status().message()));
  return std::make_shared<ParameterFile>(std::move(*file));
}

absl::Status checkInputs(const proto::Executable &executable,
                         absl::Span<const TensorRef> inputs) {
  return checkTensors(executable.inputs(), inputs, "input");
}

absl::Status checkInputs(const proto::Executable &executable,
                         const std::vector<HostTensor> &inputs) {
  std::vector<TensorRef> refs(inputs.begin(), inputs.end());
  return checkInputs(executable, refs);
}

absl::Status checkOutputs(const proto::Executable &executable,
                          absl::Span<const TensorRef> outputs) {
  return checkTensors(executable.outputs(), outputs, "output");
}

absl::Status checkStepTensors(const proto::Executable &executable,
                              absl::Span<const TensorRef> inputs,
                              absl::Span<const TensorRef> outputs) {
  return checkStepTensors(executable, stepSignature(executable), inputs,
                          outputs);
}

absl::Status checkStepTensors(const proto::Executable &executable,
                              const StepSignature &signature,
                              absl::Span<const TensorRef> inputs,
                              absl::Span<const TensorRef> outputs) {
  if (absl::Status status =
          checkEach(executable.inputs(), signature.inputs, inputs, "input");
      !status.ok())
    return status;
  return checkEach(executable.outputs(), signature.outputs, outputs, "output");
}

namespace {
absl::Status noState() {
  return absl::UnimplementedError(
      "this backend keeps no training state between steps (the host, MPI "
      "and cuda backends do)");
}
} // namespace

absl::Status LoadedExecutable::step(absl::Span<const TensorRef>,
                                    absl::Span<const TensorRef>) {
  return noState();
}

absl::StatusOr<HostTensor> LoadedExecutable::readState(const std::string &) {
  return noState();
}

absl::Status LoadedExecutable::writeState(const std::string &,
                                          const TensorRef &) {
  return noState();
}

absl::Status LoadedExecutable::runBuffers(absl::Span<const TensorRef> inputs,
                                          absl::Span<const TensorRef> outputs) {
  if (absl::Status status = checkInputs(executable(), inputs); !status.ok())
    return status;
  if (absl::Status status = checkOutputs(executable(), outputs); !status.ok())
    return status;
  std::vector<HostTensor> copies(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    copies[i].type = inputs[i].type;
    copies[i].dims.assign(inputs[i].dims.begin(), inputs[i].dims.end());
    copies[i].bytes.assign(inputs[i].data, inputs[i].data + inputs[i].bytes);
  }
  absl::StatusOr<std::vector<HostTensor>> results = run(copies);
  if (!results.ok())
    return results.status();
  for (size_t o = 0; o < outputs.size(); ++o)
    std::copy((*results)[o].bytes.begin(),
              (*results)[o].bytes.begin() +
                  std::min(outputs[o].bytes, (*results)[o].bytes.size()),
              outputs[o].data);
  return absl::OkStatus();
}

} // namespace tessel
