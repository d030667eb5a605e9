//===- MpiCollectives.cpp - Collectives among MPI ranks -------------------===//

#include "runtime/mpi/MpiCollectives.h"
#include "runtime/host/CollectiveStream.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/kernels/StridedCopy.h"
#include "runtime/mpi/Watchdog.h"

namespace tessel {
namespace {

/// MPI's reduction for (element type, reduction): the host's reduceInto,
/// so that NaNs, f16 and bf16, and i1 reduce as on the host.
template <int Type, int Kind>
void reduceOp(void *in, void *inout, int *count, MPI_Datatype *) {
  reduceInto(static_cast<proto::ElementType>(Type),
             static_cast<Reduction>(Kind), inout, in, *count);
}

template <int Type> MPI_User_function *opFor(Reduction reduction) {
  switch (reduction) {
  case Reduction::Sum:
    return reduceOp<Type, static_cast<int>(Reduction::Sum)>;
  case Reduction::Max:
    return reduceOp<Type, static_cast<int>(Reduction::Max)>;
  case Reduction::Min:
    return reduceOp<Type, static_cast<int>(Reduction::Min)>;
  }
  return nullptr;
}

MPI_User_function *functionFor(proto::ElementType type, Reduction reduction) {
  switch (type) {
  case proto::F32:
    return opFor<proto::F32>(reduction);
  case proto::F64:
    return opFor<proto::F64>(reduction);
  case proto::F16:
    return opFor<proto::F16>(reduction);
  case proto::BF16:
    return opFor<proto::BF16>(reduction);
  case proto::I32:
    return opFor<proto::I32>(reduction);
  case proto::I64:
    return opFor<proto::I64>(reduction);
  case proto::I1:
    return opFor<proto::I1>(reduction);
  case proto::I8:
    return opFor<proto::I8>(reduction);
  case proto::U8:
    return opFor<proto::U8>(reduction);
  case proto::I16:
    return opFor<proto::I16>(reduction);
  case proto::U16:
    return opFor<proto::U16>(reduction);
  case proto::U32:
    return opFor<proto::U32>(reduction);
  case proto::U64:
    return opFor<proto::U64>(reduction);
  default:
    return nullptr;
  }
}

/// The operator and element datatype for `type`, made once per process.
struct Reducer {
  MPI_Datatype element;
  MPI_Op op;
};

absl::StatusOr<Reducer> reducerFor(proto::ElementType type,
                                   Reduction reduction) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, Reducer> made;
  std::lock_guard<std::mutex> lock(mutex);
  auto key =
      std::make_pair(static_cast<int>(type), static_cast<int>(reduction));
  if (auto it = made.find(key); it != made.end())
    return it->second;
  // Sums of floats on MPI's own operator (vectorised, and the algorithms
  // Open MPI tunes for its built-in operators); maxima and minima keep
  // the runtime's NaN rule, integers their wrapping, through ours.
  if (reduction == Reduction::Sum && (type == proto::F32 || type == proto::F64))
    return made[key] = {type == proto::F32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM};
  MPI_User_function *function = functionFor(type, reduction);
  if (!function)
    return absl::InvalidArgumentError(absl::StrCat(
        "no reduction for element type ", proto::ElementType_Name(type)));
  Reducer reducer;
  MPI_Type_contiguous(static_cast<int>(kernels::byteSize(type)), MPI_BYTE,
                      &reducer.element);
  MPI_Type_commit(&reducer.element);
  MPI_Op_create(function, /*commute=*/1, &reducer.op);
  made[key] = reducer;
  return reducer;
}

/// This process's rank among `members` (world ranks).
absl::StatusOr<int> rankAmong(const std::vector<int> &members) {
  int world;
  MPI_Comm_rank(MPI_COMM_WORLD, &world);
  auto self = std::find(members.begin(), members.end(), world);
  if (self == members.end())
    return absl::InvalidArgumentError(
        absl::StrCat("MPI rank ", world, " is not among the group's members ",
                     absl::StrJoin(members, ",")));
  return static_cast<int>(self - members.begin());
}

/// `ranks` without this process's world rank.
std::vector<int> othersThan(const std::vector<int> &ranks) {
  int world;
  MPI_Comm_rank(MPI_COMM_WORLD, &world);
  std::vector<int> others;
  for (int rank : ranks)
    if (rank != world)
      others.push_back(rank);
  return others;
}

std::string shapeOf(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, "x"), "]");
}

} // namespace

