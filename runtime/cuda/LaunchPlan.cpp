//===- LaunchPlan.cpp - A device program as GPU launches ------------------===//

#include "runtime/cuda/LaunchPlan.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/CollectiveDispatch.h"
#include "runtime/kernels/FusionSteps.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::cuda {

using kernels::TensorView;

namespace {
/// Each element type in both spellings.
constexpr std::pair<proto::ElementType, DType> kTypes[] = {
    {proto::F32, DType::F32},   {proto::F16, DType::F16},
    {proto::BF16, DType::BF16}, {proto::I32, DType::I32},
    {proto::I64, DType::I64},   {proto::I1, DType::I1}};
} // namespace

absl::StatusOr<DType> dtypeOf(proto::ElementType type) {
  for (const auto &[proto, dtype] : kTypes)
    if (proto == type)
      return dtype;
  return absl::InvalidArgumentError(absl::StrCat(
      "the cuda backend has no element type ", proto::ElementType_Name(type)));
}

proto::ElementType protoTypeOf(DType type) {
  for (const auto &[proto, dtype] : kTypes)
    if (dtype == type)
      return proto;
  return proto::ELEMENT_TYPE_UNSPECIFIED;
}

Reduction hostReduction(NcclReduction reduction) {
  return reduction == NcclReduction::Max   ? Reduction::Max
         : reduction == NcclReduction::Min ? Reduction::Min
                                           : Reduction::Sum;
}

namespace {

constexpr uint64_t kAlign = 256;
uint64_t alignUp(uint64_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

int64_t product(const std::vector<int64_t> &dims) {
  int64_t count = 1;
  for (int64_t d : dims)
    count *= d;
  return count;
}

int64_t bufferBytes(const proto::Buffer &buffer) {
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
      scratchUsed = kErrorWordBytes;
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
        proto::Buffer::Storage storage = program.buffers(id).storage();
        if (storage == proto::Buffer::CONSTANT ||
            storage == proto::Buffer::PARAMETER)
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
  /// A new launch of `type` for the current instruction.
  Launch &append(Launch::Type type) {
    Launch &launch = plan.launches.emplace_back();
    launch.type = type;
    launch.instruction = index;
    return launch;
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
    std::vector<int64_t> d, s, t;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 0)
        return absl::OkStatus();
      if (dims[i] == 1)
        continue;
      if (!d.empty() && s.back() == srcStrides[i] * dims[i] &&
          t.back() == dstStrides[i] * dims[i]) {
        d.back() *= dims[i];
        s.back() = srcStrides[i];
        t.back() = dstStrides[i];
        continue;
      }
      d.push_back(dims[i]);
      s.push_back(srcStrides[i]);
      t.push_back(dstStrides[i]);
    }
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
    element(KernelKind::Copy, product(d), params);
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
  absl::Status dotGeneral(kernels::KernelContext &c);
  absl::Status convolution(kernels::KernelContext &c);
  absl::Status fusion(kernels::KernelContext &c);
  absl::Status collective(kernels::KernelContext &c);
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

  const proto::Executable &executable;
  const proto::DeviceProgram &program;
  const BufferLayout &layout;
  char *base, *workspace;
  PlanOptions options;
  int index = 0;
  uint64_t scratchUsed = 0;
};

bool isIdentity(const std::vector<int64_t> &order) {
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] != static_cast<int64_t>(i))
      return false;
  return true;
}

std::vector<int64_t> concat(std::vector<int64_t> a,
                            const std::vector<int64_t> &b,
                            const std::vector<int64_t> &c) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

absl::StatusOr<Planner::Matrix>
Planner::matrixOf(const TensorView &v, const std::vector<int64_t> &batch,
                  const std::vector<int64_t> &rows,
                  const std::vector<int64_t> &cols) {
  if (isIdentity(concat(batch, rows, cols)))
    return Matrix{v.data, false};
  if (isIdentity(concat(batch, cols, rows)))
    return Matrix{v.data, true};
  std::vector<int64_t> order = concat(batch, rows, cols);
  std::vector<int64_t> strides = v.strides(), dims, srcStrides;
  for (int64_t d : order) {
    dims.push_back(v.dims[d]);
    srcStrides.push_back(strides[d]);
  }
  int32_t bytes = static_cast<int32_t>(kernels::byteSize(v.type));
  char *packed = scratch(static_cast<uint64_t>(v.numElements()) * bytes);
  if (absl::Status status = copyBlock(dims, bytes, v.data, srcStrides, 0,
                                      packed, kernels::denseStrides(dims), 0);
      !status.ok())
    return status;
  return Matrix{packed, false};
}

absl::Status Planner::dotGeneral(kernels::KernelContext &c) {
  if (c.operands.size() != 2 || c.results.size() != 1)
    return c.error("needs two operands and one result");
  const TensorView &lhs = c.operands[0], &rhs = c.operands[1];
  const TensorView &result = c.results[0];
  absl::StatusOr<kernels::DotDimensions> groups = kernels::dotDimensions(c);
  if (!groups.ok())
    return groups.status();
  if (lhs.type != rhs.type || lhs.type != result.type)
    return c.error("operands and result must have one element type");
  const std::vector<int64_t> *lb = &groups->lhsBatch, *rb = &groups->rhsBatch,
                             *lc = &groups->lhsContracting,
                             *rc = &groups->rhsContracting;
  const std::vector<int64_t> &lf = groups->lhsFree, &rf = groups->rhsFree;
  auto extent = [](const TensorView &v, const std::vector<int64_t> &dims) {
    int64_t count = 1;
    for (int64_t d : dims)
      count *= v.dims[d];
    return count;
  };
  int64_t batch = extent(lhs, *lb), m = extent(lhs, lf), k = extent(lhs, *lc),
          n = extent(rhs, rf);
  if (extent(rhs, *rb) != batch || extent(rhs, *rc) != k ||
      result.numElements() != batch * m * n)
    return c.error("operand and result shapes do not agree");
  absl::StatusOr<Matrix> a = matrixOf(lhs, *lb, lf, *lc);
  if (!a.ok())
    return c.error(std::string(a.status().message()));
  absl::StatusOr<Matrix> b = matrixOf(rhs, *rb, *rc, rf);
  if (!b.ok())
    return c.error(std::string(b.status().message()));
  DType type = *dtypeOf(lhs.type);
  if (!isFloat(type)) {
    if (type == DType::I1)
      return c.error("does not take bool operands");
    IntegerDotParams params;
    params.type = type;
    params.m = m;
    params.n = n;
    params.k = k;
    // [batch, m, k] or stored [batch, k, m]; [batch, k, n] or [batch, n, k].
    params.a[0] = m * k;
    params.a[1] = a->transposed ? 1 : k;
    params.a[2] = a->transposed ? m : 1;
    params.b[0] = k * n;
    params.b[1] = b->transposed ? 1 : n;
    params.b[2] = b->transposed ? k : 1;
    params.lhs = a->data;
    params.rhs = b->data;
    params.out = result.data;
    element(KernelKind::IntegerDot, batch * m * n, params);
    return absl::OkStatus();
  }
  if (batch * m * n == 0)
    return absl::OkStatus();
  // Row-major C[m, n] = A[m, k] B[k, n] is column-major
  // C^T[n, m] = B^T[n, k] A^T[k, m]: cuBLAS's A is the rhs, its B the lhs.
  GemmLaunch gemm;
  gemm.type = type;
  gemm.m = n;
  gemm.n = m;
  gemm.k = k;
  gemm.a = b->data;
  gemm.transA = b->transposed;
  gemm.lda = b->transposed ? k : n;
  gemm.b = a->data;
  gemm.transB = a->transposed;
  gemm.ldb = a->transposed ? m : k;
  gemm.c = result.data;
  gemm.ldc = n;
  gemm.strideA = k * n;
  gemm.strideB = m * k;
  gemm.strideC = m * n;
  gemm.batch = batch;
  // cuBLAS wants leading dimensions of at least 1.
  gemm.lda = std::max<int64_t>(gemm.lda, 1);
  gemm.ldb = std::max<int64_t>(gemm.ldb, 1);
  gemm.ldc = std::max<int64_t>(gemm.ldc, 1);
  append(Launch::Type::Gemm).gemm = gemm;
  return absl::OkStatus();
}

