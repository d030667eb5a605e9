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
#include "runtime/proto/executable.pb.h"

namespace tessel {

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
  virtual const proto::Executable &executable() const = 0;

  /// Time spent per kernel (op name) over the runs so far, in seconds,
  /// when the backend was asked to profile; empty otherwise.
  virtual std::vector<std::pair<std::string, double>> profile() const {
    return {};
  }
};

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  /// `directory` is where the executable's parameter file is looked for.
  virtual absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(const proto::Executable &executable, const std::string &directory) = 0;
};

/// Checks `inputs` against the executable's input specs; errors name the
/// input and both shapes.
absl::Status checkInputs(const proto::Executable &executable,
                         const std::vector<HostTensor> &inputs);

} // namespace tessel

#endif // TESSEL_RUNTIME_BACKEND_H
