//===- Windows.cpp - Pools and resize -------------------------------------===//

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/kernels/CpuClones.h"
#include "runtime/kernels/KernelContext.h"

namespace tessel::kernels {
namespace {

/// One f32 plane of a 2-D pool, row by row: each output row takes every
/// tap's inside part (insideRange) in turn, as the depthwise convolution
/// does. `columnsCounted` (average pools): per output column, how many of
/// its window's columns count towards the divisor.
template <bool isMax>
void poolPlane(const float *in, float *out, const int64_t *inSize,
               const int64_t *outSize, const int64_t *window,
               const int64_t *strides, const int64_t *dilations,
               const int64_t *padLow, const int64_t *padHigh, bool countPadding,
               const int64_t *columnsCounted) {
  int64_t inH = inSize[0], inW = inSize[1], outW = outSize[1];
  for (int64_t oy = 0; oy < outSize[0]; ++oy) {
    float *row = out + oy * outW;
    std::fill(row, row + outW, isMax ? -INFINITY : 0.0f);
    int64_t rowsCounted = 0;
    for (int64_t ky = 0; ky < window[0]; ++ky) {
      int64_t iy = oy * strides[0] + ky * dilations[0] - padLow[0];
      rowsCounted += countPadding ? iy < inH + padHigh[0] : iy >= 0 && iy < inH;
      if (iy < 0 || iy >= inH)
        continue;
      for (int64_t kx = 0; kx < window[1]; ++kx) {
        int64_t offset = kx * dilations[1] - padLow[1];
        auto [first, last] = insideRange(offset, strides[1], inW, outW);
        const float *source = in + iy * inW + offset;
        for (int64_t ox = first; ox < last; ++ox) {
          float x = source[ox * strides[1]];
          if (isMax)
            row[ox] = (x > row[ox] || std::isnan(x)) ? x : row[ox];
          else
            row[ox] += x;
        }
      }
    }
    if (isMax)
      continue;
    for (int64_t ox = 0; ox < outW; ++ox) {
      int64_t counted = rowsCounted * columnsCounted[ox];
      row[ox] = counted ? row[ox] / counted : 0.0f;
    }
  }
}

/// A pool's window attributes, and whether an average counts padding.
struct PoolWindow {
  std::vector<int64_t> window, strides, dilations, padLow, padHigh;
  bool countPadding = false;
};

absl::StatusOr<PoolWindow> poolWindow(const KernelContext &context,
                                      bool isMax) {
  PoolWindow pool;
  if (absl::Status status =
          context.getIntLists({{"window_dimensions", &pool.window},
                               {"window_strides", &pool.strides},
                               {"window_dilations", &pool.dilations},
                               {"padding_low", &pool.padLow},
                               {"padding_high", &pool.padHigh}});
      !status.ok())
    return status;
  if (!isMax && context.has("count_include_pad")) {
    absl::StatusOr<int64_t> flag = context.getInt("count_include_pad");
    if (!flag.ok())
      return flag.status();
    pool.countPadding = *flag != 0;
  }
  return pool;
}

/// Per output column of a 2-D pool: how many of its window's columns count
/// towards an average's divisor (the same for every plane and row).
std::vector<int64_t> columnsCounted(const PoolWindow &pool, int64_t inW,
                                    int64_t outW) {
  std::vector<int64_t> counted(outW, 0);
  for (int64_t ox = 0; ox < outW; ++ox)
    for (int64_t kx = 0; kx < pool.window[1]; ++kx) {
      int64_t ix =
          ox * pool.strides[1] + kx * pool.dilations[1] - pool.padLow[1];
      counted[ox] +=
          pool.countPadding ? ix < inW + pool.padHigh[1] : ix >= 0 && ix < inW;
    }
  return counted;
}

/// Sixteen floats, a block of channels a channels-last pool keeps in
/// registers while it walks a window (GCC's and Clang's vector extension:
/// one AVX-512 register, two AVX ones, four SSE ones, so that one source
/// serves every clone below).
typedef float Floats16 __attribute__((vector_size(64)));
constexpr int64_t kPoolBlock = 16;

/// A channels-last 2-D f32 pool: its tensors and window.
struct ChannelsLastPool {
  const float *in;
  float *out;
  int64_t channels, inH, inW, outH, outW;
  const PoolWindow *window;
  const int64_t *columnsCounted; // per output column, for an average
};

/// Output rows [firstRow, lastRow) (over images x rows) of `pool`: per
/// output pixel and block of channels, each tap of the window folds a run of
/// channels into an accumulator that stays in registers. A maximum keeps
/// NaNs apart and returns NaN where one was seen (ONNX's MaxPool propagates
/// them), so that its fold is a plain vector maximum.
template <bool isMax>
__attribute__((always_inline)) inline void
poolRows(const ChannelsLastPool &pool, int64_t firstRow, int64_t lastRow) {
  const PoolWindow &w = *pool.window;
  int64_t channels = pool.channels, inH = pool.inH, inW = pool.inW;
  const float initial = isMax ? -INFINITY : 0.0f;
  auto fold = [](auto acc, auto x, auto &nan) {
    if constexpr (isMax) {
      nan = x != x ? x : nan;
      return x > acc ? x : acc;
    } else {
      return acc + x;
    }
  };
  for (int64_t r = firstRow; r < lastRow; ++r) {
    int64_t oy = r % pool.outH;
    const float *image = pool.in + r / pool.outH * inH * inW * channels;
    // The window's rows inside the image (a range: taps move monotonically),
    // and how many an average counts.
    int64_t rowsCounted = 0, kyFirst = w.window[0], kyLast = 0;
    for (int64_t ky = 0; ky < w.window[0]; ++ky) {
      int64_t iy = oy * w.strides[0] + ky * w.dilations[0] - w.padLow[0];
      rowsCounted +=
          w.countPadding ? iy < inH + w.padHigh[0] : iy >= 0 && iy < inH;
      if (iy >= 0 && iy < inH) {
        kyFirst = std::min(kyFirst, ky);
        kyLast = ky + 1;
      }
    }
    for (int64_t ox = 0; ox < pool.outW; ++ox) {
      float *o = pool.out + (r * pool.outW + ox) * channels;
      int64_t kxFirst = w.window[1], kxLast = 0;
      for (int64_t kx = 0; kx < w.window[1]; ++kx) {
        int64_t ix = ox * w.strides[1] + kx * w.dilations[1] - w.padLow[1];
        if (ix >= 0 && ix < inW) {
          kxFirst = std::min(kxFirst, kx);
          kxLast = kx + 1;
        }
      }
      // Blocks of channels, then the channels left, one at a time.
      auto channelRun = [&](auto zero, int64_t c) {
        using T = decltype(zero);
        T acc = zero + initial, nan = zero;
        for (int64_t ky = kyFirst; ky < kyLast; ++ky) {
          int64_t iy = oy * w.strides[0] + ky * w.dilations[0] - w.padLow[0];
          for (int64_t kx = kxFirst; kx < kxLast; ++kx) {
            int64_t ix = ox * w.strides[1] + kx * w.dilations[1] - w.padLow[1];
            T x;
            std::memcpy(&x, image + (iy * inW + ix) * channels + c, sizeof x);
            acc = fold(acc, x, nan);
          }
        }
        if constexpr (isMax)
          acc = nan != nan ? nan : acc;
        std::memcpy(o + c, &acc, sizeof acc);
      };
      int64_t c = 0;
      for (; c + kPoolBlock <= channels; c += kPoolBlock)
        channelRun(Floats16{}, c);
      for (; c < channels; ++c)
        channelRun(0.0f, c);
      if (isMax)
        continue;
      int64_t counted = rowsCounted * pool.columnsCounted[ox];
      for (int64_t t = 0; t < channels; ++t)
        o[t] = counted ? o[t] / static_cast<float>(counted) : 0.0f;
    }
  }
}

// One clone per vector width, chosen at load by the CPU (the executable and
// the binaries stay portable).
TESSEL_CPU_CLONES
void maxPoolRows(const ChannelsLastPool &pool, int64_t first, int64_t last) {
  poolRows<true>(pool, first, last);
}
TESSEL_CPU_CLONES
void averagePoolRows(const ChannelsLastPool &pool, int64_t first,
                     int64_t last) {
  poolRows<false>(pool, first, last);
}

template <bool isMax> absl::Status poolKernel(KernelContext &context);

/// A pool whose operand or result the host keeps channels-last: both
/// channels-last runs as such; a mix goes through a row-major copy.
/// What a pool keeps between runs: its layouts and window, and for a
/// channels-last one its views with logical dimensions and the taps
/// counted per output column.
struct PoolState : KernelState {
  absl::StatusOr<std::pair<bool, bool>> layouts;
  absl::StatusOr<PoolWindow> window;
  TensorView in, out;
  std::vector<int64_t> columns;
};

template <bool isMax>
absl::Status poolChannelsLast(KernelContext &context, PoolState &state) {
  auto [inLast, outLast] = *state.layouts;
  const TensorView &in = state.in, &out = state.out;
  std::vector<char> inCopy, outCopy;
  if (inLast != outLast) {
    TensorView rowIn = in, rowOut = out;
    if (inLast) {
      inCopy.resize(in.byteCount());
      copyChannelsLast(in, in.data, inCopy.data(), false);
      rowIn.data = inCopy.data();
    } else {
      outCopy.resize(out.byteCount());
      rowOut.data = outCopy.data();
    }
    proto::Instruction plain = context.instruction;
    plain.mutable_attributes()->erase("channels_last");
    KernelContext rowMajor(plain, {rowIn}, {rowOut}, context.pool);
    if (absl::Status status = poolKernel<isMax>(rowMajor); !status.ok())
      return status;
    if (outLast)
      copyChannelsLast(out, outCopy.data(), out.data, true);
    return absl::OkStatus();
  }
  const absl::StatusOr<PoolWindow> &pool = state.window;
  if (!pool.ok())
    return pool.status();
  for (const std::vector<int64_t> *list :
       {&pool->window, &pool->strides, &pool->dilations, &pool->padLow,
        &pool->padHigh})
    if (list->size() != 2)
      return context.error("a channels-last pool is 2-D");
  ChannelsLastPool rows{in.as<float>(), out.as<float>(), in.dims[1],
                        in.dims[2],     in.dims[3],      out.dims[2],
                        out.dims[3],    &*pool,          nullptr};
  if (state.columns.empty())
    state.columns = columnsCounted(*pool, rows.inW, rows.outW);
  rows.columnsCounted = state.columns.data();
  context.pool.parallelFor(out.dims[0] * rows.outH, 1,
                           [&](int64_t first, int64_t last) {
                             if (isMax)
                               maxPoolRows(rows, first, last);
                             else
                               averagePoolRows(rows, first, last);
                           });
  return absl::OkStatus();
}

/// 2-D f32 pools take channels-last operands and results.
void poolChannelsLastSlots(const KernelContext &logical,
                           std::vector<bool> &operands,
                           std::vector<bool> &results) {
  if (logical.operands.size() != 1 || logical.results.size() != 1)
    return;
  const TensorView &in = logical.operands[0], &out = logical.results[0];
  bool fits = in.rank() == 4 && out.rank() == 4 && in.type == proto::F32 &&
              out.type == proto::F32;
  operands[0] = fits;
  results[0] = fits;
}

template <bool isMax> absl::Status poolKernel(KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 1)
    return context.error("needs one operand and one result");
  std::unique_ptr<KernelState> local;
  PoolState &state =
      keptState<PoolState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<PoolState>();
        fresh->layouts = channelsLastFlags(context);
        fresh->window = poolWindow(context, isMax);
        if (fresh->layouts.ok()) {
          fresh->in =
              channelsLastLogical(context.operands[0], fresh->layouts->first);
          fresh->out =
              channelsLastLogical(context.results[0], fresh->layouts->second);
        }
        return fresh;
      });
  if (!state.layouts.ok())
    return state.layouts.status();
  if (state.layouts->first || state.layouts->second)
    return poolChannelsLast<isMax>(context, state);
  const absl::StatusOr<PoolWindow> &pool = state.window;
  if (!pool.ok())
    return pool.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  int64_t spatial = in.rank() - 2;
  std::vector<int64_t> inSize(in.dims.begin() + 2, in.dims.end());
  std::vector<int64_t> outSize(out.dims.begin() + 2, out.dims.end());
  int64_t inPixels = 1, outPixels = 1, windowSize = 1;
  for (int64_t d = 0; d < spatial; ++d) {
    inPixels *= inSize[d];
    outPixels *= outSize[d];
    windowSize *= pool->window[d];
  }
  int64_t planes = in.dims[0] * in.dims[1];
  if (spatial == 2 && in.type == proto::F32) {
    // The same for every plane and output row: computed once.
    std::vector<int64_t> columns = columnsCounted(*pool, inSize[1], outSize[1]);
    context.pool.parallelFor(planes, 1, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p)
        poolPlane<isMax>(
            in.as<float>() + p * inPixels, out.as<float>() + p * outPixels,
            inSize.data(), outSize.data(), pool->window.data(),
            pool->strides.data(), pool->dilations.data(), pool->padLow.data(),
            pool->padHigh.data(), pool->countPadding, columns.data());
    });
    return absl::OkStatus();
  }
  context.pool.parallelFor(
      planes * outPixels, 256, [&](int64_t first, int64_t last) {
        std::vector<int64_t> o, k(spatial);
        for (int64_t index = first; index < last; ++index) {
          int64_t plane = index / outPixels;
          unravel(index % outPixels, outSize, o);
          float best = -INFINITY;
          double sum = 0;
          int64_t counted = 0;
          for (int64_t w = 0; w < windowSize; ++w) {
            int64_t rest = w, offset = 0;
            bool inside = true, inPadding = true;
            for (int64_t d = spatial - 1; d >= 0; --d) {
              k[d] = rest % pool->window[d];
              rest /= pool->window[d];
            }
            for (int64_t d = 0; d < spatial; ++d) {
              int64_t position = o[d] * pool->strides[d] +
                                 k[d] * pool->dilations[d] - pool->padLow[d];
              inside &= position >= 0 && position < inSize[d];
              inPadding &= position >= -pool->padLow[d] &&
                           position < inSize[d] + pool->padHigh[d];
              offset = offset * inSize[d] + position;
            }
            if (inside) {
              float x = loadFloat(in.data, in.type, plane * inPixels + offset);
              if (isMax)
                best = (x > best || std::isnan(x)) ? x : best;
              else
                sum += x;
            }
            counted += pool->countPadding ? inPadding : inside;
          }
          float value =
              isMax ? best : static_cast<float>(counted ? sum / counted : 0.0);
          storeFloat(out.data, out.type, index, value);
        }
      });
  return absl::OkStatus();
}

