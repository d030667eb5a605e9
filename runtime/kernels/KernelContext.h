//===- KernelContext.h - What a host kernel sees ----------------*- C++ -*-===//
//
// A host kernel is a function of one instruction: typed views of its operand
// and result buffers, its attributes, and the thread pool. Kernels are
// registered by op name (Registry.cpp) and shared by the host and MPI
// backends.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_KERNELCONTEXT_H
#define TESSEL_RUNTIME_KERNELS_KERNELCONTEXT_H

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/ThreadPool.h"
#include "runtime/kernels/ElementTypes.h"
#include "runtime/kernels/WindowOps.h"
#include "runtime/kernels/Workspace.h"
#include "runtime/proto/executable.pb.h"

namespace tessel::kernels {

struct TensorView {
  void *data = nullptr;
  proto::ElementType type = proto::ELEMENT_TYPE_UNSPECIFIED;
  std::vector<int64_t> dims;
  /// The same bytes in every run of the loaded program (a parameter or a
  /// constant): a kernel may keep what it derives from them in its state.
  bool readOnly = false;

  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  int64_t numElements() const;
  int64_t byteCount() const { return numElements() * byteSize(type); }
  template <typename T> T *as() const { return static_cast<T *>(data); }
  /// Row-major strides, in elements.
  std::vector<int64_t> strides() const;
};

/// What a kernel keeps for one instruction between runs (prepared library
/// primitives, packed weights, scratch buffers), owned by the device that
/// runs the program and dropped with it.
class KernelState {
public:
  virtual ~KernelState() = default;
};

class KernelContext {
public:
  KernelContext(const proto::Instruction &instruction,
                std::vector<TensorView> operands,
                std::vector<TensorView> results, ThreadPool &pool,
                std::unique_ptr<KernelState> *state = nullptr)
      : instruction(instruction), operands(std::move(operands)),
        results(std::move(results)), pool(pool), state(state) {}

  const proto::Instruction &instruction;
  std::vector<TensorView> operands;
  std::vector<TensorView> results;
  ThreadPool &pool;
  /// This instruction's state slot, or null where the caller keeps none
  /// (then a kernel prepares everything on every call).
  std::unique_ptr<KernelState> *state;
  /// The device's scratch shared by its instructions, or null where the
  /// caller keeps none (then a kernel keeps its own).
  Workspace *workspace = nullptr;

  absl::StatusOr<int64_t> getInt(const std::string &name) const;
  absl::StatusOr<double> getFloat(const std::string &name) const;
  absl::StatusOr<std::string> getString(const std::string &name) const;
  absl::StatusOr<std::vector<int64_t>> getInts(const std::string &name) const;
  /// getInts of each name into its field; the first missing one's error.
  absl::Status getIntLists(
      std::initializer_list<std::pair<const char *, std::vector<int64_t> *>>
          fields) const;
  absl::StatusOr<std::vector<double>> getFloats(const std::string &name) const;
  bool has(const std::string &name) const {
    return instruction.attributes().count(name) > 0;
  }

