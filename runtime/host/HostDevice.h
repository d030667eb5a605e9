//===- HostDevice.h - One device of an executable on this host --*- C++ -*-===//
//
// What every backend that runs the host kernels needs per device: the
// device's arena, its input buffers and its parts of split parameters, the
// kernels' view of every buffer, and the loop over its instructions. How a
// collective reaches the other devices is the caller's: threads of this
// process (HostBackend) or other processes (the MPI backend).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_HOST_HOSTDEVICE_H
#define TESSEL_RUNTIME_HOST_HOSTDEVICE_H

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "runtime/Backend.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/ChannelsLast.h"
#include "runtime/host/CollectiveStream.h"
#include "runtime/kernels/KernelContext.h"

namespace tessel {

/// 64-byte aligned host memory.
struct AlignedBytes {
  explicit AlignedBytes(size_t size = 0) { resize(size); }
  void resize(size_t size);
  struct Free {
    void operator()(char *p) const;
  };
  std::unique_ptr<char, Free> data;
  size_t bytes = 0;
};

/// Copies the block of `localDims` at `offsets` between a dense global
/// tensor of `globalDims` and a dense local one, either way. Where the block
/// reaches past the global tensor (the padding of an uneven shard), only
/// what lies inside is copied, and a local copy is zero there.
void copyPart(int64_t elementBytes, absl::Span<const int64_t> globalDims,
              absl::Span<const int64_t> offsets,
              absl::Span<const int64_t> localDims, char *global, char *local,
              bool toLocal);

/// The executable's parameters, whole, read from `source` (checked against
/// the executable's specs).
absl::StatusOr<std::vector<AlignedBytes>>
loadParameters(const proto::Executable &executable,
               const ParameterSource &source);

class HostDevice;

/// After `devices` (those of this process) are prepared: frees each whole
/// parameter all of them read from a part of their own, and returns
/// glibc's freed heap to the system (it would stay resident for good).
void releaseParameters(std::vector<AlignedBytes> &parameters,
                       absl::Span<const HostDevice> devices);

class HostDevice {
public:
  /// Runs a collective instruction (its index in the program) on the
  /// device's views of its operands and results.
  using CollectiveFn = std::function<absl::Status(
      int index, const proto::Instruction &instruction,
      const std::vector<kernels::TensorView> &operands,
      const std::vector<kernels::TensorView> &results)>;
  /// Told the time each instruction took, by op (or collective kind).
  using ProfileFn = std::function<void(const std::string &, double)>;

  /// Device `index` of `executable`, with `parameters` (whole, by index;
  /// they must outlive the device) and `threads` cores for its kernels.
  absl::Status prepare(const proto::Executable &executable, int index,
                       const std::vector<AlignedBytes> &parameters,
                       int threads);
  const proto::DeviceProgram &program() const { return *program_; }
  /// Whether the device reads parameter `index` from a part of its own
  /// (split, or updated by steps) rather than from the whole tensor.
  bool ownsParameter(int64_t index) const {
    return parameterParts.count(index) > 0;
  }
  /// Copies this device's part of every input (whole tensors) in; without
  /// `state`, of those that are not state (their entries are not read).
  void scatterInputs(absl::Span<const TensorRef> inputs, bool state = true);

  /// An input a device's program reads: which, and its part.
  struct InputPart {
    int64_t index = 0;
    std::vector<int64_t> dims, offsets; // No offsets: the whole input.
    size_t bytes = 0;
  };
  /// The inputs `program` reads, each once.
  static std::vector<InputPart> inputParts(const proto::DeviceProgram &program);
  /// Copies `part` of the whole `input` into `local` (part.bytes long).
  /// `wholeDims` are the input's dims in the executable (its spec's
  /// `dims`), which may be a view of the shape `input` is given in.
  static void extract(const InputPart &part, const TensorRef &input,
                      absl::Span<const int64_t> wholeDims, char *local);
  /// This device's buffer for input `index`.
  char *inputData(int64_t index) { return inputs[index].data.get(); }
  absl::Status run(const CollectiveFn &collective, const ProfileFn &profile);
  /// Writes this device's part of output `o` into the whole `output`.
  void gatherOutput(int o, const TensorRef &output) const;

