//===- MpiProcesses.cpp - The CUDA backend under mpirun -------------------===//

#include "runtime/cuda/MpiProcesses.h"

#include <mpi.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/HostEmulation.h"
#include "runtime/mpi/MpiCollectives.h"
#include "runtime/mpi/MpiTransfer.h"
#include "runtime/mpi/Watchdog.h"

namespace tessel::cuda {
namespace {

class MpiIdExchange : public IdExchange {
public:
  absl::StatusOr<NcclId> share(int, int rootDevice, int,
                               const NcclId &rootId) override {
    NcclId id = rootId;
    Watchdog::Wait waiting("nccl_ids", "load (NCCL ids)",
                           Watchdog::describeRanks({rootDevice}));
    if (MPI_Bcast(id.bytes, sizeof(id.bytes), MPI_BYTE, rootDevice,
                  MPI_COMM_WORLD) != MPI_SUCCESS)
      return absl::InternalError("MPI_Bcast of an NCCL id failed");
    return id;
  }
};

class MpiProcesses : public Processes {
public:
  absl::StatusOr<std::vector<int>> localDevices(
      const proto::Executable &executable,
      const absl::StatusOr<std::vector<AlignedBytes>> &parameters) override {
    absl::StatusOr<int> rank = joinWorld(executable, parameters);
    if (!rank.ok())
      return rank.status();
    self = *rank;
    return std::vector<int>{*rank};
  }
  std::unique_ptr<IdExchange> idExchange() override {
    return std::make_unique<MpiIdExchange>();
  }
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  inputParts(const proto::Executable &executable, const std::vector<int> &,
             const std::vector<HostTensor> &inputs) override {
    absl::StatusOr<std::map<int64_t, std::vector<char>>> mine =
        distributeInputs(executable, inputs);
    if (!mine.ok())
      return mine.status();
    return std::vector<std::map<int64_t, std::vector<char>>>{std::move(*mine)};
  }
  absl::StatusOr<std::vector<std::map<int64_t, std::vector<char>>>>
  stepInputParts(const proto::Executable &executable, const std::vector<int> &,
                 const StepSignature &signature,
                 absl::Span<const TensorRef> inputs,
                 absl::Span<const TensorRef> outputs) override {
    absl::StatusOr<std::map<int64_t, std::vector<char>>> mine =
        distributeStepInputs(executable, signature, inputs, outputs);
    if (!mine.ok())
      return mine.status();
    return std::vector<std::map<int64_t, std::vector<char>>>{std::move(*mine)};
  }
  absl::StatusOr<std::vector<HostTensor>>
  assemble(const proto::Executable &executable, const std::vector<int> &,
           const std::vector<std::vector<const char *>> &parts,
           const std::vector<int> &which) override {
    return assembleOutputs(executable, parts.front(), which);
  }
  bool holdsResults() const override { return self == 0; }

private:
  int self = 0;
};

/// NCCL's calls on MPI groups; grouped sends and receives per thread.
class MpiNccl : public NcclApi {
public:
  absl::StatusOr<NcclId> uniqueId() override {
    // The tag MPI_Comm_create_group needs, the same on every member once
    // broadcast. Groups are made one after another on each process, so a
    // tag only has to be a valid one (MPI guarantees up to 32767); the
    // root's rank and a count keep them apart anyway.
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    NcclId id;
    int tag = (rank * 4096 + serial++) % 32767;
    std::memcpy(id.bytes, &tag, sizeof(tag));
    return id;
  }
  absl::StatusOr<void *> join(const NcclId &id, const std::vector<int> &members,
                              int, DeviceApi &) override {
    int tag;
    std::memcpy(&tag, id.bytes, sizeof(tag));
    absl::StatusOr<std::unique_ptr<MpiGroup>> group =
        MpiGroup::createAmong(members, tag);
    if (!group.ok())
      return group.status();
    // Every rank loaded the same executable (joinWorld compared them).
    (*group)->trustShapes();
    return static_cast<void *>(group->release());
  }
  absl::StatusOr<std::vector<void *>>
  joinAll(const std::vector<int> &, const std::vector<DeviceApi *> &) override {
    return absl::UnimplementedError(
        "under mpirun each process has one device: communicators are joined "
        "by rank");
  }
  absl::Status groupStart() override {
    ++depth;
    return absl::OkStatus();
  }
  absl::Status groupEnd() override {
    if (depth == 0)
      return absl::FailedPreconditionError("groupEnd without groupStart");
    if (--depth > 0)
      return absl::OkStatus();
    std::vector<Pending> all;
    all.swap(pending);
    // One exchange per communicator (a group call may span several).
    while (!all.empty()) {
      MpiGroup *group = all.front().group;
      std::vector<MpiGroup::Transfer> sends, receives;
      std::vector<Pending> rest;
      for (const Pending &p : all) {
        if (p.group != group) {
          rest.push_back(p);
          continue;
        }
        (p.isSend ? sends : receives).push_back({p.peer, p.data, p.bytes});
      }
      if (absl::Status status =
              group->exchange(sends, receives, "send/receive");
          !status.ok())
        return status;
      all.swap(rest);
    }
    return absl::OkStatus();
  }
  absl::Status allReduce(const void *send, void *receive, int64_t count,
                         DType type, NcclReduction reduction, void *comm,
                         void *) override {
    return group(comm)->allReduce(hostReduction(reduction),
                                  flat(send, type, count),
                                  flat(receive, type, count));
  }
  absl::Status allGather(const void *send, void *receive, int64_t count,
                         DType type, void *comm, void *) override {
    MpiGroup *g = group(comm);
    return g->allGather(0, flat(send, type, count),
                        flat(receive, type, count * g->size()));
  }
  absl::Status reduceScatter(const void *send, void *receive, int64_t count,
                             DType type, NcclReduction reduction, void *comm,
                             void *) override {
    MpiGroup *g = group(comm);
    return g->reduceScatter(hostReduction(reduction), 0,
                            flat(send, type, count * g->size()),
                            flat(receive, type, count));
  }
  absl::Status send(const void *data, int64_t bytes, int peer, void *comm,
                    void *) override {
    return transfer(true, const_cast<void *>(data), bytes, peer, comm);
  }
  absl::Status receive(void *data, int64_t bytes, int peer, void *comm,
                       void *) override {
    return transfer(false, data, bytes, peer, comm);
  }
  absl::Status asyncError(void *) override { return absl::OkStatus(); }
  // A stuck MPI collective ends the job at MpiGroup's timeout.
  void abort(void *) override {}
  void destroy(void *comm) override { delete group(comm); }

private:
  struct Pending {
    bool isSend;
    void *data;
    int64_t bytes;
    int peer;
    MpiGroup *group;
  };
  static MpiGroup *group(void *comm) { return static_cast<MpiGroup *>(comm); }
  static CollectiveBuffer flat(const void *data, DType type, int64_t count) {
    return {protoTypeOf(type), {count}, const_cast<void *>(data)};
  }
  absl::Status transfer(bool isSend, void *data, int64_t bytes, int peer,
                        void *comm) {
    ++depth;
    pending.push_back({isSend, data, bytes, peer, group(comm)});
    return groupEnd();
  }

  int serial = 0;
  // One device per process: one thread makes the calls.
  int depth = 0;
  std::vector<Pending> pending;
};

} // namespace

std::shared_ptr<Processes> mpiProcesses() {
  return std::make_shared<MpiProcesses>();
}

std::shared_ptr<NcclApi> mpiNccl() { return std::make_shared<MpiNccl>(); }

std::unique_ptr<Backend>
makeMpiEmulationBackend(double collectiveTimeoutSeconds, bool profile) {
  return std::make_unique<PlanBackend>(
      "cuda_emulation",
      [](int device, int) -> absl::StatusOr<std::unique_ptr<DeviceApi>> {
        return std::make_unique<HostDeviceApi>(device);
      },
      mpiNccl(), collectiveTimeoutSeconds, mpiProcesses(), profile);
}

} // namespace tessel::cuda
