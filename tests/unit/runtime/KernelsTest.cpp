//===- KernelsTest.cpp - Host kernels against direct computations ---------===//

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/StridedCopy.h"
#include "gtest/gtest.h"

namespace tessel::kernels {
namespace {

TensorView view(std::vector<float> &data, std::vector<int64_t> dims) {
  return TensorView{data.data(), proto::F32, std::move(dims)};
}

/// Appends a step to `fusion`: `op` of `type` reading `args`.
proto::FusionStep *addStep(proto::Fusion &fusion, const char *op,
                           proto::ElementType type,
                           const std::vector<int64_t> &args) {
  proto::FusionStep *step = fusion.add_steps();
  step->set_op(op);
  step->set_element_type(type);
  for (int64_t a : args)
    step->add_args(a);
  return step;
}

proto::Attribute ints(std::vector<int64_t> values) {
  proto::Attribute attribute;
  attribute.mutable_ints();
  for (int64_t v : values)
    attribute.mutable_ints()->add_values(v);
  return attribute;
}

/// stridedCopy of blocks whose dimensions merge (dense on both sides), do
/// not (slices, transposes, reversals, broadcasts), or are one wide, over
/// whole and partial ranges, element by element against the definition.
TEST(KernelsTest, StridedCopyMatchesItsDefinition) {
  std::mt19937 random(7);
  for (int trial = 0; trial < 400; ++trial) {
    int rank = 1 + static_cast<int>(random() % 4);
    std::vector<int64_t> dims(rank);
    for (int64_t &d : dims)
      d = 1 + static_cast<int64_t>(random() % 4);
    // Each side: the block inside a larger row-major array (some
    // dimensions padded), its dimensions permuted, some reversed, and for
    // a broadcast source some of stride 0.
    auto layout = [&](std::vector<int64_t> &strides, int64_t &base,
                      bool broadcast) {
      std::vector<int> order(rank);
      for (int d = 0; d < rank; ++d)
        order[d] = d;
      if (random() % 2)
        std::shuffle(order.begin(), order.end(), random);
      int64_t stride = 1;
      strides.assign(rank, 0);
      base = 0;
      for (int i = rank - 1; i >= 0; --i) {
        int d = order[i];
        int64_t extent = dims[d] + (random() % 3 == 0 ? 2 : 0);
        bool reversed = random() % 5 == 0;
        strides[d] = reversed ? -stride : stride;
        if (broadcast && random() % 2) { // The source repeats along d.
          strides[d] = 0;
          continue;
        }
        if (reversed)
          base += (dims[d] - 1) * stride;
        stride *= extent;
      }
      return stride;
    };
    std::vector<int64_t> srcStrides, dstStrides;
    int64_t srcBase, dstBase;
    int64_t srcSize = layout(srcStrides, srcBase, trial % 4 == 0);
    int64_t dstSize = layout(dstStrides, dstBase, false);
    std::vector<uint32_t> src(srcSize), dst(dstSize, 0), want(dstSize, 0);
    for (int64_t i = 0; i < srcSize; ++i)
      src[i] = static_cast<uint32_t>(i + 1);
    int64_t total = 1;
    for (int64_t d : dims)
      total *= d;
    int64_t first = random() % 2 ? 0 : static_cast<int64_t>(random() % total);
    int64_t last =
        random() % 2 ? total
                     : first + static_cast<int64_t>(random() % (total - first));
    for (int64_t position = first; position < last; ++position) {
      int64_t from = srcBase, to = dstBase;
      for (int d = rank - 1, rest = static_cast<int>(position); d >= 0; --d) {
        from += rest % dims[d] * srcStrides[d];
        to += rest % dims[d] * dstStrides[d];
        rest /= static_cast<int>(dims[d]);
      }
      want[to] = src[from];
    }
    stridedCopy(4, dims, dst.data() + dstBase, dstStrides, src.data() + srcBase,
                srcStrides, first, last);
    ASSERT_EQ(dst, want) << "trial " << trial;
  }
}

/// dot_general of every layout the kernel reads in place or packs, against
/// a direct triple loop.
TEST(KernelsTest, DotGeneralMatchesDirectComputationForEveryLayout) {
  // lhs [b, m, h, k] with batch dims {0, 2} (strided, like attention
  // heads); rhs given in four layouts.
  const int64_t b = 2, m = 3, h = 4, k = 5, n = 6;
  std::mt19937 random(1);
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> lhs(b * m * h * k);
  for (float &x : lhs)
    x = value(random);
  // Reference rhs as [b, h, k, n].
  std::vector<float> rhs(b * h * k * n);
  for (float &x : rhs)
    x = value(random);
  auto rhsAt = [&](int64_t bi, int64_t hi, int64_t ki, int64_t ni) {
    return rhs[((bi * h + hi) * k + ki) * n + ni];
  };
  std::vector<float> expected(b * h * m * n, 0);
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t mi = 0; mi < m; ++mi)
        for (int64_t ni = 0; ni < n; ++ni) {
          float sum = 0;
          for (int64_t ki = 0; ki < k; ++ki)
            sum +=
                lhs[((bi * m + mi) * h + hi) * k + ki] * rhsAt(bi, hi, ki, ni);
          expected[((bi * h + hi) * m + mi) * n + ni] = sum;
        }

