//===- LoadTimeTest.cpp - What the host backend decides at load -----------===//
//
// Hand-written device programs: which buffers the host keeps channels-last,
// which instructions run once at load, which fusions a kernel computes as
// its epilogue; and that a program runs to the same numbers with them as a
// direct computation does.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <random>

#include "runtime/Executable.h"
#include "runtime/ThreadPool.h"
#include "runtime/host/ChannelsLast.h"
#include "runtime/host/HostBackend.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

// kOut == kSize: an [N, C, H, W] and an [N, H, W, C] tensor have the same
// dimensions, so that only the layout tells them apart.
constexpr int64_t kChannels = 4, kOut = 8, kSize = 8;

class ProgramBuilder {
public:
  ProgramBuilder() {
    executable.set_format_version(kExecutableFormatVersion);
    program = executable.add_programs();
  }

  int64_t buffer(proto::Buffer::Storage storage, std::vector<int64_t> dims,
                 uint64_t offset = 0) {
    proto::Buffer *b = program->add_buffers();
    b->set_storage(storage);
    b->set_element_type(proto::F32);
    for (int64_t d : dims)
      b->add_dims(d);
    b->set_offset(offset);
    int64_t elements = 1;
    for (int64_t d : dims)
      elements *= d;
    if (storage == proto::Buffer::CONSTANT) {
      std::vector<float> values(elements);
      for (float &v : values)
        v = std::uniform_real_distribution<float>(-1, 1)(random);
      b->set_data(values.data(), values.size() * sizeof(float));
    }
    program->set_arena_bytes(std::max<uint64_t>(
        program->arena_bytes(), storage == proto::Buffer::ARENA
                                    ? offset + elements * sizeof(float)
                                    : 0));
    return program->buffers_size() - 1;
  }

  int64_t input(std::vector<int64_t> dims, const char *name = "x") {
    proto::TensorSpec *spec = executable.add_inputs();
    spec->set_name(name);
    spec->set_element_type(proto::F32);
    for (int64_t d : dims)
      spec->add_dims(d);
    int64_t id = buffer(proto::Buffer::INPUT, dims);
    setIndex(id, executable.inputs_size() - 1);
    return id;
  }

  void output(int64_t id) {
    proto::TensorSpec *spec = executable.add_outputs();
    spec->set_name("y");
    spec->set_element_type(proto::F32);
    *spec->mutable_dims() = program->buffers(id).dims();
    program->add_output_buffers(id);
  }

  /// 3x3 convolution, stride 1, padding 1.
  void convolution(int64_t input, int64_t kernel, int64_t result) {
    proto::Instruction *conv = program->add_instructions();
    conv->set_op("convolution");
    conv->set_location("conv");
    conv->add_operands(input);
    conv->add_operands(kernel);
    conv->add_results(result);
    auto ints = [&](const char *name, std::vector<int64_t> values) {
      setInts(conv, name, values);
    };
    ints("window_strides", {1, 1});
    ints("padding_low", {1, 1});
    ints("padding_high", {1, 1});
    ints("lhs_dilation", {1, 1});
    ints("rhs_dilation", {1, 1});
    (*conv->mutable_attributes())["feature_group_count"].set_i(1);
  }

  /// A fusion instruction writing `result` and reading each operand
  /// (buffer id) through its dims, with no steps yet (add them with step).
  proto::Fusion *
  fusionOver(const char *location,
             std::vector<std::pair<int64_t, std::vector<int64_t>>> operands,
             int64_t result) {
    proto::Instruction *f = program->add_instructions();
    f->set_op("fusion");
    f->set_location(location);
    for (auto &[id, dims] : operands) {
      f->add_operands(id);
      proto::Ints *mapping = f->mutable_fusion()->add_operand_dims();
      for (int64_t d : dims)
        mapping->add_values(d);
    }
    f->add_results(result);
    return f->mutable_fusion();
  }

