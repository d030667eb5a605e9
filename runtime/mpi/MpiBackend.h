//===- MpiBackend.h - One MPI process per device ----------------*- C++ -*-===//
//
// Each MPI rank is one device of the mesh (rank r runs device r's program)
// with the host kernels; collectives go through MpiGroup, one communicator
// per collective's group, made once at load. Rank 0 is given the inputs
// (other ranks' are ignored) and sends every rank its parts; the outputs
// are assembled on rank 0 (other ranks get none). The caller initializes
// MPI (MPI_Init) before loading.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_MPI_MPIBACKEND_H
#define TESSEL_RUNTIME_MPI_MPIBACKEND_H

#include "runtime/Backend.h"

namespace tessel {

class MpiBackend : public Backend {
public:
  /// `threads`: cores for this rank's kernels (0: every hardware thread).
  /// `profile`: time each kernel and collective of this rank's device
  /// (LoadedExecutable::profile).
  explicit MpiBackend(int threads = 0, bool profile = false)
      : threads(threads), profiling(profile) {}
  std::string name() const override { return "mpi"; }
  absl::StatusOr<std::unique_ptr<LoadedExecutable>>
  load(const proto::Executable &executable,
       const ParameterSource &parameters) override;

private:
  int threads;
  bool profiling;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_MPI_MPIBACKEND_H
