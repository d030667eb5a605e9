//===- Contraction.cpp - dot_general and convolution ----------------------===//
//
// Both become GEMMs (Gemm.h, single-threaded per call; the work is split
// across the pool here, by batch or by rows, so that small batched GEMMs and
// large single ones both use every core).
//
// dot_general: when the operands are already laid out as [batch..., M, K] or
// [batch..., K, M] (and [batch..., K, N] or [batch..., N, K]) the GEMM reads
// them in place with the matching transpose flag; any other layout is packed
// first. Convolution: 2-D f32 ones (dense, grouped, depthwise) on oneDNN
// (OneDnnConvolution.h); what oneDNN does not take here: depthwise ones
// (one input channel per group) directly, a plane per task; the others as
// im2col per (image, group), then W_g x cols (a 1x1 convolution with unit
// strides reads the input directly), grouped ones a (image, group) per task.
//
// f16 and bf16 compute in f32 (converted on the way in and out); integer
// contractions use a plain loop.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/kernels/Gemm.h"
#include "runtime/kernels/IntArithmetic.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/OneDnnConvolution.h"
#include "runtime/kernels/OneDnnMatmul.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::kernels {
namespace {

using Matrix = MatrixRef<float>;

/// C[m0:m1, :] = A[m0:m1, :] x B, single-threaded.
void gemmRows(const Matrix &a, const Matrix &b, float *c, int64_t m0,
              int64_t m1, int64_t n, int64_t k, int64_t ldc) {
  if (m1 <= m0 || n == 0)
    return;
  const float *aStart = a.transposed ? a.data + m0 : a.data + m0 * a.ld;
  gemm({aStart, a.transposed, a.ld}, b, c + m0 * ldc, m1 - m0, n, k, ldc);
}

/// C[:, n0:n1] = A x B[:, n0:n1], single-threaded.
void gemmColumns(const Matrix &a, const Matrix &b, float *c, int64_t m,
                 int64_t n0, int64_t n1, int64_t k, int64_t ldc) {
  if (n1 <= n0 || m == 0)
    return;
  const float *bStart = b.transposed ? b.data + n0 * b.ld : b.data + n0;
  gemm(a, {bStart, b.transposed, b.ld}, c + n0, m, n1 - n0, k, ldc);
}

/// One GEMM spread over the pool, by rows or by columns.
void parallelGemm(ThreadPool &pool, const Matrix &a, const Matrix &b, float *c,
                  int64_t m, int64_t n, int64_t k) {
  // Below this many multiply-adds a second thread costs more than it saves.
  constexpr int64_t kMinParallelWork = 1 << 16;
  if (m * n * k < kMinParallelWork || pool.size() == 1) {
    gemmRows(a, b, c, 0, m, n, k, n);
    return;
  }
  // One piece per thread: each GEMM call packs its operands again, so more,
  // smaller pieces only add packing.
  int64_t threads = pool.size();
  if (m >= n)
    pool.parallelFor(
        m, (m + threads - 1) / threads,
        [&](int64_t m0, int64_t m1) { gemmRows(a, b, c, m0, m1, n, k, n); });
  else
    pool.parallelFor(
        n, (n + threads - 1) / threads,
        [&](int64_t n0, int64_t n1) { gemmColumns(a, b, c, m, n0, n1, k, n); });
}

/// `view` as f32: the data itself, or a converted copy in `scratch`.
const float *asFloats(const TensorView &view, std::vector<float> &scratch) {
  if (view.type == proto::F32)
    return view.as<float>();
  int64_t count = view.numElements();
  scratch.resize(count);
  for (int64_t i = 0; i < count; ++i)
    scratch[i] = loadFloat(view.data, view.type, i);
  return scratch.data();
}

void storeFloats(const TensorView &view, const float *values) {
  if (view.type == proto::F32)
    return;
  for (int64_t i = 0, count = view.numElements(); i < count; ++i)
    storeFloat(view.data, view.type, i, values[i]);
}

/// Copies `data` (dims) into the order `permutation`.
template <typename T>
void permute(const T *data, absl::Span<const int64_t> dims,
             absl::Span<const int64_t> permutation, T *out) {
  int64_t rank = dims.size();
  Shape strides = rowMajorStrides(dims);
  Shape outDims(rank);
  for (int64_t d = 0; d < rank; ++d)
    outDims[d] = dims[permutation[d]];
  int64_t count = 1;
  for (int64_t dim : dims)
    count *= dim;
  Shape coordinates(rank, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t source = 0;
    for (int64_t d = 0; d < rank; ++d)
      source += coordinates[d] * strides[permutation[d]];
    out[i] = data[source];
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++coordinates[d] < outDims[d])
        break;
      coordinates[d] = 0;
    }
  }
}