absl::StatusOr<std::unique_ptr<MpiGroup>>
MpiGroup::create(const std::vector<int> &members) {
  absl::StatusOr<int> key = rankAmong(members);
  if (!key.ok())
    return key.status();
  MPI_Comm comm;
  int color = *std::min_element(members.begin(), members.end());
  {
    // Every rank of the world takes part.
    int world;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    Watchdog::Wait waiting("communicators",
                           absl::StrCat("load (the communicator of ",
                                        Watchdog::describeRanks(members), ")"),
                           absl::StrCat("the other ", world - 1, " ranks"));
    if (int code = MPI_Comm_split(MPI_COMM_WORLD, color, *key, &comm);
        code != MPI_SUCCESS)
      return absl::InternalError("MPI_Comm_split failed");
  }
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int size;
  MPI_Comm_size(comm, &size);
  if (size != static_cast<int>(members.size())) {
    MPI_Comm_free(&comm);
    return absl::InvalidArgumentError(
        absl::StrCat("the group of ", members.size(), " members has ", size,
                     " processes: groups must partition the ranks"));
  }
  return std::unique_ptr<MpiGroup>(new MpiGroup(comm, members, *key));
}

absl::StatusOr<std::unique_ptr<MpiGroup>>
MpiGroup::createAmong(const std::vector<int> &members, int tag) {
  absl::StatusOr<int> key = rankAmong(members);
  if (!key.ok())
    return key.status();
  MPI_Group worldGroup, group;
  MPI_Comm_group(MPI_COMM_WORLD, &worldGroup);
  MPI_Group_incl(worldGroup, static_cast<int>(members.size()), members.data(),
                 &group);
  MPI_Comm comm;
  int code;
  {
    Watchdog::Wait waiting("communicators",
                           absl::StrCat("load (the communicator of ",
                                        Watchdog::describeRanks(members), ")"),
                           Watchdog::describeRanks(othersThan(members)));
    code = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, &comm);
  }
  MPI_Group_free(&group);
  MPI_Group_free(&worldGroup);
  if (code != MPI_SUCCESS)
    return absl::InternalError("MPI_Comm_create_group failed");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return std::unique_ptr<MpiGroup>(new MpiGroup(comm, members, *key));
}

absl::Status MpiGroup::exchange(const std::vector<Transfer> &sends,
                                const std::vector<Transfer> &receives,
                                const char *what) {
  std::vector<MPI_Request> requests;
  std::vector<int> peers;
  for (const Transfer &send : sends) {
    requests.emplace_back();
    peers.push_back(members[send.peer]);
    if (absl::Status status =
            check(MPI_Isend(send.data, static_cast<int>(send.bytes), MPI_BYTE,
                            send.peer, 0, comm, &requests.back()),
                  what);
        !status.ok())
      return status;
  }
  for (const Transfer &receive : receives) {
    requests.emplace_back();
    peers.push_back(members[receive.peer]);
    if (absl::Status status =
            check(MPI_Irecv(receive.data, static_cast<int>(receive.bytes),
                            MPI_BYTE, receive.peer, 0, comm, &requests.back()),
                  what);
        !status.ok())
      return status;
  }
  return waitTransfers(requests, "collective", what, peers);
}

MpiGroup::~MpiGroup() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    return;
  for (RowsType &kept : types)
    MPI_Type_free(&kept.type);
  MPI_Comm_free(&comm);
}

absl::StatusOr<MPI_Datatype> MpiGroup::rowsType(int64_t blocks,
                                                int64_t blockBytes,
                                                int64_t strideBytes,
                                                int64_t extentBytes) {
  std::lock_guard<std::mutex> lock(typesMutex);
  for (const RowsType &kept : types)
    if (kept.blocks == blocks && kept.blockBytes == blockBytes &&
        kept.strideBytes == strideBytes && kept.extentBytes == extentBytes)
      return kept.type;
  constexpr int64_t kLimit = std::numeric_limits<int>::max();
  if (blocks > kLimit || blockBytes > kLimit)
    return absl::InvalidArgumentError(
        absl::StrCat(blocks, " runs of ", blockBytes,
                     " bytes: more than an MPI datatype counts"));
  MPI_Datatype type;
  if (MPI_Type_create_hvector(
          static_cast<int>(blocks), static_cast<int>(blockBytes),
          static_cast<MPI_Aint>(strideBytes), MPI_BYTE, &type) != MPI_SUCCESS)
    return absl::InternalError("MPI could not make a strided datatype");
  if (extentBytes > 0) {
    MPI_Datatype rows = type;
    int made = MPI_Type_create_resized(rows, 0, extentBytes, &type);
    MPI_Type_free(&rows);
    if (made != MPI_SUCCESS)
      return absl::InternalError("MPI could not make a strided datatype");
  }
  if (MPI_Type_commit(&type) != MPI_SUCCESS)
    return absl::InternalError("MPI could not make a strided datatype");
  types.push_back({blocks, blockBytes, strideBytes, extentBytes, type});
  return type;
}

namespace {
constexpr char kJobErrorUrl[] = "tessel.dev/job-error-reporter";
} // namespace

absl::Status jobError(absl::Status status, int reporter) {
  status.SetPayload(kJobErrorUrl, absl::Cord(absl::StrCat(reporter)));
  return status;
}

