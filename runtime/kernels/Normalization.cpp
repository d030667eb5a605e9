//===- Normalization.cpp - reduce, softmax, layer_norm, batch_norm --------===//
//
// Reductions accumulate in double (float types) or int64, so results do not
// depend on how the work is split across threads.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/ReduceOps.h"
#include "runtime/kernels/StridedCopy.h"

namespace tessel::kernels {
namespace {

/// A reduction's plan, from its attributes and operand at the first run:
/// the offsets of every element of the reduced sub-space, and the
/// dimensions and strides of the kept ones.
struct ReducePlan : KernelState {
  absl::Status invalid;
  ReduceKind op;
  std::vector<int64_t> offsets;
  Shape keptDims, keptStrides;
  /// The reduced dimensions are the innermost ones: output o reduces the
  /// contiguous elements [o * count, (o + 1) * count).
  bool innermost = false;
};

/// `row`'s `count` floats reduced by `K` in the generic path's order (a
/// double accumulator), without its per-element type dispatch.
template <ReduceKind K> double reduceRow(const float *row, int64_t count) {
  double acc = reduceStart<double>(K);
  for (int64_t i = 0; i < count; ++i)
    acc = reduceStep<double>(K, acc, static_cast<double>(row[i]));
  return reduceFinish(K, acc, count);
}

absl::Status planReduce(const KernelContext &context, ReducePlan &plan) {
  absl::StatusOr<std::vector<int64_t>> dims = context.getInts("dimensions");
  absl::StatusOr<std::string> kind = context.getString("kind");
  if (!dims.ok())
    return dims.status();
  if (!kind.ok())
    return kind.status();
  if (!reduceKindNamed(*kind, plan.op))
    return context.error(absl::StrCat("unknown reduction '", *kind, "'"));
  const TensorView &in = context.operands[0];
  Shape strides = rowMajorStrides(in.dims);
  std::vector<bool> reduced(in.rank(), false);
  for (int64_t d : *dims)
    reduced[d] = true;
  plan.offsets = {0};
  for (int64_t d = 0; d < in.rank(); ++d) {
    if (!reduced[d]) {
      plan.keptDims.push_back(in.dims[d]);
      plan.keptStrides.push_back(strides[d]);
      continue;
    }
    std::vector<int64_t> expanded;
    for (int64_t offset : plan.offsets)
      for (int64_t i = 0; i < in.dims[d]; ++i)
        expanded.push_back(offset + i * strides[d]);
    plan.offsets.swap(expanded);
  }
  int64_t firstReduced = in.rank();
  while (firstReduced > 0 && reduced[firstReduced - 1])
    --firstReduced;
  plan.innermost = std::count(reduced.begin(), reduced.end(), true) ==
                   in.rank() - firstReduced;
  return absl::OkStatus();
}

absl::Status reduceKernel(KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 1)
    return context.error("needs one operand and one result");
  std::unique_ptr<KernelState> local;
  const ReducePlan &plan =
      keptState<ReducePlan>(context.state ? *context.state : local, [&] {
        auto fresh = std::make_unique<ReducePlan>();
        fresh->invalid = planReduce(context, *fresh);
        return fresh;
      });
  if (!plan.invalid.ok())
    return plan.invalid;
  const TensorView &in = context.operands[0], &out = context.results[0];
  const std::vector<int64_t> &offsets = plan.offsets;
  const Shape &keptDims = plan.keptDims, &keptStrides = plan.keptStrides;
  ReduceKind op = plan.op;
  int64_t count = offsets.size();
  bool isFloat = isFloatType(in.type);
  if (plan.innermost && in.type == proto::F32 && out.type == proto::F32) {
    auto rows = [&](auto reduceOne) {
      const float *data = static_cast<const float *>(in.data);
      float *result = static_cast<float *>(out.data);
      context.pool.parallelFor(
          out.numElements(), 16, [&](int64_t first, int64_t last) {
            for (int64_t o = first; o < last; ++o)
              result[o] =
                  static_cast<float>(reduceOne(data + o * count, count));
          });
    };
    switch (op) {
    case ReduceKind::Sum:
      rows(reduceRow<ReduceKind::Sum>);
      return absl::OkStatus();
    case ReduceKind::Max:
      rows(reduceRow<ReduceKind::Max>);
      return absl::OkStatus();
    case ReduceKind::Min:
      rows(reduceRow<ReduceKind::Min>);
      return absl::OkStatus();
    case ReduceKind::Mean:
      rows(reduceRow<ReduceKind::Mean>);
      return absl::OkStatus();
    default:
      break;
    }
  }
  context.pool.parallelFor(
      out.numElements(), 64, [&](int64_t first, int64_t last) {
        Shape coordinates;
        for (int64_t o = first; o < last; ++o) {
          unravel(o, keptDims, coordinates);
          int64_t base = 0;
          for (size_t d = 0; d < keptDims.size(); ++d)
            base += coordinates[d] * keptStrides[d];
          if (isFloat) {
            double acc = reduceStart<double>(op);
            for (int64_t offset : offsets)
              acc = reduceStep<double>(
                  op, acc, loadDouble(in.data, in.type, base + offset));
            storeDouble(out.data, out.type, o, reduceFinish(op, acc, count));
          } else if (in.type == proto::U64) {
            uint64_t acc = reduceStart<uint64_t>(op);
            for (int64_t offset : offsets)
              acc = reduceStep<uint64_t>(op, acc,
                                         static_cast<uint64_t>(loadInt(
                                             in.data, in.type, base + offset)));
            storeInt(out.data, out.type, o,
                     static_cast<int64_t>(reduceFinish(op, acc, count)));
          } else {
            int64_t acc = reduceStart<int64_t>(op);
            for (int64_t offset : offsets)
              acc = reduceStep<int64_t>(
                  op, acc, loadInt(in.data, in.type, base + offset));
            storeInt(out.data, out.type, o, reduceFinish(op, acc, count));
          }
        }
      });
  return absl::OkStatus();
}

/// Rows of `length` elements `stride` apart: row r starts at
/// (r / inner) * length * inner + r % inner.
struct Rows {
  int64_t count, length, stride;
  int64_t start(int64_t row) const {
    return (row / stride) * length * stride + row % stride;
  }
};

Rows rowsAlong(const TensorView &view, int64_t dimension) {
  int64_t inner = 1;
  for (int64_t d = dimension + 1; d < view.rank(); ++d)
    inner *= view.dims[d];
  int64_t length = view.dims[dimension];
  return {view.numElements() / std::max<int64_t>(length, 1), length, inner};
}

/// Softmax of one contiguous row in place.
///
/// An element more than 87 below the row's maximum (a masked attention
/// score) becomes exactly 0 rather than exp's subnormal result: its true
/// share is below 1.7e-38 either way, and subnormal arithmetic is many
/// times slower on x86 unless the process happens to flush them (some
/// libraries turn that on when loaded), which made causal attention's
/// softmax 6x slower.
template <typename T> void softmaxRow(T *row, int64_t length) {
  // exp(-87) = 1.6e-38 > FLT_MIN; exp(-708) = 3.3e-308 > DBL_MIN.
  constexpr T kLowest = std::is_same_v<T, float> ? T(-87) : T(-708);
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  Eigen::Map<Array> values(row, length);
  T maximum = values.maxCoeff();
  if (std::isinf(maximum) && maximum < 0)
    maximum = 0; // A row of -inf: exp gives 0s, the sum 0, the result NaN.
  values -= maximum;
  if (values.hasNaN()) // Stays NaN, as the whole row's result does.
    values = values.exp();
  else
    values = (values < kLowest).select(T(0), values.max(kLowest).exp());
  values *= T(1) / values.sum();
}

absl::Status softmaxKernel(KernelContext &context) {
  if (context.operands.size() != 1 || context.results.size() != 1)
    return context.error("needs one operand and one result");
  absl::StatusOr<int64_t> dimension = context.getInt("dimension");
  if (!dimension.ok())
    return dimension.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  Rows rows = rowsAlong(in, *dimension);
  if (in.type == proto::F64) {
    // In double throughout (operand and result have one type).
    const double *source = in.as<double>();
    double *target = out.as<double>();
    context.pool.parallelFor(rows.count, 16, [&](int64_t first, int64_t last) {
      std::vector<double> row(rows.length);
      for (int64_t r = first; r < last; ++r) {
        int64_t start = rows.start(r);
        for (int64_t i = 0; i < rows.length; ++i)
          row[i] = source[start + i * rows.stride];
        softmaxRow(row.data(), rows.length);
        for (int64_t i = 0; i < rows.length; ++i)
          target[start + i * rows.stride] = row[i];
      }
    });
    return absl::OkStatus();
  }
  if (in.type == proto::F32 && rows.stride == 1) {
    // Contiguous f32 rows: in the result buffer, without conversions.
    const float *source = in.as<float>();
    float *target = out.as<float>();
    context.pool.parallelFor(rows.count, 16, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        if (source != target)
          std::copy(source + r * rows.length, source + (r + 1) * rows.length,
                    target + r * rows.length);
        softmaxRow(target + r * rows.length, rows.length);
      }
    });
    return absl::OkStatus();
  }
  context.pool.parallelFor(rows.count, 16, [&](int64_t first, int64_t last) {
    std::vector<float> row(rows.length);
    for (int64_t r = first; r < last; ++r) {
      int64_t start = rows.start(r);
      for (int64_t i = 0; i < rows.length; ++i)
        row[i] = loadFloat(in.data, in.type, start + i * rows.stride);
      softmaxRow(row.data(), rows.length);
      for (int64_t i = 0; i < rows.length; ++i)
        storeFloat(out.data, out.type, start + i * rows.stride, row[i]);
    }
  });
  return absl::OkStatus();
}

