//===- DataMovement.cpp - Transpose, slice, concatenate, pad, gather... ---===//
//
// Type-agnostic: elements move as 1, 2, 4 or 8 bytes. Transpose, slice and
// reverse are one primitive, an affine copy: output element (o_0, ..., o_n)
// reads input offset base + sum(o_d * stride_d), walked in runs along the
// innermost output dimension.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::kernels {
namespace {

/// out[o] = in[base + sum(o_d * strides_d)], in parallel.
void affineCopy(ThreadPool &pool, const TensorView &out, const void *in,
                int64_t base, absl::Span<const int64_t> strides) {
  int64_t bytes = byteSize(out.type);
  const void *start = static_cast<const char *>(in) + base * bytes;
  Shape outStrides = rowMajorStrides(out.dims);
  pool.parallelFor(out.numElements(), 1 << 14,
                   [&](int64_t first, int64_t last) {
                     stridedCopy(bytes, out.dims, out.data, outStrides, start,
                                 strides, first, last);
                   });
}

absl::Status checkUnary(KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 1)
    return context.error("needs one operand and one result");
  if (context.operands[0].type != context.results[0].type)
    return context.error("operand and result types differ");
  return absl::OkStatus();
}

/// A copy out[o] = in[base + sum(o_d * strides_d)] (a transpose, slice or
/// reverse), worked out from the attributes at the first run.
struct AffineState : KernelState {
  absl::Status invalid;
  int64_t base = 0;
  Shape strides;
};

/// Runs the affine copy `plan` sets up (from `context`'s attributes and
/// its operand's row-major strides).
template <typename Plan>
absl::Status runAffine(KernelContext &context, Plan plan) {
  if (absl::Status status = checkUnary(context); !status.ok())
    return status;
  std::unique_ptr<KernelState> local;
  AffineState &state =
      keptState<AffineState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<AffineState>();
        fresh->invalid = plan(rowMajorStrides(context.operands[0].dims),
                              fresh->base, fresh->strides);
        return fresh;
      });
  if (!state.invalid.ok())
    return state.invalid;
  affineCopy(context.pool, context.results[0], context.operands[0].data,
             state.base, state.strides);
  return absl::OkStatus();
}

absl::Status transposeKernel(KernelContext &context) {
  return runAffine(
      context,
      [&](const Shape &inStrides, int64_t &, Shape &strides) -> absl::Status {
        absl::StatusOr<std::vector<int64_t>> permutation =
            context.getInts("permutation");
        if (!permutation.ok())
          return permutation.status();
        for (int64_t d : *permutation)
          strides.push_back(inStrides[d]);
        return absl::OkStatus();
      });
}

absl::Status sliceKernel(KernelContext &context) {
  return runAffine(context,
                   [&](const Shape &inStrides, int64_t &base,
                       Shape &strides) -> absl::Status {
                     absl::StatusOr<std::vector<int64_t>> starts =
                         context.getInts("start_indices");
                     absl::StatusOr<std::vector<int64_t>> steps =
                         context.getInts("strides");
                     if (!starts.ok())
                       return starts.status();
                     if (!steps.ok())
                       return steps.status();
                     for (size_t d = 0; d < inStrides.size(); ++d) {
                       base += (*starts)[d] * inStrides[d];
                       strides.push_back((*steps)[d] * inStrides[d]);
                     }
                     return absl::OkStatus();
                   });
}

absl::Status reverseKernel(KernelContext &context) {
  return runAffine(context,
                   [&](const Shape &inStrides, int64_t &base,
                       Shape &strides) -> absl::Status {
                     absl::StatusOr<std::vector<int64_t>> dimensions =
                         context.getInts("dimensions");
                     if (!dimensions.ok())
                       return dimensions.status();
                     const TensorView &in = context.operands[0];
                     strides = inStrides;
                     for (int64_t d : *dimensions) {
                       base += (in.dims[d] - 1) * strides[d];
                       strides[d] = -strides[d];
                     }
                     return absl::OkStatus();
                   });
}

