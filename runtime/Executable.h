//===- Executable.h - Reading and writing executables -----------*- C++ -*-===//
//
// The executable file is the magic "TSLEXEC\0" and a serialized
// tessel.proto.Executable (runtime/proto/executable.proto). The reader
// rejects anything it does not understand: another magic, another format
// version, or a structure that does not hold together (a buffer id out of
// range, an arena offset beyond the arena, a constant of the wrong size).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_EXECUTABLE_H
#define TESSEL_RUNTIME_EXECUTABLE_H

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/params/ParameterFile.h"
#include "runtime/proto/executable.pb.h"

namespace tessel {

inline constexpr uint32_t kExecutableFormatVersion = 1;

/// The bytes of an executable file: a magic header, then the protobuf.
absl::StatusOr<std::string>
serializeExecutable(const proto::Executable &executable);
absl::Status writeExecutable(const proto::Executable &executable,
                             const std::string &path);
absl::StatusOr<proto::Executable> readExecutable(const std::string &path);
/// The executable in `bytes` (a file's contents), checked as
/// readExecutable checks it; `source` names it in errors.
absl::StatusOr<proto::Executable> parseExecutable(std::string_view bytes,
                                                  const std::string &source);

/// Points `executable` (and the single-device program it carries) at its
/// parameter file, read from `path`: `given` when not empty; else the file
/// it names, which is relative to the executable's folder and left as
/// is; else `<path>.params`, the parameter file of an executable renamed
/// with it. An error names the places looked. Nothing to do without
/// parameters.
absl::Status locateParameterFile(proto::Executable &executable,
                                 const std::string &path,
                                 const std::string &given);

/// The shape tensor `spec` has for its users (in a parameter file, given
/// as an input, returned as an output): its `stored_dims` where the
/// executable views it with another shape, else its `dims`.
const google::protobuf::RepeatedField<int64_t> &
storedDims(const proto::TensorSpec &spec);

/// The entry of `file` (a parameter file, or parameters in memory) for
/// parameter `spec`: an error naming the file if
/// it has none, or one of another element type or shape.
absl::StatusOr<const proto::ParameterEntry *>
findParameter(const ParameterStore &file, const proto::TensorSpec &spec);

/// Writes at `path` the parameter file of `executable` from the parameter
/// file at `source` (the one --params-out wrote for the model): an index
/// whose entries point at `source`'s data in place, nothing copied, after
/// checking that `source` has every parameter with its element type and
/// shape.
absl::Status linkParameterFile(const proto::Executable &executable,
                               const std::string &source,
                               const std::string &path);

/// Checks the structure of `executable` (what readExecutable checks after
/// parsing), for executables built in memory.
absl::Status validateExecutable(const proto::Executable &executable);

/// Drops from `executable` what one process running device `device` alone
/// does not need once loaded: the other devices' instructions (their
/// buffers stay: they place the inputs and outputs) and, unless
/// `keepReference`, the single-device program. Most of an executable's
/// size on many devices (7/8 of it on 8).
void keepOnlyDevice(proto::Executable &executable, int device,
                    bool keepReference);

/// A training step's view of an executable (its state_updates): the
/// inputs a step takes, the outputs it returns, and the state the devices
/// keep between steps.
struct StepSignature {
  /// Indices of the inputs no output updates, in order.
  std::vector<int> inputs;
  /// Indices of the outputs that update nothing, in order.
  std::vector<int> outputs;
  /// The inputs and parameters outputs update, in state_updates order.
  struct State {
    std::string name;
    const proto::TensorSpec *spec = nullptr;
    const proto::StateUpdate *update = nullptr;
  };
  std::vector<State> state;
  /// The state tensor called `name`, or null.
  const State *find(const std::string &name) const;
  /// Its index in `state` (and state_updates), or an error naming it.
  absl::StatusOr<int> indexOf(const std::string &name) const;
};
StepSignature stepSignature(const proto::Executable &executable);

/// Bytes device `device` holds while it runs: its arena, its parts of the
/// inputs and of the parameters.
int64_t deviceBytes(const proto::Executable &executable, int device);

/// Number of devices of the executable's mesh.
int64_t meshSize(const proto::Mesh &mesh);

/// "4x64xf32"-style description of a shape and type, for messages.
std::string
describeTensor(proto::ElementType type,
               const google::protobuf::RepeatedField<int64_t> &dims);

/// Per collective kind ("all_reduce", ...): how many a step runs and the
/// bytes of the largest of its operand and result on one device, summed.
struct CollectiveCount {
  std::string kind;
  int64_t count = 0;
  int64_t bytesPerDevice = 0;
};

/// The collectives of device 0's program (all devices run the same ones).
std::vector<CollectiveCount>
countCollectives(const proto::Executable &executable);

/// Counts as a table for people.
std::string formatCollectiveCounts(const std::vector<CollectiveCount> &counts);

/// A collective of device 0's program: kind ("all_reduce (sum)"), its
/// groups, bytes per device, the tensor moved, and why the partitioner
/// made it (its origins), with its instruction's index.
struct CollectiveExplanation {
  int64_t instruction = 0;
  std::string kind, tensor;
  int64_t groups = 0, members = 0, bytesPerDevice = 0;
  std::vector<std::string> reasons;
  /// Plan entries that would make the layouts agree here ({tensor, spec}).
  std::vector<std::pair<std::string, std::string>> remedies;
};
std::vector<CollectiveExplanation>
collectiveExplanations(const proto::Executable &executable);

/// The same, in order, as lines for people.
std::string explainCollectives(const proto::Executable &executable);

/// "1.5 KiB": bytes for people.
std::string formatBytes(int64_t bytes);

/// Whether no instruction may write `buffer`: a constant, or a parameter
/// no step updates (`updatedParameters`: the indices of those it does).
/// Instructions whose operands are all such buffers (or their results)
/// run once, at load (runsAtLoad).
bool readOnlyAtLoad(const proto::Buffer &buffer,
                    const std::set<int64_t> &updatedParameters);

/// Per buffer of `program`: whether the steps read it, an operand of an
/// instruction that does not run at load (`ranAtLoad`, per instruction)
/// or one of the outputs. A load-time result they do not read (only
/// other load-time instructions do) is freed after the load.
std::vector<bool> readAfterLoad(const proto::DeviceProgram &program,
                                const std::vector<bool> &ranAtLoad);

/// When each buffer of a device program is live, by instruction index.
struct BufferLiveness {
  /// First and last instruction touching each buffer (-1: none); outputs
  /// live to the end (the instruction count).
  std::vector<int64_t> first, last;
  /// Whether an instruction writes the buffer.
  std::vector<bool> written;
  /// For an arena buffer nobody writes (a view: a reshape's result), the
  /// instruction whose write to those bytes it reads (the last before it is
  /// first read; its interval starts there), else -1.
  std::vector<int64_t> viewSource;
  /// Per instruction: the views of what it writes (viewSource's inverse).
  std::vector<std::vector<int64_t>> viewsOf;
};
BufferLiveness bufferLiveness(const proto::DeviceProgram &program);

/// Per instruction of `program`: whether the backends run it once, at
/// load, instead of at every step. Those, collectives aside, with results
/// whose operands are all read-only then: constants, parameters no step
/// updates (`updatedParameters`), and earlier load-time results and
/// their views (`live`'s viewSource). What the host backend runs at load
/// and what the memory estimate counts as load-time results.
std::vector<bool> runsAtLoad(const proto::DeviceProgram &program,
                             const std::set<int64_t> &updatedParameters,
                             const BufferLiveness &live);

/// Whether buffers `a` and `b` are both in the arena and share bytes.
bool arenaOverlap(const proto::DeviceProgram &program, int64_t a, int64_t b);

/// What one device holds while its program runs, from the executable
/// alone (what a backend adds of its own, kernels' workspaces and
/// libraries, is not in it).
struct MemoryEstimate {
  /// The device's parts of the parameters (weights), updated or not.
  int64_t parameters = 0;
  /// Its parts of the inputs a step updates (optimizer state, ...).
  int64_t state = 0;
  /// Its parts of the other inputs (the batch).
  int64_t inputs = 0;
  /// The arena: every temporary (activations, gradients, collectives'
  /// results), laid out by liveness at compile time.
  int64_t arena = 0;
  /// Results computed once at load (instructions, not collectives, whose
  /// operands are all weights, constants or such results: the host
  /// backend runs them when it loads and keeps those the steps read
  /// outside the arena: readAfterLoad).
  int64_t loadTime = 0;
  /// The largest of them (at most five, largest first): the instruction's
  /// source tensor and op, and its results' bytes.
  std::vector<std::pair<std::string, int64_t>> largestLoadTime;
  /// The most arena bytes live at one instruction, which one, and the
  /// largest tensors live there (at most five, largest first).
  int64_t peakLive = 0;
  int64_t peakInstruction = -1;
  std::string peakAt;
  std::vector<std::pair<std::string, int64_t>> largestLive;
  /// Arena bytes live at each instruction, in program order.
  std::vector<int64_t> liveBytes;

  int64_t total() const {
    return parameters + state + inputs + arena + loadTime;
  }
};
MemoryEstimate estimateMemory(const proto::Executable &executable, int device);

/// The estimate as lines for people.
std::string formatMemoryEstimate(const MemoryEstimate &estimate);

} // namespace tessel

#endif // TESSEL_RUNTIME_EXECUTABLE_H