int64_t product(absl::Span<const int64_t> dims,
                absl::Span<const int64_t> which) {
  int64_t result = 1;
  for (int64_t d : which)
    result *= dims[d];
  return result;
}

/// The stride of a group of dimensions that together step like one (each
/// dimension's stride is the next one's times its size; size-1 dimensions
/// do not matter), or nullopt. An empty group steps by `emptyStride`.
std::optional<int64_t> collapsedStride(absl::Span<const int64_t> dims,
                                       absl::Span<const int64_t> strides,
                                       absl::Span<const int64_t> group,
                                       int64_t emptyStride) {
  std::optional<int64_t> stride;
  int64_t extent = 1;
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if (dims[*it] == 1)
      continue;
    if (!stride)
      stride = strides[*it];
    else if (strides[*it] != *stride * extent)
      return std::nullopt;
    extent *= dims[*it];
  }
  return stride.value_or(emptyStride);
}

/// An operand seen as a batch of (rows x columns) matrices: in place when
/// one of its two matrix groups is contiguous and the other steps evenly
/// (batch dimensions may have any strides), else packed into
/// [batch..., rows..., columns...].
struct OperandLayout {
  const float *data = nullptr;
  bool transposed = false;
  int64_t ld = 0;
  std::vector<int64_t> batchOffsets;
};

/// Lays out an operand into `layout` (its batch offsets reuse their
/// storage, and `packed` its own: a dot_general that keeps them allocates
/// nothing after its first run).
void layoutOperand(const float *data, absl::Span<const int64_t> dims,
                   absl::Span<const int64_t> batch,
                   absl::Span<const int64_t> rows,
                   absl::Span<const int64_t> columns,
                   std::vector<float> &packed, OperandLayout &layout) {
  int64_t rank = dims.size();
  Shape strides = rowMajorStrides(dims);
  int64_t r = product(dims, rows), c = product(dims, columns);
  int64_t batches = product(dims, batch);
  // Batch p's offset: its coordinates (row-major over the batch
  // dimensions) times `batchStride` of each.
  auto setOffsets = [&](auto batchStride) {
    layout.batchOffsets.resize(batches);
    for (int64_t p = 0; p < batches; ++p) {
      int64_t offset = 0;
      for (int64_t i = static_cast<int64_t>(batch.size()) - 1, rest = p; i >= 0;
           --i) {
        offset += (rest % dims[batch[i]]) * batchStride(i);
        rest /= dims[batch[i]];
      }
      layout.batchOffsets[p] = offset;
    }
  };
  auto inPlace = [&](int64_t i) { return strides[batch[i]]; };
  std::optional<int64_t> rowStride = collapsedStride(dims, strides, rows, c);
  std::optional<int64_t> columnStride =
      collapsedStride(dims, strides, columns, 1);
  if (rowStride && columnStride && *columnStride == 1 &&
      *rowStride >= std::max<int64_t>(c, 1)) {
    layout.data = data, layout.transposed = false, layout.ld = *rowStride;
    return setOffsets(inPlace);
  }
  std::optional<int64_t> rowStrideT = collapsedStride(dims, strides, rows, 1);
  std::optional<int64_t> columnStrideT =
      collapsedStride(dims, strides, columns, r);
  if (rowStrideT && columnStrideT && *rowStrideT == 1 &&
      *columnStrideT >= std::max<int64_t>(r, 1)) {
    layout.data = data, layout.transposed = true, layout.ld = *columnStrideT;
    return setOffsets(inPlace);
  }
  Shape order(batch.begin(), batch.end());
  order.insert(order.end(), rows.begin(), rows.end());
  order.insert(order.end(), columns.begin(), columns.end());
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d)
    count *= dims[d];
  packed.resize(count);
  permute(data, dims, order, packed.data());
  layout.data = packed.data(), layout.transposed = false;
  layout.ld = std::max<int64_t>(c, 1);
  layout.batchOffsets.resize(batches);
  for (int64_t p = 0; p < batches; ++p)
    layout.batchOffsets[p] = p * r * c;
}

/// Both operands copied into [batch, m, k] and [batch, k, n] order (for
/// the integer and f64 contractions, which are not on the hot path).
template <typename T> struct PackedDot {
  std::vector<T> a, b;
  int64_t batches, m, k, n;
};