absl::Status Planner::convolution(kernels::KernelContext &c) {
  if (c.operands.size() != 2 || c.results.size() != 1)
    return c.error("needs two operands and one result");
  const TensorView &input = c.operands[0], &kernel = c.operands[1];
  const TensorView &result = c.results[0];
  if (!kernels::isFloatType(input.type) || input.type != kernel.type ||
      input.type != result.type)
    return c.error("needs floating-point operands and result of one type");
  absl::StatusOr<kernels::ConvolutionAttributes> window =
      kernels::convolutionAttributes(c);
  if (!window.ok())
    return window.status();
  int64_t spatial = input.rank() - 2;
  if (spatial > kMaxRank)
    return c.error("rank past the cuda backend's limit");
  const std::vector<int64_t> *strides = &window->strides,
                             *padLow = &window->padLow,
                             *lhsDilation = &window->lhsDilation,
                             *rhsDilation = &window->rhsDilation;
  const int64_t *groups = &window->groups;
  Im2colParams p;
  p.spatial = static_cast<int32_t>(spatial);
  p.elementBytes = static_cast<int32_t>(kernels::byteSize(input.type));
  p.images = input.dims[0];
  p.channels = input.dims[1];
  p.groupChannels = p.channels / *groups;
  int64_t outChannels = kernel.dims[0], groupOut = outChannels / *groups;
  for (int64_t d = 0; d < spatial; ++d) {
    p.inSize[d] = input.dims[d + 2];
    p.window[d] = kernel.dims[d + 2];
    p.outSize[d] = result.dims[d + 2];
    p.strides[d] = (*strides)[d];
    p.padLow[d] = (*padLow)[d];
    p.lhsDilation[d] = std::max<int64_t>(1, (*lhsDilation)[d]);
    p.rhsDilation[d] = (*rhsDilation)[d];
    p.inPixels *= p.inSize[d];
    p.outPixels *= p.outSize[d];
    p.windowSize *= p.window[d];
  }
  int64_t rows = p.groupChannels * p.windowSize;
  int64_t width = p.images * p.outPixels;
  if (result.numElements() == 0)
    return absl::OkStatus();
  // cuDNN where it takes the convolution: 1 to 3 spatial dimensions, no
  // input dilation, padding equal on both sides.
  bool cudnn = options.convolutionLaunches && spatial >= 1 && spatial <= 3;
  for (int64_t d = 0; d < spatial && cudnn; ++d) {
    int64_t extent = p.rhsDilation[d] * (p.window[d] - 1) + 1;
    cudnn = p.lhsDilation[d] == 1 && p.padLow[d] >= 0 && p.strides[d] >= 1 &&
            (p.inSize[d] + 2 * p.padLow[d] - extent) / p.strides[d] + 1 ==
                p.outSize[d] &&
            p.inSize[d] + 2 * p.padLow[d] >= extent;
  }
  if (cudnn) {
    ConvLaunch &conv = append(Launch::Type::Convolution).convolution;
    conv.type = *dtypeOf(input.type);
    conv.spatial = static_cast<int>(spatial);
    conv.n = p.images;
    conv.c = p.channels;
    conv.k = outChannels;
    conv.groups = *groups;
    for (int64_t d = 0; d < spatial; ++d) {
      conv.inSize[d] = p.inSize[d];
      conv.window[d] = p.window[d];
      conv.outSize[d] = p.outSize[d];
      conv.padding[d] = p.padLow[d];
      conv.strides[d] = p.strides[d];
      conv.dilations[d] = p.rhsDilation[d];
    }
    conv.x = input.data;
    conv.w = kernel.data;
    conv.y = result.data;
    return absl::OkStatus();
  }
  p.in = static_cast<const char *>(input.data);
  p.columns =
      scratch(static_cast<uint64_t>(*groups * rows * width) * p.elementBytes);
  element(KernelKind::Im2col, *groups * rows * width, p);
  // Per group: out[groupOut, width] = W_g[groupOut, rows] x cols_g[rows,
  // width], column-major as in dotGeneral.
  bool direct = p.images == 1;
  char *out = direct ? static_cast<char *>(result.data)
                     : scratch(static_cast<uint64_t>(result.numElements()) *
                               p.elementBytes);
  GemmLaunch gemm;
  gemm.type = *dtypeOf(input.type);
  gemm.m = width;
  gemm.n = groupOut;
  gemm.k = rows;
  gemm.a = p.columns;
  gemm.lda = std::max<int64_t>(width, 1);
  gemm.b = kernel.data;
  gemm.ldb = std::max<int64_t>(rows, 1);
  gemm.c = out;
  gemm.ldc = std::max<int64_t>(width, 1);
  gemm.strideA = rows * width;
  gemm.strideB = groupOut * rows;
  gemm.strideC = groupOut * width;
  gemm.batch = *groups;
  append(Launch::Type::Gemm).gemm = gemm;
  if (direct)
    return absl::OkStatus();
  // [groups * groupOut, images, pixels] -> [images, outChannels, pixels].
  return copyBlock({outChannels, p.images, p.outPixels}, p.elementBytes, out,
                   {width, p.outPixels, 1}, 0, result.data,
                   {p.outPixels, outChannels * p.outPixels, 1}, 0);
}