  /// Sets the integer list attribute `name` of `instruction`.
  static void setInts(proto::Instruction *instruction, const char *name,
                      std::vector<int64_t> values) {
    proto::Ints *list =
        (*instruction->mutable_attributes())[name].mutable_ints();
    for (int64_t v : values)
      list->add_values(v);
  }

  /// Appends an f32 step to `fusion`; its index is steps_size() - 1.
  static proto::FusionStep *step(proto::Fusion *fusion, const char *op,
                                 std::vector<int64_t> args) {
    proto::FusionStep *s = fusion->add_steps();
    s->set_op(op);
    s->set_element_type(proto::F32);
    for (int64_t arg : args)
      s->add_args(arg);
    return s;
  }

  /// result = operands[0] (op) operands[1], each read through `dims`.
  void fusion(const char *op, std::vector<int64_t> operands,
              std::vector<std::vector<int64_t>> dims, int64_t result) {
    std::vector<std::pair<int64_t, std::vector<int64_t>>> reads;
    for (size_t k = 0; k < operands.size(); ++k)
      reads.push_back({operands[k], dims[k]});
    proto::Fusion *f = fusionOver("fusion", reads, result);
    std::vector<int64_t> loads;
    for (size_t k = 0; k < operands.size(); ++k) {
      step(f, "load", {static_cast<int64_t>(k)});
      loads.push_back(k);
    }
    step(f, op, loads);
    f->add_outputs(operands.size());
  }

  void setIndex(int64_t id, int64_t index) {
    program->mutable_buffers(id)->set_index(index);
  }

  const float *constant(int64_t id) const {
    return reinterpret_cast<const float *>(program->buffers(id).data().data());
  }

  proto::Executable executable;
  proto::DeviceProgram *program;
  std::mt19937 random{7};
};

/// An f32 host tensor of `dims` holding `values`.
HostTensor tensorOf(std::vector<int64_t> dims,
                    const std::vector<float> &values) {
  HostTensor tensor{proto::F32, std::move(dims), {}};
  tensor.bytes.resize(values.size() * sizeof(float));
  std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  return tensor;
}

/// Direct 3x3 convolution, stride 1, padding 1, NCHW.
std::vector<float> convolve(const std::vector<float> &x, const float *w,
                            int64_t in, int64_t out) {
  std::vector<float> y(out * kSize * kSize, 0.0f);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < kSize; ++i)
      for (int64_t j = 0; j < kSize; ++j) {
        double sum = 0;
        for (int64_t c = 0; c < in; ++c)
          for (int64_t di = 0; di < 3; ++di)
            for (int64_t dj = 0; dj < 3; ++dj) {
              int64_t r = i + di - 1, s = j + dj - 1;
              if (r >= 0 && r < kSize && s >= 0 && s < kSize)
                sum += x[(c * kSize + r) * kSize + s] *
                       w[((o * in + c) * 3 + di) * 3 + dj];
            }
        y[(o * kSize + i) * kSize + j] = static_cast<float>(sum);
      }
  return y;
}