std::optional<int> jobErrorReporter(const absl::Status &status) {
  auto payload = status.GetPayload(kJobErrorUrl);
  int reporter = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &reporter))
    return std::nullopt;
  return reporter;
}

absl::Status MpiGroup::worldSucceeds(const absl::Status &mine,
                                     const char *what) {
  int world = 0, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int ok = mine.ok() ? 1 : 0;
  std::vector<int> all(static_cast<size_t>(world));
  std::vector<MPI_Request> requests(1);
  {
    Watchdog::Wait waiting("start", what,
                           absl::StrCat("the other ", world - 1, " ranks"));
    if (MPI_Iallgather(&ok, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD,
                       &requests[0]) != MPI_SUCCESS)
      return absl::InternalError(absl::StrCat("MPI_Iallgather failed: ", what));
    if (absl::Status status = poll(absl::MakeSpan(requests)); !status.ok())
      return absl::InternalError(absl::StrCat(what, ": ", status.message()));
  }
  // Every rank sees the same table and reaches the same verdict; the
  // first rank that failed reports its own error.
  for (int r = 0; r < world; ++r)
    if (all[r] == 0)
      return jobError(r == rank ? mine
                                : absl::FailedPreconditionError(
                                      absl::StrCat("rank ", r, " failed")),
                      r);
  return absl::OkStatus();
}

absl::Status MpiGroup::worldAgrees(uint64_t fingerprint, uint64_t parameters,
                                   const absl::Status &loaded) {
  if (absl::Status status = worldSucceeds(loaded, "load (loading parameters)");
      !status.ok())
    return status;
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  uint64_t mine[2] = {fingerprint, parameters};
  std::vector<uint64_t> all(2 * static_cast<size_t>(world));
  std::vector<MPI_Request> requests(1);
  {
    Watchdog::Wait waiting("start", "load (comparing executables)",
                           absl::StrCat("the other ", world - 1, " ranks"));
    if (MPI_Iallgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T,
                       MPI_COMM_WORLD, &requests[0]) != MPI_SUCCESS)
      return absl::InternalError("MPI_Iallgather of the programs failed");
    if (absl::Status status = poll(absl::MakeSpan(requests)); !status.ok())
      return absl::InternalError(
          absl::StrCat("comparing executables: ", status.message()));
  }
  // The same table on every rank: the same verdict, which rank 0 reports.
  for (int r = 0; r < world; ++r) {
    if (all[2 * r] != all[0])
      return jobError(absl::InvalidArgumentError(absl::StrCat(
                          "rank ", r,
                          " runs another executable than rank 0 (every rank "
                          "must load the same one)")),
                      0);
    if (all[2 * r + 1] != all[1])
      return jobError(absl::InvalidArgumentError(absl::StrCat(
                          "rank ", r,
                          " loaded other parameters than rank 0 (every rank "
                          "must read the same parameter file)")),
                      0);
  }
  return absl::OkStatus();
}

absl::Status MpiGroup::waitTransfers(std::vector<MPI_Request> &requests,
                                     const char *phase, const std::string &what,
                                     const std::vector<int> &peers) {
  auto pending = [&] {
    std::vector<int> ranks;
    for (size_t i = 0; i < requests.size(); ++i)
      if (requests[i] != MPI_REQUEST_NULL)
        ranks.push_back(peers[i]);
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    return ranks;
  };
  Watchdog::Wait waiting(phase, what, Watchdog::describeRanks(pending()));
  std::vector<int> done(requests.size());
  for (int spins = 0;; ++spins) {
    int count = 0;
    if (MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &count,
                     done.data(), MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      return absl::InternalError(
          absl::StrCat(what, ": MPI failed while waiting"));
    if (count == MPI_UNDEFINED)
      return absl::OkStatus();
    if (count > 0)
      waiting.setPeers(Watchdog::describeRanks(pending()));
    pauseWhilePolling(spins);
  }
}

absl::Status MpiGroup::poll(absl::Span<MPI_Request> requests) {
  for (int spins = 0;; ++spins) {
    int done = 0;
    if (MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                    MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      return absl::InternalError("MPI failed while waiting");
    if (done)
      return absl::OkStatus();
    pauseWhilePolling(spins);
  }
}

namespace {
/// Open MPI's collectives take temporary buffers as large as the tensor
/// (an all-reduce's own of 32 MiB and more) from malloc and free them
/// each call; above glibc's mmap threshold (32 MiB at most by default)
/// each comes fresh from the system, and its page faults made an
/// all-reduce of 32 MiB on 4 ranks 100 ms instead of 20, of 64 MiB 350 ms
/// instead of 50. Once per process, before the first group, the threshold
/// is raised so that they are reused from the heap, unless the user set
/// it (MALLOC_MMAP_THRESHOLD_ or a glibc.malloc tunable).
void reuseLargeAllocations() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char *tunables = std::getenv("GLIBC_TUNABLES");
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") ||
        (tunables && std::strstr(tunables, "mmap_threshold")))
      return;
    mallopt(M_MMAP_THRESHOLD, std::numeric_limits<int>::max());
  });
}
} // namespace