template <typename T>
PackedDot<T> packDot(const TensorView &lhs, const TensorView &rhs,
                     const DotDimensions &groups) {
  PackedDot<T> packed;
  packed.a.resize(lhs.numElements());
  packed.b.resize(rhs.numElements());
  std::vector<int64_t> lo = groups.lhsBatch, ro = groups.rhsBatch;
  lo.insert(lo.end(), groups.lhsFree.begin(), groups.lhsFree.end());
  lo.insert(lo.end(), groups.lhsContracting.begin(),
            groups.lhsContracting.end());
  ro.insert(ro.end(), groups.rhsContracting.begin(),
            groups.rhsContracting.end());
  ro.insert(ro.end(), groups.rhsFree.begin(), groups.rhsFree.end());
  permute(lhs.as<T>(), lhs.dims, lo, packed.a.data());
  permute(rhs.as<T>(), rhs.dims, ro, packed.b.data());
  packed.batches = product(lhs.dims, groups.lhsBatch);
  packed.m = product(lhs.dims, groups.lhsFree);
  packed.k = product(lhs.dims, groups.lhsContracting);
  packed.n = product(rhs.dims, groups.rhsFree);
  return packed;
}

template <typename T>
void integerDot(const TensorView &lhs, const TensorView &rhs,
                const TensorView &result, const DotDimensions &groups) {
  PackedDot<T> p = packDot<T>(lhs, rhs, groups);
  T *out = result.as<T>();
  for (int64_t q = 0; q < p.batches; ++q)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        int64_t sum = 0; // Wraps, then truncates to T's width.
        for (int64_t l = 0; l < p.k; ++l)
          sum = wrapAdd(sum, wrapMul(p.a[(q * p.m + i) * p.k + l],
                                     p.b[(q * p.k + l) * p.n + j]));
        out[(q * p.m + i) * p.n + j] = static_cast<T>(sum);
      }
}

/// f64: one dgemm per batch, in double throughout.
void doubleDot(const TensorView &lhs, const TensorView &rhs,
               const TensorView &result, const DotDimensions &groups) {
  PackedDot<double> p = packDot<double>(lhs, rhs, groups);
  double *out = result.as<double>();
  for (int64_t q = 0; q < p.batches; ++q)
    gemm({p.a.data() + q * p.m * p.k, false, p.k},
         {p.b.data() + q * p.k * p.n, false, p.n}, out + q * p.m * p.n, p.m,
         p.n, p.k, p.n);
}

/// The dot_general of `context` (two operands, one result); with an
/// epilogue where oneDNN's matmul may compute that too.
/// What a dot_general keeps between runs: oneDNN's state, its dimension
/// groups and the general path's buffers (reused: same sizes every run).
struct DotState : KernelState {
  std::unique_ptr<KernelState> oneDnn;
  absl::StatusOr<DotDimensions> groups;
  std::vector<float> lhsScratch, rhsScratch, lhsPacked, rhsPacked, out;
  OperandLayout a, b;
};