// conv -> (x per-channel scale, written in place) -> conv -> add the scaled
// activation (a residual) -> output. The activations between the
// convolutions go channels-last; the input and the output do not.
TEST(ChannelsLastTest, KeepsActivationsBetweenConvolutions) {
  ProgramBuilder p;
  int64_t plane = kSize * kSize * sizeof(float);
  int64_t x = p.input({1, kChannels, kSize, kSize});
  int64_t w1 = p.buffer(proto::Buffer::CONSTANT, {kOut, kChannels, 3, 3});
  int64_t c1 = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 0);
  int64_t scale = p.buffer(proto::Buffer::CONSTANT, {kOut});
  int64_t a1 = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 0);
  int64_t w2 = p.buffer(proto::Buffer::CONSTANT, {kOut, kOut, 3, 3});
  int64_t c2 =
      p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, kOut * plane);
  int64_t y =
      p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 2 * kOut * plane);
  p.convolution(x, w1, c1);
  p.fusion("mul", {c1, scale}, {{0, 1, 2, 3}, {1}}, a1);
  p.convolution(a1, w2, c2);
  p.fusion("add", {c2, a1}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, y);
  p.output(y);

  ThreadPool pool(1);
  std::vector<bool> layouts = chooseChannelsLast(*p.program, pool);
  EXPECT_FALSE(layouts[x]);
  EXPECT_TRUE(layouts[c1]);
  EXPECT_TRUE(layouts[a1]);
  EXPECT_TRUE(layouts[c2]);
  EXPECT_FALSE(layouts[y]) << "outputs stay row-major";
  EXPECT_FALSE(layouts[w1] || layouts[scale] || layouts[w2]);

  std::vector<float> input(kChannels * kSize * kSize);
  std::mt19937 random(3);
  for (float &v : input)
    v = std::uniform_real_distribution<float>(-1, 1)(random);
  std::vector<float> expected =
      convolve(input, p.constant(w1), kChannels, kOut);
  for (int64_t i = 0; i < static_cast<int64_t>(expected.size()); ++i)
    expected[i] *= p.constant(scale)[i / (kSize * kSize)];
  std::vector<float> second = convolve(expected, p.constant(w2), kOut, kOut);
  for (size_t i = 0; i < expected.size(); ++i)
    expected[i] += second[i];

  for (int threads : {1, 2}) {
    HostBackend backend(threads);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        backend.load(p.executable, "/nonexistent");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    HostTensor tensor = tensorOf({1, kChannels, kSize, kSize}, input);
    for (int run = 0; run < 2; ++run) {
      absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run({tensor});
      ASSERT_TRUE(result.ok()) << result.status();
      for (size_t i = 0; i < expected.size(); ++i)
        ASSERT_NEAR((*result)[0].as<float>()[i], expected[i], 1e-4)
            << "element " << i << ", " << threads << " threads, run " << run;
    }
  }
}

