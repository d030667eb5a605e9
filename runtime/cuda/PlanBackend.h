//===- PlanBackend.h - Devices that run launch plans ------------*- C++ -*-===//
//
// The CUDA backend's loader and runner, written against DeviceApi and
// NcclApi so that it runs on GPUs (CudaApi.h) and, for tests, on the host
// (HostEmulation.h). One thread drives each device of this process.
//
// Load: per device, the buffers are laid out in one allocation
// (layoutBuffers), the program is planned (planDevice), the plan's
// parameters, the constants and the device's parts of the executable's
// parameters are copied in, and the device joins one NCCL communicator per
// device group it is in (ids from each group's first member, through an
// IdExchange, in the same order on every device). Run: the device's parts
// of the inputs are copied in, the launches are enqueued, and the runner
// waits for them, watching NCCL for asynchronous errors and every
// collective for a deadline: a collective that does not complete in time,
// or fails, aborts the communicators and fails the run naming the device
// and the collective. Outputs are then copied out and assembled.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_PLANBACKEND_H
#define TESSEL_RUNTIME_CUDA_PLANBACKEND_H

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/Backend.h"
#include "runtime/Executable.h"
#include "runtime/cuda/DeviceApi.h"
#include "runtime/host/HostDevice.h"

namespace tessel::cuda {

/// Makes the DeviceApi of device `device` (of `count`), or says why not.
using DeviceFactory = std::function<absl::StatusOr<std::unique_ptr<DeviceApi>>(
    int device, int count)>;

/// How an executable's devices are spread over processes: which this
/// process drives, how NCCL ids reach them, how inputs reach them and how
/// outputs leave them. The default is one process with every device;
/// MpiProcesses.h has one device per MPI rank.
class Processes {
public:
  virtual ~Processes() = default;
  /// The devices (indices into the executable's programs) this process
  /// drives, given the parameters it loaded or its error loading them
  /// (processes must agree on them; one that failed fails every process).
  virtual absl::StatusOr<std::vector<int>>
  localDevices(const proto::Executable &executable,
               const absl::StatusOr<std::vector<AlignedBytes>> &parameters) = 0;
  /// A fresh exchange of NCCL ids, for one load; null when every device
  /// is in this process (communicators are then made at once).
  virtual std::unique_ptr<IdExchange> idExchange() = 0;
  /// For each local device, the parts of the inputs its program reads (by
  /// input index), from `inputs` where this process holds them.
  virtual absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  inputParts(const proto::Executable &executable, const std::vector<int> &local,
             const std::vector<HostTensor> &inputs) = 0;
  /// The same for a training step (LoadedExecutable::step): `inputs` are
  /// the step's (StepSignature::inputs), the state's inputs stay where the
  /// devices keep them; `outputs`, the step's, are checked too where this
  /// process reports them.
  virtual absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  stepInputParts(const proto::Executable &executable,
                 const std::vector<int> &local, const StepSignature &signature,
                 absl::Span<const TensorRef> inputs,
                 absl::Span<const TensorRef> outputs) = 0;
  /// The outputs `which` from each local device's part of each
  /// (`parts[d][i]`, the bytes of its program's output which[i]); empty
  /// where another process reports them.
  virtual absl::StatusOr<std::vector<HostTensor>>
  assemble(const proto::Executable &executable, const std::vector<int> &local,
           const std::vector<std::vector<const char *>> &parts,
           const std::vector<int> &which) = 0;
  /// Whether this process reports outputs and state (rank 0 under mpirun).
  virtual bool holdsResults() const { return true; }
};

/// Every device in this process, each driven by a thread.
std::unique_ptr<Processes> singleProcess();

class PlanBackend : public Backend {
public:
  /// `processes`: null for one process driving every device. `profile`:
  /// time each instruction, waiting for it to finish before the next.
  PlanBackend(std::string name, DeviceFactory devices,
              std::shared_ptr<NcclApi> nccl, double collectiveTimeoutSeconds,
              std::shared_ptr<Processes> processes = nullptr,
              bool profile = false)
      : name_(std::move(name)), devices(std::move(devices)),
        nccl(std::move(nccl)), timeoutSeconds(collectiveTimeoutSeconds),
        processes(processes ? std::move(processes) : singleProcess()),
        profile(profile) {}
  std::string name() const override { return name_; }
  absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(const proto::Executable &executable,
       const ParameterSource &parameters) override;

private:
  std::string name_;
  DeviceFactory devices;
  std::shared_ptr<NcclApi> nccl;
  double timeoutSeconds;
  std::shared_ptr<Processes> processes;
  bool profile;
};

/// Every device group of the executable's collectives (device ids by
/// rank), each once, in the order the programs first use them: the order
/// communicators are made in on every device.
std::vector<std::vector<int>>
executableGroups(const proto::Executable &executable);

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_PLANBACKEND_H
