//===- Backend.h - Where executables run ------------------------*- C++ -*-===//
//
// A Backend loads an executable (allocating device memory, loading the
// parameters, checking that it implements every instruction) and returns a
// LoadedExecutable that runs it on inputs. Implementations: host (threads as
// devices, runtime/host), MPI (a process per device, runtime/mpi) and CUDA
// (GPUs, runtime/cuda).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_BACKEND_H
#define TESSEL_RUNTIME_BACKEND_H

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/params/ParameterFile.h"
#include "runtime/proto/executable.pb.h"

namespace tessel {

struct StepSignature; // runtime/Executable.h

/// A dense row-major tensor in host memory: program inputs and outputs.
struct HostTensor {
  proto::ElementType type = proto::ELEMENT_TYPE_UNSPECIFIED;
  std::vector<int64_t> dims;
  std::vector<char> bytes;

  int64_t numElements() const;
  template <typename T> T *as() { return reinterpret_cast<T *>(bytes.data()); }
  template <typename T> const T *as() const {
    return reinterpret_cast<const T *>(bytes.data());
  }
};

/// A dense row-major tensor in memory someone else owns: program inputs
/// read in place and outputs written in place (LoadedExecutable::
/// runBuffers), so that a framework passes its own arrays without copying
/// them into HostTensors. `data` is written only when the tensor is an
/// output; `dims` must outlive the reference.
struct TensorRef {
  TensorRef() = default;
  TensorRef(proto::ElementType type, absl::Span<const int64_t> dims, void *data,
            size_t bytes)
      : type(type), dims(dims), data(static_cast<char *>(data)), bytes(bytes) {}
  /// A view of `tensor`'s storage.
  TensorRef(const HostTensor &tensor)
      : type(tensor.type), dims(tensor.dims),
        data(const_cast<char *>(tensor.bytes.data())),
        bytes(tensor.bytes.size()) {}

  proto::ElementType type = proto::ELEMENT_TYPE_UNSPECIFIED;
  absl::Span<const int64_t> dims;
  char *data = nullptr;
  size_t bytes = 0;

  int64_t numElements() const;
};

/// Seconds per kernel, added to from any thread; what profile() returns.
class KernelProfile {
public:
  void add(const std::string &kernel, double seconds);
  /// The most expensive first.
  std::vector<std::pair<std::string, double>> sorted() const;

private:
  mutable std::mutex mutex;
  std::map<std::string, double> seconds;
};

class LoadedExecutable {
public:
  virtual ~LoadedExecutable() = default;
  /// Runs the program on `inputs` (in the executable's input order, with
  /// its global shapes) and returns the outputs.
  virtual absl::StatusOr<std::vector<HostTensor>>
  run(const std::vector<HostTensor> &inputs) = 0;
  /// As run(), into `outputs`: where an output there already has the right
  /// type and shape its storage is reused, so that repeated runs allocate
  /// nothing for their results. The default calls run().
  virtual absl::Status runInto(const std::vector<HostTensor> &inputs,
                               std::vector<HostTensor> &outputs) {
    absl::StatusOr<std::vector<HostTensor>> result = run(inputs);
    if (!result.ok())
      return result.status();
    outputs = std::move(*result);
    return absl::OkStatus();
  }
  /// As run(), on buffers the caller owns: `inputs` are read in place and
  /// the outputs written into `outputs` (each of the executable's output
  /// type and shape). The default copies through run(); the host backend
  /// reads and writes them directly, with no copy beyond the one that
  /// splits inputs into the devices' parts and joins outputs from them.
  virtual absl::Status runBuffers(absl::Span<const TensorRef> inputs,
                                  absl::Span<const TensorRef> outputs);
  virtual const proto::Executable &executable() const = 0;

  /// Training state (stepSignature(): the inputs and parameters that
  /// outputs update) is kept on the devices. step() runs the program on
  /// `inputs`, the step's inputs (those no output updates, in order), reads
  /// the state's inputs and parameters where the devices keep them, writes
  /// the step's outputs (those that update nothing) into `outputs`, and
  /// then writes every update over its target on the devices. State inputs
  /// start at zero and parameters at their loaded values. run() and its
  /// kin take every input, a state input included (its value is then the
  /// state's), and update nothing.
  /// Under MPI every rank calls it; rank 0's inputs and outputs count.
  virtual absl::Status step(absl::Span<const TensorRef> inputs,
                            absl::Span<const TensorRef> outputs);
  /// The value of state tensor `name`, whole (on rank 0 under MPI; every
  /// rank calls it, and the others get an empty tensor).
  virtual absl::StatusOr<HostTensor> readState(const std::string &name);
  /// Sets state tensor `name` on the devices (under MPI every rank calls
  /// it with the whole value, and keeps its part).
  virtual absl::Status writeState(const std::string &name,
                                  const TensorRef &value);
  /// Whether this process holds the outputs of runs and the state that
  /// readState() returns: true but for ranks other than 0 under MPI.
  virtual bool holdsResults() const { return true; }

  /// Time spent per kernel (op name) over the runs so far, in seconds,
  /// when the backend was asked to profile; empty otherwise.
  virtual std::vector<std::pair<std::string, double>> profile() const {
    return {};
  }
};

/// Where a backend reads an executable's parameters from: the parameter
/// file the executable names (relative to `directory`, the executable's
/// folder, unless absolute), or a store the caller hands over (a model
/// compiled in memory).
struct ParameterSource {
  ParameterSource(std::string directory) : directory(std::move(directory)) {}
  ParameterSource(const char *directory) : directory(directory) {}
  ParameterSource(std::shared_ptr<const ParameterStore> store)
      : store(std::move(store)) {}

  std::string directory = ".";
  std::shared_ptr<const ParameterStore> store;
};

/// The store `source` names for `executable`'s parameters: its store, or
/// the executable's parameter file opened (relative to the source's
/// directory unless absolute).
absl::StatusOr<std::shared_ptr<const ParameterStore>>
openParameters(const proto::Executable &executable,
               const ParameterSource &source);

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  /// Loads `executable` with its parameters from `parameters`.
  virtual absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(const proto::Executable &executable,
       const ParameterSource &parameters) = 0;
};

/// Checks `tensors` against `specs`: how many, each one's type, shape and
/// byte size. `what` names them in errors: "output"s may have room to
/// spare, others ("input", "state") hold exactly their bytes.
absl::Status
checkTensors(const google::protobuf::RepeatedPtrField<proto::TensorSpec> &specs,
             absl::Span<const TensorRef> tensors, const char *what);

/// Checks a step's `inputs` and `outputs` (LoadedExecutable::step) against
/// the executable's.
absl::Status checkStepTensors(const proto::Executable &executable,
                              absl::Span<const TensorRef> inputs,
                              absl::Span<const TensorRef> outputs);
/// The same, with the executable's stepSignature() computed once by the
/// caller (a step then allocates nothing to check its tensors).
absl::Status checkStepTensors(const proto::Executable &executable,
                              const StepSignature &signature,
                              absl::Span<const TensorRef> inputs,
                              absl::Span<const TensorRef> outputs);

/// Checks `inputs` against the executable's input specs; errors name the
/// input and both shapes.
absl::Status checkInputs(const proto::Executable &executable,
                         absl::Span<const TensorRef> inputs);
absl::Status checkInputs(const proto::Executable &executable,
                         const std::vector<HostTensor> &inputs);
/// The same for buffers to write the outputs into.
absl::Status checkOutputs(const proto::Executable &executable,
                          absl::Span<const TensorRef> outputs);

} // namespace tessel

#endif // TESSEL_RUNTIME_BACKEND_H
