//===- PlanContraction.cpp - GEMMs and convolutions as launches -----------===//

#include "runtime/cuda/Planner.h"

namespace tessel::cuda {

namespace {

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

} // namespace

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

void registerContractionPlanners() {
  registerOpPlanner("dot_general", &Planner::dotGeneral);
  registerOpPlanner("convolution", &Planner::convolution);
}

} // namespace tessel::cuda
