//===- MpiProcesses.h - The CUDA backend under mpirun -----------*- C++ -*-===//
//
// One process per device (rank r drives device r, on GPU r modulo the GPUs
// of its host): mpiProcesses() is the PlanBackend policy for that. NCCL ids
// go from each group's first member to the others by MPI_Bcast over the
// world (every rank takes part for every group, in the executable's
// order); rank 0 alone holds the inputs and sends every rank its parts,
// and assembles the outputs (runtime/mpi/MpiTransfer.h).
//
// mpiNccl() is NCCL's API on MPI: the communicator of a group is an
// MpiGroup among its ranks (MPI_Comm_create_group), all-reduce, all-gather
// and reduce-scatter have NCCL's flat rank-major semantics, grouped sends
// and receives are posted together. It stands in for NCCL where the
// devices are emulated on the host, so that the multi-process path is run
// and tested without GPUs.
//
// MPI must be initialized before loading.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_MPIPROCESSES_H
#define TESSEL_RUNTIME_CUDA_MPIPROCESSES_H

#include <memory>

#include "runtime/cuda/PlanBackend.h"

namespace tessel::cuda {

std::shared_ptr<Processes> mpiProcesses();

std::shared_ptr<NcclApi> mpiNccl();

/// The CUDA backend's emulation with one process per device under mpirun.
std::unique_ptr<Backend>
makeMpiEmulationBackend(double collectiveTimeoutSeconds, bool profile = false);

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_MPIPROCESSES_H