absl::Status concatenateKernel(KernelContext &context) {
  if (context.results.size() != 1)
    return context.error("needs one result");
  absl::StatusOr<int64_t> dimension = context.getInt("dimension");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &result = context.results[0];
  int64_t elementSize = byteSize(result.type);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < *dimension; ++d)
    outer *= result.dims[d];
  for (int64_t d = *dimension + 1; d < result.rank(); ++d)
    inner *= result.dims[d];
  int64_t outRow = result.dims[*dimension] * inner * elementSize;
  int64_t offset = 0;
  for (const TensorView &operand : context.operands) {
    int64_t chunk = operand.dims[*dimension] * inner * elementSize;
    const char *source = static_cast<const char *>(operand.data);
    char *target = static_cast<char *>(result.data) + offset;
    context.pool.parallelFor(
        outer, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(chunk, 1)),
        [&](int64_t first, int64_t last) {
          for (int64_t o = first; o < last; ++o)
            std::memcpy(target + o * outRow, source + o * chunk, chunk);
        });
    offset += chunk;
  }
  return absl::OkStatus();
}

/// A pad's attributes, parsed at the first run.
struct PadState : KernelState {
  absl::StatusOr<PadAttributes> pad;
};

absl::Status padKernel(KernelContext &context) {
  if (absl::Status status = checkUnary(context); !status.ok())
    return status;
  std::unique_ptr<KernelState> local;
  const absl::StatusOr<PadAttributes> &pad =
      keptState<PadState>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<PadState>();
        fresh->pad = padAttributes(context);
        return fresh;
      }).pad;
  if (!pad.ok())
    return pad.status();
  const std::vector<int64_t> *low = &pad->low, *interior = &pad->interior;
  const std::vector<int64_t> &limits = pad->limits;
  const double *value = &pad->value;
  const TensorView &in = context.operands[0], &out = context.results[0];
  int64_t elementSize = byteSize(out.type);
  char padding[8];
  encodeScalar(out.type, *value, padding);
  Shape inStrides = rowMajorStrides(in.dims);
  int64_t rank = out.rank();
  if (rank > 0 && std::all_of(interior->begin(), interior->end(),
                              [](int64_t i) { return i == 0; })) {
    // No interior padding: each output row (along the last dimension) is
    // padding, or padding, a run of an input row, padding.
    int64_t width = out.dims[rank - 1];
    int64_t rows = width ? out.numElements() / width : 0;
    int64_t begin = std::clamp<int64_t>((*low)[rank - 1], 0, width);
    int64_t end =
        std::clamp<int64_t>((*low)[rank - 1] + limits[rank - 1], 0, width);
    if (end < begin)
      end = begin;
    bool zeroPadding = std::all_of(padding, padding + elementSize,
                                   [](char c) { return c == 0; });
    auto fill = [&](char *at, int64_t count) {
      if (zeroPadding) {
        std::memset(at, 0, count * elementSize);
        return;
      }
      for (int64_t i = 0; i < count; ++i)
        std::memcpy(at + i * elementSize, padding, elementSize);
    };
    Shape rowDims(out.dims.begin(), out.dims.end() - 1);
    context.pool.parallelFor(
        rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(width, 1)),
        [&](int64_t first, int64_t last) {
          Shape coordinates;
          unravel(first, rowDims, coordinates);
          char *target = static_cast<char *>(out.data);
          const char *source = static_cast<const char *>(in.data);
          for (int64_t r = first; r < last; ++r) {
            char *row = target + r * width * elementSize;
            int64_t offset = 0;
            bool inside = true;
            for (int64_t d = 0; d + 1 < rank && inside; ++d) {
              int64_t shifted = coordinates[d] - (*low)[d];
              inside = shifted >= 0 && shifted < limits[d];
              offset += shifted * inStrides[d];
            }
            if (!inside || begin == end) {
              fill(row, width);
            } else {
              fill(row, begin);
              offset += begin - (*low)[rank - 1];
              std::memcpy(row + begin * elementSize,
                          source + offset * elementSize,
                          (end - begin) * elementSize);
              fill(row + end * elementSize, width - end);
            }
            for (int64_t d = rank - 2; d >= 0; --d) {
              if (++coordinates[d] < out.dims[d])
                break;
              coordinates[d] = 0;
            }
          }
        });
    return absl::OkStatus();
  }
  context.pool.parallelFor(
      out.numElements(), 1 << 14, [&](int64_t first, int64_t last) {
        Shape coordinates;
        unravel(first, out.dims, coordinates);
        char *target = static_cast<char *>(out.data);
        const char *source = static_cast<const char *>(in.data);
        for (int64_t i = first; i < last; ++i) {
          int64_t offset = 0;
          bool inside = true;
          for (int64_t d = 0; d < rank && inside; ++d) {
            int64_t shifted = coordinates[d] - (*low)[d];
            int64_t period = (*interior)[d] + 1;
            inside = shifted >= 0 && shifted % period == 0 &&
                     shifted / period < limits[d];
            offset += shifted / period * inStrides[d];
          }
          std::memcpy(target + i * elementSize,
                      inside ? source + offset * elementSize : padding,
                      elementSize);
          for (int64_t d = rank - 1; d >= 0; --d) {
            if (++coordinates[d] < out.dims[d])
              break;
            coordinates[d] = 0;
          }
        }
      });
  return absl::OkStatus();
}

