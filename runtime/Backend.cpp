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

absl::Status checkInputs(const proto::Executable &executable,
                         const std::vector<HostTensor> &inputs) {
  if (static_cast<int>(inputs.size()) != executable.inputs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("the program takes ", executable.inputs_size(),
                     " inputs, got ", inputs.size()));
  for (int i = 0; i < executable.inputs_size(); ++i) {
    const proto::TensorSpec &spec = executable.inputs(i);
    const HostTensor &input = inputs[i];
    google::protobuf::RepeatedField<int64_t> dims(input.dims.begin(),
                                                  input.dims.end());
    bool sameDims = std::equal(input.dims.begin(), input.dims.end(),
                               spec.dims().begin(), spec.dims().end());
    if (input.type != spec.element_type() || !sameDims)
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", spec.name(), "' is ", describeTensor(input.type, dims),
          " but the program expects ",
          describeTensor(spec.element_type(), spec.dims())));
    if (static_cast<int64_t>(input.bytes.size()) !=
        input.numElements() * kernels::byteSize(input.type))
      return absl::InvalidArgumentError(
          absl::StrCat("input '", spec.name(), "' holds ", input.bytes.size(),
                       " bytes, not what its shape needs"));
  }
  return absl::OkStatus();
}

} // namespace tessel