MpiGroup::MpiGroup(MPI_Comm comm, std::vector<int> members, int rank)
    : comm(comm), others(Watchdog::describeRanks(othersThan(members))),
      size_(static_cast<int>(members.size())), rank_(rank),
      members(std::move(members)) {
  reuseLargeAllocations();
}

bool MpiGroup::ranksShareCores() {
  static const bool share = [] {
    int local = 0;
    for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
      if (const char *value = std::getenv(name);
          value && absl::SimpleAtoi(value, &local))
        break;
    unsigned cores = std::thread::hardware_concurrency();
    return !(local > 0 && cores > 0 && static_cast<unsigned>(local) <= cores);
  }();
  return share;
}

int64_t MpiGroup::allReduceBlockingBelow() {
  return ranksShareCores() ? kBlockingBelow
                           : std::numeric_limits<int64_t>::max();
}

int64_t MpiGroup::allGatherBlockingBelow() {
  return ranksShareCores() ? int64_t{64} << 10 : kBlockingBelow;
}

absl::Status MpiGroup::collect(const char *collective, int64_t bytes,
                               absl::FunctionRef<int()> blocking,
                               absl::FunctionRef<int(MPI_Request *)> start,
                               int64_t blockingBelow) const {
  Watchdog::Wait waiting("collective", collective, &others);
  int code = MPI_SUCCESS;
  if (bytes < blockingBelow && !onCollectiveStream()) {
    code = blocking();
  } else {
    MPI_Request request = MPI_REQUEST_NULL;
    code = start(&request);
    for (int spins = 0; code == MPI_SUCCESS; ++spins) {
      int done = 0;
      code = MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done)
        break;
      pauseWhilePolling(spins);
    }
  }
  return check(code, collective);
}

absl::Status MpiGroup::wait(absl::Span<MPI_Request> requests,
                            const char *collective) const {
  Watchdog::Wait waiting("collective", collective, &others);
  return check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(),
                           MPI_STATUSES_IGNORE),
               collective);
}

absl::Status MpiGroup::check(int code, const char *collective) const {
  if (code == MPI_SUCCESS)
    return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::InternalError(
      absl::StrCat(collective, ": MPI failed: ", std::string(text, length)));
}

char *MpiGroup::scratch(size_t bytes) {
  thread_local std::vector<char> kept;
  if (kept.size() < bytes)
    kept.resize(bytes);
  return kept.data();
}

absl::Status MpiGroup::agree(const char *collective, const CollectiveBuffer &in,
                             const CollectiveBuffer &out,
                             absl::Span<const int64_t> extra) {
  if (!checkShapes) {
    if (kernels::byteSize(in.type) == 0 || in.type != out.type)
      return absl::InvalidArgumentError(
          absl::StrCat(collective, ": another or no element type"));
    return absl::OkStatus();
  }
  // What this member passes, as a fixed-size record all members compare.
  constexpr int kLength = 32;
  std::vector<int64_t> record(kLength, -2);
  std::vector<int64_t> fields = {static_cast<int64_t>(in.type),
                                 static_cast<int64_t>(out.type),
                                 static_cast<int64_t>(in.dims.size())};
  fields.insert(fields.end(), in.dims.begin(), in.dims.end());
  fields.push_back(static_cast<int64_t>(out.dims.size()));
  fields.insert(fields.end(), out.dims.begin(), out.dims.end());
  fields.insert(fields.end(), extra.begin(), extra.end());
  if (fields.size() > kLength)
    return absl::InvalidArgumentError(
        absl::StrCat(collective, ": tensors of too many dimensions"));
  std::copy(fields.begin(), fields.end(), record.begin());
  std::vector<int64_t> all(static_cast<size_t>(kLength) * size_);
  std::vector<MPI_Request> requests(1);
  if (absl::Status status =
          check(MPI_Iallgather(record.data(), kLength, MPI_INT64_T, all.data(),
                               kLength, MPI_INT64_T, comm, &requests[0]),
                collective);
      !status.ok())
    return status;
  if (absl::Status status = wait(absl::MakeSpan(requests), collective);
      !status.ok())
    return status;
  for (int m = 1; m < size_; ++m)
    if (!std::equal(all.begin(), all.begin() + kLength,
                    all.begin() + static_cast<size_t>(m) * kLength))
      return absl::InvalidArgumentError(
          absl::StrCat(collective, ": member ", m,
                       " passes other tensors than member 0 (types, shapes or "
                       "parameters differ)"));
  if (kernels::byteSize(in.type) == 0 || in.type != out.type)
    return absl::InvalidArgumentError(
        absl::StrCat(collective, ": another or no element type"));
  return absl::OkStatus();
}