// c0 = conv(x); c1 = conv(c0); a = max(c1 + bias, 0) + r (or with sin
// for max: no post-op has it; or "sum": max((c1 + bias) + (r + bias), 0)),
// r = c0 (channels-last) or a second input (row-major); y = conv(a). The fusion
// is the middle convolution's epilogue (not run apart: no fusion in the
// profile), or runs apart; the numbers are the same either way.
void runEpilogue(const char *activation, bool residualInput, bool absorbed) {
  ProgramBuilder p;
  int64_t plane = kSize * kSize * sizeof(float), tensor = kOut * plane;
  int64_t x = p.input({1, kChannels, kSize, kSize});
  int64_t w0 = p.buffer(proto::Buffer::CONSTANT, {kOut, kChannels, 3, 3});
  int64_t w1 = p.buffer(proto::Buffer::CONSTANT, {kOut, kOut, 3, 3});
  int64_t w2 = p.buffer(proto::Buffer::CONSTANT, {kOut, kOut, 3, 3});
  int64_t bias = p.buffer(proto::Buffer::CONSTANT, {kOut});
  int64_t c0 = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 0);
  int64_t c1 = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, tensor);
  int64_t a = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, tensor);
  int64_t y =
      p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 2 * tensor);
  int64_t residual = residualInput ? p.input({1, kOut, kSize, kSize}, "r") : c0;
  p.convolution(x, w0, c0);
  p.convolution(c0, w1, c1);
  // The convolution's result and the residual read whole, the bias per
  // channel (dimension 1).
  proto::Fusion *fusion = p.fusionOver(
      "a", {{c1, {0, 1, 2, 3}}, {bias, {1}}, {residual, {0, 1, 2, 3}}}, a);
  auto step = [&](const char *op, std::vector<int64_t> args) {
    return ProgramBuilder::step(fusion, op, args);
  };
  bool sum = std::string(activation) == "sum";
  if (sum) {
    // max((c1 + bias) + (r + bias), 0): the residual's sum computed first,
    // as a shortcut's folded batch norm gives it.
    step("load", {0});                                               // 0
    step("load", {1});                                               // 1
    step("add", {0, 1});                                             // 2
    step("load", {2});                                               // 3
    step("load", {1});                                               // 4
    step("add", {3, 4});                                             // 5
    step("add", {2, 5});                                             // 6
    (*step("constant", {})->mutable_attributes())["value"].set_f(0); // 7
    step("max", {6, 7});                                             // 8
    fusion->add_outputs(8);
  } else {
    step("load", {0});                                               // 0
    step("load", {1});                                               // 1
    step("add", {0, 1});                                             // 2
    (*step("constant", {})->mutable_attributes())["value"].set_f(0); // 3
    if (std::string(activation) == "max")
      step("max", {2, 3}); // 4
    else
      step(activation, {2}); // 4
    step("load", {2});       // 5
    step("add", {4, 5});     // 6
    fusion->add_outputs(6);
  }
  p.convolution(a, w2, y);
  p.output(y);

  std::vector<float> input(kChannels * kSize * kSize),
      added(kOut * kSize * kSize);
  std::mt19937 random(5);
  for (float &v : input)
    v = std::uniform_real_distribution<float>(-1, 1)(random);
  for (float &v : added)
    v = std::uniform_real_distribution<float>(-1, 1)(random);
  std::vector<float> first = convolve(input, p.constant(w0), kChannels, kOut);
  std::vector<float> second = convolve(first, p.constant(w1), kOut, kOut);
  for (size_t i = 0; i < second.size(); ++i) {
    float b = p.constant(bias)[i / (kSize * kSize)];
    float r = residualInput ? added[i] : first[i];
    float v = second[i] + b;
    if (sum)
      second[i] = std::max(v + (r + b), 0.0f);
    else
      second[i] =
          (std::string(activation) == "max" ? std::max(v, 0.0f) : std::sin(v)) +
          r;
  }
  std::vector<float> expected = convolve(second, p.constant(w2), kOut, kOut);

  for (int threads : {1, 2}) {
    HostBackend backend(threads, /*profile=*/true);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        backend.load(p.executable, "/nonexistent");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    std::vector<HostTensor> inputs = {
        tensorOf({1, kChannels, kSize, kSize}, input)};
    if (residualInput)
      inputs.push_back(tensorOf({1, kOut, kSize, kSize}, added));
    for (int run = 0; run < 2; ++run) {
      absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run(inputs);
      ASSERT_TRUE(result.ok()) << result.status();
      for (size_t i = 0; i < expected.size(); ++i)
        ASSERT_NEAR((*result)[0].as<float>()[i], expected[i], 1e-3)
            << activation << ", element " << i << ", " << threads
            << " threads, run " << run;
    }
    bool fusionRan = false;
    for (const auto &[kernel, seconds] : (*loaded)->profile())
      fusionRan = fusionRan || kernel == "fusion";
    EXPECT_EQ(fusionRan, !absorbed) << activation;
  }
}

TEST(EpilogueTest, ConvolutionComputesTheFusionAfterIt) {
  runEpilogue("max", /*residualInput=*/false, /*absorbed=*/true);
}

TEST(EpilogueTest, SumsOfOperandsAddOneByOne) {
  runEpilogue("sum", /*residualInput=*/false, /*absorbed=*/true);
}

TEST(EpilogueTest, FusionWithoutPostOpsRunsApart) {
  runEpilogue("sin", /*residualInput=*/false, /*absorbed=*/false);
}

// The residual row-major, its dimensions those of the channels-last result:
// not a post-op operand (read in another order).
TEST(EpilogueTest, RowMajorOperandRunsApart) {
  runEpilogue("max", /*residualInput=*/true, /*absorbed=*/false);
}

