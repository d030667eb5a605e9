//===- CollectiveDispatch.h - An executable's collective, run ---*- C++ -*-===//
//
// One place that turns a collective instruction of an executable into a
// call on a group: the host backend's groups of threads (through
// RankedHostGroup) and the MPI backend's groups of ranks take the same
// calls.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_COLLECTIVEDISPATCH_H
#define TESSEL_RUNTIME_HOST_COLLECTIVEDISPATCH_H

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/host/Collectives.h"
#include "runtime/kernels/KernelContext.h"

namespace tessel {

/// A HostGroup as one member calls it (its rank bound).
struct RankedHostGroup {
  HostGroup &group;
  int rank;
  absl::Status allReduce(Reduction r, const CollectiveBuffer &in,
                         const CollectiveBuffer &out) {
    return group.allReduce(rank, r, in, out);
  }
  absl::Status allGather(int64_t dim, const CollectiveBuffer &in,
                         const CollectiveBuffer &out) {
    return group.allGather(rank, dim, in, out);
  }
  absl::Status reduceScatter(Reduction r, int64_t dim,
                             const CollectiveBuffer &in,
                             const CollectiveBuffer &out) {
    return group.reduceScatter(rank, r, dim, in, out);
  }
  absl::Status allToAll(int64_t split, int64_t concat,
                        const CollectiveBuffer &in,
                        const CollectiveBuffer &out) {
    return group.allToAll(rank, split, concat, in, out);
  }
  absl::Status collectivePermute(const std::vector<int> &sources,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out) {
    return group.collectivePermute(rank, sources, in, out);
  }
  absl::Status haloExchange(int64_t dim, int64_t low, int64_t high,
                            double value, const CollectiveBuffer &in,
                            const CollectiveBuffer &out) {
    return group.haloExchange(rank, dim, low, high, value, in, out);
  }
};

/// For a collective_permute among `members` (device ids by rank): the rank
/// each rank receives from, or -1 (from the collective's device id pairs).
inline std::vector<int> permuteSources(const proto::Collective &collective,
                                       const std::vector<int> &members) {
  std::vector<int> sources(members.size(), -1);
  if (collective.kind() != proto::Collective::COLLECTIVE_PERMUTE)
    return sources;
  auto rankOf = [&](int64_t id) {
    auto it = std::find(members.begin(), members.end(), id);
    return it == members.end() ? -1 : static_cast<int>(it - members.begin());
  };
  for (const proto::Ints &pair : collective.pairs())
    if (pair.values_size() == 2 && rankOf(pair.values(0)) >= 0 &&
        rankOf(pair.values(1)) >= 0)
      sources[rankOf(pair.values(1))] = rankOf(pair.values(0));
  return sources;
}

/// Runs `instruction` (a collective) on `group` with the device's views of
/// its operand and result; `sources` for a permute. Errors name the tensor
/// (and `who`, if given: "rank 3").
template <typename Group>
absl::Status runCollective(Group &group, const proto::Instruction &instruction,
                           const std::vector<int> &sources,
                           const std::vector<kernels::TensorView> &operands,
                           const std::vector<kernels::TensorView> &results,
                           const std::string &who = "") {
  // Named in errors only (a run allocates nothing).
  auto where = [&] {
    return absl::StrCat(who.empty() ? "" : who + ": ",
                        "collective for tensor '", instruction.location(), "'");
  };
  if (operands.size() != 1 || results.size() != 1)
    return absl::InvalidArgumentError(
        absl::StrCat(where(), " needs one operand and one result"));
  const kernels::TensorView &operand = operands[0], &result = results[0];
  CollectiveBuffer in{
      operand.type, {operand.dims.begin(), operand.dims.end()}, operand.data};
  CollectiveBuffer out{
      result.type, {result.dims.begin(), result.dims.end()}, result.data};
  const proto::Collective &collective = instruction.collective();
  Reduction reduction =
      collective.reduction() == proto::Collective::MAX   ? Reduction::Max
      : collective.reduction() == proto::Collective::MIN ? Reduction::Min
                                                         : Reduction::Sum;
  absl::Status status;
  switch (collective.kind()) {
  case proto::Collective::ALL_REDUCE:
    status = group.allReduce(reduction, in, out);
    break;
  case proto::Collective::ALL_GATHER:
    status = group.allGather(collective.dimension(), in, out);
    break;
  case proto::Collective::REDUCE_SCATTER:
    status = group.reduceScatter(reduction, collective.dimension(), in, out);
    break;
  case proto::Collective::ALL_TO_ALL:
    status = group.allToAll(collective.split_dimension(),
                            collective.dimension(), in, out);
    break;
  case proto::Collective::COLLECTIVE_PERMUTE:
    status = group.collectivePermute(sources, in, out);
    break;
  case proto::Collective::HALO_EXCHANGE:
    status = group.haloExchange(collective.dimension(), collective.halo_low(),
                                collective.halo_high(),
                                collective.padding_value(), in, out);
    break;
  default:
    return absl::UnimplementedError(
        absl::StrCat(where(), " has a kind this backend does not know"));
  }
  if (!status.ok())
    return absl::Status(status.code(),
                        absl::StrCat(where(), ": ", status.message()));
  return status;
}

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_COLLECTIVEDISPATCH_H