absl::Status dotAlone(KernelContext &context, const KernelEpilogue *epilogue) {
  std::unique_ptr<KernelState> local;
  DotState &state =
      keptState<DotState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<DotState>();
        fresh->groups = dotDimensions(context);
        return fresh;
      });
  if (std::optional<absl::Status> done =
          multiplyWithOneDnn(context, state.oneDnn, epilogue))
    return *done;
  const TensorView &lhs = context.operands[0], &rhs = context.operands[1];
  const TensorView &result = context.results[0];
  const absl::StatusOr<DotDimensions> &groups = state.groups;
  if (!groups.ok())
    return groups.status();
  const std::vector<int64_t> *lb = &groups->lhsBatch, *rb = &groups->rhsBatch,
                             *lc = &groups->lhsContracting,
                             *rc = &groups->rhsContracting;
  const std::vector<int64_t> &lf = groups->lhsFree, &rf = groups->rhsFree;
  if (lhs.type == proto::F64) {
    doubleDot(lhs, rhs, result, *groups);
    return absl::OkStatus();
  }
  if (!isFloatType(lhs.type)) {
    // Sums wrap at the type's width, as integer products do in ONNX.
    switch (lhs.type) {
    case proto::I32:
      integerDot<int32_t>(lhs, rhs, result, *groups);
      break;
    case proto::I64:
      integerDot<int64_t>(lhs, rhs, result, *groups);
      break;
    case proto::I8:
      integerDot<int8_t>(lhs, rhs, result, *groups);
      break;
    case proto::U8:
      integerDot<uint8_t>(lhs, rhs, result, *groups);
      break;
    case proto::I16:
      integerDot<int16_t>(lhs, rhs, result, *groups);
      break;
    case proto::U16:
      integerDot<uint16_t>(lhs, rhs, result, *groups);
      break;
    case proto::U32:
      integerDot<uint32_t>(lhs, rhs, result, *groups);
      break;
    case proto::U64: // The same bits as int64's wrapping sums.
      integerDot<int64_t>(lhs, rhs, result, *groups);
      break;
    default:
      return context.error("does not take bool operands");
    }
    return absl::OkStatus();
  }
  int64_t batches = product(lhs.dims, *lb), m = product(lhs.dims, lf),
          k = product(lhs.dims, *lc), n = product(rhs.dims, rf);
  OperandLayout &a = state.a, &b = state.b;
  layoutOperand(asFloats(lhs, state.lhsScratch), lhs.dims, *lb, lf, *lc,
                state.lhsPacked, a);
  layoutOperand(asFloats(rhs, state.rhsScratch), rhs.dims, *rb, *rc, rf,
                state.rhsPacked, b);
  float *c = result.as<float>();
  if (result.type != proto::F32) {
    state.out.resize(result.numElements());
    c = state.out.data();
  }
  if (batches == 1) {
    parallelGemm(context.pool, {a.data, a.transposed, a.ld},
                 {b.data, b.transposed, b.ld}, c, m, n, k);
  } else {
    context.pool.parallelFor(batches, 1, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p)
        gemmRows({a.data + a.batchOffsets[p], a.transposed, a.ld},
                 {b.data + b.batchOffsets[p], b.transposed, b.ld},
                 c + p * m * n, 0, m, n, k, n);
    });
  }
  storeFloats(result, c);
  return absl::OkStatus();
}

/// A convolution's geometry in two spatial dimensions (a 1-D one is 2-D
/// with height 1), when the input is not dilated: what the depthwise
/// kernel and the fast im2col take.
struct Plane {
  int64_t inH, inW, outH, outW, kH, kW;
  int64_t strideH, strideW, dilationH, dilationW, padH, padW;
};

std::optional<Plane> planeOf(const ConvolutionAttributes &a,
                             const std::vector<int64_t> &inSize,
                             const std::vector<int64_t> &outSize,
                             const std::vector<int64_t> &window) {
  size_t spatial = inSize.size();
  if (spatial < 1 || spatial > 2)
    return std::nullopt;
  for (int64_t dilation : a.lhsDilation)
    if (dilation != 1)
      return std::nullopt;
  size_t w = spatial - 1; // The last dimension; the first is the height.
  if (spatial == 1)
    return Plane{1, inSize[w],    1, outSize[w],       1, window[w],
                 1, a.strides[w], 1, a.rhsDilation[w], 0, a.padLow[w]};
  return Plane{inSize[0],        inSize[w],        outSize[0],   outSize[w],
               window[0],        window[w],        a.strides[0], a.strides[w],
               a.rhsDilation[0], a.rhsDilation[w], a.padLow[0],  a.padLow[w]};
}

/// One output plane of a depthwise convolution: `out` = the window `w`
/// (kH x kW) slid over the input plane `in`, row by row so that each output
/// row stays in cache while every tap adds into it.
void depthwisePlane(const float *in, const float *w, float *out,
                    const Plane &p) {
  for (int64_t oy = 0; oy < p.outH; ++oy) {
    float *row = out + oy * p.outW;
    std::fill(row, row + p.outW, 0.0f);
    for (int64_t ky = 0; ky < p.kH; ++ky) {
      int64_t iy = oy * p.strideH + ky * p.dilationH - p.padH;
      if (iy < 0 || iy >= p.inH)
        continue;
      for (int64_t kx = 0; kx < p.kW; ++kx) {
        float weight = w[ky * p.kW + kx];
        int64_t offset = kx * p.dilationW - p.padW;
        auto [first, last] = insideRange(offset, p.strideW, p.inW, p.outW);
        const float *source = in + iy * p.inW + offset;
        if (p.strideW == 1) {
          for (int64_t ox = first; ox < last; ++ox)
            row[ox] += weight * source[ox];
        } else {
          for (int64_t ox = first; ox < last; ++ox)
            row[ox] += weight * source[ox * p.strideW];
        }
      }
    }
  }
}