  /// Where a device's part of output `o` goes in the whole output.
  struct OutputPart {
    std::vector<int64_t> dims, offsets; // No offsets: the whole output.
    size_t bytes = 0;
  };
  static OutputPart outputPart(const proto::DeviceProgram &program, int o);
  /// Writes a part's bytes (dense, `part.dims`) into the whole `output`,
  /// whose dims in the executable are `wholeDims` (see extract).
  static void placeOutput(const OutputPart &part, const char *data,
                          const TensorRef &output,
                          absl::Span<const int64_t> wholeDims);
  /// State `k` (the executable's state_updates(k)): this device's part of
  /// the input or parameter it updates, kept here between steps, and where
  /// that part sits in the whole (the part of the output that updates it).
  char *stateData(int k);
  const OutputPart &statePart(int k) const {
    return outputParts_[executable->state_updates(k).output()];
  }
  /// Sets this device's part of state `k` from `value`, whole (checked
  /// against the state's type and shape).
  absl::Status writeState(int k, const TensorRef &value);
  /// What writeState does for any backend: checks `value` against state
  /// `k` of `executable` and copies `program`'s part of it (the part of
  /// the output that updates it) into `local`.
  static absl::Status extractState(const proto::Executable &executable,
                                   const proto::DeviceProgram &program, int k,
                                   const TensorRef &value, char *local);
  /// Writes every update over its target's part: after a step.
  void commitState();
  /// The device's buffer holding output `o`.
  const kernels::TensorView &output(int o) const {
    return views[program_->output_buffers(o)];
  }

private:
  const proto::Executable *executable = nullptr;
  const proto::DeviceProgram *program_ = nullptr;
  std::unique_ptr<ThreadPool> pool;
  /// Scratch the kernels share (kernels/Workspace.h); held by pointer so
  /// that the contexts' pointers to it survive moving the device.
  std::unique_ptr<kernels::Workspace> workspace =
      std::make_unique<kernels::Workspace>();
  AlignedBytes arena;
  std::vector<AlignedBytes> inputs;
  /// This device's parts of split parameters and of the parameters steps
  /// update (by parameter index).
  std::map<int64_t, AlignedBytes> parameterParts;
  /// inputParts(program()) and outputPart(program(), o) for every o.
  std::vector<InputPart> inputParts_;
  std::vector<OutputPart> outputParts_;
  /// Inputs that are state, which scatterInputs leaves alone when asked.
  std::vector<bool> stateInputs;
  std::vector<kernels::TensorView> views;
  /// Per instruction: as its kernel runs it, where the buffers' layouts
  /// (ChannelsLast.h) made that differ from the program's.
  std::vector<std::optional<proto::Instruction>> rewritten;
  /// Per instruction: its kernel, or null for a collective.
  std::vector<kernels::KernelFn> kernels;
  /// Per instruction: what its kernel keeps between runs.
  std::vector<std::unique_ptr<kernels::KernelState>> states;
  /// Per instruction: whether it ran at load, reading parameters and
  /// constants only (and what such instructions computed): its results are
  /// the same at every run, kept in `invariants` and read-only, so that a
  /// kernel may keep what it derives from them (a convolution's packed
  /// weights, scaled by a batch norm folded into them).
  std::vector<bool> ran;
  std::deque<AlignedBytes> invariants;

  /// Per instruction: a fusion the instruction before it computes as its
  /// epilogue (kernels::registerEpilogue), not run apart.
  std::vector<bool> absorbed;

  /// Per instruction: its kernel's context (views of its operands and
  /// results, state), built at load and reused by every run.
  std::vector<std::unique_ptr<kernels::KernelContext>> contexts;

  /// Where the collectives run when the program has asynchronous ones
  /// (all of them then, in program order); null otherwise, and they run on
  /// the device's thread.
  std::unique_ptr<CollectiveStream> stream;
  /// Per instruction: an asynchronous collective's ticket in this run.
  std::vector<int64_t> tickets;

  /// Instruction `i` as its kernel runs it (rewritten at load, or the
  /// program's).
  const proto::Instruction &instructionAt(size_t i) const {
    return rewritten[i] ? *rewritten[i] : program_->instructions(i);
  }
  /// Runs the instructions runsAtLoad picks (`atLoad`), their results
  /// given bytes of their own outside the arena.
  absl::Status runInvariants(const BufferLiveness &live,
                             const std::vector<bool> &atLoad);
  void absorbEpilogues(const std::vector<bool> &layouts,
                       const BufferLiveness &live);
};

/// What a profile calls an instruction: its op, or a collective's kind.
std::string profileName(const proto::Instruction &instruction);
/// After an overlapped collective's profileName: its own time on the
/// stream, beside the kernels' (the device's wait is "collective_done").
inline constexpr char kOverlappedSuffix[] = " (overlapped)";

/// An empty output of `spec`'s type and shape, to gather parts into.
HostTensor outputFor(const proto::TensorSpec &spec);

} // namespace tessel

#endif // TESSEL_RUNTIME_HOST_HOSTDEVICE_H