struct LayerNormState : KernelState {
  std::vector<float> gamma, beta;
};

absl::Status layerNormKernel(KernelContext &context) {
  if (context.operands.size() != 3 || context.results.size() != 1)
    return context.error("needs operand, scale, bias and one result");
  absl::StatusOr<int64_t> axis = context.getInt("axis");
  absl::StatusOr<double> epsilon = context.getFloat("epsilon");
  if (!axis.ok())
    return axis.status();
  if (!epsilon.ok())
    return epsilon.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  const TensorView &scale = context.operands[1], &bias = context.operands[2];
  int64_t length = 1;
  for (int64_t d = *axis; d < in.rank(); ++d)
    length *= in.dims[d];
  int64_t rows = in.numElements() / std::max<int64_t>(length, 1);
  if (in.type == proto::F64) {
    // In double throughout (all operands and the result are f64).
    using Row = Eigen::Map<const Eigen::ArrayXd>;
    Row g(scale.as<double>(), length), b(bias.as<double>(), length);
    context.pool.parallelFor(rows, 8, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        Row x(in.as<double>() + r * length, length);
        double mean = x.mean();
        double variance = (x - mean).square().mean();
        double inverse = 1.0 / std::sqrt(variance + *epsilon);
        Eigen::Map<Eigen::ArrayXd>(out.as<double>() + r * length, length) =
            (x - mean) * inverse * g + b;
      }
    });
    return absl::OkStatus();
  }
  // Scale and bias as floats, in storage kept between runs.
  std::unique_ptr<KernelState> local;
  LayerNormState &state =
      keptState<LayerNormState>(context.state ? *context.state : local, [] {
        return std::make_unique<LayerNormState>();
      });
  std::vector<float> &gamma = state.gamma, &beta = state.beta;
  gamma.resize(length);
  beta.resize(length);
  for (int64_t i = 0; i < length; ++i) {
    gamma[i] = loadFloat(scale.data, scale.type, i);
    beta[i] = loadFloat(bias.data, bias.type, i);
  }
  bool f32 = in.type == proto::F32 && out.type == proto::F32;
  context.pool.parallelFor(rows, 8, [&](int64_t first, int64_t last) {
    std::vector<float> scratch(f32 ? 0 : length);
    for (int64_t r = first; r < last; ++r) {
      const float *row = f32 ? in.as<float>() + r * length : scratch.data();
      if (!f32)
        for (int64_t i = 0; i < length; ++i)
          scratch[i] = loadFloat(in.data, in.type, r * length + i);
      Eigen::Map<const Eigen::ArrayXf> x(row, length);
      // Two passes (mean, then squared deviations) keep the variance
      // accurate; Eigen's vectorised sums accumulate in several lanes.
      double mean = static_cast<double>(x.sum()) / length;
      double variance =
          static_cast<double>((x - static_cast<float>(mean)).square().sum()) /
          length;
      float inverse = static_cast<float>(1.0 / std::sqrt(variance + *epsilon));
      float center = static_cast<float>(mean);
      Eigen::Map<const Eigen::ArrayXf> g(gamma.data(), length),
          b(beta.data(), length);
      if (f32) {
        Eigen::Map<Eigen::ArrayXf> y(out.as<float>() + r * length, length);
        y = (x - center) * inverse * g + b;
      } else {
        Eigen::ArrayXf y = (x - center) * inverse * g + b;
        for (int64_t i = 0; i < length; ++i)
          storeFloat(out.data, out.type, r * length + i, y[i]);
      }
    }
  });
  return absl::OkStatus();
}