struct GatherState : KernelState {
  std::vector<int64_t> resolved;
};

absl::Status gatherKernel(KernelContext &context) {
  if (context.operands.size() != 2 || context.results.size() != 1)
    return context.error("needs two operands and one result");
  absl::StatusOr<int64_t> axis = context.getInt("axis");
  if (!axis.ok())
    return axis.status();
  const TensorView &data = context.operands[0], &indices = context.operands[1];
  const TensorView &out = context.results[0];
  int64_t elementSize = byteSize(data.type);
  int64_t outer = 1, inner = 1, axisSize = data.dims[*axis];
  for (int64_t d = 0; d < *axis; ++d)
    outer *= data.dims[d];
  for (int64_t d = *axis + 1; d < data.rank(); ++d)
    inner *= data.dims[d];
  int64_t count = indices.numElements();
  // The indices made non-negative, in storage kept between runs.
  std::unique_ptr<KernelState> local;
  std::vector<int64_t> &resolved =
      keptState<GatherState>(context.state ? *context.state : local, [] {
        return std::make_unique<GatherState>();
      }).resolved;
  resolved.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = loadInt(indices.data, indices.type, i);
    if (index < -axisSize || index >= axisSize)
      return context.error(absl::StrCat("index ", index,
                                        " is out of range for axis ", *axis,
                                        " of size ", axisSize));
    resolved[i] = index < 0 ? index + axisSize : index;
  }
  int64_t row = inner * elementSize;
  const char *source = static_cast<const char *>(data.data);
  char *target = static_cast<char *>(out.data);
  context.pool.parallelFor(
      outer * count,
      std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(row, 1)),
      [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) {
          int64_t o = i / count, which = i % count;
          std::memcpy(target + i * row,
                      source + (o * axisSize + resolved[which]) * row, row);
        }
      });
  return absl::OkStatus();
}

absl::Status iotaKernel(KernelContext &context) {
  if (context.results.size() != 1)
    return context.error("needs one result");
  absl::StatusOr<int64_t> dimension = context.getInt("dimension");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &out = context.results[0];
  std::vector<int64_t> strides = out.strides();
  int64_t elementSize = byteSize(out.type);
  for (int64_t i = 0, total = out.numElements(); i < total; ++i)
    encodeScalar(out.type, (i / strides[*dimension]) % out.dims[*dimension],
                 static_cast<char *>(out.data) + i * elementSize);
  return absl::OkStatus();
}