absl::Status MpiGroup::allReduce(Reduction reduction,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out) {
  if (absl::Status status =
          agree("all_reduce", in, out, {static_cast<int64_t>(reduction)});
      !status.ok())
    return status;
  if (in.dims != out.dims)
    return absl::InvalidArgumentError(
        absl::StrCat("all_reduce: output is ", shapeOf(out.dims), ", input ",
                     shapeOf(in.dims)));
  absl::StatusOr<Reducer> reducer = reducerFor(in.type, reduction);
  if (!reducer.ok())
    return reducer.status();
  const void *send = in.data == out.data ? MPI_IN_PLACE : in.data;
  int count = static_cast<int>(numElements(in));
  return collect(
      "all_reduce", count * kernels::byteSize(in.type),
      [&] {
        return MPI_Allreduce(send, out.data, count, reducer->element,
                             reducer->op, comm);
      },
      [&](MPI_Request *request) {
        return MPI_Iallreduce(send, out.data, count, reducer->element,
                              reducer->op, comm, request);
      },
      allReduceBlockingBelow());
}

absl::Status MpiGroup::allGather(int64_t dim, const CollectiveBuffer &in,
                                 const CollectiveBuffer &out) {
  if (absl::Status status = agree("all_gather", in, out, {dim}); !status.ok())
    return status;
  int64_t rank = static_cast<int64_t>(in.dims.size());
  if (dim < 0 || dim >= rank || out.dims.size() != in.dims.size() ||
      in.dims[dim] != pieceOf(out.dims[dim], size_))
    return absl::InvalidArgumentError(
        absl::StrCat("all_gather: ", shapeOf(in.dims), " is not the piece of ",
                     shapeOf(out.dims), " along dimension ", dim, " for ",
                     size_, " members"));
  int64_t bytes = kernels::byteSize(in.type);
  int64_t inBytes = numElements(in) * bytes;
  int64_t outer = product(in.dims, 0, dim);
  int64_t row = product(in.dims, dim + 1, in.dims.size()) * bytes;
  int64_t piece = in.dims[dim], whole = out.dims[dim];
  // Without padding MPI writes the members' pieces in place: as the
  // output's blocks in rank order (one outer slice), or else through a
  // datatype of the piece's `outer` runs, `whole` rows apart, each
  // member's starting a piece after the last's (no scratch as large as
  // the output, kept between steps, and no copy out of it).
  bool even = piece * size_ == whole;
  MPI_Datatype receiveType = MPI_BYTE;
  int count = static_cast<int>(inBytes), receiveCount = count;
  if (even && outer > 1) {
    absl::StatusOr<MPI_Datatype> type =
        rowsType(outer, piece * row, whole * row, piece * row);
    if (!type.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("all_gather: ", type.status().message()));
    receiveType = *type;
    receiveCount = 1;
  }
  char *received = even ? static_cast<char *>(out.data)
                        : scratch(static_cast<size_t>(inBytes) * size_);
  if (absl::Status status = collect(
          "all_gather", inBytes,
          [&] {
            return MPI_Allgather(in.data, count, MPI_BYTE, received,
                                 receiveCount, receiveType, comm);
          },
          [&](MPI_Request *request) {
            return MPI_Iallgather(in.data, count, MPI_BYTE, received,
                                  receiveCount, receiveType, comm, request);
          },
          allGatherBlockingBelow());
      !status.ok())
    return status;
  if (even)
    return absl::OkStatus();
  // Member m's piece lands at m * piece; padding past the whole is left out.
  char *target = static_cast<char *>(out.data);
  for (int m = 0; m < size_; ++m) {
    const char *source = received + static_cast<size_t>(m) * inBytes;
    int64_t valid = validOf(whole, piece, m) * row;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(target + (o * whole + m * piece) * row,
                  source + o * piece * row, valid);
  }
  return absl::OkStatus();
}