  /// An error naming the instruction's op and tensor.
  absl::Status error(const std::string &message) const;
};

using KernelFn = absl::Status (*)(KernelContext &);

/// The state of type S in `slot`, made by `make()` (a unique_ptr<S>) when
/// the slot holds none: what a kernel derives at its first run and reads
/// at the next ones. A caller that keeps no state slot passes a local one.
template <typename S, typename Make>
S &keptState(std::unique_ptr<KernelState> &slot, Make make) {
  if (auto *kept = dynamic_cast<S *>(slot.get()))
    return *kept;
  std::unique_ptr<S> fresh = make();
  S &made = *fresh;
  slot = std::move(fresh);
  return made;
}

/// A dot_general's dimension groups (from its attributes and operands):
/// batching, contracting, and the rest (free) of each side.
struct DotDimensions {
  std::vector<int64_t> lhsBatch, rhsBatch, lhsContracting, rhsContracting,
      lhsFree, rhsFree;
};
absl::StatusOr<DotDimensions> dotDimensions(const KernelContext &context);

/// A pad's attributes; `limits` are the operand's extents, less where
/// "operand_limits" marks the rest as absent (the padding of uneven shards).
struct PadAttributes {
  std::vector<int64_t> low, interior, limits;
  double value = 0;
};
absl::StatusOr<PadAttributes> padAttributes(const KernelContext &context);

/// A convolution's window attributes, checked against its operands' ranks.
struct ConvolutionAttributes {
  std::vector<int64_t> strides, padLow, lhsDilation, rhsDilation;
  int64_t groups = 1;
};
absl::StatusOr<ConvolutionAttributes>
convolutionAttributes(const KernelContext &context);

/// A resize's taps, per dimension and output coordinate, from its mode,
/// coordinate transform, nearest mode and scales.
absl::StatusOr<std::vector<std::vector<ResizeTap>>>
resizeTaps(const KernelContext &context);

/// The kernel registered for `op`, or null.
KernelFn findKernel(const std::string &op);

/// Whether `op`'s kernel takes the 64-bit types that fit neither the float
/// nor the int64 lane: f64 (computed in double) and u64 (unsigned where
/// that matters: comparisons, division, conversions). Other kernels do not
/// take them: the host backend refuses such an instruction at load rather
/// than round f64 to float or compare u64 as signed.
bool kernelTakesWideTypes(const std::string &op);

// Registration, one function per kernel file.
void registerElementwiseKernels();
void registerContractionKernels();
void registerDataMovementKernels();
void registerNormalizationKernels();
void registerWindowKernels();
void registerSelectionKernels();
enum class Wide { Refused, Taken };
void registerKernel(const std::string &op, KernelFn kernel,
                    Wide wide = Wide::Refused);

/// Channels-last: a tensor of logical dimensions [N, C, spatial...] kept in
/// memory as [N, spatial..., C], the layout oneDNN's convolutions want. The
/// host backend chooses it at load for the buffers between kernels that
/// take it (runtime/host/ChannelsLast.h); a kernel then sees such a view
/// with its dimensions in memory order. This is that order: the logical
/// dimension at each memory position.
std::vector<int64_t> channelsLastOrder(int64_t rank);

/// What a kernel takes channels-last, registered with the kernel.
struct ChannelsLastRule {
  /// Marks the operands and results that may be channels-last (the vectors
  /// come sized and false). `logical`'s views carry logical dimensions and
  /// types but no data.
  void (*slots)(const KernelContext &logical, std::vector<bool> &operands,
                std::vector<bool> &results);
  /// Rewrites `instruction` (a copy of logical.instruction) for the
  /// operands and results chosen channels-last, whose views it will see in
  /// memory order.
  void (*rewrite)(const KernelContext &logical,
                  const std::vector<bool> &operands,
                  const std::vector<bool> &results,
                  proto::Instruction &instruction);
  /// Whether the kernel runs faster channels-last (a convolution), rather
  /// than merely taking it (a fusion): buffers go channels-last only where
  /// such a kernel touches them.
  bool prefers = false;
};
void registerChannelsLast(const std::string &op, ChannelsLastRule rule);

/// For kernels of one operand and one result that read the layouts from
/// the attribute "channels_last" = [operand, result]: the rewrite setting
/// it, and the flags read back (both false without it).
void setChannelsLastFlags(const KernelContext &logical,
                          const std::vector<bool> &operands,
                          const std::vector<bool> &results,
                          proto::Instruction &instruction);
absl::StatusOr<std::pair<bool, bool>>
channelsLastFlags(const KernelContext &context);
/// `view` (in memory order when `channelsLast`) with its logical dims.
TensorView channelsLastLogical(const TensorView &view, bool channelsLast);
/// Copies a tensor of `logical` dims from `from` to `to`: into the
/// channels-last order when `toChannelsLast`, else back to row-major.
void copyChannelsLast(const TensorView &logical, const void *from, void *to,
                      bool toChannelsLast);
/// The rule registered for `op`, or null: its kernel takes only row-major
/// views.
const ChannelsLastRule *findChannelsLast(const std::string &op);

/// Whether a kernel computes, in the same pass as its result, an
/// elementwise fusion that alone reads that result (`operand` of the
/// fusion; `operands` and `result` the fusion's views, as the kernel will
/// see them). The host backend then gives it the fusion at load: the
/// instruction gets the fusion (Instruction.fusion), the fusion's operands
/// after its own, the fusion's result after its own, and the attribute
/// "epilogue_operand"; the fusion does not run apart.
using EpilogueFn = bool (*)(const KernelContext &producer,
                            const proto::Fusion &fusion, int operand,
                            const std::vector<TensorView> &operands,
                            const TensorView &result);
void registerEpilogue(const std::string &op, EpilogueFn takes);
/// The epilogue rule registered for `op`, or null.
EpilogueFn findEpilogue(const std::string &op);

/// The row-major index of element `index` of a tensor of `dims` after
/// moving from it by `offset` along `dim` (helper for multi-index walks).
template <typename Dims, typename Coordinates>
void unravel(int64_t index, const Dims &dims, Coordinates &coordinates) {
  coordinates.resize(dims.size());
  for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
    coordinates[d] = dims[d] ? index % dims[d] : 0;
    index = dims[d] ? index / dims[d] : 0;
  }
}

/// The output positions [first, last) of a window tap whose input position
/// `o * stride + offset` lies in [0, size): the part of an output row that a
/// tap reads without padding (convolutions' and pools' 2-D fast paths).
inline std::pair<int64_t, int64_t> insideRange(int64_t offset, int64_t stride,
                                               int64_t size, int64_t outSize) {
  int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t last = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  first = std::min(first, outSize);
  return {first, std::clamp(last, first, outSize)};
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_KERNELCONTEXT_H
