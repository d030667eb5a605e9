//===- GradientCheckTest.cpp - Gradient rules against finite differences -===//
//
// For every op with a gradient rule: a function f(a0, a1, ...) = sum(op(...)
// * W), W fixed and random so that every element of the op's result
// matters differently, is differentiated by --graph-autodiff with respect
// to every float argument; the gradients, computed by the host runtime,
// must match central finite differences of f computed by the same runtime,
// and the gradient program partitioned over two and three devices must
// give the single-device gradients.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <random>
#include <sstream>

#include "compiler/api/Tessel.h"
#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "passes/autodiff/Passes.h"
#include "runtime/Backend.h"
#include "runtime/host/HostBackend.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

enum class Inputs { Any, Positive, Distinct };

struct Case {
  const char *name;
  /// Argument types, `%a0`, `%a1`, ...
  std::vector<std::string> arguments;
  /// Defines `%y` from the arguments.
  std::string body;
  /// `%y`'s type.
  std::string result;
  Inputs inputs = Inputs::Any;
  /// The element type the arguments and result use, for the checks.
  bool f32 = false;
};

std::vector<int64_t> shapeOf(const std::string &type) {
  // tensor<2x3xf64> -> {2, 3}; tensor<f64> -> {}.
  std::vector<int64_t> dims;
  std::string inner = type.substr(7, type.size() - 8);
  std::stringstream parts(inner);
  std::string part;
  while (std::getline(parts, part, 'x'))
    if (!part.empty() && std::isdigit(part[0]))
      dims.push_back(std::stoll(part));
  return dims;
}

