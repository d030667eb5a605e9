//===- Planner.h - Planning a device program, op by op ----------*- C++ -*-===//
//
// Internal to the cuda backend's planning (LaunchPlan.h is the interface).
// A Planner walks a device program's instructions and turns each into
// launches; the planner of an op is found by the op's name in a registry
// (findOpPlanner), as the host kernels are, and lives in the file of its
// family:
//   PlanContraction.cpp   dot_general, convolution (cuBLAS/cuDNN shapes)
//   PlanFusion.cpp        fusion (element kernels)
//   PlanDataMovement.cpp  copy, transpose, slice, reverse, concatenate,
//                         pad, gather, iota
//   PlanNormalization.cpp reduce, softmax, layer_norm, batch_norm_inference
//   PlanWindows.cpp       resize, max_pool, avg_pool
//   PlanSelection.cpp     top_k
//   NcclLowering.cpp      collective (NCCL calls, halos)
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_CUDA_PLANNER_H
#define TESSEL_RUNTIME_CUDA_PLANNER_H

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/ThreadPool.h"
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/host/CollectiveDispatch.h"
#include "runtime/kernels/FusionSteps.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::cuda {

using kernels::TensorView;

inline constexpr uint64_t kAlign = 256;
inline uint64_t alignUp(uint64_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

inline int64_t product(const std::vector<int64_t> &dims) {
  int64_t count = 1;
  for (int64_t d : dims)
    count *= d;
  return count;
}

inline int64_t bufferBytes(const proto::Buffer &buffer) {
  int64_t bytes = kernels::byteSize(buffer.element_type());
  for (int64_t d : buffer.dims())
    bytes *= d;
  return bytes;
}

class Planner;

/// Lowers a collective into NCCL calls and copies, with the host
/// collectives' semantics (runtime/host/Collectives.h: padded pieces, zeros
/// where a split runs past the whole). Called through runCollective, as the
/// host and MPI groups are.
class NcclLowering {
public:
  NcclLowering(Planner &planner, int comm, int rank, int size)
      : planner(planner), comm(comm), rank(rank), size(size) {}
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
  absl::Status collectivePermute(const std::vector<int> &sources,
                                 const CollectiveBuffer &in,
                                 const CollectiveBuffer &out);
  absl::Status haloExchange(int64_t dim, int64_t low, int64_t high,
                            double value, const CollectiveBuffer &in,
                            const CollectiveBuffer &out);

private:
  /// Checks that `whole` holds dimension `dim` whole and `piece` one
  /// member's piece of it (all else equal); true when the pieces end to end
  /// are `whole` itself (nothing before `dim`, no padding), so NCCL's
  /// rank-major blocks need no packing.
  absl::StatusOr<bool> piecesAreBlocks(const char *collective, int64_t dim,
                                       const CollectiveBuffer &whole,
                                       const CollectiveBuffer &piece) const;
  /// Copies, for each of `size` pieces along `dim`, the valid part of a
  /// dimension of `whole` elements between a tensor of `dims` (holding the
  /// whole dimension) and blocks of `blockDims` (`dim` = piece) laid end to
  /// end in `blocks`. toBlocks: pieces out of the tensor, else into it.
  absl::Status movePieces(const std::vector<int64_t> &dims, int64_t dim,
                          const std::vector<int64_t> &blockDims,
                          int32_t elementBytes, char *tensor, char *blocks,
                          bool toBlocks);
  NcclCall call(NcclOp op, DType type) const {
    NcclCall call;
    call.op = op;
    call.type = type;
    call.comm = comm;
    return call;
  }

  Planner &planner;
  int comm, rank, size;
};

class Planner {
public:
  Planner(const proto::Executable &executable, int device,
          const BufferLayout &layout, char *base, char *workspace,
          const PlanOptions &options)
      : executable(executable), program(executable.programs(device)),
        layout(layout), base(base), workspace(workspace), options(options) {
    plan.device = device;
    plan.workspaceBytes = kErrorWordBytes;
  }

  absl::Status planAll() {
    for (int i = 0; i < program.instructions_size(); ++i) {
      index = i;
      scratchUsed = scratchFloor();
      const proto::Instruction &inst = program.instructions(i);
      std::vector<TensorView> operands, results;
      for (int64_t id : inst.operands()) {
        if (id < 0 || id >= program.buffers_size())
          return absl::InvalidArgumentError(absl::StrCat(
              "instruction for tensor '", inst.location(), "' names buffer ",
              id, " of ", program.buffers_size()));
        operands.push_back(view(id));
      }
      for (int64_t id : inst.results()) {
        if (id < 0 || id >= program.buffers_size())
          return absl::InvalidArgumentError(absl::StrCat(
              "instruction for tensor '", inst.location(), "' names buffer ",
              id, " of ", program.buffers_size()));
        const proto::Buffer &buffer = program.buffers(id);
        if (buffer.storage() == proto::Buffer::CONSTANT ||
            (buffer.storage() == proto::Buffer::PARAMETER &&
             !options.writableParameters.count(buffer.index())))
          return absl::InvalidArgumentError(
              absl::StrCat("instruction for tensor '", inst.location(),
                           "' writes a read-only buffer"));
        results.push_back(view(id));
      }
      static ThreadPool noThreads(1);
      kernels::KernelContext context(inst, operands, results, noThreads);
      for (const TensorView &v : operands)
        if (absl::StatusOr<DType> type = dtypeOf(v.type); !type.ok())
          return context.error(std::string(type.status().message()));
      for (const TensorView &v : results)
        if (absl::StatusOr<DType> type = dtypeOf(v.type); !type.ok())
          return context.error(std::string(type.status().message()));
      if (absl::Status status = planInstruction(context); !status.ok())
        return status;
    }
    return absl::OkStatus();
  }

  absl::Status planInstruction(kernels::KernelContext &c);

  // Pieces the collective lowering uses.
  char *scratch(uint64_t bytes) {
    char *at = workspace ? workspace + scratchUsed : nullptr;
    scratchUsed += alignUp(std::max<uint64_t>(bytes, 1));
    plan.workspaceBytes = std::max(plan.workspaceBytes, scratchUsed);
    return at;
  }
  /// A new launch of `type` for the current instruction, on `stream`.
  Launch &append(Launch::Type type) {
    Launch &launch = plan.launches.emplace_back();
    launch.type = type;
    launch.stream = stream;
    launch.instruction = index;
    return launch;
  }
  /// A new event, recorded on `on` after its work so far.
  int record(Stream on) {
    Launch &launch = append(Launch::Type::Record);
    launch.stream = on;
    launch.event = plan.events++;
    return launch.event;
  }
  /// `on`'s later work waits for `event`.
  void waitFor(int event, Stream on) {
    Launch &launch = append(Launch::Type::Wait);
    launch.stream = on;
    launch.event = event;
  }
  /// `bytes` of `data` in the parameter block; their device address.
  const void *table(const void *data, size_t bytes) {
    uint64_t offset = alignUp(plan.parameterBlock.size());
    plan.parameterBlock.resize(offset + bytes);
    std::memcpy(plan.parameterBlock.data() + offset, data, bytes);
    return options.parameterBlock ? options.parameterBlock + offset : nullptr;
  }
  template <typename P>
  void element(KernelKind kind, int64_t count, const P &params) {
    if (count <= 0)
      return;
    uint64_t offset = alignUp(plan.parameterBlock.size());
    plan.parameterBlock.resize(offset + sizeof(P));
    std::memcpy(plan.parameterBlock.data() + offset, &params, sizeof(P));
    Launch &launch = append(Launch::Type::Element);
    launch.kind = kind;
    launch.count = count;
    launch.params = offset;
  }
  void deviceCopy(void *dst, const void *src, int64_t bytes) {
    if (bytes <= 0 || dst == src)
      return;
    Launch &launch = append(Launch::Type::DeviceCopy);
    launch.dst = dst;
    launch.src = src;
    launch.bytes = bytes;
  }
  void nccl(NcclCall call) {
    append(Launch::Type::Nccl).nccl = std::move(call);
  }
  void fill(void *dst, int64_t count, int32_t elementBytes,
            const char value[8]) {
    FillParams params;
    params.elementBytes = elementBytes;
    std::memcpy(params.value, value, 8);
    params.dst = static_cast<char *>(dst);
    element(KernelKind::Fill, count, params);
  }
  /// The affine copy of a block of `dims` between strided layouts (in
  /// elements), its dimensions merged where both sides allow.
  absl::Status copyBlock(std::vector<int64_t> dims, int32_t elementBytes,
                         const void *src, std::vector<int64_t> srcStrides,
                         int64_t srcBase, void *dst,
                         std::vector<int64_t> dstStrides, int64_t dstBase) {
    if (std::find(dims.begin(), dims.end(), 0) != dims.end())
      return absl::OkStatus();
    auto [d, t, s] =
        kernels::mergeDenseDimensions(dims, dstStrides, srcStrides);
    if (d.empty()) {
      d = {1};
      s = {0};
      t = {0};
    }
    if (d.size() > static_cast<size_t>(kMaxRank))
      return absl::UnimplementedError(
          absl::StrCat("a copy of rank ", d.size(),
                       " (the cuda backend takes up to ", kMaxRank, ")"));
    CopyParams params;
    params.rank = static_cast<int32_t>(d.size());
    params.elementBytes = elementBytes;
    for (size_t i = 0; i < d.size(); ++i) {
      params.dims[i] = d[i];
      params.srcStrides[i] = s[i];
      params.dstStrides[i] = t[i];
    }
    params.srcBase = srcBase;
    params.dstBase = dstBase;
    params.src = static_cast<const char *>(src);
    params.dst = static_cast<char *>(dst);
    element(KernelKind::Copy, product({d.begin(), d.end()}), params);
    return absl::OkStatus();
  }
  /// The group (device ids by rank) as an index into plan.groups.
  int groupIndex(const std::vector<int> &members) {
    auto it = std::find(plan.groups.begin(), plan.groups.end(), members);
    if (it != plan.groups.end())
      return static_cast<int>(it - plan.groups.begin());
    plan.groups.push_back(members);
    return static_cast<int>(plan.groups.size()) - 1;
  }

  DevicePlan plan;

private:
  TensorView view(int64_t id) {
    const proto::Buffer &buffer = program.buffers(id);
    TensorView v;
    v.type = buffer.element_type();
    v.dims.assign(buffer.dims().begin(), buffer.dims().end());
    v.data = base ? base + layout.bufferOffsets[id] : nullptr;
    return v;
  }

public:
  // The op planners, one per op family, in the files named beside them;
  // found by op name through the registry (findOpPlanner).
  absl::Status dotGeneral(kernels::KernelContext &c);     // PlanContraction.cpp
  absl::Status convolution(kernels::KernelContext &c);    // PlanContraction.cpp
  absl::Status fusion(kernels::KernelContext &c);         // PlanFusion.cpp
  absl::Status collective(kernels::KernelContext &c);     // NcclLowering.cpp
  absl::Status collectiveDone(kernels::KernelContext &c); // NcclLowering.cpp
  absl::Status planCopy(kernels::KernelContext &c); // PlanDataMovement.cpp
  absl::Status planLayout(kernels::KernelContext &c);
  absl::Status planConcatenate(kernels::KernelContext &c);
  absl::Status planPad(kernels::KernelContext &c);
  absl::Status planGather(kernels::KernelContext &c);
  absl::Status planIota(kernels::KernelContext &c);
  absl::Status planReduce(kernels::KernelContext &c); // PlanNormalization.cpp
  absl::Status planNormalization(kernels::KernelContext &c);
  absl::Status planBatchNorm(kernels::KernelContext &c);
  absl::Status planResize(kernels::KernelContext &c); // PlanWindows.cpp
  absl::Status planPool(kernels::KernelContext &c);
  absl::Status planTopK(kernels::KernelContext &c); // PlanSelection.cpp

private:
  /// A view of `v` as [batch, rows, cols] with the given dimension groups:
  /// in place when stored so (or as [batch, cols, rows]: `transposed`),
  /// else packed into scratch.
  struct Matrix {
    const void *data = nullptr;
    bool transposed = false;
  };
  absl::StatusOr<Matrix> matrixOf(const TensorView &v,
                                  const std::vector<int64_t> &batch,
                                  const std::vector<int64_t> &rows,
                                  const std::vector<int64_t> &cols);

  /// Where the current instruction's scratch starts: past the scratch of
  /// the asynchronous collectives still in flight (their packing buffers
  /// are in use on the communication stream until their done).
  uint64_t scratchFloor() const {
    uint64_t floor = kErrorWordBytes;
    for (const auto &[start, pending] : inFlight)
      floor = std::max(floor, pending.scratchEnd);
    return floor;
  }

  const proto::Executable &executable;
  const proto::DeviceProgram &program;
  const BufferLayout &layout;
  char *base, *workspace;
  PlanOptions options;
  int index = 0;
  uint64_t scratchUsed = 0;
  /// The stream the current instruction's launches go on.
  Stream stream = Stream::Compute;
  /// Asynchronous collectives started and not yet done, by the index of
  /// their start: the event their done waits for, and their scratch's end.
  struct InFlight {
    int done = 0;
    uint64_t scratchEnd = 0;
  };
  std::map<int, InFlight> inFlight;
};

/// An op's planner: a member of Planner.
using OpPlanFn = absl::Status (Planner::*)(kernels::KernelContext &);

/// The planner registered for `op`, or null.
OpPlanFn findOpPlanner(const std::string &op);

// Registration, one function per planner file.
void registerOpPlanner(const std::string &op, OpPlanFn planner);
void registerContractionPlanners();
void registerFusionPlanners();
void registerDataMovementPlanners();
void registerNormalizationPlanners();
void registerWindowPlanners();
void registerSelectionPlanners();
void registerCollectivePlanners();

/// Checks an instruction of one operand and one result of the same type.
inline absl::Status checkUnary(const kernels::KernelContext &c) {
  if (c.operands.size() != 1 || c.results.size() != 1)
    return c.error("needs one operand and one result");
  if (c.operands[0].type != c.results[0].type)
    return c.error("operand and result types differ");
  return absl::OkStatus();
}

} // namespace tessel::cuda

#endif // TESSEL_RUNTIME_CUDA_PLANNER_H