/// A copy between buffers of one type and element count (a reshape whose
/// operand and result could not share storage).
absl::Status copyKernel(KernelContext &context) {
  if (absl::Status status = checkUnary(context); !status.ok())
    return status;
  if (context.operands[0].byteCount() != context.results[0].byteCount())
    return context.error("operand and result sizes differ");
  if (context.operands[0].data != context.results[0].data)
    copyBytes(context.results[0].data, context.operands[0].data,
              context.results[0].byteCount());
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<PadAttributes> padAttributes(const KernelContext &context) {
  if (context.operands.size() != 1)
    return context.error("needs one operand");
  PadAttributes pad;
  absl::StatusOr<std::vector<int64_t>> low =
      context.getInts("edge_padding_low");
  absl::StatusOr<std::vector<int64_t>> interior =
      context.getInts("interior_padding");
  absl::StatusOr<double> value = context.getFloat("padding_value");
  if (!low.ok())
    return low.status();
  if (!interior.ok())
    return interior.status();
  if (!value.ok())
    return value.status();
  pad.low = std::move(*low);
  pad.interior = std::move(*interior);
  pad.value = *value;
  pad.limits = context.operands[0].dims;
  if (context.has("operand_limits")) {
    absl::StatusOr<std::vector<int64_t>> given =
        context.getInts("operand_limits");
    if (!given.ok())
      return given.status();
    if (given->size() != pad.limits.size())
      return context.error("operand_limits has the wrong rank");
    for (size_t d = 0; d < pad.limits.size(); ++d)
      pad.limits[d] = std::min(pad.limits[d], (*given)[d]);
  }
  if (pad.low.size() != pad.limits.size() ||
      pad.interior.size() != pad.limits.size())
    return context.error("pad attributes do not match the operand's rank");
  for (int64_t step : pad.interior)
    if (step < 0)
      return context.error("negative interior padding");
  return pad;
}

void encodeScalar(proto::ElementType type, double value, char *bytes) {
  switch (type) {
  case proto::F32: {
    float v = static_cast<float>(value);
    std::memcpy(bytes, &v, 4);
    break;
  }
  case proto::F64:
    std::memcpy(bytes, &value, 8);
    break;
  case proto::F16: {
    Half v = toHalf(static_cast<float>(value));
    std::memcpy(bytes, &v, 2);
    break;
  }
  case proto::BF16: {
    BFloat16 v = toBFloat16(static_cast<float>(value));
    std::memcpy(bytes, &v, 2);
    break;
  }
  case proto::I32: {
    // Saturating: the padding of a max over integers is -inf, their lowest.
    int32_t v = static_cast<int32_t>(
        std::clamp<double>(value, std::numeric_limits<int32_t>::min(),
                           std::numeric_limits<int32_t>::max()));
    std::memcpy(bytes, &v, 4);
    break;
  }
  case proto::I64: {
    // 2^63 is the first double past the largest int64.
    int64_t v =
        value >= 9223372036854775808.0    ? std::numeric_limits<int64_t>::max()
        : value <= -9223372036854775808.0 ? std::numeric_limits<int64_t>::min()
                                          : static_cast<int64_t>(value);
    std::memcpy(bytes, &v, 8);
    break;
  }
  case proto::U64: {
    // 2^64 is the first double past the largest uint64.
    uint64_t v = value >= 18446744073709551616.0 ? UINT64_MAX
                 : value <= 0                    ? 0
                                                 : static_cast<uint64_t>(value);
    std::memcpy(bytes, &v, 8);
    break;
  }
  case proto::I8:
  case proto::U8:
  case proto::I16:
  case proto::U16:
  case proto::U32: {
    // Saturating at the type's bounds (integers of 32 bits at most: exact
    // in a double).
    int bits = static_cast<int>(byteSize(type)) * 8;
    bool isUnsigned =
        type == proto::U8 || type == proto::U16 || type == proto::U32;
    double low = isUnsigned ? 0 : -std::ldexp(1.0, bits - 1);
    double high =
        isUnsigned ? std::ldexp(1.0, bits) - 1 : std::ldexp(1.0, bits - 1) - 1;
    storeInt(bytes, type, 0,
             static_cast<int64_t>(std::clamp(std::trunc(value), low, high)));
    break;
  }
  default:
    bytes[0] = value != 0;
    break;
  }
}

void registerDataMovementKernels() {
  registerKernel("transpose", transposeKernel, Wide::Taken);
  registerKernel("slice", sliceKernel, Wide::Taken);
  registerKernel("reverse", reverseKernel, Wide::Taken);
  registerKernel("concatenate", concatenateKernel, Wide::Taken);
  registerKernel("pad", padKernel, Wide::Taken);
  registerKernel("gather", gatherKernel, Wide::Taken);
  registerKernel("iota", iotaKernel, Wide::Taken);
  registerKernel("copy", copyKernel, Wide::Taken);
}

} // namespace tessel::kernels
