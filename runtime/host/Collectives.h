//===- Collectives.h - Collectives among host device threads ----*- C++ -*-===//
//
// On the host backend every device is a thread of one process, so a
// collective needs no messages: the members of a group meet at a barrier,
// publish pointers to their buffers, and each member then reads what it
// needs straight from the others' memory, in parallel, and writes only its
// own output. Reductions are split into one chunk per member, so every
// member reduces 1/g of the data for everyone; the result costs one read
// and one write of the data per member, as a memcpy would.
//
// Groups are created once, when an executable is loaded (as NCCL
// communicators are), and hold their own barrier; collectives of different
// groups never contend. All members of a group must call the same
// collective with equal shapes: the partitioner pads uneven shards so that
// local shapes agree. A dimension of `whole` elements split among g
// members is held as pieces of ceil(whole / g), the last ones padded; the
// collectives that split or join such a dimension take the whole size from
// the side that holds it whole, leave padding out when they join, and fill
// it with zeros when they split.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_COLLECTIVES_H
#define TESSEL_RUNTIME_HOST_COLLECTIVES_H

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/kernels/StridedCopy.h"
#include "runtime/proto/types.pb.h"

namespace tessel {

enum class Reduction { Sum, Max, Min };

/// A local tensor taking part in a collective.
struct CollectiveBuffer {
  proto::ElementType type = proto::ELEMENT_TYPE_UNSPECIFIED;
  kernels::Shape dims; // Inline: making a buffer allocates nothing.
  void *data = nullptr;
};

/// The devices of one group, ranked 0..size-1 in the order given. Every
/// call names the caller's rank; calls of all members pair up in program
/// order.
class HostGroup {
public:
  /// `cancel`, if given, is watched while members wait for each other:
  /// once it is set, waiting members give up with an Aborted error (and the
  /// group must not be used again).
  explicit HostGroup(int size, const std::atomic<bool> *cancel = nullptr);
  HostGroup(const HostGroup &) = delete;
  HostGroup &operator=(const HostGroup &) = delete;

  int size() const { return static_cast<int>(slots.size()); }

  /// out = reduce over members of in (same dims); in and out may alias.
  absl::Status allReduce(int rank, Reduction reduction,
                         const CollectiveBuffer &in,
                         const CollectiveBuffer &out);
  /// out = the members' in, concatenated along `dim` in rank order, where
  /// in's `dim` is the piece of out's (padding past out's size left out).
  absl::Status allGather(int rank, int64_t dim, const CollectiveBuffer &in,
                         const CollectiveBuffer &out);
  /// out = piece `rank` (along `dim`, ceil(size / members) long, padded
  /// with zeros) of the reduction of the members' in.
  absl::Status reduceScatter(int rank, Reduction reduction, int64_t dim,
                             const CollectiveBuffer &in,
                             const CollectiveBuffer &out);
  /// Splits in along `splitDim` into one piece per member (padded with
  /// zeros), sends piece r to member r, and concatenates the received
  /// pieces along `concatDim` in rank order (in's `concatDim` is the piece
  /// of out's; padding past out's size is left out).
  absl::Status allToAll(int rank, int64_t splitDim, int64_t concatDim,
                        const CollectiveBuffer &in,
                        const CollectiveBuffer &out);
  /// out = rows [rank * n - low, (rank + 1) * n + high) along `dim` of the
  /// members' ins (each n rows) laid end to end, `value` where that runs
  /// past the first or last member: a window's halo from its neighbours.
  /// Each of `low` and `high` is at most n in size (float types only).
  absl::Status haloExchange(int rank, int64_t dim, int64_t low, int64_t high,
                            double value, const CollectiveBuffer &in,
                            const CollectiveBuffer &out);
  /// out = the in of member `sources[rank]`, or zeros where that is -1.
  /// `sources` must be the same on every member.
  absl::Status collectivePermute(int rank, const std::vector<int> &sources,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out);

private:
  struct Slot {
    const CollectiveBuffer *in = nullptr;
    const CollectiveBuffer *out = nullptr;
  };
  /// Waits until every member has arrived: a sense-reversing barrier that
  /// spins briefly, then yields. False if cancelled while waiting.
  bool barrier(int rank);
  /// Publishes the caller's buffers and waits for everyone's.
  bool publish(int rank, const CollectiveBuffer &in,
               const CollectiveBuffer &out);
  /// Every collective: publish, check what every member published with
  /// `expect` (the same verdict on every member), do this member's `work`
  /// if all is well, and wait until every member is done with the others'
  /// buffers.
  template <typename Expect, typename Work>
  absl::Status run(int rank, const char *collective, const CollectiveBuffer &in,
                   const CollectiveBuffer &out, Expect expect, Work work);

  std::vector<Slot> slots;
  std::atomic<int> arrived{0};
  std::atomic<uint64_t> phase{0};
  const std::atomic<bool> *cancel;
};

/// The product of dims [begin, end).
inline int64_t product(absl::Span<const int64_t> dims, size_t begin,
                       size_t end) {
  int64_t result = 1;
  for (size_t d = begin; d < end; ++d)
    result *= dims[d];
  return result;
}

/// The elements of a buffer.
inline int64_t numElements(const CollectiveBuffer &buffer) {
  return product(buffer.dims, 0, buffer.dims.size());
}

/// The piece of a dimension of `whole` elements each of `members` holds:
/// ceil(whole / members), the last pieces padded.
inline int64_t pieceOf(int64_t whole, int64_t members) {
  return (whole + members - 1) / members;
}

/// How much of piece `index` (of `piece` elements) of a dimension of
/// `whole` elements is real rather than padding.
inline int64_t validOf(int64_t whole, int64_t piece, int64_t index) {
  int64_t valid = whole - index * piece;
  return valid < 0 ? 0 : valid > piece ? piece : valid;
}

/// Elementwise `into[i] = reduction(into[i], from[i])` for `count` elements
/// of `type`; f16 and bf16 reduce in float.
void reduceInto(proto::ElementType type, Reduction reduction, void *into,
                const void *from, int64_t count);

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_COLLECTIVES_H
