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
#include "runtime/host/Collectives.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"
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

/// A collective instruction as one device takes part in it.
struct Membership {
  HostGroup *group = nullptr;
  int rank = 0;
  /// collective_permute: each rank's source rank, or -1.
  std::vector<int> sources;
};

/// One device: its program, memory, and kernels' view of every buffer.
struct Device {
  const proto::DeviceProgram *program = nullptr;
  std::unique_ptr<ThreadPool> pool;
  AlignedBytes arena;
  std::vector<AlignedBytes> inputs;
  /// This device's parts of split parameters (by parameter index).
  std::map<int64_t, AlignedBytes> parameterParts;
  std::vector<kernels::TensorView> views;
  /// Per instruction: its kernel, or null for a collective.
  std::vector<kernels::KernelFn> kernels;
  std::vector<Membership> collectives;
};

/// Copies the block of `localDims` at `offsets` between a dense global
/// tensor of `globalDims` and a dense local one, either way. Where the block
/// reaches past the global tensor (the padding of an uneven shard), only
/// what lies inside is copied, and a local copy is zero there.
void copyPart(int64_t elementBytes, const std::vector<int64_t> &globalDims,
              const std::vector<int64_t> &offsets,
              const std::vector<int64_t> &localDims, char *global, char *local,
              bool toLocal) {
  std::vector<int64_t> globalStrides = kernels::denseStrides(globalDims);
  std::vector<int64_t> localStrides = kernels::denseStrides(localDims);
  std::vector<int64_t> inside = localDims;
  int64_t start = 0, count = 1, localCount = 1;
  for (size_t d = 0; d < localDims.size(); ++d) {
    inside[d] =
        std::clamp<int64_t>(globalDims[d] - offsets[d], 0, localDims[d]);
    start += std::min(offsets[d], globalDims[d]) * globalStrides[d];
    count *= inside[d];
    localCount *= localDims[d];
  }
  if (toLocal && count < localCount)
    std::memset(local, 0, localCount * elementBytes);
  if (count == 0)
    return;
  char *part = global + start * elementBytes;
  if (toLocal)
    kernels::stridedCopy(elementBytes, inside, local, localStrides, part,
                         globalStrides, 0, count);
  else
    kernels::stridedCopy(elementBytes, inside, part, globalStrides, local,
                         localStrides, 0, count);
}

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
  /// Creates the groups of every collective and each device's place in
  /// them, once.
  absl::Status prepareCollectives();

  proto::Executable program;
  bool profiling;
  std::map<std::string, double> seconds;
  std::mutex secondsMutex;
  std::vector<AlignedBytes> parameters;
  std::vector<Device> devices;
  std::vector<std::unique_ptr<HostGroup>> groups;
  /// Set when a device fails, so that the others stop waiting for it.
  std::atomic<bool> cancelled{false};
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
        if (buffer.global_offsets_size() > 0) {
          // This device's part of the parameter.
          const proto::TensorSpec &spec = program.parameters(buffer.index());
          AlignedBytes &part = device.parameterParts[buffer.index()];
          if (!part.data) {
            part.resize(kernels::byteSize(buffer.element_type()) *
                        std::max<int64_t>(1, view.numElements()));
            copyPart(kernels::byteSize(buffer.element_type()),
                     {spec.dims().begin(), spec.dims().end()},
                     {buffer.global_offsets().begin(),
                      buffer.global_offsets().end()},
                     view.dims, parameters[buffer.index()].data.get(),
                     part.data.get(), /*toLocal=*/true);
          }
          view.data = part.data.get();
        } else if (auto part = device.parameterParts.find(buffer.index());
                   part != device.parameterParts.end()) {
          view.data = part->second.data.get(); // A view of this device's part.
        } else {
          view.data = parameters[buffer.index()].data.get();
        }
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
      if (instruction.op() == "collective") {
        device.kernels.push_back(nullptr);
        continue;
      }
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
  return prepareCollectives();
}

absl::Status HostExecutable::prepareCollectives() {
  int64_t count = devices.front().program->instructions_size();
  for (const Device &device : devices)
    if (device.program->instructions_size() != count)
      return absl::InvalidArgumentError(
          "the devices' programs differ in length; collectives cannot pair "
          "up");
  groups.clear();
  for (Device &device : devices)
    device.collectives.assign(count, Membership());
  int64_t numDevices = devices.size();
  for (int64_t i = 0; i < count; ++i) {
    const proto::Instruction &instruction =
        devices.front().program->instructions(i);
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
        devices[id].collectives[i].group = group.get();
        devices[id].collectives[i].rank = rank;
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
      for (Device &device : devices)
        device.collectives[i].sources = sources;
    }
  }
  return absl::OkStatus();
}

