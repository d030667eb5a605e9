//===- HostBackend.cpp - Threads of this machine as devices ---------------===//

#include "runtime/host/HostBackend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/Executable.h"
#include "runtime/ThreadPool.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/params/ParameterFile.h"

namespace tessel {
namespace {

/// 64-byte aligned host memory.
struct AlignedBytes {
  explicit AlignedBytes(size_t size = 0) { resize(size); }
  void resize(size_t size) {
    data.reset(size ? static_cast<char *>(
                          std::aligned_alloc(64, (size + 63) / 64 * 64))
                    : nullptr);
    bytes = size;
  }
  struct Free {
    void operator()(char *p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data;
  size_t bytes = 0;
};

/// One device: its program, memory, and kernels' view of every buffer.
struct Device {
  const proto::DeviceProgram *program = nullptr;
  std::unique_ptr<ThreadPool> pool;
  AlignedBytes arena;
  std::vector<AlignedBytes> inputs;
  std::vector<kernels::TensorView> views;
  std::vector<kernels::KernelFn> kernels;
};

class HostExecutable : public LoadedExecutable {
public:
  HostExecutable(proto::Executable executable, bool profiling)
      : program(std::move(executable)), profiling(profiling) {}

  absl::Status prepare(const std::string &directory, int threads);
  absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) override;
  const proto::Executable &executable() const override { return program; }
  std::vector<std::pair<std::string, double>> profile() const override {
    std::vector<std::pair<std::string, double>> result(seconds.begin(),
                                                       seconds.end());
    std::sort(result.begin(), result.end(),
              [](const auto &a, const auto &b) { return a.second > b.second; });
    return result;
  }

private:
  absl::Status runDevice(Device &device);