absl::Status resizeKernel(KernelContext &context) {
  absl::StatusOr<std::vector<std::vector<ResizeTap>>> taps =
      resizeTaps(context);
  if (!taps.ok())
    return taps.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  int64_t rank = in.rank();
  std::vector<const ResizeTap *> perDimension;
  for (const std::vector<ResizeTap> &dimension : *taps)
    perDimension.push_back(dimension.data());
  std::vector<int64_t> inStrides = in.strides();
  context.pool.parallelFor(
      out.numElements(), 1024, [&](int64_t first, int64_t last) {
        std::vector<int64_t> o;
        for (int64_t index = first; index < last; ++index) {
          unravel(index, out.dims, o);
          double value = resizeAt(rank, o.data(), perDimension.data(),
                                  inStrides.data(), [&](int64_t offset) {
                                    return loadFloat(in.data, in.type, offset);
                                  });
          storeFloat(out.data, out.type, index, static_cast<float>(value));
        }
      });
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<std::vector<std::vector<ResizeTap>>>
resizeTaps(const KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 1)
    return context.error("needs one operand and one result");
  absl::StatusOr<std::string> mode = context.getString("mode");
  absl::StatusOr<std::string> transform =
      context.getString("coordinate_transform");
  absl::StatusOr<std::string> nearest = context.getString("nearest_mode");
  absl::StatusOr<std::vector<double>> scales = context.getFloats("scales");
  for (auto *status : {&mode, &transform, &nearest})
    if (!status->ok())
      return status->status();
  if (!scales.ok())
    return scales.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  int64_t rank = in.rank();
  if (out.rank() != rank || static_cast<int64_t>(scales->size()) != rank)
    return context.error("scales and result must have the operand's rank");
  bool linear = *mode == "linear";
  std::vector<std::vector<ResizeTap>> taps(rank);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t inLength = in.dims[d], outLength = out.dims[d];
    double scale = (*scales)[d];
    for (int64_t o = 0; o < outLength; ++o) {
      double x;
      if (*transform == "half_pixel")
        x = (o + 0.5) / scale - 0.5;
      else if (*transform == "pytorch_half_pixel")
        x = outLength > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
      else if (*transform == "align_corners")
        // ONNX takes the unrounded output length in * scale here.
        x = inLength * scale == 1.0 ? 0.0
                                    : o * static_cast<double>(inLength - 1) /
                                          (inLength * scale - 1);
      else if (*transform == "asymmetric")
        x = o / scale;
      else if (*transform == "tf_half_pixel_for_nn")
        x = (o + 0.5) / scale;
      else
        return context.error(
            absl::StrCat("unknown coordinate transform '", *transform, "'"));
      auto clamp = [&](int64_t i) {
        return std::min<int64_t>(std::max<int64_t>(i, 0), inLength - 1);
      };
      if (linear) {
        double base = std::floor(x);
        taps[d].push_back({clamp(static_cast<int64_t>(base)),
                           clamp(static_cast<int64_t>(base) + 1),
                           static_cast<float>(x - base)});
        continue;
      }
      double rounded;
      double fraction = x - std::floor(x);
      if (*nearest == "floor")
        rounded = std::floor(x);
      else if (*nearest == "ceil")
        rounded = std::ceil(x);
      else if (*nearest == "round_prefer_ceil")
        rounded = fraction == 0.5 ? std::ceil(x) : std::round(x);
      else
        rounded = fraction == 0.5 ? std::floor(x) : std::round(x);
      int64_t index = clamp(static_cast<int64_t>(rounded));
      taps[d].push_back({index, index, 0.0f});
    }
  }
  return taps;
}

void registerWindowKernels() {
  registerKernel("max_pool", poolKernel<true>);
  registerKernel("avg_pool", poolKernel<false>);
  for (const char *pool : {"max_pool", "avg_pool"})
    registerChannelsLast(pool, {poolChannelsLastSlots, setChannelsLastFlags});
  registerKernel("resize", resizeKernel);
}

} // namespace tessel::kernels
