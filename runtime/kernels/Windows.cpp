//===- Windows.cpp - Pools and resize -------------------------------------===//

#include <cmath>

#include "absl/strings/str_cat.h"
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
  for (auto [name, field] :
       {std::make_pair("window_dimensions", &pool.window),
        std::make_pair("window_strides", &pool.strides),
        std::make_pair("window_dilations", &pool.dilations),
        std::make_pair("padding_low", &pool.padLow),
        std::make_pair("padding_high", &pool.padHigh)}) {
    absl::StatusOr<std::vector<int64_t>> values = context.getInts(name);
    if (!values.ok())
      return values.status();
    *field = std::move(*values);
  }
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

/// Output rows [firstRow, lastRow) (over images x rows) of a 2-D f32 pool
/// on channels-last tensors: each tap adds a run of all channels.
template <bool isMax>
void poolRowsChannelsLast(const float *in, float *out, int64_t channels,
                          const int64_t *inSize, const int64_t *outSize,
                          const int64_t *window, const int64_t *strides,
                          const int64_t *dilations, const int64_t *padLow,
                          const int64_t *padHigh, bool countPadding,
                          const int64_t *columnsCounted, int64_t firstRow,
                          int64_t lastRow) {
  int64_t inH = inSize[0], inW = inSize[1], outH = outSize[0],
          outW = outSize[1];
  for (int64_t r = firstRow; r < lastRow; ++r) {
    int64_t oy = r % outH;
    const float *image = in + r / outH * inH * inW * channels;
    int64_t rowsCounted = 0;
    for (int64_t ky = 0; ky < window[0]; ++ky) {
      int64_t iy = oy * strides[0] + ky * dilations[0] - padLow[0];
      rowsCounted += countPadding ? iy < inH + padHigh[0] : iy >= 0 && iy < inH;
    }
    for (int64_t ox = 0; ox < outW; ++ox) {
      float *o = out + (r * outW + ox) * channels;
      std::fill(o, o + channels, isMax ? -INFINITY : 0.0f);
      for (int64_t ky = 0; ky < window[0]; ++ky) {
        int64_t iy = oy * strides[0] + ky * dilations[0] - padLow[0];
        if (iy < 0 || iy >= inH)
          continue;
        for (int64_t kx = 0; kx < window[1]; ++kx) {
          int64_t ix = ox * strides[1] + kx * dilations[1] - padLow[1];
          if (ix < 0 || ix >= inW)
            continue;
          const float *x = image + (iy * inW + ix) * channels;
          for (int64_t c = 0; c < channels; ++c) {
            if (isMax)
              o[c] = (x[c] > o[c] || std::isnan(x[c])) ? x[c] : o[c];
            else
              o[c] += x[c];
          }
        }
      }
      if (isMax)
        continue;
      int64_t counted = rowsCounted * columnsCounted[ox];
      for (int64_t c = 0; c < channels; ++c)
        o[c] = counted ? o[c] / counted : 0.0f;
    }
  }
}

template <bool isMax> absl::Status poolKernel(KernelContext &context);

/// A pool whose operand or result the host keeps channels-last: both
/// channels-last runs as such; a mix goes through a row-major copy.
template <bool isMax>
absl::Status poolChannelsLast(KernelContext &context, bool inLast,
                              bool outLast) {
  TensorView in = channelsLastLogical(context.operands[0], inLast);
  TensorView out = channelsLastLogical(context.results[0], outLast);
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
  absl::StatusOr<PoolWindow> pool = poolWindow(context, isMax);
  if (!pool.ok())
    return pool.status();
  for (const std::vector<int64_t> *list :
       {&pool->window, &pool->strides, &pool->dilations, &pool->padLow,
        &pool->padHigh})
    if (list->size() != 2)
      return context.error("a channels-last pool is 2-D");
  int64_t inSize[2] = {in.dims[2], in.dims[3]};
  int64_t outSize[2] = {out.dims[2], out.dims[3]};
  std::vector<int64_t> columns = columnsCounted(*pool, inSize[1], outSize[1]);
  context.pool.parallelFor(
      out.dims[0] * outSize[0], 1, [&](int64_t first, int64_t last) {
        poolRowsChannelsLast<isMax>(
            in.as<float>(), out.as<float>(), in.dims[1], inSize, outSize,
            pool->window.data(), pool->strides.data(), pool->dilations.data(),
            pool->padLow.data(), pool->padHigh.data(), pool->countPadding,
            columns.data(), first, last);
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
  absl::StatusOr<std::pair<bool, bool>> layouts = channelsLastFlags(context);
  if (!layouts.ok())
    return layouts.status();
  if (layouts->first || layouts->second)
    return poolChannelsLast<isMax>(context, layouts->first, layouts->second);
  absl::StatusOr<PoolWindow> pool = poolWindow(context, isMax);
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