absl::Status Planner::fusion(kernels::KernelContext &c) {
  const proto::Fusion &fusion = c.instruction.fusion();
  if (c.results.empty())
    return c.error("a fusion needs a result");
  const std::vector<int64_t> &dims = c.results[0].dims;
  for (const TensorView &result : c.results)
    if (result.dims != dims)
      return c.error("the results of a fusion must have one shape");
  if (fusion.operand_dims_size() != static_cast<int>(c.operands.size()))
    return c.error("operand_dims must have one entry per operand");
  if (dims.size() > static_cast<size_t>(kMaxRank) ||
      c.operands.size() > static_cast<size_t>(kMaxFusionOperands) ||
      fusion.steps_size() > kMaxFusionSteps ||
      c.results.size() > static_cast<size_t>(kMaxFusionOutputs))
    return c.error(absl::StrCat(
        "a fusion of rank ", dims.size(), ", ", c.operands.size(),
        " operands, ", fusion.steps_size(), " steps and ", c.results.size(),
        " results is past the cuda backend's limits (", kMaxRank, ", ",
        kMaxFusionOperands, ", ", kMaxFusionSteps, ", ", kMaxFusionOutputs,
        ")"));
  // Large: built on the heap.
  auto p = std::make_unique<FusionParams>();
  p->rank = static_cast<int32_t>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d)
    p->dims[d] = dims[d];
  p->numOperands = static_cast<int32_t>(c.operands.size());
  for (size_t k = 0; k < c.operands.size(); ++k) {
    const TensorView &operand = c.operands[k];
    const proto::Ints &mapping = fusion.operand_dims(k);
    if (mapping.values_size() != operand.rank())
      return c.error(absl::StrCat("operand ", k, " has rank ", operand.rank(),
                                  " but ", mapping.values_size(), " dims"));
    std::vector<int64_t> strides = operand.strides();
    for (int64_t i = 0; i < operand.rank(); ++i) {
      int64_t d = mapping.values(i);
      if (d < 0 || d >= static_cast<int64_t>(dims.size()) ||
          (operand.dims[i] != 1 && operand.dims[i] != dims[d]))
        return c.error(absl::StrCat("operand ", k, " dimension ", i,
                                    " does not broadcast"));
      if (operand.dims[i] != 1)
        p->operandStrides[k][d] = strides[i];
    }
    p->operandTypes[k] = *dtypeOf(operand.type);
    p->operands[k] = operand.data;
  }
  p->numSteps = fusion.steps_size();
  for (int s = 0; s < fusion.steps_size(); ++s) {
    const proto::FusionStep &source = fusion.steps(s);
    StepOp op;
    if (!kernels::stepOpNamed(source.op(), op))
      return c.error(absl::StrCat("unknown fusion step '", source.op(), "'"));
    absl::StatusOr<DType> type = dtypeOf(source.element_type());
    if (!type.ok())
      return c.error(std::string(type.status().message()));
    FusionStepCode &step = p->steps[s];
    step.op = op;
    step.type = *type;
    if (source.args_size() > 3)
      return c.error("a fusion step has more than three arguments");
    for (int a = 0; a < source.args_size(); ++a) {
      int64_t arg = source.args(a);
      bool valid = step.op == StepOp::Load ? arg >= 0 && arg < p->numOperands
                                           : arg >= 0 && arg < s;
      if (!valid)
        return c.error(step.op == StepOp::Load
                           ? "a load step names no operand"
                           : "a fusion step reads a later step");
      step.args[a] = static_cast<int32_t>(arg);
    }
    int needed = kernels::stepArity(step.op);
    if (source.args_size() < needed)
      return c.error(absl::StrCat("fusion step '", source.op(), "' needs ",
                                  needed, " arguments"));
    kernels::StepAttributes attributes = kernels::stepAttributes(source);
    step.value = attributes.value;
    step.direction = static_cast<int32_t>(attributes.direction);
    step.hasMin = attributes.hasMin;
    step.min = attributes.min;
    step.hasMax = attributes.hasMax;
    step.max = attributes.max;
    if (step.op == StepOp::Pow &&
        p->steps[step.args[1]].op == StepOp::Constant) {
      step.hasConstantExponent = 1;
      step.exponent = p->steps[step.args[1]].value;
    }
  }
  if (fusion.outputs_size() != static_cast<int>(c.results.size()))
    return c.error("a fusion needs one output step per result");
  p->numOutputs = fusion.outputs_size();
  for (int r = 0; r < fusion.outputs_size(); ++r) {
    int64_t output = fusion.outputs(r);
    if (output < 0 || output >= p->numSteps)
      return c.error("an output names no step");
    p->outputs[r] = static_cast<int32_t>(output);
    p->outputTypes[r] = *dtypeOf(c.results[r].type);
    p->results[r] = c.results[r].data;
  }
  element(KernelKind::Fusion, c.results[0].numElements(), *p);
  return absl::OkStatus();
}

absl::Status Planner::collective(kernels::KernelContext &c) {
  const proto::Collective &collective = c.instruction.collective();
  int self = static_cast<int>(program.device_id());
  std::vector<int> members;
  for (const proto::Ints &group : collective.groups()) {
    std::vector<int> ids(group.values().begin(), group.values().end());
    if (std::find(ids.begin(), ids.end(), self) != ids.end())
      members = ids;
  }
  if (members.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("collective for tensor '", c.instruction.location(),
                     "' leaves out device ", self));
  int rank = static_cast<int>(std::find(members.begin(), members.end(), self) -
                              members.begin());
  NcclLowering lowering(*this, groupIndex(members), rank,
                        static_cast<int>(members.size()));
  std::vector<int> sources = permuteSources(collective, members);
  return runCollective(lowering, c.instruction, sources, c.operands, c.results,
                       absl::StrCat("device ", self));
}

