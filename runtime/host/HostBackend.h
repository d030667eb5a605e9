//===- HostBackend.h - Threads of this machine as devices -------*- C++ -*-===//
//
// The default backend: each device of the mesh is a thread of this process
// with its own arena and a share of the cores for its kernels. It runs the
// instruction list of each device in order; kernels come from
// runtime/kernels.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_HOSTBACKEND_H
#define TESSEL_RUNTIME_HOST_HOSTBACKEND_H

#include "runtime/Backend.h"

namespace tessel {

class HostBackend : public Backend {
public:
  /// `threads`: cores for kernels in all (0: every hardware thread), split
  /// among the devices. `devices`: how many host devices there are (0: as
  /// many as each executable's mesh needs); an executable for more is
  /// refused at load.
  explicit HostBackend(int threads = 0, bool profile = false, int devices = 0)
      : threads(threads), profiling(profile), devices(devices) {}
  std::string name() const override { return "host"; }
  absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(const proto::Executable &executable,
       const ParameterSource &parameters) override;

private:
  int threads;
  bool profiling;
  int devices;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_HOSTBACKEND_H
