//===- Checkpoint.h - Training state on disk --------------------*- C++ -*-===//
//
// A checkpoint is a parameter file (runtime/params) holding the state a
// loaded executable keeps between steps (LoadedExecutable::step: the
// parameters and optimizer state its outputs update), each entry named as
// the state tensor, and an i64 scalar `tessel.steps`: how many steps made
// it. Written atomically (ParameterSet::write): a run killed mid-write
// leaves the previous checkpoint whole. Loading it into the same executable
// and running the remaining steps on the same batches gives the bytes an
// uninterrupted run gives.
//
// Under MPI every rank calls these functions (they gather and scatter the
// state); rank 0 reads and writes the files.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CHECKPOINT_H
#define TESSEL_RUNTIME_CHECKPOINT_H

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/Backend.h"

namespace tessel {

/// The entry of a checkpoint recording the steps taken.
inline constexpr char kCheckpointStepsEntry[] = "tessel.steps";

/// Writes the state of `loaded` and `steps` at `path`.
absl::Status saveCheckpoint(LoadedExecutable &loaded, int64_t steps,
                            const std::string &path);

/// Sets the state of `loaded` from the checkpoint at `path`, which must
/// hold every state tensor with its type and shape; returns the steps it
/// records.
absl::StatusOr<int64_t> loadCheckpoint(LoadedExecutable &loaded,
                                       const std::string &path);

/// Writes at `path` the model's parameters as trained so far: every
/// parameter of `loaded`'s executable, the state's value for those steps
/// update and the value loaded from `source` (where the executable's
/// parameters came from) for the others. The forward model runs with it
/// (tessel-run --params).
absl::Status saveParameters(LoadedExecutable &loaded,
                            const ParameterSource &source,
                            const std::string &path);

} // namespace tessel

#endif // TESSEL_RUNTIME_CHECKPOINT_H