absl::Status batchNormKernel(KernelContext &context) {
  if (context.operands.size() != 5 || context.results.size() != 1)
    return context.error("needs operand, scale, offset, mean, variance");
  absl::StatusOr<int64_t> feature = context.getInt("feature_index");
  absl::StatusOr<double> epsilon = context.getFloat("epsilon");
  if (!feature.ok())
    return feature.status();
  if (!epsilon.ok())
    return epsilon.status();
  const TensorView &in = context.operands[0], &out = context.results[0];
  int64_t channels = in.dims[*feature];
  std::vector<float> multiplier(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    auto value = [&](int k) {
      return loadFloat(context.operands[k].data, context.operands[k].type, c);
    };
    double inverse = 1.0 / std::sqrt(static_cast<double>(value(4)) + *epsilon);
    multiplier[c] = static_cast<float>(value(1) * inverse);
    shift[c] = static_cast<float>(value(2) - value(3) * value(1) * inverse);
  }
  Rows rows = rowsAlong(in, *feature);
  int64_t inner = rows.stride;
  int64_t planes = in.numElements() / std::max<int64_t>(inner, 1);
  context.pool.parallelFor(planes, 4, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      int64_t c = p % channels;
      for (int64_t i = 0; i < inner; ++i) {
        int64_t index = p * inner + i;
        storeFloat(out.data, out.type, index,
                   loadFloat(in.data, in.type, index) * multiplier[c] +
                       shift[c]);
      }
    }
  });
  return absl::OkStatus();
}

} // namespace

void registerNormalizationKernels() {
  registerKernel("reduce", reduceKernel, Wide::Taken);
  registerKernel("softmax", softmaxKernel, Wide::Taken);
  registerKernel("layer_norm", layerNormKernel, Wide::Taken);
  registerKernel("batch_norm_inference", batchNormKernel);
}

} // namespace tessel::kernels