/// Rows [first, last) of the im2col matrix of one (image, group): row
/// (c, ky, kx) holds, for every output position, the input value that tap
/// multiplies (0 in the padding).
void im2colPlane(const float *source, float *columns, int64_t first,
                 int64_t last, const Plane &p) {
  int64_t taps = p.kH * p.kW, outPixels = p.outH * p.outW;
  for (int64_t r = first; r < last; ++r) {
    int64_t c = r / taps, ky = r % taps / p.kW, kx = r % p.kW;
    const float *plane = source + c * p.inH * p.inW;
    int64_t offset = kx * p.dilationW - p.padW;
    auto [begin, end] = insideRange(offset, p.strideW, p.inW, p.outW);
    for (int64_t oy = 0; oy < p.outH; ++oy) {
      float *target = columns + r * outPixels + oy * p.outW;
      int64_t iy = oy * p.strideH + ky * p.dilationH - p.padH;
      if (iy < 0 || iy >= p.inH) {
        std::fill(target, target + p.outW, 0.0f);
        continue;
      }
      const float *source = plane + iy * p.inW + offset;
      std::fill(target, target + begin, 0.0f);
      if (p.strideW == 1)
        std::copy(source + begin, source + end, target + begin);
      else
        for (int64_t ox = begin; ox < end; ++ox)
          target[ox] = source[ox * p.strideW];
      std::fill(target + end, target + p.outW, 0.0f);
    }
  }
}

/// The convolution of row-major views, where oneDNN does not take it.
absl::Status convolveRowMajor(KernelContext &context,
                              const ConvolutionAttributes &attributes) {
  const TensorView &input = context.operands[0], &kernel = context.operands[1];
  const TensorView &result = context.results[0];
  const std::vector<int64_t> *strides = &attributes.strides,
                             *padLow = &attributes.padLow,
                             *lhsDilation = &attributes.lhsDilation,
                             *rhsDilation = &attributes.rhsDilation;
  const int64_t *groups = &attributes.groups;
  int64_t spatial = input.rank() - 2;
  int64_t batch = input.dims[0], channels = input.dims[1];
  int64_t outChannels = kernel.dims[0];
  int64_t groupChannels = channels / *groups, groupOut = outChannels / *groups;
  std::vector<int64_t> inSize(input.dims.begin() + 2, input.dims.end());
  std::vector<int64_t> window(kernel.dims.begin() + 2, kernel.dims.end());
  std::vector<int64_t> outSize(result.dims.begin() + 2, result.dims.end());
  int64_t inPixels = std::accumulate(inSize.begin(), inSize.end(), int64_t(1),
                                     std::multiplies<int64_t>());
  int64_t windowSize = std::accumulate(window.begin(), window.end(), int64_t(1),
                                       std::multiplies<int64_t>());
  int64_t outPixels = std::accumulate(outSize.begin(), outSize.end(),
                                      int64_t(1), std::multiplies<int64_t>());
  int64_t rows = groupChannels * windowSize;

  std::vector<float> inputScratch, kernelScratch, out;
  const float *x = asFloats(input, inputScratch);
  const float *w = asFloats(kernel, kernelScratch);
  float *y = result.as<float>();
  if (result.type != proto::F32) {
    out.resize(result.numElements());
    y = out.data();
  }
  bool pointwise = windowSize == 1;
  for (int64_t d = 0; d < spatial; ++d)
    pointwise &= (*strides)[d] == 1 && (*padLow)[d] == 0 &&
                 (*lhsDilation)[d] == 1 && inSize[d] == outSize[d];

  std::optional<Plane> plane = planeOf(attributes, inSize, outSize, window);
  // Rows [first, last) of one (image, group)'s im2col matrix.
  auto im2col = [&](const float *source, float *columns, int64_t first,
                    int64_t last) {
    if (plane)
      return im2colPlane(source, columns, first, last, *plane);
    std::vector<int64_t> offset(spatial), outCoordinate(spatial);
    for (int64_t row = first; row < last; ++row) {
      int64_t c = row / windowSize, position = row % windowSize;
      for (int64_t d = spatial - 1; d >= 0; --d) {
        offset[d] = (position % window[d]) * (*rhsDilation)[d] - (*padLow)[d];
        position /= window[d];
      }
      float *target = columns + row * outPixels;
      const float *channelPlane = source + c * inPixels;
      std::fill(outCoordinate.begin(), outCoordinate.end(), 0);
      for (int64_t column = 0; column < outPixels; ++column) {
        int64_t index = 0;
        bool inside = true;
        for (int64_t d = 0; d < spatial && inside; ++d) {
          int64_t dilated = outCoordinate[d] * (*strides)[d] + offset[d];
          int64_t step = (*lhsDilation)[d];
          inside =
              dilated >= 0 && dilated % step == 0 && dilated / step < inSize[d];
          index = index * inSize[d] + dilated / step;
        }
        target[column] = inside ? channelPlane[index] : 0.0f;
        for (int64_t d = spatial - 1; d >= 0; --d) {
          if (++outCoordinate[d] < outSize[d])
            break;
          outCoordinate[d] = 0;
        }
      }
    }
  };

  if (plane && groupChannels == 1) {
    // Depthwise (every output channel reads one input channel): direct, one
    // output plane per task.
    context.pool.parallelFor(
        batch * outChannels, 1, [&](int64_t first, int64_t last) {
          for (int64_t i = first; i < last; ++i) {
            int64_t image = i / outChannels, o = i % outChannels;
            depthwisePlane(x + (image * channels + o / groupOut) * inPixels,
                           w + o * windowSize, y + i * outPixels, *plane);
          }
        });
  } else if (*groups > 1) {
    // Grouped: a small GEMM per (image, group), each on one thread.
    context.pool.parallelFor(
        batch * *groups, 1, [&](int64_t first, int64_t last) {
          std::vector<float> columns(pointwise ? 0 : rows * outPixels);
          for (int64_t i = first; i < last; ++i) {
            int64_t image = i / *groups, group = i % *groups;
            const float *source =
                x + (image * channels + group * groupChannels) * inPixels;
            if (!pointwise)
              im2col(source, columns.data(), 0, rows);
            gemm(Matrix{w + group * groupOut * rows, false, rows},
                 Matrix{pointwise ? source : columns.data(), false, outPixels},
                 y + (image * outChannels + group * groupOut) * outPixels,
                 groupOut, outPixels, rows, outPixels);
          }
        });
  } else {
    std::vector<float> columns(pointwise ? 0 : rows * outPixels);
    for (int64_t image = 0; image < batch; ++image) {
      const float *source = x + image * channels * inPixels;
      if (!pointwise)
        context.pool.parallelFor(rows, 4, [&](int64_t first, int64_t last) {
          im2col(source, columns.data(), first, last);
        });
      parallelGemm(
          context.pool, Matrix{w, false, rows},
          Matrix{pointwise ? source : columns.data(), false, outPixels},
          y + image * outChannels * outPixels, outChannels, outPixels, rows);
    }
  }
  storeFloats(result, y);
  return absl::OkStatus();
}