/// 3x3 pool, stride 2, padding 1 of [C, kSize, kSize] (average: over the
/// window's elements inside the input; maximum: NaN where the window has
/// one).
std::vector<float> pool(const std::vector<float> &x, int64_t channels,
                        bool isMax, int64_t outSize) {
  std::vector<float> y(channels * outSize * outSize);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < outSize; ++i)
      for (int64_t j = 0; j < outSize; ++j) {
        float best = -INFINITY, sum = 0;
        int counted = 0;
        for (int64_t di = 0; di < 3; ++di)
          for (int64_t dj = 0; dj < 3; ++dj) {
            int64_t r = 2 * i + di - 1, s = 2 * j + dj - 1;
            if (r < 0 || r >= kSize || s < 0 || s >= kSize)
              continue;
            float v = x[(c * kSize + r) * kSize + s];
            if (!std::isnan(best) && (v > best || std::isnan(v)))
              best = v;
            sum += v;
            ++counted;
          }
        y[(c * outSize + i) * outSize + j] = isMax ? best : sum / counted;
      }
  return y;
}

// conv -> pool -> 1x1 conv: the pool reads and writes channels-last, with
// `out` channels (the pool's blocks of 16 and the channels after them), and
// a NaN in the input if asked.
void runPool(const char *op, int64_t out, bool withNan = false) {
  bool isMax = std::string(op) == "max_pool";
  int64_t half = kSize / 2;
  ProgramBuilder p;
  int64_t x = p.input({1, kChannels, kSize, kSize});
  int64_t w = p.buffer(proto::Buffer::CONSTANT, {out, kChannels, 3, 3});
  int64_t w1 = p.buffer(proto::Buffer::CONSTANT, {out, out, 1, 1});
  int64_t c = p.buffer(proto::Buffer::ARENA, {1, out, kSize, kSize}, 0);
  uint64_t bytes = out * kSize * kSize * sizeof(float);
  int64_t pooled = p.buffer(proto::Buffer::ARENA, {1, out, half, half}, bytes);
  int64_t y = p.buffer(proto::Buffer::ARENA, {1, out, half, half}, 0);
  p.convolution(x, w, c);
  proto::Instruction *instruction = p.program->add_instructions();
  instruction->set_op(op);
  instruction->set_location("pooled");
  instruction->add_operands(c);
  instruction->add_results(pooled);
  auto ints = [&](const char *name, std::vector<int64_t> values) {
    ProgramBuilder::setInts(instruction, name, values);
  };
  ints("window_dimensions", {3, 3});
  ints("window_strides", {2, 2});
  ints("window_dilations", {1, 1});
  ints("padding_low", {1, 1});
  ints("padding_high", {1, 1});
  proto::Instruction *conv = p.program->add_instructions();
  *conv = p.program->instructions(0);
  conv->set_operands(0, pooled);
  conv->set_operands(1, w1);
  conv->set_results(0, y);
  for (const char *name : {"padding_low", "padding_high"})
    for (int d = 0; d < 2; ++d)
      (*conv->mutable_attributes())[name].mutable_ints()->set_values(d, 0);
  p.output(y);

  ThreadPool threads(1);
  std::vector<bool> layouts = chooseChannelsLast(*p.program, threads);
  EXPECT_TRUE(layouts[c] && layouts[pooled]) << op;

  std::vector<float> input(kChannels * kSize * kSize);
  std::mt19937 random(11);
  for (float &v : input)
    v = std::uniform_real_distribution<float>(-1, 1)(random);
  if (withNan)
    input[kSize * kSize + 3 * kSize + 5] = NAN;
  std::vector<float> pooledValues =
      pool(convolve(input, p.constant(w), kChannels, out), out, isMax, half);
  std::vector<float> expected(out * half * half, 0.0f);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < out; ++i)
      for (int64_t q = 0; q < half * half; ++q)
        expected[o * half * half + q] +=
            p.constant(w1)[o * out + i] * pooledValues[i * half * half + q];
  HostBackend backend(2);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(p.executable, "/nonexistent");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  HostTensor tensor = tensorOf({1, kChannels, kSize, kSize}, input);
  absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run({tensor});
  ASSERT_TRUE(result.ok()) << result.status();
  int nans = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    float got = (*result)[0].as<float>()[i];
    nans += std::isnan(expected[i]);
    if (std::isnan(expected[i]))
      ASSERT_TRUE(std::isnan(got)) << op << ", element " << i;
    else
      ASSERT_NEAR(got, expected[i], 1e-4) << op << ", element " << i;
  }
  EXPECT_EQ(nans > 0, withNan);
}

