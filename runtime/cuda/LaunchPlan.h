//===- LaunchPlan.h - A device program as GPU launches ----------*- C++ -*-===//
//
// The CUDA backend runs a device program as a flat list of launches planned
// once at load: element kernels (runtime/cuda/DeviceOps.h), GEMMs in
// cuBLAS's column-major terms, device-to-device copies, and NCCL calls,
// each on the compute or the communication stream, with events between.
// Every buffer lives in one device allocation laid out by layoutBuffers;
// the plan holds absolute device pointers, so a run only copies inputs in,
// replays the launches, and copies outputs out.
//
// Nothing here calls CUDA: the same plan runs on the GPU (CudaBackend) and
// on the host (HostEmulation), which is how it is tested without a GPU.
// Instructions the backend cannot run are rejected here, at load, naming
// the op and the tensor.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_LAUNCHPLAN_H
#define TESSEL_RUNTIME_CUDA_LAUNCHPLAN_H

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/DeviceOps.h"
#include "runtime/host/Collectives.h"
#include "runtime/proto/executable.pb.h"

namespace tessel::cuda {

absl::StatusOr<DType> dtypeOf(proto::ElementType type);
proto::ElementType protoTypeOf(DType type);

/// Where one device's buffers live in its single allocation, in bytes from
/// its start: the arena, each input it reads, each parameter (whole or this
/// device's part), each constant. Every block is 256-byte aligned.
struct BufferLayout {
  uint64_t totalBytes = 0;
  /// By buffer id: where the buffer's bytes start.
  std::vector<uint64_t> bufferOffsets;
  /// By input index (-1: not read by this device): its part's offset.
  std::vector<int64_t> inputOffsets;
  /// Parameters this device holds: index -> offset.
  std::map<int64_t, uint64_t> parameterOffsets;
  /// Parameters this device holds a part of: index -> the buffer naming
  /// the part (its dims and global offsets).
  std::map<int64_t, int> parameterParts;
  /// By state update (the executable's state_updates): where this device
  /// keeps its part of the input or parameter the update writes, between
  /// steps (the input's or parameter's own bytes; past them for an input
  /// the program does not read).
  std::vector<uint64_t> stateOffsets;
};
absl::StatusOr<BufferLayout> layoutBuffers(const proto::Executable &executable,
                                           int device);

/// C = op(A) x op(B), column-major, batched by strides (cuBLAS's
/// cublasGemmStridedBatchedEx; f16 and bf16 compute in f32).
struct GemmLaunch {
  DType type = DType::F32;
  bool transA = false, transB = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  int64_t strideA = 0, strideB = 0, strideC = 0, batch = 1;
  const void *a = nullptr, *b = nullptr;
  void *c = nullptr;
};

/// A convolution for cuDNN (cudnnConvolutionForward): x [n, c, in...],
/// w [k, c / groups, window...], y [n, k, out...], symmetric padding, no
/// input dilation; 1 to 3 spatial dimensions.
struct ConvLaunch {
  DType type = DType::F32;
  int spatial = 0;
  int64_t n = 0, c = 0, k = 0, groups = 1;
  int64_t inSize[3] = {}, window[3] = {}, outSize[3] = {}, padding[3] = {},
          strides[3] = {}, dilations[3] = {};
  const void *x = nullptr, *w = nullptr;
  void *y = nullptr;
};

enum class NcclOp { AllReduce, AllGather, ReduceScatter, SendRecv };
enum class NcclReduction { Sum, Max, Min };
/// The host collectives' reduction for an NCCL one (for emulations).
Reduction hostReduction(NcclReduction reduction);

/// One NCCL call on communicator `comm` (an index into DevicePlan::groups).
/// AllReduce: `count` elements; AllGather: `count` sent, count * size
/// received; ReduceScatter: `count` received; SendRecv: one NCCL group of
/// the `sends` and `receives`.
struct NcclCall {
  NcclOp op = NcclOp::AllReduce;
  NcclReduction reduction = NcclReduction::Sum;
  DType type = DType::F32;
  int comm = 0;
  const void *send = nullptr;
  void *receive = nullptr;
  int64_t count = 0;
  struct Transfer {
    int peer = 0; // Rank in the group.
    char *data = nullptr;
    int64_t bytes = 0;
  };
  std::vector<Transfer> sends, receives;
};

/// A device's two streams of work: kernels run on the compute stream,
/// collectives (their packing, NCCL calls and unpacking) on the
/// communication stream, so that an asynchronous collective runs while the
/// kernels between its start and its done do. Events order the two.
enum class Stream { Compute, Communication };

struct Launch {
  /// Record: event `event` is recorded on `stream` after its work so far.
  /// Wait: `stream`'s later work waits for event `event`'s last record.
  enum class Type {
    Element,
    Gemm,
    Convolution,
    DeviceCopy,
    Nccl,
    Record,
    Wait
  };
  Type type = Type::Element;
  Stream stream = Stream::Compute;
  /// Record and Wait: the event, numbered from 0 in the plan.
  int event = 0;
  /// The instruction this launch belongs to (for errors and profiles).
  int instruction = 0;
  // Element: kernel, threads, and where its parameters are in the plan's
  // parameter block (host copy here; the device copy at the same offset).
  KernelKind kind = KernelKind::Copy;
  int64_t count = 0;
  uint64_t params = 0;
  GemmLaunch gemm;
  ConvLaunch convolution;
  // DeviceCopy.
  const void *src = nullptr;
  void *dst = nullptr;
  int64_t bytes = 0;
  NcclCall nccl;
};

struct DevicePlan {
  int device = 0;
  std::vector<Launch> launches;
  /// Parameters of the element launches, to be copied to the device once.
  std::vector<char> parameterBlock;
  /// Scratch bytes the launches use at most (packing, im2col, collectives).
  uint64_t workspaceBytes = 0;
  /// The device groups this device communicates in, as device ids by rank,
  /// in first-use order; NcclCall::comm indexes them.
  std::vector<std::vector<int>> groups;
  /// The events the Record and Wait launches name (0 .. events - 1).
  int events = 0;
  /// Instructions whose kernels report errors through the error word (an
  /// int32 in the workspace's first bytes): gathers with indices out of
  /// range. By instruction index.
  std::vector<int> checkedInstructions;
};

struct PlanOptions {
  /// Convolutions cuDNN takes become ConvLaunches (else im2col + GEMM).
  bool convolutionLaunches = false;
  /// Where the plan's parameter block will be on the device (null while
  /// sizing the plan): tables the kernels read are addressed in it.
  char *parameterBlock = nullptr;
  /// Parameters a training step updates (in place where the program
  /// writes them): instructions may write their buffers.
  std::set<int64_t> writableParameters;
};

/// Whether the backend can plan instructions of `op` (a planner is
/// registered under its name, runtime/cuda/Planner.h).
bool hasOpPlanner(const std::string &op);

/// Plans device `device` of `executable` with its buffers at `base` (laid
/// out by `layout`) and scratch at `workspace`. Planning is pure: call it
/// with a null workspace to learn workspaceBytes, then with the real one
/// (the same `base` both times: which buffers alias shapes the plan).
absl::StatusOr<DevicePlan> planDevice(const proto::Executable &executable,
                                      int device, const BufferLayout &layout,
                                      char *base, char *workspace,
                                      const PlanOptions &options = {});

/// The bytes at the start of the workspace kept for the error word.
constexpr uint64_t kErrorWordBytes = 256;

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_LAUNCHPLAN_H