/// What a convolution keeps between runs: its layouts, its views with
/// logical dimensions, and oneDNN's state.
struct ConvolutionState : KernelState {
  absl::StatusOr<std::pair<bool, bool>> flags;
  std::unique_ptr<KernelState> oneDnn;
  std::optional<KernelContext> logical;
};

/// The convolution of `context` (its first two operands and first result)
/// and, where `epilogue` is given, oneDNN may compute that too (it says so
/// in epilogue->applied).
absl::Status convolveAlone(KernelContext &context,
                           const KernelEpilogue *epilogue) {
  if (!isFloatType(context.operands[0].type))
    return context.error("needs floating-point operands");
  std::unique_ptr<KernelState> local;
  ConvolutionState &state =
      keptState<ConvolutionState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<ConvolutionState>();
        // Which of input and result are channels-last (chosen at load).
        fresh->flags = channelsLastFlags(context);
        if (fresh->flags.ok())
          fresh->logical.emplace(
              context.instruction,
              std::vector<TensorView>{
                  channelsLastLogical(context.operands[0], fresh->flags->first),
                  context.operands[1]},
              std::vector<TensorView>{channelsLastLogical(
                  context.results[0], fresh->flags->second)},
              context.pool, &fresh->oneDnn);
        return fresh;
      });
  if (!state.flags.ok())
    return state.flags.status();
  auto [inputLast, resultLast] = *state.flags;
  KernelContext &logical = *state.logical;
  // A convolution oneDNN prepared on an earlier run parses nothing (and
  // never falls through to the paths below, which read the attributes).
  std::optional<ConvolutionAttributes> attributes;
  if (!oneDnnConvolutionPrepared(logical)) {
    absl::StatusOr<ConvolutionAttributes> parsed =
        convolutionAttributes(logical);
    if (!parsed.ok())
      return parsed.status();
    attributes = std::move(*parsed);
  }
  if (std::optional<absl::Status> done =
          convolveWithOneDnn(logical, attributes ? &*attributes : nullptr,
                             {inputLast, resultLast}, epilogue))
    return *done;
  if (!inputLast && !resultLast)
    return convolveRowMajor(logical, *attributes);
  // oneDNN declined a case the load-time choice expected it to take:
  // row-major copies around the general path.
  const TensorView &input = logical.operands[0], &result = logical.results[0];
  std::vector<char> inputCopy, resultCopy;
  TensorView rowInput = input, rowResult = result;
  if (inputLast) {
    inputCopy.resize(input.byteCount());
    copyChannelsLast(input, input.data, inputCopy.data(), false);
    rowInput.data = inputCopy.data();
  }
  if (resultLast) {
    resultCopy.resize(result.byteCount());
    rowResult.data = resultCopy.data();
  }
  KernelContext rowMajor(context.instruction, {rowInput, logical.operands[1]},
                         {rowResult}, context.pool);
  if (absl::Status status = convolveRowMajor(rowMajor, *attributes);
      !status.ok())
    return status;
  if (resultLast)
    copyChannelsLast(result, resultCopy.data(), result.data, true);
  return absl::OkStatus();
}