  proto::Executable program;
  bool profiling;
  std::map<std::string, double> seconds;
  std::vector<AlignedBytes> parameters;
  std::vector<Device> devices;
};

absl::Status HostExecutable::prepare(const std::string &directory,
                                     int threads) {
  // Parameters are loaded once, shared by the devices' views.
  if (program.parameters_size() > 0) {
    if (program.parameter_file().empty())
      return absl::FailedPreconditionError(
          "the executable has parameters but names no parameter file");
    std::string path = directory + "/" + program.parameter_file();
    absl::StatusOr<ParameterFile> file = ParameterFile::open(path);
    if (!file.ok())
      return absl::Status(file.status().code(),
                          absl::StrCat("cannot load the parameters: ",
                                       file.status().message()));
    for (const proto::TensorSpec &spec : program.parameters()) {
      absl::StatusOr<const proto::ParameterEntry *> entry =
          file->find(spec.name());
      if (!entry.ok())
        return entry.status();
      bool sameDims =
          std::equal(spec.dims().begin(), spec.dims().end(),
                     (*entry)->dims().begin(), (*entry)->dims().end());
      if ((*entry)->element_type() != spec.element_type() || !sameDims)
        return absl::FailedPreconditionError(absl::StrCat(
            "parameter '", spec.name(), "' is ",
            describeTensor((*entry)->element_type(), (*entry)->dims()), " in '",
            path, "' but the executable expects ",
            describeTensor(spec.element_type(), spec.dims())));
      AlignedBytes &storage = parameters.emplace_back((*entry)->byte_size());
      if (absl::Status status = file->read(
              **entry, absl::Span<char>(storage.data.get(), storage.bytes));
          !status.ok())
        return status;
    }
  }

  int cores =
      threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  int perDevice = std::max<int>(1, cores / program.programs_size());
  devices.resize(program.programs_size());
  for (int d = 0; d < program.programs_size(); ++d) {
    Device &device = devices[d];
    device.program = &program.programs(d);
    device.pool = std::make_unique<ThreadPool>(perDevice);
    device.arena.resize(device.program->arena_bytes());
    device.inputs.resize(program.inputs_size());
    for (const proto::Buffer &buffer : device.program->buffers()) {
      if (buffer.storage() == proto::Buffer::INPUT &&
          !device.inputs[buffer.index()].data) {
        int64_t bytes = kernels::byteSize(buffer.element_type());
        for (int64_t dim : buffer.dims())
          bytes *= dim;
        device.inputs[buffer.index()].resize(bytes);
      }
    }
    for (const proto::Buffer &buffer : device.program->buffers()) {
      kernels::TensorView view;
      view.type = buffer.element_type();
      view.dims.assign(buffer.dims().begin(), buffer.dims().end());
      switch (buffer.storage()) {
      case proto::Buffer::ARENA:
        view.data = device.arena.data.get() + buffer.offset();
        break;
      case proto::Buffer::INPUT:
        view.data = device.inputs[buffer.index()].data.get();
        break;
      case proto::Buffer::PARAMETER:
        view.data = parameters[buffer.index()].data.get();
        break;
      case proto::Buffer::CONSTANT:
        // Kernels never write their operands; results are never constants.
        view.data = const_cast<char *>(buffer.data().data());
        break;
      default:
        break;
      }
      device.views.push_back(std::move(view));
    }
    for (const proto::Instruction &instruction :
         device.program->instructions()) {
      if (instruction.op() == "collective")
        return absl::UnimplementedError(absl::StrCat(
            "instruction for tensor '", instruction.location(),
            "' is a collective, which the host backend does not run yet"));
      kernels::KernelFn kernel = kernels::findKernel(instruction.op());
      if (!kernel)
        return absl::UnimplementedError(absl::StrCat(
            "the host backend has no kernel '", instruction.op(),
            "' (instruction for tensor '", instruction.location(), "')"));
      for (int64_t id : instruction.results())
        if (device.program->buffers(id).storage() == proto::Buffer::CONSTANT ||
            device.program->buffers(id).storage() == proto::Buffer::PARAMETER)
          return absl::InvalidArgumentError(
              absl::StrCat("instruction for tensor '", instruction.location(),
                           "' writes a read-only buffer"));
      device.kernels.push_back(kernel);
    }
  }
  return absl::OkStatus();
}

absl::Status HostExecutable::runDevice(Device &device) {
  const proto::DeviceProgram &deviceProgram = *device.program;
  for (int i = 0; i < deviceProgram.instructions_size(); ++i) {
    const proto::Instruction &instruction = deviceProgram.instructions(i);
    std::vector<kernels::TensorView> operands, results;
    for (int64_t id : instruction.operands())
      operands.push_back(device.views[id]);
    for (int64_t id : instruction.results())
      results.push_back(device.views[id]);
    kernels::KernelContext context(instruction, std::move(operands),
                                   std::move(results), *device.pool);
    auto start = std::chrono::steady_clock::now();
    if (absl::Status status = device.kernels[i](context); !status.ok())
      return status;
    if (profiling)
      seconds[instruction.op()] += std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - start)
                                       .count();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>>
HostExecutable::run(const std::vector<HostTensor> &inputs) {
  if (absl::Status status = checkInputs(program, inputs); !status.ok())
    return status;
  if (devices.size() != 1)
    return absl::UnimplementedError(
        "the host backend runs single-device executables (partitioned "
        "executables need host collectives)");
  Device &device = devices[0];
  for (size_t i = 0; i < inputs.size(); ++i)
    if (device.inputs[i].data)
      std::memcpy(device.inputs[i].data.get(), inputs[i].bytes.data(),
                  inputs[i].bytes.size());
  if (absl::Status status = runDevice(device); !status.ok())
    return status;
  std::vector<HostTensor> outputs;
  for (int o = 0; o < program.outputs_size(); ++o) {
    const proto::TensorSpec &spec = program.outputs(o);
    const kernels::TensorView &view =
        device.views[device.program->output_buffers(o)];
    HostTensor output;
    output.type = spec.element_type();
    output.dims.assign(spec.dims().begin(), spec.dims().end());
    output.bytes.resize(view.byteCount());
    std::memcpy(output.bytes.data(), view.data, view.byteCount());
    outputs.push_back(std::move(output));
  }
  return outputs;
}

} // namespace

absl::StatusOr<std::unique_ptr<LoadedExecutable>>
HostBackend::load(const proto::Executable &executable,
                  const std::string &directory) {
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return status;
  auto loaded = std::make_unique<HostExecutable>(executable, profiling);
  if (absl::Status status = loaded->prepare(directory, threads); !status.ok())
    return status;
  return std::unique_ptr<LoadedExecutable>(std::move(loaded));
}

} // namespace tessel