absl::Status Planner::planInstruction(kernels::KernelContext &c) {
  const std::string &op = c.instruction.op();
  auto unary = [&]() -> absl::Status {
    if (c.operands.size() != 1 || c.results.size() != 1)
      return c.error("needs one operand and one result");
    if (c.operands[0].type != c.results[0].type)
      return c.error("operand and result types differ");
    return absl::OkStatus();
  };
  if (op == "collective")
    return collective(c);
  if (op == "fusion")
    return fusion(c);
  if (op == "dot_general")
    return dotGeneral(c);
  if (op == "convolution")
    return convolution(c);
  if (op == "copy") {
    if (absl::Status status = unary(); !status.ok())
      return status;
    if (c.operands[0].byteCount() != c.results[0].byteCount())
      return c.error("operand and result sizes differ");
    deviceCopy(c.results[0].data, c.operands[0].data, c.results[0].byteCount());
    return absl::OkStatus();
  }
  if (op == "transpose" || op == "slice" || op == "reverse") {
    if (absl::Status status = unary(); !status.ok())
      return status;
    const TensorView &in = c.operands[0], &out = c.results[0];
    std::vector<int64_t> inStrides = in.strides(), strides;
    int64_t srcBase = 0;
    if (op == "transpose") {
      absl::StatusOr<std::vector<int64_t>> permutation =
          c.getInts("permutation");
      if (!permutation.ok())
        return permutation.status();
      for (int64_t d : *permutation) {
        if (d < 0 || d >= in.rank())
          return c.error("permutation names no dimension");
        strides.push_back(inStrides[d]);
      }
    } else if (op == "slice") {
      absl::StatusOr<std::vector<int64_t>> starts = c.getInts("start_indices");
      absl::StatusOr<std::vector<int64_t>> steps = c.getInts("strides");
      if (!starts.ok())
        return starts.status();
      if (!steps.ok())
        return steps.status();
      for (size_t d = 0; d < inStrides.size(); ++d) {
        srcBase += (*starts)[d] * inStrides[d];
        strides.push_back((*steps)[d] * inStrides[d]);
      }
    } else {
      absl::StatusOr<std::vector<int64_t>> reversed = c.getInts("dimensions");
      if (!reversed.ok())
        return reversed.status();
      strides = inStrides;
      for (int64_t d : *reversed) {
        srcBase += (in.dims[d] - 1) * strides[d];
        strides[d] = -strides[d];
      }
    }
    if (strides.size() != out.dims.size())
      return c.error("operand and result ranks differ");
    absl::Status status =
        copyBlock(out.dims, static_cast<int32_t>(kernels::byteSize(out.type)),
                  in.data, strides, srcBase, out.data, out.strides(), 0);
    return status.ok() ? status : c.error(std::string(status.message()));
  }
  if (op == "concatenate") {
    if (c.results.size() != 1)
      return c.error("needs one result");
    absl::StatusOr<int64_t> dimension = c.getInt("dimension");
    if (!dimension.ok())
      return dimension.status();
    const TensorView &out = c.results[0];
    int64_t offset = 0;
    std::vector<int64_t> outStrides = out.strides();
    for (const TensorView &operand : c.operands) {
      if (operand.type != out.type || operand.rank() != out.rank())
        return c.error("operands must have the result's type and rank");
      if (absl::Status status = copyBlock(
              operand.dims, static_cast<int32_t>(kernels::byteSize(out.type)),
              operand.data, operand.strides(), 0, out.data, outStrides,
              offset * outStrides[*dimension]);
          !status.ok())
        return c.error(std::string(status.message()));
      offset += operand.dims[*dimension];
    }
    return absl::OkStatus();
  }
  if (op == "pad") {
    if (absl::Status status = unary(); !status.ok())
      return status;
    absl::StatusOr<kernels::PadAttributes> pad = kernels::padAttributes(c);
    if (!pad.ok())
      return pad.status();
    const TensorView &in = c.operands[0], &out = c.results[0];
    if (out.rank() > kMaxRank)
      return c.error("rank past the cuda backend's limit");
    PadParams p;
    p.rank = static_cast<int32_t>(out.rank());
    p.elementBytes = static_cast<int32_t>(kernels::byteSize(out.type));
    std::vector<int64_t> inStrides = in.strides();
    for (int64_t d = 0; d < out.rank(); ++d) {
      p.outDims[d] = out.dims[d];
      p.inStrides[d] = inStrides[d];
      p.low[d] = pad->low[d];
      p.period[d] = pad->interior[d] + 1;
      p.limits[d] = pad->limits[d];
    }
    kernels::encodeScalar(out.type, pad->value, p.value);
    p.src = static_cast<const char *>(in.data);
    p.dst = static_cast<char *>(out.data);
    element(KernelKind::Pad, out.numElements(), p);
    return absl::OkStatus();
  }
  if (op == "gather") {
    if (c.operands.size() != 2 || c.results.size() != 1)
      return c.error("needs two operands and one result");
    absl::StatusOr<int64_t> axis = c.getInt("axis");
    if (!axis.ok())
      return axis.status();
    const TensorView &data = c.operands[0], &indices = c.operands[1];
    if (*axis < 0 || *axis >= data.rank() || kernels::isFloatType(indices.type))
      return c.error("needs an axis of the data and integer indices");
    GatherParams p;
    p.elementBytes = static_cast<int32_t>(kernels::byteSize(data.type));
    p.indexType = *dtypeOf(indices.type);
    p.count = indices.numElements();
    p.axisSize = data.dims[*axis];
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d)
      outer *= data.dims[d];
    for (int64_t d = *axis + 1; d < data.rank(); ++d)
      p.inner *= data.dims[d];
    p.data = static_cast<const char *>(data.data);
    p.indices = indices.data;
    p.out = static_cast<char *>(c.results[0].data);
    p.error = reinterpret_cast<int32_t *>(workspace);
    plan.checkedInstructions.push_back(index);
    element(KernelKind::Gather, outer * p.count * p.inner, p);
    return absl::OkStatus();
  }
  if (op == "iota") {
    if (c.results.size() != 1)
      return c.error("needs one result");
    absl::StatusOr<int64_t> dimension = c.getInt("dimension");
    if (!dimension.ok())
      return dimension.status();
    const TensorView &out = c.results[0];
    if (*dimension < 0 || *dimension >= out.rank())
      return c.error("dimension out of range");
    IotaParams p;
    p.type = *dtypeOf(out.type);
    p.stride = out.strides()[*dimension];
    p.size = out.dims[*dimension];
    p.out = out.data;
    element(KernelKind::Iota, out.numElements(), p);
    return absl::OkStatus();
  }
  if (op == "reduce") {
    if (c.operands.size() != 1 || c.results.size() != 1)
      return c.error("needs one operand and one result");
    absl::StatusOr<std::vector<int64_t>> dims = c.getInts("dimensions");
    absl::StatusOr<std::string> kind = c.getString("kind");
    if (!dims.ok())
      return dims.status();
    if (!kind.ok())
      return kind.status();
    const TensorView &in = c.operands[0], &out = c.results[0];
    ReduceParams p;
    if (!kernels::reduceKindNamed(*kind, p.kind))
      return c.error(absl::StrCat("unknown reduction '", *kind, "'"));
    if (in.rank() > kMaxRank)
      return c.error("rank past the cuda backend's limit");
    std::vector<int64_t> strides = in.strides();
    std::vector<bool> reduced(in.rank(), false);
    for (int64_t d : *dims) {
      if (d < 0 || d >= in.rank())
        return c.error("reduces a dimension the operand does not have");
      reduced[d] = true;
    }
    for (int64_t d = 0; d < in.rank(); ++d) {
      if (reduced[d]) {
        p.reducedDims[p.reducedRank] = in.dims[d];
        p.reducedStrides[p.reducedRank++] = strides[d];
        p.reducedCount *= in.dims[d];
      } else {
        p.keptDims[p.keptRank] = in.dims[d];
        p.keptStrides[p.keptRank++] = strides[d];
      }
    }
    p.inType = *dtypeOf(in.type);
    p.outType = *dtypeOf(out.type);
    p.in = in.data;
    p.out = out.data;
    element(KernelKind::Reduce, out.numElements(), p);
    return absl::OkStatus();
  }
  if (op == "softmax" || op == "layer_norm") {
    bool softmax = op == "softmax";
    if (c.operands.size() != (softmax ? 1u : 3u) || c.results.size() != 1)
      return c.error(softmax ? "needs one operand and one result"
                             : "needs operand, scale, bias and one result");
    absl::StatusOr<int64_t> dimension =
        c.getInt(softmax ? "dimension" : "axis");
    if (!dimension.ok())
      return dimension.status();
    const TensorView &in = c.operands[0], &out = c.results[0];
    if (!kernels::isFloatType(in.type) || !kernels::isFloatType(out.type))
      return c.error("needs floating-point operands");
    if (*dimension < 0 || *dimension >= std::max<int64_t>(in.rank(), 1))
      return c.error("dimension out of range");
    RowParams p;
    p.inType = *dtypeOf(in.type);
    p.outType = *dtypeOf(out.type);
    p.in = in.data;
    p.out = out.data;
    int64_t inner = 1;
    for (int64_t d = *dimension + 1; d < in.rank(); ++d)
      inner *= in.dims[d];
    if (softmax) {
      p.length = in.rank() ? in.dims[*dimension] : 1;
      p.stride = inner;
      element(KernelKind::Softmax,
              in.numElements() / std::max<int64_t>(p.length, 1), p);
      return absl::OkStatus();
    }
    absl::StatusOr<double> epsilon = c.getFloat("epsilon");
    if (!epsilon.ok())
      return epsilon.status();
    p.length = in.rank() ? in.dims[*dimension] * inner : 1;
    p.epsilon = *epsilon;
    p.scaleType = *dtypeOf(c.operands[1].type);
    p.biasType = *dtypeOf(c.operands[2].type);
    p.scale = c.operands[1].data;
    p.bias = c.operands[2].data;
    element(KernelKind::LayerNorm,
            in.numElements() / std::max<int64_t>(p.length, 1), p);
    return absl::OkStatus();
  }
  if (op == "batch_norm_inference") {
    if (c.operands.size() != 5 || c.results.size() != 1)
      return c.error("needs operand, scale, offset, mean, variance");
    absl::StatusOr<int64_t> feature = c.getInt("feature_index");
    absl::StatusOr<double> epsilon = c.getFloat("epsilon");
    if (!feature.ok())
      return feature.status();
    if (!epsilon.ok())
      return epsilon.status();
    const TensorView &in = c.operands[0], &out = c.results[0];
    if (*feature < 0 || *feature >= in.rank())
      return c.error("feature_index out of range");
    BatchNormPrepareParams prepare;
    prepare.epsilon = *epsilon;
    for (int k = 0; k < 4; ++k) {
      prepare.types[k] = *dtypeOf(c.operands[k + 1].type);
      prepare.values[k] = c.operands[k + 1].data;
    }
    int64_t channels = in.dims[*feature];
    auto *factors = reinterpret_cast<float *>(
        scratch(static_cast<uint64_t>(2 * channels) * sizeof(float)));
    prepare.multiplier = factors;
    prepare.shift = factors ? factors + channels : nullptr;
    element(KernelKind::BatchNormPrepare, channels, prepare);
    BatchNormParams p;
    p.inType = *dtypeOf(in.type);
    p.outType = *dtypeOf(out.type);
    p.channels = channels;
    for (int64_t d = *feature + 1; d < in.rank(); ++d)
      p.inner *= in.dims[d];
    p.in = in.data;
    p.multiplier = prepare.multiplier;
    p.shift = prepare.shift;
    p.out = out.data;
    element(KernelKind::BatchNorm, in.numElements(), p);
    return absl::OkStatus();
  }
  if (op == "resize") {
    absl::StatusOr<std::vector<std::vector<kernels::ResizeTap>>> taps =
        kernels::resizeTaps(c);
    if (!taps.ok())
      return taps.status();
    const TensorView &in = c.operands[0], &out = c.results[0];
    if (out.rank() > kMaxRank)
      return c.error("rank past the cuda backend's limit");
    ResizeParams p;
    p.rank = static_cast<int32_t>(out.rank());
    p.inType = *dtypeOf(in.type);
    p.outType = *dtypeOf(out.type);
    std::vector<int64_t> inStrides = in.strides();
    for (int64_t d = 0; d < out.rank(); ++d) {
      p.outDims[d] = out.dims[d];
      p.inStrides[d] = inStrides[d];
      p.taps[d] = static_cast<const kernels::ResizeTap *>(table(
          (*taps)[d].data(), (*taps)[d].size() * sizeof(kernels::ResizeTap)));
    }
    p.in = in.data;
    p.out = out.data;
    element(KernelKind::Resize, out.numElements(), p);
    return absl::OkStatus();
  }
  if (op == "max_pool" || op == "avg_pool") {
    if (c.operands.size() != 1 || c.results.size() != 1)
      return c.error("needs one operand and one result");
    absl::StatusOr<std::vector<int64_t>> window =
        c.getInts("window_dimensions");
    absl::StatusOr<std::vector<int64_t>> strides = c.getInts("window_strides");
    absl::StatusOr<std::vector<int64_t>> dilations =
        c.getInts("window_dilations");
    absl::StatusOr<std::vector<int64_t>> padLow = c.getInts("padding_low");
    absl::StatusOr<std::vector<int64_t>> padHigh = c.getInts("padding_high");
    for (auto *status : {&window, &strides, &dilations, &padLow, &padHigh})
      if (!status->ok())
        return status->status();
    PoolParams p;
    p.isMax = op == "max_pool";
    if (!p.isMax && c.has("count_include_pad")) {
      absl::StatusOr<int64_t> flag = c.getInt("count_include_pad");
      if (!flag.ok())
        return flag.status();
      p.countPadding = *flag != 0;
    }
    const TensorView &in = c.operands[0], &out = c.results[0];
    int64_t spatial = in.rank() - 2;
    if (spatial < 0 || spatial > kMaxRank || out.rank() != in.rank() ||
        static_cast<int64_t>(window->size()) != spatial ||
        static_cast<int64_t>(strides->size()) != spatial ||
        static_cast<int64_t>(dilations->size()) != spatial ||
        static_cast<int64_t>(padLow->size()) != spatial ||
        static_cast<int64_t>(padHigh->size()) != spatial)
      return c.error("window attributes do not match the operand's rank");
    p.spatial = static_cast<int32_t>(spatial);
    for (int64_t d = 0; d < spatial; ++d) {
      p.inSize[d] = in.dims[d + 2];
      p.outSize[d] = out.dims[d + 2];
      p.window[d] = (*window)[d];
      p.strides[d] = (*strides)[d];
      p.dilations[d] = (*dilations)[d];
      p.padLow[d] = (*padLow)[d];
      p.padHigh[d] = (*padHigh)[d];
      p.inPixels *= p.inSize[d];
      p.outPixels *= p.outSize[d];
      p.windowSize *= p.window[d];
    }
    p.inType = *dtypeOf(in.type);
    p.outType = *dtypeOf(out.type);
    p.in = in.data;
    p.out = out.data;
    element(KernelKind::Pool, out.numElements(), p);
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat(
      "the cuda backend has no kernel '", op, "' (instruction for tensor '",
      c.instruction.location(), "')"));
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

