//===- MpiCollectives.h - Collectives among MPI ranks -----------*- C++ -*-===//
//
// The collectives of the host backend (runtime/host/Collectives.h), with
// the same semantics (padded pieces included), among MPI ranks: one rank
// per device, one communicator per device group, made once when an
// executable is loaded. Reductions run through MPI with operators that
// reduce as the host does (NaN wins a max or min; f16 and bf16 in float),
// so the numbers agree with the host backend's. Before each collective the
// members compare what they pass (element type, shapes): a mismatch is an
// error on every member instead of a hang. Collectives are non-blocking
// calls waited on under the process's watchdog (runtime/mpi/Watchdog.h): a
// member that never comes (dead, frozen, or running another program) ends
// the job with the waiting rank, the collective and the members waited for
// named, instead of leaving the others waiting forever.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_MPI_MPICOLLECTIVES_H
#define TESSEL_RUNTIME_MPI_MPICOLLECTIVES_H

#include <mpi.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/host/Collectives.h"

namespace tessel {

/// `status` as an error every rank of the job returns alike, which rank
/// `reporter` alone prints (the lines of eight ranks saying one thing
/// would interleave) before all end cleanly.
absl::Status jobError(absl::Status status, int reporter);
/// The rank that reports `status`, if it is a job error.
std::optional<int> jobErrorReporter(const absl::Status &status);

class MpiGroup {
public:
  /// The group of this process among `members` (world ranks, in rank
  /// order; this process must be one). Collective over MPI_COMM_WORLD:
  /// every process creates its group in the same call, with the groups of
  /// all processes partitioning the world.
  static absl::StatusOr<std::unique_ptr<MpiGroup>>
  create(const std::vector<int> &members);
  /// The group among `members` (world ranks, in rank order) made by the
  /// members alone (MPI_Comm_create_group with `tag`): for groups made one
  /// at a time, as NCCL communicators are.
  static absl::StatusOr<std::unique_ptr<MpiGroup>>
  createAmong(const std::vector<int> &members, int tag);
  ~MpiGroup();
  MpiGroup(const MpiGroup &) = delete;
  MpiGroup &operator=(const MpiGroup &) = delete;

  /// Whether every rank of the world loaded (`loaded` is its error
  /// otherwise) and passes the same `fingerprint` (of the program it runs)
  /// and `parameters` (of the parameters it loaded). A job error
  /// (jobError) naming the first rank that failed or differs, reported by
  /// that rank if it failed, else by rank 0; the watchdog's end of the job
  /// if a rank never comes.
  /// Whether every rank of the world succeeded at a step of start-up
  /// (`mine` is this rank's outcome; `what` names the wait for the
  /// watchdog): a job error, the first failed rank's own, which it reports.
  static absl::Status worldSucceeds(const absl::Status &mine, const char *what);
  static absl::Status worldAgrees(uint64_t fingerprint, uint64_t parameters = 0,
                                  const absl::Status &loaded = {});

  int size() const { return size_; }
  int rank() const { return rank_; }

  absl::Status allReduce(Reduction reduction, const CollectiveBuffer &in,
                         const CollectiveBuffer &out);
  absl::Status allGather(int64_t dim, const CollectiveBuffer &in,
                         const CollectiveBuffer &out);
  absl::Status reduceScatter(Reduction reduction, int64_t dim,
                             const CollectiveBuffer &in,
                             const CollectiveBuffer &out);
  absl::Status allToAll(int64_t splitDim, int64_t concatDim,
                        const CollectiveBuffer &in,
                        const CollectiveBuffer &out);
  /// `sources[r]`: the member whose in member r receives (-1: zeros).
  absl::Status collectivePermute(const std::vector<int> &sources,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out);
  absl::Status haloExchange(int64_t dim, int64_t low, int64_t high,
                            double value, const CollectiveBuffer &in,
                            const CollectiveBuffer &out);

  /// Waits for point-to-point `requests` of the world under the watchdog
  /// (runtime/mpi/Watchdog.h), in `phase` (a watchdog phase) doing
  /// `what`; `peers[i]` is the world rank request i waits for. For any MPI
  /// traffic of a run outside collectives.
  static absl::Status waitTransfers(std::vector<MPI_Request> &requests,
                                    const char *phase, const std::string &what,
                                    const std::vector<int> &peers);

  /// Point-to-point transfers with members (by rank in this group), all
  /// posted at once and waited for within the timeout.
  struct Transfer {
    int peer = 0;
    void *data = nullptr;
    int64_t bytes = 0;
  };
  absl::Status exchange(const std::vector<Transfer> &sends,
                        const std::vector<Transfer> &receives,
                        const char *what);

  /// Every member runs the same program (the MPI backend compared the
  /// executables at load), so that members pass the same shapes by
  /// construction: collectives skip checking that they do, an all-gather
  /// of a small record per call that doubled a small collective's time.
  void trustShapes() { checkShapes = false; }