  struct Layout {
    std::vector<int64_t> dims;  // rhs storage dims
    std::vector<int64_t> order; // storage dim -> (b, h, k, n) index
    std::vector<int64_t> batch, contract;
  };
  std::vector<Layout> layouts = {
      {{b, h, k, n}, {0, 1, 2, 3}, {0, 1}, {2}}, // [b, h, k, n]: in place
      {{b, h, n, k}, {0, 1, 3, 2}, {0, 1}, {3}}, // transposed matrices
      {{b, k, h, n}, {0, 2, 1, 3}, {0, 2}, {1}}, // strided heads
      {{k, b, n, h}, {2, 0, 3, 1}, {1, 3}, {0}}, // packed
  };
  ThreadPool pool(2);
  for (const Layout &layout : layouts) {
    std::vector<float> stored(rhs.size());
    std::vector<int64_t> coordinate(4);
    for (int64_t i = 0; i < static_cast<int64_t>(stored.size()); ++i) {
      unravel(i, layout.dims, coordinate);
      int64_t bhkn[4];
      for (int d = 0; d < 4; ++d)
        bhkn[layout.order[d]] = coordinate[d];
      stored[i] = rhsAt(bhkn[0], bhkn[1], bhkn[2], bhkn[3]);
    }
    std::vector<float> result(expected.size(), -7);
    proto::Instruction instruction;
    instruction.set_op("dot_general");
    (*instruction.mutable_attributes())["lhs_batching_dimensions"] =
        ints({0, 2});
    (*instruction.mutable_attributes())["rhs_batching_dimensions"] =
        ints(layout.batch);
    (*instruction.mutable_attributes())["lhs_contracting_dimensions"] =
        ints({3});
    (*instruction.mutable_attributes())["rhs_contracting_dimensions"] =
        ints(layout.contract);
    KernelContext context(instruction,
                          {view(lhs, {b, m, h, k}), view(stored, layout.dims)},
                          {view(result, {b, h, m, n})}, pool);
    ASSERT_TRUE(findKernel("dot_general")(context).ok());
    for (size_t i = 0; i < expected.size(); ++i)
      ASSERT_NEAR(result[i], expected[i], 1e-5)
          << "layout " << &layout - &layouts[0];
  }
}

/// Convolutions through every path of the kernel (2-D f32 on oneDNN, dense,
/// grouped and depthwise with channel multipliers 1 and 2; 1-D depthwise
/// direct, grouped and dense through the fast im2col; input dilation's
/// general im2col), with strides, dilations and uneven padding, against a
/// direct loop over the definition; negative padding (cropping) too.
TEST(KernelsTest, ConvolutionMatchesDirectComputation) {
  struct Case {
    int64_t channels, outChannels, groups;
    std::vector<int64_t> in, window, stride, dilation, low, high, lhsDilation;
  };
  const std::vector<Case> cases = {
      {6, 6, 6, {7, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {4, 8, 4, {9, 8}, {3, 2}, {2, 1}, {1, 2}, {2, 0}, {1, 3}, {1, 1}},
      {4, 4, 4, {10, 11}, {5, 5}, {3, 2}, {2, 1}, {2, 3}, {0, 2}, {1, 1}},
      {4, 6, 2, {6, 7}, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {3, 5, 1, {8, 6}, {3, 2}, {2, 1}, {2, 1}, {1, 0}, {2, 1}, {1, 1}},
      {3, 4, 1, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}},
      {4, 4, 4, {12}, {3}, {2}, {2}, {1}, {2}, {1}},
      {2, 3, 1, {9}, {4}, {1}, {1}, {3}, {0}, {1}},
      {4, 6, 2, {10}, {3}, {2}, {1}, {1}, {1}, {1}},
      {2, 2, 2, {4, 5}, {3, 3}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, {2, 2}},
      {2, 3, 1, {4, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 2}, {2, 1}, {2, 1}},
      {2, 3, 1, {6, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {-1, -1}, {1, 1}},
      // Weights outweigh the activations: pieces split output channels.
      {16, 32, 1, {4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {8, 40, 1, {3, 5}, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 0}, {1, 1}},
  };
  ThreadPool pool(2);
  std::mt19937 random(5);
  std::uniform_real_distribution<float> value(-1, 1);
  for (const Case &c : cases) {
    SCOPED_TRACE(&c - &cases[0]);
    const int64_t batch = 2, spatial = c.in.size();
    std::vector<int64_t> out(spatial);
    for (int64_t d = 0; d < spatial; ++d) {
      int64_t dilatedIn = (c.in[d] - 1) * c.lhsDilation[d] + 1;
      int64_t dilatedWindow = (c.window[d] - 1) * c.dilation[d] + 1;
      out[d] =
          (dilatedIn + c.low[d] + c.high[d] - dilatedWindow) / c.stride[d] + 1;
    }
    std::vector<int64_t> inDims = {batch, c.channels},
                         kernelDims = {c.outChannels, c.channels / c.groups};
    std::vector<int64_t> outDims = {batch, c.outChannels};
    inDims.insert(inDims.end(), c.in.begin(), c.in.end());
    kernelDims.insert(kernelDims.end(), c.window.begin(), c.window.end());
    outDims.insert(outDims.end(), out.begin(), out.end());
    auto count = [](const std::vector<int64_t> &dims) {
      int64_t n = 1;
      for (int64_t d : dims)
        n *= d;
      return n;
    };
    std::vector<float> x(count(inDims)), w(count(kernelDims)),
        result(count(outDims), -7), expected(count(outDims), 0);
    for (float &v : x)
      v = value(random);
    for (float &v : w)
      v = value(random);
    // Direct: every output element, every (input channel, tap).
    int64_t perGroupIn = c.channels / c.groups,
            perGroupOut = c.outChannels / c.groups;
    std::vector<int64_t> o, k, in(spatial);
    for (int64_t i = 0; i < count(outDims); ++i) {
      unravel(i, outDims, o);
      int64_t group = o[1] / perGroupOut;
      double sum = 0;
      for (int64_t t = 0; t < count(kernelDims) / c.outChannels; ++t) {
        unravel(t,
                std::vector<int64_t>(kernelDims.begin() + 1, kernelDims.end()),
                k);
        bool inside = true;
        for (int64_t d = 0; d < spatial; ++d) {
          int64_t position =
              o[2 + d] * c.stride[d] + k[1 + d] * c.dilation[d] - c.low[d];
          inside &= position >= 0 && position % c.lhsDilation[d] == 0 &&
                    position / c.lhsDilation[d] < c.in[d];
          in[d] = position / c.lhsDilation[d];
        }
        if (!inside)
          continue;
        int64_t xi = o[0] * c.channels + group * perGroupIn + k[0];
        for (int64_t d = 0; d < spatial; ++d)
          xi = xi * c.in[d] + in[d];
        sum +=
            double(x[xi]) * w[o[1] * (count(kernelDims) / c.outChannels) + t];
      }
      expected[i] = sum;
    }
    proto::Instruction instruction;
    instruction.set_op("convolution");
    auto &attributes = *instruction.mutable_attributes();
    attributes["window_strides"] = ints(c.stride);
    attributes["padding_low"] = ints(c.low);
    attributes["padding_high"] = ints(c.high);
    attributes["lhs_dilation"] = ints(c.lhsDilation);
    attributes["rhs_dilation"] = ints(c.dilation);
    attributes["feature_group_count"].set_i(c.groups);
    // Twice through one kernel state: the weights (not read-only) change
    // in between and must be packed again.
    std::unique_ptr<KernelState> state;
    for (int round = 0; round < 2; ++round) {
      if (round == 1) {
        for (float &v : w)
          v = -v;
        for (float &v : expected)
          v = -v;
      }
      std::fill(result.begin(), result.end(), -7.0f);
      KernelContext context(instruction, {view(x, inDims), view(w, kernelDims)},
                            {view(result, outDims)}, pool, &state);
      absl::Status status = findKernel("convolution")(context);
      ASSERT_TRUE(status.ok()) << status;
      for (size_t i = 0; i < expected.size(); ++i)
        ASSERT_NEAR(result[i], expected[i], 1e-5)
            << "element " << i << ", round " << round;
    }
  }
}

/// pad with edge padding on every side, growing and cropping (negative),
/// with and without interior padding (the row-copy path and the general
/// one), against a direct loop over the definition.
TEST(KernelsTest, PadMatchesDirectComputation) {
  struct Case {
    std::vector<int64_t> in, low, high, interior;
    float value;
  };
  const std::vector<Case> cases = {
      {{5}, {2}, {3}, {0}, 0},
      {{2, 3, 4}, {0, 1, 2}, {1, 0, 1}, {0, 0, 0}, 0},
      {{2, 3, 6, 5}, {0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 0, 0}, -1.5},
      {{3, 7}, {-1, -2}, {2, -3}, {0, 0}, 4},
      {{4, 4}, {1, -5}, {0, 1}, {0, 0}, 0},  // a row of padding only
      {{3, 4}, {1, 0}, {0, 2}, {1, 2}, 7},   // interior
      {{2, 5}, {-1, 1}, {1, -2}, {0, 1}, 0}, // interior and cropping
  };
  ThreadPool pool(2);
  std::mt19937 random(8);
  std::uniform_real_distribution<float> value(-1, 1);
  for (const Case &c : cases) {
    SCOPED_TRACE(&c - &cases[0]);
    int64_t rank = c.in.size(), inCount = 1, outCount = 1;
    std::vector<int64_t> outDims(rank);
    for (int64_t d = 0; d < rank; ++d) {
      outDims[d] =
          c.low[d] + c.high[d] + c.in[d] + (c.in[d] - 1) * c.interior[d];
      inCount *= c.in[d];
      outCount *= outDims[d];
    }
    std::vector<float> x(inCount), result(outCount, -7), expected(outCount);
    for (float &v : x)
      v = value(random);
    std::vector<int64_t> o;
    for (int64_t i = 0; i < outCount; ++i) {
      unravel(i, outDims, o);
      int64_t source = 0;
      bool inside = true;
      for (int64_t d = 0; d < rank; ++d) {
        int64_t shifted = o[d] - c.low[d];
        inside &= shifted >= 0 && shifted % (c.interior[d] + 1) == 0 &&
                  shifted / (c.interior[d] + 1) < c.in[d];
        source = source * c.in[d] + shifted / (c.interior[d] + 1);
      }
      expected[i] = inside ? x[source] : c.value;
    }
    proto::Instruction instruction;
    instruction.set_op("pad");
    auto &attributes = *instruction.mutable_attributes();
    attributes["edge_padding_low"] = ints(c.low);
    attributes["edge_padding_high"] = ints(c.high);
    attributes["interior_padding"] = ints(c.interior);
    attributes["padding_value"].set_f(c.value);
    KernelContext context(instruction, {view(x, c.in)}, {view(result, outDims)},
                          pool);
    absl::Status status = findKernel("pad")(context);
    ASSERT_TRUE(status.ok()) << status;
    for (int64_t i = 0; i < outCount; ++i)
      ASSERT_EQ(result[i], expected[i]) << "element " << i;
  }
}

/// 2-D max and average pools (the fast path) with strides, dilations,
/// uneven padding, and both ways of counting padding, against a direct loop.
TEST(KernelsTest, PoolsMatchDirectComputation) {
  struct Case {
    std::vector<int64_t> window, stride, dilation, low, high;
  };
  const std::vector<Case> cases = {
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
      {{2, 3}, {1, 2}, {2, 1}, {0, 2}, {1, 0}},
      {{4, 2}, {3, 1}, {1, 2}, {2, 1}, {3, 1}},
  };
  ThreadPool pool(2);
  std::mt19937 random(6);
  std::uniform_real_distribution<float> value(-1, 1);
  const int64_t batch = 2, channels = 3, height = 7, width = 8;
  std::vector<float> x(batch * channels * height * width);
  for (float &v : x)
    v = value(random);
  x[5] = NAN; // Max pools propagate NaN.
  for (const Case &c : cases)
    for (const char *op : {"max_pool", "avg_pool"})
      for (int countPadding : {0, 1}) {
        SCOPED_TRACE(std::string(op) + " case " +
                     std::to_string(&c - &cases[0]) + " count_include_pad " +
                     std::to_string(countPadding));
        bool isMax = std::string(op) == "max_pool";
        int64_t size[2] = {height, width}, out[2];
        for (int d = 0; d < 2; ++d)
          out[d] = (size[d] + c.low[d] + c.high[d] -
                    ((c.window[d] - 1) * c.dilation[d] + 1)) /
                       c.stride[d] +
                   1;
        std::vector<float> result(batch * channels * out[0] * out[1], -7);
        for (int64_t p = 0; p < batch * channels; ++p)
          for (int64_t oy = 0; oy < out[0]; ++oy)
            for (int64_t ox = 0; ox < out[1]; ++ox) {
              float best = -INFINITY;
              double sum = 0;
              int64_t counted = 0;
              for (int64_t ky = 0; ky < c.window[0]; ++ky)
                for (int64_t kx = 0; kx < c.window[1]; ++kx) {
                  int64_t iy = oy * c.stride[0] + ky * c.dilation[0] - c.low[0];
                  int64_t ix = ox * c.stride[1] + kx * c.dilation[1] - c.low[1];
                  bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
                  bool inPadding =
                      iy < height + c.high[0] && ix < width + c.high[1];
                  counted += countPadding ? inPadding : inside;
                  if (!inside)
                    continue;
                  float v = x[(p * height + iy) * width + ix];
                  best = (v > best || std::isnan(v)) ? v : best;
                  sum += v;
                }
              float expected = isMax ? best : (counted ? sum / counted : 0.0);
              result[(p * out[0] + oy) * out[1] + ox] = expected;
            }
        proto::Instruction instruction;
        instruction.set_op(op);
        auto &attributes = *instruction.mutable_attributes();
        attributes["window_dimensions"] = ints(c.window);
        attributes["window_strides"] = ints(c.stride);
        attributes["window_dilations"] = ints(c.dilation);
        attributes["padding_low"] = ints(c.low);
        attributes["padding_high"] = ints(c.high);
        if (!isMax)
          attributes["count_include_pad"].set_i(countPadding);
        std::vector<float> got(result.size(), -7);
        KernelContext context(
            instruction, {view(x, {batch, channels, height, width})},
            {view(got, {batch, channels, out[0], out[1]})}, pool);
        absl::Status status = findKernel(op)(context);
        ASSERT_TRUE(status.ok()) << status;
        for (size_t i = 0; i < got.size(); ++i) {
          if (std::isnan(result[i])) {
            ASSERT_TRUE(std::isnan(got[i])) << "element " << i;
            continue;
          }
          ASSERT_NEAR(got[i], result[i], 1e-5) << "element " << i;
        }
      }
}

/// Softmax: masked scores (far below the row's maximum) are exactly 0, the
/// rest as the definition says; a NaN makes its row NaN; a row of -inf is
/// NaN (0 / 0), as in ONNX's reference.
TEST(KernelsTest, SoftmaxRowsMaskedAndSpecial) {
  std::vector<float> in = {
      -1e4f,     0.0f,      1.0f,      -INFINITY, -84.0f,    2.0f,
      1.0f,      NAN,       0.0f,      0.0f,      0.0f,      0.0f,
      -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  std::vector<float> out(in.size(), -7);
  proto::Instruction instruction;
  instruction.set_op("softmax");
  (*instruction.mutable_attributes())["dimension"].set_i(1);
  ThreadPool pool(2);
  KernelContext context(instruction, {view(in, {3, 6})}, {view(out, {3, 6})},
                        pool);
  ASSERT_TRUE(findKernel("softmax")(context).ok());
  double sum = 0;
  for (int i = 0; i < 6; ++i)
    sum += std::exp(double(in[i]) - 2.0);
  for (int i = 0; i < 6; ++i) {
    double expected = std::exp(double(in[i]) - 2.0) / sum;
    if (double(in[i]) - 2.0 < -87.0)
      EXPECT_EQ(out[i], 0.0f) << i; // Exactly 0, not subnormal.
    else
      EXPECT_NEAR(out[i], expected, 1e-6 * expected) << i;
  }
  EXPECT_GT(out[4], 0.0f); // 86 below the maximum: still counted.
  for (int i = 6; i < 18; ++i)
    EXPECT_TRUE(std::isnan(out[i])) << i;
}

TEST(KernelsTest, FusionBroadcastsInPlaceAndRoundsF16Steps) {
  // out[i, j] = half(x[i, j] * 1/3) + bias[j], written over x.
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, bias = {10, 20, 30};
  proto::Instruction instruction;
  instruction.set_op("fusion");
  proto::Fusion &fusion = *instruction.mutable_fusion();
  *fusion.add_operand_dims() = ints({0, 1}).ints();
  *fusion.add_operand_dims() = ints({1}).ints();
  auto step = [&](const char *op, proto::ElementType type,
                  std::vector<int64_t> args) {
    return addStep(fusion, op, type, args);
  };
  step("load", proto::F32, {0});
  step("load", proto::F32, {1});
  (*step("constant", proto::F32, {})->mutable_attributes())["value"].set_f(1.0 /
                                                                           3);
  step("mul", proto::F32, {0, 2});
  step("convert", proto::F16, {3});
  step("convert", proto::F32, {4});
  step("add", proto::F32, {5, 1});
  fusion.add_outputs(6);
  ThreadPool pool(2);
  KernelContext context(instruction, {view(x, {2, 3}), view(bias, {3})},
                        {view(x, {2, 3})}, pool);
  ASSERT_TRUE(findKernel("fusion")(context).ok());
  for (int i = 0; i < 6; ++i) {
    float third = toFloat(toHalf((i + 1) * (1.0f / 3)));
    EXPECT_EQ(x[i], third + bias[i % 3]) << i;
  }
}

TensorView doubles(std::vector<double> &data, std::vector<int64_t> dims) {
  return TensorView{data.data(), proto::F64, std::move(dims)};
}

/// f64 computes in double: values float cannot tell apart stay apart,
/// and an f32 step inside an f64 chain is still rounded to float.
TEST(KernelsTest, F64ChainsComputeInDouble) {
  const double tiny = 1e-12; // Lost when added to 1 in float.
  std::vector<double> x = {1, 2, -3}, out(3), rounded(3);
  proto::Instruction instruction;
  instruction.set_op("fusion");
  proto::Fusion &fusion = *instruction.mutable_fusion();
  *fusion.add_operand_dims() = ints({0}).ints();
  auto step = [&](const char *op, proto::ElementType type,
                  std::vector<int64_t> args) {
    return addStep(fusion, op, type, args);
  };
  step("load", proto::F64, {0});
  (*step("constant", proto::F64, {})->mutable_attributes())["value"].set_f(
      tiny);
  step("add", proto::F64, {0, 1}); // x + 1e-12
  step("exp", proto::F64, {2});
  step("log", proto::F64, {3});    // back to x + 1e-12
  step("sub", proto::F64, {4, 0}); // 1e-12, give or take double rounding
  step("convert", proto::F32, {2});
  step("convert", proto::F64, {6}); // x + 1e-12 rounded to float: x
  fusion.add_outputs(5);
  fusion.add_outputs(7);
  ThreadPool pool(2);
  KernelContext context(instruction, {doubles(x, {3})},
                        {doubles(out, {3}), doubles(rounded, {3})}, pool);
  ASSERT_TRUE(findKernel("fusion")(context).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(out[i], tiny, 1e-14) << i;
    EXPECT_EQ(rounded[i], x[i]) << i;
  }
}

TEST(KernelsTest, F64ContractionsAndReductionsStayInDouble) {
  ThreadPool pool(2);
  // [1 + e, 1] . [1 - e, -1] = 1 - e^2 - 1 = -e^2 (e = 2^-20: e^2 is far
  // below float's resolution at 1).
  const double e = std::ldexp(1.0, -20);
  std::vector<double> lhs = {1 + e, 1}, rhs = {1 - e, -1}, dot(1);
  proto::Instruction instruction;
  instruction.set_op("dot_general");
  (*instruction.mutable_attributes())["lhs_batching_dimensions"] = ints({});
  (*instruction.mutable_attributes())["rhs_batching_dimensions"] = ints({});
  (*instruction.mutable_attributes())["lhs_contracting_dimensions"] = ints({1});
  (*instruction.mutable_attributes())["rhs_contracting_dimensions"] = ints({0});
  KernelContext context(instruction,
                        {doubles(lhs, {1, 2}), doubles(rhs, {2, 1})},
                        {doubles(dot, {1, 1})}, pool);
  ASSERT_TRUE(findKernel("dot_general")(context).ok());
  EXPECT_EQ(dot[0], -e * e);

  std::vector<double> values = {1e16, 1, -1e16, 1}, sum(1);
  proto::Instruction reduce;
  reduce.set_op("reduce");
  (*reduce.mutable_attributes())["kind"].set_s("sum");
  (*reduce.mutable_attributes())["dimensions"] = ints({0});
  KernelContext reduceContext(reduce, {doubles(values, {4})},
                              {doubles(sum, {})}, pool);
  ASSERT_TRUE(findKernel("reduce")(reduceContext).ok());
  EXPECT_EQ(sum[0], 1e16 + 1 - 1e16 + 1);
  EXPECT_TRUE(kernelTakesWideTypes("reduce"));
  EXPECT_FALSE(kernelTakesWideTypes("top_k")); // Compares as int64.
  EXPECT_FALSE(kernelTakesWideTypes("batch_norm_inference")); // In float.

  // Softmax and layer_norm in double: logits 1e-12 apart give different
  // probabilities (float would round both to 0.5).
  std::vector<double> logits = {0, 1e-12}, probabilities(2);
  proto::Instruction softmax;
  softmax.set_op("softmax");
  (*softmax.mutable_attributes())["dimension"].set_i(0);
  KernelContext softmaxContext(softmax, {doubles(logits, {2})},
                               {doubles(probabilities, {2})}, pool);
  ASSERT_TRUE(kernelTakesWideTypes("softmax"));
  ASSERT_TRUE(findKernel("softmax")(softmaxContext).ok());
  EXPECT_LT(probabilities[0], probabilities[1]);
  EXPECT_NEAR(probabilities[0] + probabilities[1], 1.0, 1e-15);
}

/// u64 past 2^63 (negative as int64 bits) compares, divides and converts
/// as unsigned; add wraps at 2^64.
TEST(KernelsTest, U64StepsAreUnsigned) {
  const uint64_t big = (uint64_t{1} << 63) + 5, small = 7;
  std::vector<uint64_t> x = {big, small, UINT64_MAX},
                        y = {small, big, uint64_t{2}};
  std::vector<uint64_t> maxOut(3), divOut(3), addOut(3);
  std::vector<uint8_t> less(3);
  std::vector<double> asDouble(3);
  proto::Instruction instruction;
  instruction.set_op("fusion");
  proto::Fusion &fusion = *instruction.mutable_fusion();
  *fusion.add_operand_dims() = ints({0}).ints();
  *fusion.add_operand_dims() = ints({0}).ints();
  auto step = [&](const char *op, proto::ElementType type,
                  std::vector<int64_t> args) {
    return addStep(fusion, op, type, args);
  };
  step("load", proto::U64, {0});
  step("load", proto::U64, {1});
  step("max", proto::U64, {0, 1});
  step("div", proto::U64, {0, 1});
  step("add", proto::U64, {0, 1});
  (*step("compare", proto::I1, {0, 1})->mutable_attributes())["direction"]
      .set_i(2); // lt
  step("convert", proto::F64, {0});
  for (int64_t output : {2, 3, 4, 5, 6})
    fusion.add_outputs(output);
  ThreadPool pool(2);
  KernelContext context(
      instruction, {{x.data(), proto::U64, {3}}, {y.data(), proto::U64, {3}}},
      {{maxOut.data(), proto::U64, {3}},
       {divOut.data(), proto::U64, {3}},
       {addOut.data(), proto::U64, {3}},
       {less.data(), proto::I1, {3}},
       {asDouble.data(), proto::F64, {3}}},
      pool);
  absl::Status status = findKernel("fusion")(context);
  ASSERT_TRUE(status.ok()) << status;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(maxOut[i], std::max(x[i], y[i])) << i;
    EXPECT_EQ(divOut[i], x[i] / y[i]) << i;
    EXPECT_EQ(addOut[i], x[i] + y[i]) << i;
    EXPECT_EQ(less[i], x[i] < y[i]) << i;
    EXPECT_EQ(asDouble[i], static_cast<double>(x[i])) << i;
  }

  std::vector<uint64_t> largest(1);
  proto::Instruction reduce;
  reduce.set_op("reduce");
  (*reduce.mutable_attributes())["kind"].set_s("max");
  (*reduce.mutable_attributes())["dimensions"] = ints({0});
  KernelContext reduceContext(reduce, {{x.data(), proto::U64, {3}}},
                              {{largest.data(), proto::U64, {}}}, pool);
  ASSERT_TRUE(findKernel("reduce")(reduceContext).ok());
  EXPECT_EQ(largest[0], UINT64_MAX);
}

TEST(KernelsTest, HalfConversionsRoundToNearestEven) {
  EXPECT_EQ(toHalf(1.0f).bits, 0x3c00);
  EXPECT_EQ(toHalf(65504.0f).bits, 0x7bff);
  EXPECT_EQ(toHalf(65520.0f).bits, 0x7c00);               // Rounds to infinity.
  EXPECT_EQ(toHalf(5.960464477539063e-08f).bits, 0x0001); // Smallest subnormal.
  EXPECT_EQ(toHalf(2.9802322387695312e-08f).bits, 0x0000); // Tie to even: 0.
  EXPECT_EQ(toFloat(Half{0x0001}), 5.960464477539063e-08f);
  EXPECT_EQ(toBFloat16(1.00390625f).bits, 0x3f80); // Tie to even.
  EXPECT_EQ(toFloat(toBFloat16(3.0f)), 3.0f);
}

} // namespace
} // namespace tessel::kernels