absl::Status MpiGroup::reduceScatter(Reduction reduction, int64_t dim,
                                     const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  if (absl::Status status = agree("reduce_scatter", in, out,
                                  {dim, static_cast<int64_t>(reduction)});
      !status.ok())
    return status;
  int64_t rank = static_cast<int64_t>(in.dims.size());
  kernels::Shape want = in.dims;
  if (dim >= 0 && dim < rank)
    want[dim] = pieceOf(in.dims[dim], size_);
  if (dim < 0 || dim >= rank || out.dims != want)
    return absl::InvalidArgumentError(
        absl::StrCat("reduce_scatter: output is ", shapeOf(out.dims),
                     ", expected ", shapeOf(want)));
  absl::StatusOr<Reducer> reducer = reducerFor(in.type, reduction);
  if (!reducer.ok())
    return reducer.status();
  // Member m's block: its piece of every outer slice, padded with zeros.
  int64_t bytes = kernels::byteSize(in.type);
  int64_t outer = product(in.dims, 0, dim);
  int64_t row = product(in.dims, dim + 1, in.dims.size()) * bytes;
  int64_t whole = in.dims[dim], piece = out.dims[dim];
  int64_t block = outer * piece * row;
  // The members' blocks in rank order: the input itself where it is laid
  // out so (one outer slice, no padding), else packed into the scratch,
  // padding zeros.
  bool inPlace = outer == 1 && piece * size_ == whole;
  char *packed = static_cast<char *>(in.data);
  if (!inPlace) {
    packed = scratch(static_cast<size_t>(block) * size_);
    const char *source = static_cast<const char *>(in.data);
    for (int m = 0; m < size_; ++m) {
      int64_t valid = validOf(whole, piece, m) * row;
      for (int64_t o = 0; o < outer; ++o) {
        char *to = packed + m * block + o * piece * row;
        std::memcpy(to, source + (o * whole + m * piece) * row, valid);
        std::memset(to + valid, 0, piece * row - valid);
      }
    }
  }
  int count = static_cast<int>(block / bytes);
  return collect(
      "reduce_scatter", block * size_,
      [&] {
        return MPI_Reduce_scatter_block(packed, out.data, count,
                                        reducer->element, reducer->op, comm);
      },
      [&](MPI_Request *request) {
        return MPI_Ireduce_scatter_block(packed, out.data, count,
                                         reducer->element, reducer->op, comm,
                                         request);
      },
      kReduceScatterBlockingBelow);
}

absl::Status MpiGroup::allToAll(int64_t splitDim, int64_t concatDim,
                                const CollectiveBuffer &in,
                                const CollectiveBuffer &out) {
  if (absl::Status status = agree("all_to_all", in, out, {splitDim, concatDim});
      !status.ok())
    return status;
  int64_t rank = static_cast<int64_t>(in.dims.size());
  if (splitDim < 0 || splitDim >= rank || concatDim < 0 || concatDim >= rank ||
      splitDim == concatDim || out.dims.size() != in.dims.size())
    return absl::InvalidArgumentError(
        absl::StrCat("all_to_all: dimensions ", splitDim, " and ", concatDim,
                     " do not fit ", shapeOf(in.dims)));
  // Checked and sized without allocating (a fixed cost per call that
  // shows at 4 KiB, where Open MPI's all-to-all takes 1-2 us).
  bool shaped = in.dims[concatDim] == pieceOf(out.dims[concatDim], size_);
  for (int64_t d = 0; shaped && d < rank; ++d)
    shaped = out.dims[d] == (d == splitDim ? pieceOf(in.dims[splitDim], size_)
                             : d == concatDim ? out.dims[d]
                                              : in.dims[d]);
  if (!shaped) {
    kernels::Shape want = in.dims;
    want[splitDim] = pieceOf(in.dims[splitDim], size_);
    want[concatDim] = out.dims[concatDim];
    return absl::InvalidArgumentError(
        absl::StrCat("all_to_all: output is ", shapeOf(out.dims), ", expected ",
                     shapeOf(want)));
  }
  int64_t bytes = kernels::byteSize(in.type);
  // The block for member m: its piece of splitDim (padded with zeros).
  int64_t splitPiece = out.dims[splitDim];
  int64_t blockBytes = product(in.dims, 0, splitDim) * splitPiece *
                       product(in.dims, splitDim + 1, rank) * bytes;
  size_t total = static_cast<size_t>(blockBytes) * size_;
  int64_t concatPiece = in.dims[concatDim];
  // MPI reads the blocks from the input where they are its bytes in
  // member order (nothing before splitDim, no padding), and writes them
  // into the output where they are its bytes (nothing before concatDim,
  // no padding); else through the group's scratch.
  bool sendInPlace = product(in.dims, 0, splitDim) == 1 &&
                     splitPiece * size_ == in.dims[splitDim];
  bool receiveInPlace = product(out.dims, 0, concatDim) == 1 &&
                        concatPiece * size_ == out.dims[concatDim];
  const char *inBegin = static_cast<const char *>(in.data),
             *outBegin = static_cast<const char *>(out.data);
  if (sendInPlace && receiveInPlace && inBegin < outBegin + total &&
      outBegin < inBegin + total)
    receiveInPlace = false; // MPI's buffers must not overlap.
  char *buffer =
      scratch((sendInPlace ? 0 : total) + (receiveInPlace ? 0 : total));
  char *send = sendInPlace ? static_cast<char *>(in.data) : buffer;
  char *receive = receiveInPlace ? static_cast<char *>(out.data)
                                 : buffer + (sendInPlace ? 0 : total);
  int count = static_cast<int>(blockBytes);
  auto exchange = [&] {
    return collect(
        "all_to_all", static_cast<int64_t>(total),
        [&] {
          return MPI_Alltoall(send, count, MPI_BYTE, receive, count, MPI_BYTE,
                              comm);
        },
        [&](MPI_Request *request) {
          return MPI_Ialltoall(send, count, MPI_BYTE, receive, count, MPI_BYTE,
                               comm, request);
        });
  };
  if (sendInPlace && receiveInPlace)
    return exchange();
  kernels::Shape blockDims = in.dims;
  blockDims[splitDim] = splitPiece;
  kernels::Shape inStrides = kernels::rowMajorStrides(in.dims);
  kernels::Shape blockStrides = kernels::rowMajorStrides(blockDims);
  if (!sendInPlace) {
    if (splitPiece * size_ != in.dims[splitDim])
      kernels::zeroBytes(send, total); // The padding.
    for (int m = 0; m < size_; ++m) {
      kernels::Shape copy = blockDims;
      copy[splitDim] = validOf(in.dims[splitDim], splitPiece, m);
      kernels::stridedCopy(bytes, copy, send + m * blockBytes, blockStrides,
                           static_cast<const char *>(in.data) +
                               m * splitPiece * inStrides[splitDim] * bytes,
                           inStrides, 0, product(copy, 0, copy.size()));
    }
  }
  if (absl::Status status = exchange(); !status.ok())
    return status;
  if (receiveInPlace)
    return absl::OkStatus();
  // Member m's block lands at m * piece of concatDim, clipped to the whole.
  kernels::Shape outStrides = kernels::rowMajorStrides(out.dims);
  for (int m = 0; m < size_; ++m) {
    kernels::Shape copy = blockDims;
    copy[concatDim] = validOf(out.dims[concatDim], concatPiece, m);
    kernels::stridedCopy(bytes, copy,
                         static_cast<char *>(out.data) +
                             m * concatPiece * outStrides[concatDim] * bytes,
                         outStrides, receive + m * blockBytes, blockStrides, 0,
                         product(copy, 0, copy.size()));
  }
  return absl::OkStatus();
}