NcclReduction ncclReduction(Reduction reduction) {
  return reduction == Reduction::Max   ? NcclReduction::Max
         : reduction == Reduction::Min ? NcclReduction::Min
                                       : NcclReduction::Sum;
}

/// i1 reduces as "or" (sum, max) and "and" (min) on the host: as max and
/// min of bytes 0 and 1.
NcclReduction reductionFor(DType type, Reduction reduction) {
  if (type == DType::I1 && reduction == Reduction::Sum)
    return NcclReduction::Max;
  return ncclReduction(reduction);
}

std::string shapeOf(const std::vector<int64_t> &dims) {
  return absl::StrCat("[", absl::StrJoin(dims, "x"), "]");
}

absl::Status NcclLowering::allReduce(Reduction reduction,
                                     const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  if (in.dims != out.dims || in.type != out.type)
    return absl::InvalidArgumentError(absl::StrCat(
        "all_reduce of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  NcclCall c = call(NcclOp::AllReduce, type);
  c.reduction = reductionFor(type, reduction);
  c.send = in.data;
  c.receive = out.data;
  c.count = numElements(in);
  planner.nccl(std::move(c));
  return absl::OkStatus();
}

absl::Status NcclLowering::movePieces(const std::vector<int64_t> &dims,
                                      int64_t dim,
                                      const std::vector<int64_t> &blockDims,
                                      int32_t elementBytes, char *tensor,
                                      char *blocks, bool toBlocks) {
  int64_t whole = dims[dim], piece = blockDims[dim];
  int64_t blockElements = product(blockDims);
  std::vector<int64_t> tensorStrides = kernels::denseStrides(dims);
  std::vector<int64_t> blockStrides = kernels::denseStrides(blockDims);
  for (int r = 0; r < size; ++r) {
    int64_t valid = validOf(whole, piece, r);
    if (valid == 0)
      continue;
    std::vector<int64_t> copy = blockDims;
    copy[dim] = valid;
    int64_t tensorBase = r * piece * tensorStrides[dim];
    int64_t blockBase = r * blockElements;
    absl::Status status =
        toBlocks
            ? planner.copyBlock(copy, elementBytes, tensor, tensorStrides,
                                tensorBase, blocks, blockStrides, blockBase)
            : planner.copyBlock(copy, elementBytes, blocks, blockStrides,
                                blockBase, tensor, tensorStrides, tensorBase);
    if (!status.ok())
      return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool>
NcclLowering::piecesAreBlocks(const char *collective, int64_t dim,
                              const CollectiveBuffer &whole,
                              const CollectiveBuffer &piece) const {
  int64_t rank_ = static_cast<int64_t>(whole.dims.size());
  bool fits = whole.type == piece.type &&
              piece.dims.size() == whole.dims.size() && dim >= 0 &&
              dim < rank_ && piece.dims[dim] == pieceOf(whole.dims[dim], size);
  for (int64_t d = 0; d < rank_ && fits; ++d)
    fits = d == dim || piece.dims[d] == whole.dims[d];
  if (!fits)
    return absl::InvalidArgumentError(absl::StrCat(
        collective, " along ", dim, " between ", shapeOf(whole.dims), " and ",
        shapeOf(piece.dims), " among ", size));
  return product(std::vector<int64_t>(whole.dims.begin(),
                                      whole.dims.begin() + dim)) == 1 &&
         whole.dims[dim] == piece.dims[dim] * size;
}

absl::Status NcclLowering::allGather(int64_t dim, const CollectiveBuffer &in,
                                     const CollectiveBuffer &out) {
  absl::StatusOr<bool> direct = piecesAreBlocks("all_gather", dim, out, in);
  if (!direct.ok())
    return direct.status();
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t count = numElements(in);
  char *blocks =
      *direct ? static_cast<char *>(out.data)
              : planner.scratch(static_cast<uint64_t>(count) * size * bytes);
  NcclCall c = call(NcclOp::AllGather, type);
  c.send = in.data;
  c.receive = blocks;
  c.count = count;
  planner.nccl(std::move(c));
  if (*direct)
    return absl::OkStatus();
  return movePieces(out.dims, dim, in.dims, bytes,
                    static_cast<char *>(out.data), blocks, /*toBlocks=*/false);
}

absl::Status NcclLowering::reduceScatter(Reduction reduction, int64_t dim,
                                         const CollectiveBuffer &in,
                                         const CollectiveBuffer &out) {
  absl::StatusOr<bool> direct = piecesAreBlocks("reduce_scatter", dim, in, out);
  if (!direct.ok())
    return direct.status();
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t count = numElements(out);
  char *blocks = static_cast<char *>(in.data);
  if (!*direct) {
    blocks = planner.scratch(static_cast<uint64_t>(count) * size * bytes);
    char zero[8] = {};
    planner.fill(blocks, count * size, bytes, zero);
    if (absl::Status status =
            movePieces(in.dims, dim, out.dims, bytes,
                       static_cast<char *>(in.data), blocks, /*toBlocks=*/true);
        !status.ok())
      return status;
  }
  NcclCall c = call(NcclOp::ReduceScatter, type);
  c.reduction = reductionFor(type, reduction);
  c.send = blocks;
  c.receive = out.data;
  c.count = count;
  planner.nccl(std::move(c));
  return absl::OkStatus();
}

absl::Status NcclLowering::allToAll(int64_t splitDim, int64_t concatDim,
                                    const CollectiveBuffer &in,
                                    const CollectiveBuffer &out) {
  int64_t rank_ = static_cast<int64_t>(in.dims.size());
  if (in.type != out.type || out.dims.size() != in.dims.size() ||
      splitDim < 0 || splitDim >= rank_ || concatDim < 0 || concatDim >= rank_)
    return absl::InvalidArgumentError(absl::StrCat(
        "all_to_all of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  // The piece each member sends: in split along splitDim.
  std::vector<int64_t> block = in.dims;
  block[splitDim] = pieceOf(in.dims[splitDim], size);
  // Received blocks are laid along concatDim in rank order.
  std::vector<int64_t> expected = block;
  expected[concatDim] = out.dims[concatDim];
  if (expected != out.dims ||
      block[concatDim] != pieceOf(out.dims[concatDim], size))
    return absl::InvalidArgumentError(
        absl::StrCat("all_to_all of ", shapeOf(in.dims), " (split ", splitDim,
                     ", concatenated along ", concatDim, ") into ",
                     shapeOf(out.dims), " among ", size));
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  int64_t blockBytes = product(block) * bytes;
  char *send = planner.scratch(static_cast<uint64_t>(blockBytes) * size);
  char *receive = planner.scratch(static_cast<uint64_t>(blockBytes) * size);
  char zero[8] = {};
  planner.fill(send, product(block) * size, bytes, zero);
  if (absl::Status status =
          movePieces(in.dims, splitDim, block, bytes,
                     static_cast<char *>(in.data), send, /*toBlocks=*/true);
      !status.ok())
    return status;
  NcclCall c = call(NcclOp::SendRecv, type);
  for (int r = 0; r < size; ++r) {
    c.sends.push_back({r, send ? send + r * blockBytes : nullptr, blockBytes});
    c.receives.push_back(
        {r, receive ? receive + r * blockBytes : nullptr, blockBytes});
  }
  planner.nccl(std::move(c));
  return movePieces(out.dims, concatDim, block, bytes,
                    static_cast<char *>(out.data), receive, /*toBlocks=*/false);
}

absl::Status NcclLowering::collectivePermute(const std::vector<int> &sources,
                                             const CollectiveBuffer &in,
                                             const CollectiveBuffer &out) {
  if (in.type != out.type || in.dims != out.dims ||
      static_cast<int>(sources.size()) != size)
    return absl::InvalidArgumentError(absl::StrCat("collective_permute of ",
                                                   shapeOf(in.dims), " into ",
                                                   shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  int64_t bytes = numElements(in) * dtypeBytes(type);
  NcclCall c = call(NcclOp::SendRecv, type);
  for (int r = 0; r < size; ++r)
    if (sources[r] == rank && r != rank)
      c.sends.push_back({r, static_cast<char *>(in.data), bytes});
  int source = sources[rank];
  if (source >= 0 && source != rank)
    c.receives.push_back({source, static_cast<char *>(out.data), bytes});
  if (in.data == out.data && !c.sends.empty() &&
      (!c.receives.empty() || source < 0)) {
    // What is sent must not be overwritten by what arrives (or zeros).
    char *copy = planner.scratch(static_cast<uint64_t>(bytes));
    planner.deviceCopy(copy, in.data, bytes);
    for (NcclCall::Transfer &transfer : c.sends)
      transfer.data = copy;
  }
  if (!c.sends.empty() || !c.receives.empty())
    planner.nccl(std::move(c));
  if (source < 0) {
    char zero[8] = {};
    planner.fill(out.data, numElements(out), dtypeBytes(type), zero);
  } else if (source == rank) {
    planner.deviceCopy(out.data, in.data, bytes);
  }
  return absl::OkStatus();
}

absl::Status NcclLowering::haloExchange(int64_t dim, int64_t low, int64_t high,
                                        double value,
                                        const CollectiveBuffer &in,
                                        const CollectiveBuffer &out) {
  int64_t rank_ = static_cast<int64_t>(in.dims.size());
  if (in.type != out.type || out.dims.size() != in.dims.size() || dim < 0 ||
      dim >= rank_ || !kernels::isFloatType(in.type))
    return absl::InvalidArgumentError(absl::StrCat(
        "halo_exchange of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  int64_t n = in.dims[dim];
  std::vector<int64_t> expected = in.dims;
  expected[dim] = n + low + high;
  if (expected != out.dims || low > n || high > n || -low > n || -high > n)
    return absl::InvalidArgumentError(
        absl::StrCat("halo_exchange along ", dim, " (", low, ", ", high,
                     ") of ", shapeOf(in.dims), " into ", shapeOf(out.dims)));
  DType type = *dtypeOf(in.type);
  int32_t bytes = dtypeBytes(type);
  std::vector<int64_t> inStrides = kernels::denseStrides(in.dims);
  std::vector<int64_t> outStrides = kernels::denseStrides(out.dims);
  auto rowsOf = [&](int64_t rows) {
    std::vector<int64_t> dims = in.dims;
    dims[dim] = rows;
    return dims;
  };
  auto copyRows = [&](int64_t rows, const char *src,
                      const std::vector<int64_t> &srcStrides, int64_t srcRow,
                      char *dst, const std::vector<int64_t> &dstStrides,
                      int64_t dstRow) {
    if (rows <= 0)
      return absl::OkStatus();
    return planner.copyBlock(rowsOf(rows), bytes, src, srcStrides,
                             srcRow * srcStrides[dim], dst, dstStrides,
                             dstRow * dstStrides[dim]);
  };
  char *outData = static_cast<char *>(out.data);
  const char *inData = static_cast<const char *>(in.data);
  if (in.data == out.data) { // Rows shift within the buffer: read a copy.
    char *copy =
        planner.scratch(static_cast<uint64_t>(numElements(in)) * bytes);
    planner.deviceCopy(copy, in.data, numElements(in) * bytes);
    inData = copy;
  }
  char padding[8];
  kernels::encodeScalar(in.type, value, padding);
  NcclCall c = call(NcclOp::SendRecv, type);
  // Packed rows: what goes to each neighbour and what comes from it.
  auto packed = [&](int64_t rows) {
    return planner.scratch(static_cast<uint64_t>(product(rowsOf(rows))) *
                           bytes);
  };
  int64_t lowRows = std::max<int64_t>(low, 0),
          highRows = std::max<int64_t>(high, 0);
  // Halo rows received from each neighbour (none past the first or last).
  char *fromPrevious = nullptr, *fromNext = nullptr;
  bool hasPrevious = false, hasNext = false;
  if (lowRows > 0) {
    std::vector<int64_t> strides = kernels::denseStrides(rowsOf(lowRows));
    if (rank + 1 < size) { // My last `low` rows are the next one's halo.
      char *send = packed(lowRows);
      if (absl::Status status = copyRows(lowRows, inData, inStrides,
                                         n - lowRows, send, strides, 0);
          !status.ok())
        return status;
      c.sends.push_back({rank + 1, send, product(rowsOf(lowRows)) * bytes});
    }
    if (rank > 0) {
      fromPrevious = packed(lowRows);
      hasPrevious = true;
      c.receives.push_back(
          {rank - 1, fromPrevious, product(rowsOf(lowRows)) * bytes});
    }
  }
  if (highRows > 0) {
    std::vector<int64_t> strides = kernels::denseStrides(rowsOf(highRows));
    if (rank > 0) { // My first `high` rows are the previous one's halo.
      char *send = packed(highRows);
      if (absl::Status status =
              copyRows(highRows, inData, inStrides, 0, send, strides, 0);
          !status.ok())
        return status;
      c.sends.push_back({rank - 1, send, product(rowsOf(highRows)) * bytes});
    }
    if (rank + 1 < size) {
      fromNext = packed(highRows);
      hasNext = true;
      c.receives.push_back(
          {rank + 1, fromNext, product(rowsOf(highRows)) * bytes});
    }
  }
  // Own rows: [max(0, -low), n - max(0, -high)) to row max(low, 0).
  int64_t firstOwn = std::max<int64_t>(0, -low);
  int64_t ownRows = n - firstOwn - std::max<int64_t>(0, -high);
  if (absl::Status status = copyRows(ownRows, inData, inStrides, firstOwn,
                                     outData, outStrides, lowRows);
      !status.ok())
    return status;
  if (!c.sends.empty() || !c.receives.empty())
    planner.nccl(std::move(c));
  auto place = [&](int64_t rows, char *from, bool received,
                   int64_t row) -> absl::Status {
    if (rows <= 0)
      return absl::OkStatus();
    if (!received) {
      // Past the first or last member: the padding value.
      std::vector<int64_t> dims = rowsOf(rows);
      char *filled =
          planner.scratch(static_cast<uint64_t>(product(dims)) * bytes);
      planner.fill(filled, product(dims), bytes, padding);
      from = filled;
    }
    return copyRows(rows, from, kernels::denseStrides(rowsOf(rows)), 0, outData,
                    outStrides, row);
  };
  if (absl::Status status = place(lowRows, fromPrevious, hasPrevious, 0);
      !status.ok())
    return status;
  return place(highRows, fromNext, hasNext, lowRows + ownRows);
}

} // namespace

absl::StatusOr<BufferLayout> layoutBuffers(const proto::Executable &executable,
                                           int device) {
  if (device < 0 || device >= executable.programs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("no program for device ", device));
  const proto::DeviceProgram &program = executable.programs(device);
  BufferLayout layout;
  uint64_t next = alignUp(program.arena_bytes());
  layout.inputOffsets.assign(executable.inputs_size(), -1);
  // Parameters: this device's part where any buffer names one (the other
  // buffers of that parameter are views of the part), else the whole.
  std::map<int64_t, uint64_t> parts, wholes, parameterBytes;
  for (int id = 0; id < program.buffers_size(); ++id) {
    const proto::Buffer &buffer = program.buffers(id);
    if (buffer.storage() != proto::Buffer::PARAMETER)
      continue;
    if (buffer.index() < 0 || buffer.index() >= executable.parameters_size())
      return absl::InvalidArgumentError(
          absl::StrCat("a buffer names parameter ", buffer.index(), " of ",
                       executable.parameters_size()));
    uint64_t bytes = static_cast<uint64_t>(bufferBytes(buffer));
    if (buffer.global_offsets_size() > 0)
      layout.parameterParts.emplace(buffer.index(), id);
    uint64_t &held = buffer.global_offsets_size() > 0 ? parts[buffer.index()]
                                                      : wholes[buffer.index()];
    held = std::max(held, bytes);
  }
  for (const auto &[index, bytes] : wholes)
    parameterBytes[index] = parts.count(index) ? parts[index] : bytes;
  for (const auto &[index, bytes] : parts)
    parameterBytes[index] = bytes;
  for (const proto::Buffer &buffer : program.buffers()) {
    if (buffer.storage() != proto::Buffer::INPUT)
      continue;
    if (buffer.index() < 0 || buffer.index() >= executable.inputs_size())
      return absl::InvalidArgumentError(absl::StrCat("a buffer names input ",
                                                     buffer.index(), " of ",
                                                     executable.inputs_size()));
    if (layout.inputOffsets[buffer.index()] < 0) {
      layout.inputOffsets[buffer.index()] = static_cast<int64_t>(next);
      next += alignUp(static_cast<uint64_t>(bufferBytes(buffer)));
    }
  }
  for (const auto &[index, bytes] : parameterBytes) {
    layout.parameterOffsets[index] = next;
    next += alignUp(bytes);
  }
  for (const proto::Buffer &buffer : program.buffers()) {
    switch (buffer.storage()) {
    case proto::Buffer::ARENA:
      if (buffer.offset() + bufferBytes(buffer) > program.arena_bytes())
        return absl::InvalidArgumentError("a buffer runs past the arena");
      layout.bufferOffsets.push_back(buffer.offset());
      break;
    case proto::Buffer::INPUT:
      layout.bufferOffsets.push_back(layout.inputOffsets[buffer.index()]);
      break;
    case proto::Buffer::PARAMETER:
      layout.bufferOffsets.push_back(layout.parameterOffsets[buffer.index()]);
      break;
    case proto::Buffer::CONSTANT:
      layout.bufferOffsets.push_back(next);
      next += alignUp(buffer.data().size());
      break;
    default:
      return absl::InvalidArgumentError("a buffer has no storage");
    }
  }
  layout.totalBytes = std::max<uint64_t>(next, kAlign);
  return layout;
}

absl::StatusOr<DevicePlan> planDevice(const proto::Executable &executable,
                                      int device, const BufferLayout &layout,
                                      char *base, char *workspace,
                                      const PlanOptions &options) {
  if (device < 0 || device >= executable.programs_size())
    return absl::InvalidArgumentError(
        absl::StrCat("no program for device ", device));
  Planner planner(executable, device, layout, base, workspace, options);
  if (absl::Status status = planner.planAll(); !status.ok())
    return status;
  return std::move(planner.plan);
}

} // namespace tessel::cuda