absl::Status runCollective(const proto::Instruction &instruction,
                           const Membership &membership,
                           const std::vector<kernels::TensorView> &operands,
                           const std::vector<kernels::TensorView> &results) {
  if (operands.size() != 1 || results.size() != 1)
    return absl::InvalidArgumentError(
        absl::StrCat("collective for tensor '", instruction.location(),
                     "' needs one operand and one result"));
  auto bufferOf = [](const kernels::TensorView &view) {
    return CollectiveBuffer{view.type, view.dims, view.data};
  };
  CollectiveBuffer in = bufferOf(operands[0]), out = bufferOf(results[0]);
  const proto::Collective &collective = instruction.collective();
  Reduction reduction =
      collective.reduction() == proto::Collective::MAX   ? Reduction::Max
      : collective.reduction() == proto::Collective::MIN ? Reduction::Min
                                                         : Reduction::Sum;
  HostGroup &group = *membership.group;
  int rank = membership.rank;
  absl::Status status;
  switch (collective.kind()) {
  case proto::Collective::ALL_REDUCE:
    status = group.allReduce(rank, reduction, in, out);
    break;
  case proto::Collective::ALL_GATHER:
    status = group.allGather(rank, collective.dimension(), in, out);
    break;
  case proto::Collective::REDUCE_SCATTER:
    status =
        group.reduceScatter(rank, reduction, collective.dimension(), in, out);
    break;
  case proto::Collective::ALL_TO_ALL:
    status = group.allToAll(rank, collective.split_dimension(),
                            collective.dimension(), in, out);
    break;
  case proto::Collective::COLLECTIVE_PERMUTE:
    status = group.collectivePermute(rank, membership.sources, in, out);
    break;
  case proto::Collective::HALO_EXCHANGE:
    status = group.haloExchange(rank, collective.dimension(),
                                collective.halo_low(), collective.halo_high(),
                                collective.padding_value(), in, out);
    break;
  default:
    return absl::UnimplementedError(
        absl::StrCat("collective for tensor '", instruction.location(),
                     "' has a kind the host backend does not know"));
  }
  if (!status.ok())
    return absl::Status(status.code(), absl::StrCat("collective for tensor '",
                                                    instruction.location(),
                                                    "': ", status.message()));
  return status;
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
    auto start = std::chrono::steady_clock::now();
    if (device.kernels[i]) {
      kernels::KernelContext context(instruction, std::move(operands),
                                     std::move(results), *device.pool);
      if (absl::Status status = device.kernels[i](context); !status.ok())
        return status;
    } else if (absl::Status status = runCollective(
                   instruction, device.collectives[i], operands, results);
               !status.ok()) {
      return status;
    }
    if (profiling) {
      std::lock_guard<std::mutex> lock(secondsMutex);
      std::string name =
          instruction.op() == "collective"
              ? proto::Collective::Kind_Name(instruction.collective().kind())
              : instruction.op();
      seconds[name] += std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>>
HostExecutable::run(const std::vector<HostTensor> &inputs) {
  if (absl::Status status = checkInputs(program, inputs); !status.ok())
    return status;
  // Each device gets its part of every input, once (other INPUT buffers
  // are views of the same bytes).
  for (Device &device : devices) {
    std::vector<bool> copied(inputs.size(), false);
    for (int64_t id = 0; id < device.program->buffers_size(); ++id) {
      const proto::Buffer &buffer = device.program->buffers(id);
      if (buffer.storage() != proto::Buffer::INPUT || copied[buffer.index()])
        continue;
      copied[buffer.index()] = true;
      const HostTensor &input = inputs[buffer.index()];
      char *local = device.inputs[buffer.index()].data.get();
      if (buffer.global_offsets_size() == 0)
        std::memcpy(local, input.bytes.data(), input.bytes.size());
      else
        copyPart(
            kernels::byteSize(input.type), input.dims,
            {buffer.global_offsets().begin(), buffer.global_offsets().end()},
            device.views[id].dims, const_cast<char *>(input.bytes.data()),
            local, /*toLocal=*/true);
    }
  }
  if (devices.size() == 1) {
    if (absl::Status status = runDevice(devices[0]); !status.ok())
      return status;
  } else {
    std::vector<absl::Status> statuses(devices.size());
    std::vector<std::thread> threads;
    cancelled = false;
    for (size_t d = 0; d < devices.size(); ++d)
      threads.emplace_back([&, d] {
        statuses[d] = runDevice(devices[d]);
        if (!statuses[d].ok())
          cancelled = true;
      });
    for (std::thread &thread : threads)
      thread.join();
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
  // Outputs are assembled from the devices' parts.
  std::vector<HostTensor> outputs;
  for (int o = 0; o < program.outputs_size(); ++o) {
    const proto::TensorSpec &spec = program.outputs(o);
    HostTensor output;
    output.type = spec.element_type();
    output.dims.assign(spec.dims().begin(), spec.dims().end());
    output.bytes.resize(kernels::byteSize(output.type) *
                        std::max<int64_t>(1, output.numElements()));
    for (Device &device : devices) {
      const kernels::TensorView &view =
          device.views[device.program->output_buffers(o)];
      if (device.program->output_offsets_size() == 0) {
        std::memcpy(output.bytes.data(), view.data, view.byteCount());
        break;
      }
      const proto::Ints &offsets = device.program->output_offsets(o);
      copyPart(kernels::byteSize(output.type), output.dims,
               {offsets.values().begin(), offsets.values().end()}, view.dims,
               output.bytes.data(), static_cast<char *>(view.data),
               /*toLocal=*/false);
    }
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
  if (devices > 0 && executable.programs_size() > devices)
    return absl::InvalidArgumentError(absl::StrCat(
        "the executable is partitioned for ", executable.programs_size(),
        " devices, but the host backend has ", devices));
  auto loaded = std::make_unique<HostExecutable>(executable, profiling);
  if (absl::Status status = loaded->prepare(directory, threads); !status.ok())
    return status;
  return std::unique_ptr<LoadedExecutable>(std::move(loaded));
}

} // namespace tessel