absl::Status MpiGroup::collectivePermute(const std::vector<int> &sources,
                                         const CollectiveBuffer &in,
                                         const CollectiveBuffer &out) {
  // (The sources are compared only where shapes are: a copy per call.)
  std::vector<int64_t> extra;
  if (checkShapes)
    extra.assign(sources.begin(), sources.end());
  if (absl::Status status = agree("collective_permute", in, out, extra);
      !status.ok())
    return status;
  if (static_cast<int>(sources.size()) != size_ || in.dims != out.dims)
    return absl::InvalidArgumentError(absl::StrCat(
        "collective_permute: ", sources.size(), " sources for ", size_,
        " members, or the output is not the input's shape"));
  int64_t bytes = numElements(in) * kernels::byteSize(in.type);
  std::vector<MPI_Request> requests;
  for (int target = 0; target < size_; ++target)
    if (sources[target] == rank_ && target != rank_) {
      requests.emplace_back();
      MPI_Isend(in.data, static_cast<int>(bytes), MPI_BYTE, target, 0, comm,
                &requests.back());
    }
  int from = sources[rank_];
  if (from < 0)
    kernels::zeroBytes(out.data, bytes);
  else if (from == rank_)
    kernels::copyBytes(out.data, in.data, bytes);
  else {
    requests.emplace_back();
    MPI_Irecv(out.data, static_cast<int>(bytes), MPI_BYTE, from, 0, comm,
              &requests.back());
  }
  return wait(absl::MakeSpan(requests), "collective_permute");
}