TEST(ChannelsLastTest, MaxPool) {
  for (int64_t channels : {8, 16, 37})
    runPool("max_pool", channels);
}
TEST(ChannelsLastTest, AveragePool) {
  for (int64_t channels : {8, 16, 37})
    runPool("avg_pool", channels);
}
TEST(ChannelsLastTest, MaxPoolKeepsNaN) {
  for (int64_t channels : {8, 37})
    runPool("max_pool", channels, /*withNan=*/true);
}

// y = x . W^T (W read-only, [n, k]), then f(y + bias) or y + bias + r for
// a second input r: the matrix multiply computes the fusion (no fusion in
// the profile) where oneDNN has post-ops for it.
void runDotEpilogue(const std::string &form, bool absorbed) {
  constexpr int64_t m = 64, k = 32, n = 48;
  ProgramBuilder p;
  int64_t x = p.input({2, m / 2, k});
  int64_t w = p.buffer(proto::Buffer::CONSTANT, {n, k});
  int64_t bias = p.buffer(proto::Buffer::CONSTANT, {n});
  bool residual = form == "residual";
  int64_t r = residual ? p.input({2, m / 2, n}, "r") : -1;
  int64_t y = p.buffer(proto::Buffer::ARENA, {2, m / 2, n}, 0);
  int64_t out = p.buffer(proto::Buffer::ARENA, {2, m / 2, n}, m * n * 4);
  proto::Instruction *dot = p.program->add_instructions();
  dot->set_op("dot_general");
  dot->set_location("y");
  dot->add_operands(x);
  dot->add_operands(w);
  dot->add_results(y);
  auto ints = [&](const char *name, std::vector<int64_t> values) {
    ProgramBuilder::setInts(dot, name, values);
  };
  ints("lhs_batching_dimensions", {});
  ints("rhs_batching_dimensions", {});
  ints("lhs_contracting_dimensions", {2});
  ints("rhs_contracting_dimensions", {1});
  std::vector<std::pair<int64_t, std::vector<int64_t>>> operands = {
      {y, {0, 1, 2}}, {bias, {2}}};
  if (residual)
    operands.push_back({r, {0, 1, 2}});
  proto::Fusion *fusion = p.fusionOver("out", operands, out);
  auto step = [&](const char *op, std::vector<int64_t> args) {
    return ProgramBuilder::step(fusion, op, args);
  };
  auto constant = [&](double value) {
    (*step("constant", {})->mutable_attributes())["value"].set_f(value);
    return fusion->steps_size() - 1;
  };
  step("load", {1});   // 0: bias
  step("load", {0});   // 1: y
  step("add", {0, 1}); // 2: v = bias + y, as exporters order it
  int last = 2;
  if (form == "gelu_tanh") {
    // 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v^3)))
    int half = constant(0.5);
    step("mul", {2, half}); // h
    int h = fusion->steps_size() - 1;
    int three = constant(3);
    step("pow", {2, three});
    int cube = fusion->steps_size() - 1;
    int c = constant(0.044715);
    step("mul", {cube, c});
    step("add", {2, fusion->steps_size() - 1});
    int sum = fusion->steps_size() - 1;
    int scale = constant(0.7978845608);
    step("mul", {sum, scale});
    step("tanh", {fusion->steps_size() - 1});
    int t = fusion->steps_size() - 1;
    int one = constant(1);
    step("add", {t, one});
    step("mul", {h, fusion->steps_size() - 1});
    last = fusion->steps_size() - 1;
  } else if (form == "gelu_erf") {
    // v * 0.5 * (1 + erf(v / sqrt 2))
    int root = constant(1.4142135623730951);
    step("div", {2, root});
    step("erf", {fusion->steps_size() - 1});
    int e = fusion->steps_size() - 1;
    int one = constant(1);
    step("add", {one, e});
    int u = fusion->steps_size() - 1;
    int half = constant(0.5);
    step("mul", {2, half});
    step("mul", {fusion->steps_size() - 1, u});
    last = fusion->steps_size() - 1;
  } else if (form == "residual") {
    step("load", {2});
    step("add", {2, fusion->steps_size() - 1});
    last = fusion->steps_size() - 1;
  } else if (form == "clamp") {
    // A lower bound only: the upper side stays open to infinities.
    (*step("clamp", {2})->mutable_attributes())["min"].set_f(-0.5);
    last = fusion->steps_size() - 1;
  } else {
    step(form.c_str(), {2});
    last = fusion->steps_size() - 1;
  }
  fusion->add_outputs(last);
  p.output(out);

  std::mt19937 random(13);
  std::vector<float> input(m * k), added(m * n);
  for (float &v : input)
    v = std::uniform_real_distribution<float>(-2, 2)(random);
  if (form == "clamp") {
    // Row 0 infinite, with positive weights: y is +inf there.
    std::fill(input.begin(), input.begin() + k, INFINITY);
    std::vector<float> positive(n * k);
    for (float &v : positive)
      v = std::uniform_real_distribution<float>(0.1f, 1)(random);
    p.program->mutable_buffers(w)->set_data(positive.data(),
                                            positive.size() * sizeof(float));
  }
  for (float &v : added)
    v = std::uniform_real_distribution<float>(-1, 1)(random);
  std::vector<float> expected(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t q = 0; q < k; ++q)
        sum += input[i * k + q] * p.constant(w)[j * k + q];
      double v = sum + p.constant(bias)[j];
      if (form == "gelu_tanh")
        v = 0.5 * v *
            (1 + std::tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
      else if (form == "gelu_erf")
        v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      else if (form == "residual")
        v += added[i * n + j];
      else if (form == "sin")
        v = std::sin(v);
      else if (form == "clamp")
        v = std::max(v, -0.5);
      expected[i * n + j] = static_cast<float>(v);
    }
  for (int threads : {1, 2}) {
    HostBackend backend(threads, /*profile=*/true);
    absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
        backend.load(p.executable, "/nonexistent");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    std::vector<HostTensor> inputs = {tensorOf({2, m / 2, k}, input)};
    if (residual)
      inputs.push_back(tensorOf({2, m / 2, n}, added));
    for (int run = 0; run < 2; ++run) {
      absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run(inputs);
      ASSERT_TRUE(result.ok()) << result.status();
      for (size_t i = 0; i < expected.size(); ++i) {
        float got = (*result)[0].as<float>()[i];
        if (std::isinf(expected[i]))
          ASSERT_EQ(got, expected[i])
              << form << ", element " << i << ", " << threads << " threads";
        else
          ASSERT_NEAR(got, expected[i], 1e-4)
              << form << ", element " << i << ", " << threads << " threads";
      }
    }
    bool fusionRan = false;
    for (const auto &[kernel, seconds] : (*loaded)->profile())
      fusionRan = fusionRan || kernel == "fusion";
    EXPECT_EQ(fusionRan, !absorbed) << form;
  }
}