/// What runWithEpilogue builds at the first run: the kernel's own view of
/// the instruction, the epilogue, and the fusion to run apart when the
/// kernel does not compute it, each with its state.
struct SplitState : KernelState {
  absl::Status invalid;
  KernelEpilogue epilogue;
  std::unique_ptr<KernelState> kernelState, fusionState;
  std::optional<KernelContext> kernel;
  proto::Instruction fusion;
  std::optional<KernelContext> apart;
};

/// Runs a kernel whose own operands are the first `own` and whose result
/// the first, with the epilogue the host may have given it at load
/// (registerEpilogue: the fusion in Instruction.fusion, its operands after
/// the kernel's, its result second). Where `alone` does not compute the
/// epilogue itself, the fusion runs after it.
absl::Status runWithEpilogue(KernelContext &context, size_t own,
                             absl::Status (*alone)(KernelContext &,
                                                   const KernelEpilogue *)) {
  if (!context.instruction.has_fusion()) {
    if (context.operands.size() != own || context.results.size() != 1)
      return context.error(
          absl::StrCat("needs ", own, " operands and one result"));
    return alone(context, nullptr);
  }
  if (context.operands.size() < own || context.results.size() != 2)
    return context.error(absl::StrCat(
        "needs ", own, " operands and one result before its epilogue's"));
  std::unique_ptr<KernelState> local;
  SplitState &split =
      keptState<SplitState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<SplitState>();
        KernelEpilogue &epilogue = fresh->epilogue;
        absl::StatusOr<int64_t> operand = context.getInt("epilogue_operand");
        epilogue.fusion = &context.instruction.fusion();
        epilogue.operand = static_cast<int>(operand.value_or(-1));
        epilogue.operands.assign(context.operands.begin() + own,
                                 context.operands.end());
        epilogue.result = context.results[1];
        if (!operand.ok())
          fresh->invalid = operand.status();
        else if (epilogue.operand < 0 ||
                 epilogue.operand >= static_cast<int>(epilogue.operands.size()))
          fresh->invalid = context.error("epilogue_operand names no operand");
        fresh->kernel.emplace(
            context.instruction,
            std::vector<TensorView>(context.operands.begin(),
                                    context.operands.begin() + own),
            std::vector<TensorView>{context.results[0]}, context.pool,
            &fresh->kernelState);
        fresh->fusion.set_op("fusion");
        fresh->fusion.set_location(context.instruction.location());
        *fresh->fusion.mutable_fusion() = context.instruction.fusion();
        fresh->apart.emplace(fresh->fusion, epilogue.operands,
                             std::vector<TensorView>{epilogue.result},
                             context.pool, &fresh->fusionState);
        return fresh;
      });
  if (!split.invalid.ok())
    return split.invalid;
  split.epilogue.applied = false;
  if (absl::Status status = alone(*split.kernel, &split.epilogue); !status.ok())
    return status;
  if (split.epilogue.applied)
    return absl::OkStatus();
  return findKernel("fusion")(*split.apart);
}

absl::Status convolution(KernelContext &context) {
  return runWithEpilogue(context, 2, convolveAlone);
}

absl::Status dotGeneral(KernelContext &context) {
  return runWithEpilogue(context, 2, dotAlone);
}

/// Whether a dot_general takes `fusion` as its epilogue: oneDNN's matmul
/// computes the product and the fusion as post-ops.
bool dotTakesEpilogue(const KernelContext &dot, const proto::Fusion &fusion,
                      int operand, const std::vector<TensorView> &operands,
                      const TensorView &result) {
  return matmulShapeOf(dot) && postOpsTake(fusion, operand, operands, result);
}

