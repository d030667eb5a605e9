//===- MpiTransfer.h - Inputs and outputs of a run under mpirun -*- C++ -*-===//
//
// What every backend with one process per device (rank r runs device r)
// does around a run: check that mpirun started one rank per device and
// that every rank loaded the same executable, bring each rank the parts of
// the inputs its program reads (rank 0 alone holds the inputs), and bring
// every rank's parts of the outputs to rank 0, which assembles them. Used
// by the MPI backend and by the CUDA backend under mpirun.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_MPI_MPITRANSFER_H
#define TESSEL_RUNTIME_MPI_MPITRANSFER_H

#include <map>
#include <vector>

#include "runtime/Backend.h"
#include "runtime/Executable.h"
#include "runtime/host/HostDevice.h"

namespace tessel {

/// This process's rank, after checking that every rank loaded its
/// parameters, that all loaded the same executable and the same
/// `parameters` (deterministic fingerprints compared before any
/// collective), and that the world has one rank per device of
/// `executable`. Every rank reaches the same verdict, so an error is a job
/// error (jobErrorReporter): one rank reports it, all end cleanly.
absl::StatusOr<int>
joinWorld(const proto::Executable &executable,
          const absl::StatusOr<std::vector<AlignedBytes>> &parameters);

/// Rank 0 checks `inputs` and sends every rank the parts of them its
/// program reads; every rank returns its own parts by input index. Other
/// ranks' `inputs` are ignored.
absl::StatusOr<std::map<int64_t, std::vector<char>>>
distributeInputs(const proto::Executable &executable,
                 const std::vector<HostTensor> &inputs);
/// The same for a training step (LoadedExecutable::step): `inputs` are the
/// step's (`step`'s inputs), the state's inputs stay where the devices
/// keep them, and rank 0 also checks `outputs`, the step's.
absl::StatusOr<std::map<int64_t, std::vector<char>>> distributeStepInputs(
    const proto::Executable &executable, const StepSignature &step,
    absl::Span<const TensorRef> inputs, absl::Span<const TensorRef> outputs);

/// Sends this rank's part of every output (`parts[o]`, the bytes of its
/// program's output buffer) to rank 0, which returns the assembled outputs;
/// other ranks return none.
absl::StatusOr<std::vector<HostTensor>>
assembleOutputs(const proto::Executable &executable,
                const std::vector<const char *> &parts);
/// The same for the outputs `which` alone (`parts[i]` this rank's part of
/// output which[i]).
absl::StatusOr<std::vector<HostTensor>>
assembleOutputs(const proto::Executable &executable,
                const std::vector<const char *> &parts,
                const std::vector<int> &which);

} // namespace tessel

#endif // TESSEL_RUNTIME_MPI_MPITRANSFER_H