TEST(EpilogueTest, MatrixMultiplyComputesGeluTanh) {
  runDotEpilogue("gelu_tanh", /*absorbed=*/true);
}
TEST(EpilogueTest, MatrixMultiplyComputesGeluErf) {
  runDotEpilogue("gelu_erf", /*absorbed=*/true);
}
TEST(EpilogueTest, MatrixMultiplyAddsResidual) {
  runDotEpilogue("residual", /*absorbed=*/true);
}
TEST(EpilogueTest, MatrixMultiplyClampKeepsInfinities) {
  runDotEpilogue("clamp", /*absorbed=*/true);
}
TEST(EpilogueTest, MatrixMultiplyLeavesSinApart) {
  runDotEpilogue("sin", /*absorbed=*/false);
}

// A reshape view of a convolution's result (a buffer nobody writes, on the
// same bytes) reads them row-major: the result stays row-major.
TEST(ChannelsLastTest, ViewsKeepTheirBytesRowMajor) {
  ProgramBuilder p;
  int64_t x = p.input({1, kChannels, kSize, kSize});
  int64_t w = p.buffer(proto::Buffer::CONSTANT, {kOut, kChannels, 3, 3});
  int64_t c = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 0);
  int64_t view = p.buffer(proto::Buffer::ARENA, {kOut, kSize * kSize}, 0);
  int64_t y = p.buffer(proto::Buffer::ARENA, {kOut, kSize * kSize},
                       kOut * kSize * kSize * sizeof(float));
  p.convolution(x, w, c);
  p.fusion("neg", {view}, {{0, 1}}, y);
  p.output(y);
  ThreadPool pool(1);
  std::vector<bool> layouts = chooseChannelsLast(*p.program, pool);
  EXPECT_FALSE(layouts[c]);
  EXPECT_FALSE(layouts[view]);
}