  /// Collectives of fewer bytes per member run Open MPI's blocking call,
  /// others its non-blocking one, polled (see collect(); public for the
  /// tests that exercise both sides). All-reduces too, where this node has
  /// more ranks than cores; where each rank has a core, they are blocking
  /// at every size (allReduceBlockingBelow()).
  static constexpr int64_t kBlockingBelow = 8 << 20;
  /// Below how many bytes per member an all-reduce is blocking: Open MPI's
  /// blocking all-reduce took 0.7-0.9x the time of its non-blocking one
  /// from 1 to 64 MiB on 2 ranks of 2 cores, its non-blocking one (polled,
  /// yielding) 0.75-0.9x the blocking one's from 8 MiB on 4 ranks of 2.
  static int64_t allReduceBlockingBelow();
  /// Below how many bytes per member an all-gather is blocking:
  /// kBlockingBelow where each rank of the node has a core; 64 KiB where
  /// they share cores (Open MPI's non-blocking all-gather, polled, took
  /// 0.8-0.93x its blocking one's time from 64 KiB on 4 ranks of 2 cores,
  /// the same at 16 KiB; its blocking one 0.4x the non-blocking one's
  /// from 64 KiB to 1 MiB on 2 ranks of 2).
  static int64_t allGatherBlockingBelow();
  /// reduce_scatter is blocking below this many bytes of input: Open
  /// MPI's non-blocking one took 0.6-0.9x the blocking one's time from
  /// 1 MiB on, on 2 and 4 ranks.
  static constexpr int64_t kReduceScatterBlockingBelow = 1 << 20;

private:
  MpiGroup(MPI_Comm comm, std::vector<int> members, int rank);
  /// Whether this node has more ranks (Open MPI's, else MPICH's count)
  /// than cores; an unknown count counts as sharing.
  static bool ranksShareCores();
  /// Every member passes `in` and `out` of the same type and shapes (and
  /// `extra` alike): the same verdict on every member.
  absl::Status agree(const char *collective, const CollectiveBuffer &in,
                     const CollectiveBuffer &out,
                     absl::Span<const int64_t> extra = {});
  absl::Status check(int code, const char *collective) const;
  /// Polls `requests` until all complete.
  static absl::Status poll(absl::Span<MPI_Request> requests);
  /// Waits for the requests of `collective` under the watchdog.
  absl::Status wait(absl::Span<MPI_Request> requests,
                    const char *collective) const;
  /// Runs one MPI collective of `bytes` per member under the watchdog (a
  /// blocking call is as safe as a polled one there: the watchdog ends
  /// the process if it outlasts the deadline): `blocking()` below
  /// `blockingBelow` bytes (kBlockingBelow unless said), where Open MPI's
  /// blocking calls were as fast or faster (4x at 4 KiB: its non-blocking
  /// schedules are built per call), else `start(request)` and a poll (up
  /// to 7x faster at 64 MiB). Each returns an MPI error code.
  absl::Status collect(const char *collective, int64_t bytes,
                       absl::FunctionRef<int()> blocking,
                       absl::FunctionRef<int(MPI_Request *)> start,
                       int64_t blockingBelow = kBlockingBelow) const;

  /// `bytes` of scratch, kept between collectives and shared by the groups
  /// of the calling thread (one collective runs at a time on it): memory
  /// fresh from the system every call (page faults, and Open MPI's
  /// single-copy transport setting it up again) made an all_gather of
  /// 16 MiB per rank 33x slower than Open MPI's own.
  static char *scratch(size_t bytes);

  /// `blocks` runs of `blockBytes` bytes, `strideBytes` apart, as an MPI
  /// datatype made at the first use and kept until the group ends (a
  /// halo inside a tensor: Open MPI moves it between the tensors in half
  /// the time of a pack into a contiguous buffer at 64 KiB). With
  /// `extentBytes`, the type's extent (where the next one starts in a
  /// count of several, or a collective's next member's) is that instead
  /// of the end of its last run.
  absl::StatusOr<MPI_Datatype> rowsType(int64_t blocks, int64_t blockBytes,
                                        int64_t strideBytes,
                                        int64_t extentBytes = 0);
  struct RowsType {
    int64_t blocks, blockBytes, strideBytes, extentBytes;
    MPI_Datatype type;
  };
  std::mutex typesMutex;
  std::vector<RowsType> types;

  MPI_Comm comm;
  bool checkShapes = true;
  /// Whom a collective of this group waits for, for the watchdog.
  std::string others;
  int size_, rank_;
  /// World ranks of the members, in this group's rank order.
  std::vector<int> members;
};

} // namespace tessel

#endif // TESSEL_RUNTIME_MPI_MPICOLLECTIVES_H