/// Whether a convolution takes `fusion`, reading its result as operand
/// `operand`, as its epilogue: oneDNN computes it as post-ops.
bool convolutionTakesEpilogue(const KernelContext &convolution,
                              const proto::Fusion &fusion, int operand,
                              const std::vector<TensorView> &operands,
                              const TensorView &result) {
  absl::StatusOr<std::pair<bool, bool>> flags = channelsLastFlags(convolution);
  if (!flags.ok() || !flags->second)
    return false; // Post-ops write the result channels-last.
  return postOpsTake(fusion, operand, operands, result);
}

/// Input and result may be channels-last where oneDNN takes the
/// convolution: f32, 2-D, no input dilation, no negative padding.
void convolutionChannelsLastSlots(const KernelContext &logical,
                                  std::vector<bool> &operands,
                                  std::vector<bool> &results) {
  if (logical.operands.size() != 2 || logical.results.size() != 1)
    return;
  const TensorView &input = logical.operands[0];
  absl::StatusOr<ConvolutionAttributes> a = convolutionAttributes(logical);
  if (!a.ok() || input.type != proto::F32 || input.rank() != 4 ||
      logical.results[0].type != proto::F32)
    return;
  for (int d = 0; d < 2; ++d)
    if (a->lhsDilation[d] != 1 || a->padLow[d] < 0)
      return;
  operands[0] = true;
  results[0] = true;
}

} // namespace

absl::StatusOr<ConvolutionAttributes>
convolutionAttributes(const KernelContext &context) {
  if (context.operands.size() != 2 || context.results.size() != 1)
    return context.error("needs two operands and one result");
  ConvolutionAttributes window;
  if (absl::Status status =
          context.getIntLists({{"window_strides", &window.strides},
                               {"padding_low", &window.padLow},
                               {"lhs_dilation", &window.lhsDilation},
                               {"rhs_dilation", &window.rhsDilation}});
      !status.ok())
    return status;
  absl::StatusOr<int64_t> groups = context.getInt("feature_group_count");
  if (!groups.ok())
    return groups.status();
  window.groups = *groups;
  const TensorView &input = context.operands[0], &kernel = context.operands[1];
  size_t spatial = input.dims.size() < 2 ? 0 : input.dims.size() - 2;
  if (input.rank() < 2 || kernel.rank() != input.rank() ||
      context.results[0].rank() != input.rank() || window.groups < 1 ||
      input.dims[1] % window.groups || kernel.dims[0] % window.groups ||
      window.strides.size() != spatial || window.padLow.size() != spatial ||
      window.lhsDilation.size() != spatial ||
      window.rhsDilation.size() != spatial)
    return context.error("operand ranks and window attributes do not agree");
  return window;
}

absl::StatusOr<DotDimensions> dotDimensions(const KernelContext &context) {
  if (context.operands.size() != 2)
    return context.error("needs two operands");
  DotDimensions groups;
  if (absl::Status status = context.getIntLists(
          {{"lhs_batching_dimensions", &groups.lhsBatch},
           {"rhs_batching_dimensions", &groups.rhsBatch},
           {"lhs_contracting_dimensions", &groups.lhsContracting},
           {"rhs_contracting_dimensions", &groups.rhsContracting}});
      !status.ok())
    return status;
  auto freeDims = [](int64_t rank, const std::vector<int64_t> &a,
                     const std::vector<int64_t> &b) {
    std::vector<int64_t> free;
    for (int64_t d = 0; d < rank; ++d)
      if (std::find(a.begin(), a.end(), d) == a.end() &&
          std::find(b.begin(), b.end(), d) == b.end())
        free.push_back(d);
    return free;
  };
  groups.lhsFree = freeDims(context.operands[0].rank(), groups.lhsBatch,
                            groups.lhsContracting);
  groups.rhsFree = freeDims(context.operands[1].rank(), groups.rhsBatch,
                            groups.rhsContracting);
  return groups;
}

void registerContractionKernels() {
  registerKernel("dot_general", dotGeneral, Wide::Taken);
  registerKernel("convolution", convolution);
  registerChannelsLast("convolution",
                       {convolutionChannelsLastSlots, setChannelsLastFlags,
                        /*prefers=*/true});
  registerEpilogue("convolution", convolutionTakesEpilogue);
  registerEpilogue("dot_general", dotTakesEpilogue);
}

} // namespace tessel::kernels