// A buffer a kernel without a channels-last rule reads stays row-major.
TEST(ChannelsLastTest, OtherKernelsReadRowMajor) {
  ProgramBuilder p;
  int64_t x = p.input({1, kChannels, kSize, kSize});
  int64_t w = p.buffer(proto::Buffer::CONSTANT, {kOut, kChannels, 3, 3});
  int64_t c = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize}, 0);
  int64_t y = p.buffer(proto::Buffer::ARENA, {1, kOut, kSize, kSize},
                       kOut * kSize * kSize * sizeof(float));
  p.convolution(x, w, c);
  proto::Instruction *softmax = p.program->add_instructions();
  softmax->set_op("softmax");
  softmax->add_operands(c);
  softmax->add_results(y);
  p.output(y);
  ThreadPool pool(1);
  EXPECT_FALSE(chooseChannelsLast(*p.program, pool)[c]);
}

// softmax(constant) reshaped, added to the input: the softmax reads
// constants only, so it runs once at load (not in the runs' profile), into
// bytes of its own that its reshape view follows.
TEST(InvariantsTest, InstructionsOnConstantsRunOnceAtLoad) {
  ProgramBuilder p;
  int64_t x = p.input({2, 6});
  int64_t c = p.buffer(proto::Buffer::CONSTANT, {3, 4});
  int64_t s = p.buffer(proto::Buffer::ARENA, {3, 4}, 0);
  int64_t view = p.buffer(proto::Buffer::ARENA, {2, 6}, 0);
  int64_t y = p.buffer(proto::Buffer::ARENA, {2, 6}, 64);
  proto::Instruction *softmax = p.program->add_instructions();
  softmax->set_op("softmax");
  softmax->set_location("s");
  softmax->add_operands(c);
  softmax->add_results(s);
  (*softmax->mutable_attributes())["dimension"].set_i(1);
  p.fusion("add", {x, view}, {{0, 1}, {0, 1}}, y);
  p.output(y);
  std::vector<float> expected(12);
  const float *values = p.constant(c);
  for (int row = 0; row < 3; ++row) {
    double total = 0;
    for (int j = 0; j < 4; ++j)
      total += std::exp(values[row * 4 + j]);
    for (int j = 0; j < 4; ++j)
      expected[row * 4 + j] = std::exp(values[row * 4 + j]) / total;
  }
  HostBackend backend(1, /*profile=*/true);
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      backend.load(p.executable, "/nonexistent");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (int run = 0; run < 2; ++run) {
    HostTensor input{proto::F32, {2, 6}, std::vector<char>(48)};
    for (int i = 0; i < 12; ++i)
      input.as<float>()[i] = run + i;
    absl::StatusOr<std::vector<HostTensor>> result = (*loaded)->run({input});
    ASSERT_TRUE(result.ok()) << result.status();
    for (int i = 0; i < 12; ++i)
      EXPECT_NEAR((*result)[0].as<float>()[i], run + i + expected[i], 1e-5);
  }
  for (const auto &[kernel, seconds] : (*loaded)->profile())
    EXPECT_NE(kernel, "softmax") << "ran again after the load";
}

} // namespace
} // namespace tessel