int64_t countOf(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// The forward function's text.
std::string forwardText(const Case &c) {
  std::mt19937 random(7);
  std::uniform_real_distribution<double> weight(-1, 1);
  std::vector<int64_t> dims = shapeOf(c.result);
  std::string element = c.f32 ? "f32" : "f64";
  std::ostringstream text;
  text.precision(17);
  text << "func.func @main(";
  for (size_t i = 0; i < c.arguments.size(); ++i)
    text << (i ? ", " : "") << "%a" << i << ": " << c.arguments[i]
         << " {graph.name = \"a" << i << "\"}";
  text << ") -> (tensor<" << element << "> {graph.name = \"loss\"}) {\n"
       << c.body << "\n  %w = graph.constant dense<[";
  for (int64_t i = 0; i < countOf(dims); ++i)
    text << (i ? ", " : "") << weight(random);
  text << "]> : tensor<" << countOf(dims) << "x" << element << ">\n"
       << "  %wr = graph.reshape %w : (tensor<" << countOf(dims) << "x"
       << element << ">) -> " << c.result << "\n"
       << "  %p = graph.mul %y, %wr : " << c.result << "\n"
       << "  %l = graph.reduce sum %p, dims = [";
  for (size_t d = 0; d < dims.size(); ++d)
    text << (d ? ", " : "") << d;
  text << "] : (" << c.result << ") -> tensor<" << element << ">\n"
       << "  return %l : tensor<" << element << ">\n}\n";
  return text.str();
}

HostTensor tensorOf(const std::vector<int64_t> &dims, bool f32,
                    const std::vector<double> &values) {
  HostTensor t;
  t.type = f32 ? proto::F32 : proto::F64;
  t.dims = dims;
  t.bytes.resize(values.size() * (f32 ? 4 : 8));
  for (size_t i = 0; i < values.size(); ++i) {
    if (f32)
      t.as<float>()[i] = static_cast<float>(values[i]);
    else
      t.as<double>()[i] = values[i];
  }
  return t;
}

double valueAt(const HostTensor &t, int64_t i) {
  return t.type == proto::F32 ? t.as<float>()[i] : t.as<double>()[i];
}

std::vector<std::vector<double>> inputsOf(const Case &c) {
  std::mt19937 random(11);
  std::uniform_real_distribution<double> any(-1, 1), positive(0.5, 1.5);
  std::vector<std::vector<double>> inputs;
  int64_t rank = 0;
  for (const std::string &type : c.arguments) {
    std::vector<double> values(countOf(shapeOf(type)));
    for (double &v : values)
      v = c.inputs == Inputs::Positive ? positive(random) : any(random);
    if (c.inputs == Inputs::Distinct) // Spread apart: no near ties.
      for (size_t i = 0; i < values.size(); ++i)
        values[i] = (static_cast<double>((i * 7 + rank * 3) % 17) - 8) / 5 +
                    values[i] * 0.01;
    inputs.push_back(values);
    ++rank;
  }
  return inputs;
}

std::unique_ptr<LoadedExecutable> load(const std::string &text,
                                       const CompileOptions &options,
                                       HostBackend &backend,
                                       const std::string &what) {
  absl::StatusOr<Compiled> compiled =
      compile(ModelSource::mlir(text, what + ".mlir"), options);
  EXPECT_TRUE(compiled.ok()) << what << ": " << compiled.status();
  if (!compiled.ok())
    return nullptr;
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      compiled->load(backend);
  EXPECT_TRUE(loaded.ok()) << what << ": " << loaded.status();
  return loaded.ok() ? std::move(*loaded) : nullptr;
}

/// The forward text differentiated with respect to every argument.
std::string gradientText(const std::string &forward) {
  mlir::MLIRContext context;
  context.loadDialect<graph::GraphDialect, mlir::func::FuncDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(forward, &context);
  EXPECT_TRUE(module) << forward;
  if (!module)
    return "";
  auto function = *module->getOps<mlir::func::FuncOp>().begin();
  mlir::FailureOr<llvm::SmallVector<unsigned>> arguments =
      autodiff::selectArguments(function, "all");
  EXPECT_TRUE(mlir::succeeded(arguments));
  EXPECT_TRUE(mlir::succeeded(
      autodiff::appendGradients(function, /*loss=*/0, *arguments)));
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

class GradientCheck : public ::testing::TestWithParam<Case> {};

TEST_P(GradientCheck, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  std::string forward = forwardText(c);
  std::string backward = gradientText(forward);
  ASSERT_FALSE(backward.empty());
  HostBackend backend(3);
  std::unique_ptr<LoadedExecutable> f = load(forward, {}, backend, "forward");
  std::unique_ptr<LoadedExecutable> df =
      load(backward, {}, backend, "gradient");
  ASSERT_TRUE(f && df);

  std::vector<std::vector<double>> values = inputsOf(c);
  auto tensors = [&](const std::vector<std::vector<double>> &v) {
    std::vector<HostTensor> result;
    for (size_t i = 0; i < v.size(); ++i)
      result.push_back(tensorOf(shapeOf(c.arguments[i]), c.f32, v[i]));
    return result;
  };
  absl::StatusOr<std::vector<HostTensor>> gradients = df->run(tensors(values));
  ASSERT_TRUE(gradients.ok()) << gradients.status();
  ASSERT_EQ(gradients->size(), 1 + c.arguments.size());

  // Central differences; f64 with a small step, f32 with a larger one
  // and a looser tolerance.
  double step = c.f32 ? 1e-2 : 1e-6, tolerance = c.f32 ? 2e-2 : 1e-6;
  for (size_t a = 0; a < values.size(); ++a)
    for (size_t i = 0; i < values[a].size(); ++i) {
      auto at = [&](double delta) {
        std::vector<std::vector<double>> moved = values;
        moved[a][i] += delta;
        absl::StatusOr<std::vector<HostTensor>> out = f->run(tensors(moved));
        EXPECT_TRUE(out.ok()) << out.status();
        return out.ok() ? valueAt((*out)[0], 0) : NAN;
      };
      double numeric = (at(step) - at(-step)) / (2 * step);
      double analytic = valueAt((*gradients)[1 + a], i);
      EXPECT_NEAR(analytic, numeric, tolerance * (1 + std::fabs(numeric)))
          << c.name << ": d loss / d a" << a << "[" << i << "]";
    }

  // Partitioned: the first argument's leading dimension split over two
  // and three devices (even and uneven), the rest by propagation.
  std::vector<int64_t> dims = shapeOf(c.arguments[0]);
  if (dims.empty())
    return;
  for (int devices : {2, 3}) {
    CompileOptions options;
    options.sharding.mesh = "x=" + std::to_string(devices);
    options.sharding.plan.emplace();
    proto::TensorPlan *entry = options.sharding.plan->add_tensors();
    entry->set_name("a0");
    std::string spec = "[\"x\"";
    for (size_t d = 1; d < dims.size(); ++d)
      spec += ", null";
    entry->set_spec(spec + "]");
    std::unique_ptr<LoadedExecutable> split = load(
        backward, options, backend, "gradient on " + options.sharding.mesh);
    ASSERT_TRUE(split);
    absl::StatusOr<std::vector<HostTensor>> out = split->run(tensors(values));
    ASSERT_TRUE(out.ok()) << out.status();
    for (size_t r = 0; r < out->size(); ++r)
      for (int64_t i = 0; i < (*out)[r].numElements(); ++i)
        EXPECT_NEAR(valueAt((*out)[r], i), valueAt((*gradients)[r], i),
                    c.f32 ? 1e-4 : 1e-10)
            << c.name << " on " << devices << " devices: result " << r << "["
            << i << "]";
  }
}

const std::string M = "tensor<2x3xf64>";

std::vector<Case> cases() {
  auto binary = [](const char *name, const char *op,
                   Inputs inputs = Inputs::Any) {
    return Case{name,
                {M, M},
                std::string("  %y = graph.") + op + " %a0, %a1 : " + M,
                M,
                inputs};
  };
  auto unary = [](const char *name, const char *op,
                  Inputs inputs = Inputs::Any) {
    return Case{name,
                {M},
                std::string("  %y = graph.") + op + " %a0 : " + M,
                M,
                inputs};
  };
  return {
      binary("add", "add"),
      binary("sub", "sub"),
      binary("mul", "mul"),
      binary("div", "div", Inputs::Positive),
      binary("max", "max", Inputs::Distinct),
      binary("min", "min", Inputs::Distinct),
      binary("pow", "pow", Inputs::Positive),
      unary("neg", "neg"),
      unary("abs", "abs", Inputs::Distinct),
      unary("sign", "sign", Inputs::Distinct),
      unary("relu", "relu", Inputs::Distinct),
      unary("exp", "exp"),
      unary("log", "log", Inputs::Positive),
      unary("tanh", "tanh"),
      unary("erf", "erf"),
      unary("sqrt", "sqrt", Inputs::Positive),
      unary("rsqrt", "rsqrt", Inputs::Positive),
      unary("reciprocal", "reciprocal", Inputs::Positive),
      unary("sigmoid", "sigmoid"),
      unary("sin", "sin"),
      unary("cos", "cos"),
      unary("floor", "floor", Inputs::Distinct),
      unary("ceil", "ceil", Inputs::Distinct),
      unary("round", "round", Inputs::Distinct),
      Case{"clamp",
           {M},
           "  %y = graph.clamp %a0 {min = -0.5, max = 0.6} : " + M,
           M,
           Inputs::Distinct},
      Case{"select",
           {M, M, M},
           "  %z = graph.constant dense<0.0> : " + M +
               "\n  %c = graph.compare gt, %a2, %z : " + M +
               "\n  %y = graph.select %c, %a0, %a1 : tensor<2x3xi1>, " + M,
           M,
           Inputs::Distinct},
      Case{"convert",
           {"tensor<2x3xf32>"},
           "  %y = graph.convert %a0 : (tensor<2x3xf32>) -> tensor<2x3xf32>",
           "tensor<2x3xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"broadcast_in_dim",
           {"tensor<3x1xf64>"},
           "  %y = graph.broadcast_in_dim %a0, dims = [2, 0] : "
           "(tensor<3x1xf64>) -> tensor<4x2x3xf64>",
           "tensor<4x2x3xf64>"},
      Case{"transpose",
           {"tensor<2x3x4xf64>"},
           "  %y = graph.transpose %a0, perm = [2, 0, 1] : "
           "(tensor<2x3x4xf64>) -> tensor<4x2x3xf64>",
           "tensor<4x2x3xf64>"},
      Case{"reshape",
           {"tensor<2x6xf64>"},
           "  %y = graph.reshape %a0 : (tensor<2x6xf64>) -> tensor<3x4xf64>",
           "tensor<3x4xf64>"},
      Case{"slice",
           {"tensor<4x7xf64>"},
           "  %y = graph.slice %a0 [1:4, 1:7:2] : (tensor<4x7xf64>) -> "
           "tensor<3x3xf64>",
           "tensor<3x3xf64>"},
      Case{"concatenate",
           {"tensor<2x3xf64>", "tensor<2x2xf64>"},
           "  %y = graph.concatenate %a0, %a1 dim = 1 : (tensor<2x3xf64>, "
           "tensor<2x2xf64>) -> tensor<2x5xf64>",
           "tensor<2x5xf64>"},
      Case{"pad",
           {"tensor<4x3xf64>"},
           "  %y = graph.pad %a0 {edge_padding_low = array<i64: -1, 2>, "
           "edge_padding_high = array<i64: 1, -2>, interior_padding = "
           "array<i64: 1, 1>, padding_value = 0.5} : (tensor<4x3xf64>) -> "
           "tensor<7x5xf64>",
           "tensor<7x5xf64>"},
      Case{"reverse", {M}, "  %y = graph.reverse %a0, dims = [1] : " + M, M},
      Case{"dot_general matmul",
           {"tensor<4x3xf64>", "tensor<3x2xf64>"},
           "  %y = graph.dot_general %a0, %a1, batching_dims = [] x [], "
           "contracting_dims = [1] x [0] : (tensor<4x3xf64>, "
           "tensor<3x2xf64>) -> tensor<4x2xf64>",
           "tensor<4x2xf64>"},
      Case{"dot_general batched, transposed",
           {"tensor<3x2x4xf64>", "tensor<2x5x3xf64>"},
           "  %y = graph.dot_general %a0, %a1, batching_dims = [1] x [0], "
           "contracting_dims = [0] x [2] : (tensor<3x2x4xf64>, "
           "tensor<2x5x3xf64>) -> tensor<2x4x5xf64>",
           "tensor<2x4x5xf64>"},
      Case{"reduce sum",
           {"tensor<2x3x4xf64>"},
           "  %y = graph.reduce sum %a0, dims = [0, 2] : (tensor<2x3x4xf64>) "
           "-> tensor<3xf64>",
           "tensor<3xf64>"},
      Case{"reduce mean",
           {"tensor<2x3x4xf64>"},
           "  %y = graph.reduce mean %a0, dims = [1] : (tensor<2x3x4xf64>) "
           "-> tensor<2x4xf64>",
           "tensor<2x4xf64>"},
      Case{"reduce max",
           {"tensor<2x3x4xf64>"},
           "  %y = graph.reduce max %a0, dims = [2] : (tensor<2x3x4xf64>) "
           "-> tensor<2x3xf64>",
           "tensor<2x3xf64>",
           Inputs::Distinct},
      Case{"reduce min",
           {"tensor<2x3x4xf64>"},
           "  %y = graph.reduce min %a0, dims = [0] : (tensor<2x3x4xf64>) "
           "-> tensor<3x4xf64>",
           "tensor<3x4xf64>",
           Inputs::Distinct},
      Case{"convolution",
           {"tensor<2x3x5x5xf32>", "tensor<4x3x3x3xf32>"},
           "  %y = graph.convolution %a0, %a1 {window_strides = array<i64: 1, "
           "1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, "
           "1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, "
           "1>, feature_group_count = 1 : i64} : (tensor<2x3x5x5xf32>, "
           "tensor<4x3x3x3xf32>) -> tensor<2x4x5x5xf32>",
           "tensor<2x4x5x5xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"convolution strided, dilated, uneven padding",
           {"tensor<1x2x7x6xf32>", "tensor<3x2x2x3xf32>"},
           "  %y = graph.convolution %a0, %a1 {window_strides = array<i64: 2, "
           "2>, padding_low = array<i64: 1, 0>, padding_high = array<i64: 0, "
           "2>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 2, "
           "1>, feature_group_count = 1 : i64} : (tensor<1x2x7x6xf32>, "
           "tensor<3x2x2x3xf32>) -> tensor<1x3x3x3xf32>",
           "tensor<1x3x3x3xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"convolution grouped, transposed",
           {"tensor<2x4x3x3xf32>", "tensor<6x2x2x2xf32>"},
           "  %y = graph.convolution %a0, %a1 {window_strides = array<i64: 1, "
           "1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, "
           "1>, lhs_dilation = array<i64: 2, 2>, rhs_dilation = array<i64: 1, "
           "1>, feature_group_count = 2 : i64} : (tensor<2x4x3x3xf32>, "
           "tensor<6x2x2x2xf32>) -> tensor<2x6x6x6xf32>",
           "tensor<2x6x6x6xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"convolution depthwise",
           {"tensor<3x3x4x4xf32>", "tensor<3x1x3x3xf32>"},
           "  %y = graph.convolution %a0, %a1 {window_strides = array<i64: 1, "
           "1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: 1, "
           "1>, lhs_dilation = array<i64: 1, 1>, rhs_dilation = array<i64: 1, "
           "1>, feature_group_count = 3 : i64} : (tensor<3x3x4x4xf32>, "
           "tensor<3x1x3x3xf32>) -> tensor<3x3x4x4xf32>",
           "tensor<3x3x4x4xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"avg_pool",
           {"tensor<2x3x4x4xf32>"},
           "  %y = graph.avg_pool %a0 {window_dimensions = array<i64: 2, 2>, "
           "window_strides = array<i64: 2, 2>, window_dilations = array<i64: "
           "1, 1>, padding_low = array<i64: 0, 0>, padding_high = array<i64: "
           "0, 0>} : (tensor<2x3x4x4xf32>) -> tensor<2x3x2x2xf32>",
           "tensor<2x3x2x2xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"avg_pool padded, ceil mode",
           {"tensor<1x2x6x6xf32>"},
           "  %y = graph.avg_pool %a0 {window_dimensions = array<i64: 3, 3>, "
           "window_strides = array<i64: 2, 2>, window_dilations = array<i64: "
           "1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: "
           "1, 1>, ceil_mode = true} : (tensor<1x2x6x6xf32>) -> "
           "tensor<1x2x4x4xf32>",
           "tensor<1x2x4x4xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"avg_pool counting padding",
           {"tensor<2x2x5x5xf32>"},
           "  %y = graph.avg_pool %a0 {window_dimensions = array<i64: 3, 3>, "
           "window_strides = array<i64: 1, 1>, window_dilations = array<i64: "
           "1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: "
           "1, 1>, count_include_pad = true} : (tensor<2x2x5x5xf32>) -> "
           "tensor<2x2x5x5xf32>",
           "tensor<2x2x5x5xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"max_pool",
           {"tensor<2x2x5x5xf32>"},
           "  %y = graph.max_pool %a0 {window_dimensions = array<i64: 3, 3>, "
           "window_strides = array<i64: 2, 2>, window_dilations = array<i64: "
           "1, 1>, padding_low = array<i64: 1, 1>, padding_high = array<i64: "
           "1, 1>} : (tensor<2x2x5x5xf32>) -> tensor<2x2x3x3xf32>",
           "tensor<2x2x3x3xf32>",
           Inputs::Distinct,
           /*f32=*/true},
      Case{"max_pool dilated, ceil mode",
           {"tensor<1x2x8x8xf32>"},
           "  %y = graph.max_pool %a0 {window_dimensions = array<i64: 2, 2>, "
           "window_strides = array<i64: 2, 2>, window_dilations = array<i64: "
           "2, 2>, padding_low = array<i64: 0, 0>, padding_high = array<i64: "
           "0, 0>, ceil_mode = true} : (tensor<1x2x8x8xf32>) -> "
           "tensor<1x2x4x4xf32>",
           "tensor<1x2x4x4xf32>",
           Inputs::Distinct,
           /*f32=*/true},
      Case{"gather embedding, repeated ids",
           {"tensor<5x3xf64>"},
           "  %i = graph.constant dense<[[4, 1, 1], [0, 4, 2]]> : "
           "tensor<2x3xi64>\n"
           "  %y = graph.gather %a0[%i] axis = 0 : (tensor<5x3xf64>, "
           "tensor<2x3xi64>) -> tensor<2x3x3xf64>",
           "tensor<2x3x3xf64>"},
      Case{"gather middle axis, negative index",
           {"tensor<2x4x3xf64>"},
           "  %i = graph.constant dense<[[-1, 0], [2, -1]]> : "
           "tensor<2x2xi64>\n"
           "  %y = graph.gather %a0[%i] axis = 1 : (tensor<2x4x3xf64>, "
           "tensor<2x2xi64>) -> tensor<2x2x2x3xf64>",
           "tensor<2x2x2x3xf64>"},
      Case{"batch_norm_inference",
           {"tensor<2x3x4xf32>", "tensor<3xf32>", "tensor<3xf32>",
            "tensor<3xf32>", "tensor<3xf32>"},
           "  %v = graph.exp %a4 : tensor<3xf32>\n"
           "  %y = graph.batch_norm_inference %a0, %a1, %a2, %a3, %v "
           "{epsilon = 1.0e-3 : f64, feature_index = 1} : "
           "(tensor<2x3x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, "
           "tensor<3xf32>) -> tensor<2x3x4xf32>",
           "tensor<2x3x4xf32>",
           Inputs::Any,
           /*f32=*/true},
      Case{"softmax",
           {"tensor<2x4xf64>"},
           "  %y = graph.softmax %a0, dim = 1 : tensor<2x4xf64>",
           "tensor<2x4xf64>"},
      Case{"layer_norm",
           {"tensor<2x3x4xf64>", "tensor<3x4xf64>", "tensor<3x4xf64>"},
           "  %y = graph.layer_norm %a0, %a1, %a2 {axis = 1, epsilon = 1.0e-5 "
           ": f64} : (tensor<2x3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>) "
           "-> tensor<2x3x4xf64>",
           "tensor<2x3x4xf64>"},
  };
}

INSTANTIATE_TEST_SUITE_P(Ops, GradientCheck, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           std::string name = info.param.name;
                           for (char &ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return name;
                         });

} // namespace
} // namespace tessel