absl::Status MpiGroup::haloExchange(int64_t dim, int64_t low, int64_t high,
                                    double value, const CollectiveBuffer &in,
                                    const CollectiveBuffer &out) {
  if (absl::Status status = agree("halo_exchange", in, out, {dim, low, high});
      !status.ok())
    return status;
  int64_t rank = static_cast<int64_t>(in.dims.size());
  if (dim < 0 || dim >= rank || !kernels::isFloatType(in.type))
    return absl::InvalidArgumentError(
        "halo_exchange: needs a float tensor and a dimension of it");
  // Checked and laid out without allocating: at 4 KiB a halo exchange
  // takes about 2 us, of which each allocation is a few per cent.
  int64_t n = in.dims[dim];
  bool shaped = std::abs(low) <= n && std::abs(high) <= n &&
                out.dims.size() == in.dims.size();
  for (int64_t d = 0; shaped && d < rank; ++d)
    shaped = out.dims[d] == (d == dim ? n + low + high : in.dims[d]);
  if (!shaped)
    return absl::InvalidArgumentError(
        absl::StrCat("halo_exchange: halos of ", low, " and ", high,
                     " rows for parts of ", n, ", output ", shapeOf(out.dims)));
  int64_t bytes = kernels::byteSize(in.type);
  char *input = static_cast<char *>(in.data);
  char *output = static_cast<char *>(out.data);
  // A row: everything after `dim`, contiguous on both sides; one run of
  // rows per outer index.
  int64_t inRow = product(in.dims, dim + 1, rank) * bytes, outRow = inRow;
  int64_t outer = product(in.dims, 0, dim);
  // The edges' padding: `count` rows from row `at` of every outer index.
  auto fill = [&](int64_t at, int64_t count) {
    int64_t runBytes = count * outRow;
    if (value == 0.0) { // +0.0 is all zero bits in every float type
      for (int64_t o = 0; o < outer; ++o)
        std::memset(output + (o * out.dims[dim] + at) * outRow, 0, runBytes);
      return;
    }
    for (int64_t o = 0; o < outer; ++o) {
      char *run = output + (o * out.dims[dim] + at) * outRow;
      kernels::storeDouble(run, in.type, 0, value);
      for (int64_t filled = bytes; filled < runBytes; filled *= 2)
        std::memcpy(run + filled, run, std::min(filled, runBytes - filled));
    }
  };
  // The next member's low halo is my last `before` rows; the previous
  // member's high halo my first `after`. Then the rows this member keeps.
  int64_t before = std::max<int64_t>(low, 0),
          after = std::max<int64_t>(high, 0);
  int64_t keepFirst = std::max<int64_t>(-low, 0);
  int64_t keep = n - keepFirst - std::max<int64_t>(-high, 0);
  bool hasPrevious = rank_ > 0, hasNext = rank_ + 1 < size_;
  // MPI reads the rows sent from `in` and writes the halos into `out`:
  // along the outermost dimension they are contiguous bytes there, inside
  // a tensor runs of rows, one per outer index, as a kept datatype.
  struct Halo {
    MPI_Datatype type = MPI_BYTE;
    int count = 0;
  };
  auto halo = [&](int64_t rows, int64_t stride) -> absl::StatusOr<Halo> {
    if (rows == 0)
      return Halo{};
    if (outer == 1) {
      if (rows * inRow > std::numeric_limits<int>::max())
        return absl::InvalidArgumentError(
            absl::StrCat("halo_exchange: a halo of ", rows * inRow,
                         " bytes is more than MPI counts"));
      return Halo{MPI_BYTE, static_cast<int>(rows * inRow)};
    }
    absl::StatusOr<MPI_Datatype> type =
        rowsType(outer, rows * inRow, stride * inRow);
    if (!type.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("halo_exchange: ", type.status().message()));
    return Halo{*type, 1};
  };
  // Equal halos (a centred window's) share their datatypes.
  absl::StatusOr<Halo> beforeIn = halo(before, n),
                       beforeOut = halo(before, out.dims[dim]),
                       afterIn = after == before ? beforeIn : halo(after, n),
                       afterOut = after == before ? beforeOut
                                                  : halo(after, out.dims[dim]);
  for (const absl::StatusOr<Halo> *h :
       {&beforeIn, &beforeOut, &afterIn, &afterOut})
    if (!h->ok())
      return h->status();
  // Sends to the next member are tag 0 (its receives from the previous),
  // to the previous tag 1.
  MPI_Request requests[4];
  int posted = 0;
  if (before > 0 && hasPrevious)
    MPI_Irecv(output, beforeOut->count, beforeOut->type, rank_ - 1, 0, comm,
              &requests[posted++]);
  if (after > 0 && hasNext)
    MPI_Irecv(output + (before + keep) * outRow, afterOut->count,
              afterOut->type, rank_ + 1, 1, comm, &requests[posted++]);
  if (before > 0 && hasNext)
    MPI_Isend(input + (n - before) * inRow, beforeIn->count, beforeIn->type,
              rank_ + 1, 0, comm, &requests[posted++]);
  if (after > 0 && hasPrevious)
    MPI_Isend(input, afterIn->count, afterIn->type, rank_ - 1, 1, comm,
              &requests[posted++]);
  // The rows kept and the edges' padding while the halos travel. The kept
  // rows are one run per outer index (every dimension after `dim` is
  // whole on both sides), copied directly: through stridedCopy a halo
  // exchange of 4 KiB inside a tensor took 1.24-1.40x Open MPI's time on 2
  // ranks, directly 1.11-1.15x.
  for (int64_t o = 0; keep > 0 && o < outer; ++o)
    std::memcpy(output + (o * out.dims[dim] + before) * outRow,
                input + (o * n + keepFirst) * inRow, keep * inRow);
  if (before > 0 && !hasPrevious)
    fill(0, before);
  if (after > 0 && !hasNext)
    fill(before + keep, after);
  return wait(absl::MakeSpan(requests, posted), "halo_exchange");
}

} // namespace tessel
