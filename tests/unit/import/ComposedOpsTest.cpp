//===- ComposedOpsTest.cpp - Einsum and CumSum against naive loops --------===//
//
// ONNX ops the importer composes of graph ops, whose ONNX node tests are
// f64 (which Tessel does not have yet): each case is imported, compiled and
// run on the host backend, and its output compared with a naive loop.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "compiler/driver/Compiler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/host/HostBackend.h"
#include "tests/unit/import/OneNodeModel.h"

namespace tessel {
namespace {

using Shape = std::vector<int64_t>;

/// The naive einsum of a letters-only equation with an explicit output.
std::vector<float> reference(const std::string &equation,
                             const std::vector<Shape> &shapes,
                             const std::vector<std::vector<float>> &inputs,
                             Shape &outputShape) {
  size_t arrow = equation.find("->");
  std::vector<std::string> terms;
  std::string left = equation.substr(0, arrow);
  for (size_t start = 0;;) {
    size_t comma = left.find(',', start);
    terms.push_back(left.substr(start, comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  std::string output = equation.substr(arrow + 2);
  std::map<char, int64_t> sizes;
  for (size_t t = 0; t < terms.size(); ++t)
    for (size_t d = 0; d < terms[t].size(); ++d)
      sizes[terms[t][d]] = shapes[t][d];
  std::vector<char> labels;
  for (const auto &[label, size] : sizes)
    labels.push_back(label);
  outputShape.clear();
  for (char c : output)
    outputShape.push_back(sizes[c]);
  int64_t outputSize = 1;
  for (int64_t d : outputShape)
    outputSize *= d;
  std::vector<float> result(outputSize, 0.0f);
  std::map<char, int64_t> at;
  std::function<void(size_t)> loop = [&](size_t l) {
    if (l < labels.size()) {
      for (int64_t i = 0; i < sizes[labels[l]]; ++i) {
        at[labels[l]] = i;
        loop(l + 1);
      }
      return;
    }
    auto offset = [&](const std::string &term, const Shape &shape) {
      int64_t o = 0;
      for (size_t d = 0; d < term.size(); ++d)
        o = o * shape[d] + at[term[d]];
      return o;
    };
    float product = 1;
    for (size_t t = 0; t < terms.size(); ++t)
      product *= inputs[t][offset(terms[t], shapes[t])];
    result[offset(output, outputShape)] += product;
  };
  loop(0);
  return result;
}

/// Imports, compiles and runs `model` on the host backend (a test failure
/// and no outputs if any step fails).
std::vector<HostTensor> run(OneNode &model,
                            const std::vector<HostTensor> &inputs) {
  mlir::MLIRContext context;
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  mlir::FailureOr<ImportedModel> imported =
      importOnnxModel(model.model, "", "model.onnx", context, {});
  if (mlir::failed(imported)) {
    ADD_FAILURE() << diagnostics;
    return {};
  }
  mlir::FailureOr<proto::Executable> executable =
      compileToExecutable(*imported->module, "model.params");
  if (mlir::failed(executable)) {
    ADD_FAILURE() << diagnostics;
    return {};
  }
  HostBackend host(1);
  const char *tmp = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      host.load(*executable, tmp ? tmp : "/tmp");
  if (!loaded.ok()) {
    ADD_FAILURE() << loaded.status();
    return {};
  }
  absl::StatusOr<std::vector<HostTensor>> outputs = (*loaded)->run(inputs);
  if (!outputs.ok()) {
    ADD_FAILURE() << outputs.status();
    return {};
  }
  return *outputs;
}

struct Case {
  std::string equation;
  std::vector<Shape> shapes;
  /// The same equation in letters only, with its output, for the reference.
  std::string plain;
};

void check(const Case &c) {
  SCOPED_TRACE(c.equation);
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<std::vector<float>> values;
  std::vector<Tensor> inputs;
  std::vector<HostTensor> hostInputs;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    int64_t count = 1;
    for (int64_t d : c.shapes[i])
      count *= d;
    std::vector<float> v(count);
    for (float &x : v)
      x = uniform(random);
    values.push_back(v);
    inputs.push_back({"in" + std::to_string(i), TensorProto::FLOAT,
                      c.shapes[i]});
    HostTensor tensor;
    tensor.type = proto::F32;
    tensor.dims = c.shapes[i];
    tensor.bytes.resize(count * sizeof(float));
    std::memcpy(tensor.bytes.data(), v.data(), tensor.bytes.size());
    hostInputs.push_back(std::move(tensor));
  }
  Shape outputShape;
  std::vector<float> expected = reference(
      c.plain.empty() ? c.equation : c.plain, c.shapes, values, outputShape);
  OneNode model("Einsum", inputs, {{"out", TensorProto::FLOAT, outputShape}});
  model.text("equation", c.equation);
  std::vector<HostTensor> outputs = run(model, hostInputs);
  ASSERT_EQ(outputs.size(), 1u);
  const HostTensor &got = outputs[0];
  EXPECT_EQ(got.dims, outputShape);
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(got.as<float>()[i], expected[i], 1e-4) << "element " << i;
}

TEST(EinsumTest, EquationsTorchExports) {
  std::vector<Case> cases = {
      {"ij,jk->ik", {{3, 4}, {4, 5}}},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}},
      {"...ij,...jk->...ik", {{2, 3, 4}, {2, 4, 5}}, "bij,bjk->bik"},
      {"ij->ji", {{3, 4}}},
      {"ij->", {{3, 4}}},
      {"i,i->", {{6}, {6}}},
      {"i,j->ij", {{3}, {4}}},
      {"bn,anm,bm->ba", {{2, 3}, {4, 3, 5}, {2, 5}}},
      // A mixture of experts: tokens through each expert's weights.
      {"bsd,edh->bseh", {{2, 3, 4}, {5, 4, 6}}},
      {"ijk->ki", {{2, 3, 4}}},
      // numpy's implicit output: the labels used once, alphabetically.
      {"ij,jk", {{3, 4}, {4, 5}}, "ij,jk->ik"},
      {"ba", {{3, 4}}, "ba->ab"},
      // Attention scores with heads.
      {"bhqd,bhkd->bhqk", {{2, 2, 3, 4}, {2, 2, 5, 4}}},
      // Diagonals: a label repeated in one operand.
      {"ii->i", {{3, 3}}},
      {"ii", {{4, 4}}, "ii->"},
      {"...ii->...i", {{2, 3, 3}}, "bii->bi"},
      {"iji,j->ij", {{3, 2, 3}, {2}}},
      {"iij,jk->ik", {{2, 2, 3}, {3, 4}}},
  };
  for (const Case &c : cases)
    check(c);
}

MATCHER_P(Says, text, "") { return arg.find(text) != std::string::npos; }

TEST(EinsumTest, ErrorsNameTheLabel) {
  EXPECT_THAT(OneNode("Einsum", {{"x", TensorProto::FLOAT, {3, 4}}},
                      {{"out", TensorProto::FLOAT, {3}}})
                  .text("equation", "ii->i")
                  .importErrors(),
              Says("label 'i' repeats in operand 0 over dimensions of 3 and 4 "
                   "elements: a diagonal needs them equal"));
  EXPECT_THAT(OneNode("Einsum",
                      {{"x", TensorProto::FLOAT, {3, 4}},
                       {"y", TensorProto::FLOAT, {5, 6}}},
                      {{"out", TensorProto::FLOAT, {3, 6}}})
                  .text("equation", "ij,jk->ik")
                  .importErrors(),
              Says("label 'j' is 4 in one operand and 5 in another"));
  EXPECT_THAT(OneNode("Einsum", {{"x", TensorProto::FLOAT, {3, 4}}},
                      {{"out", TensorProto::FLOAT, {3}}})
                  .text("equation", "ijk->i")
                  .importErrors(),
              Says("names 3 dimensions but the operand has 2"));
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

/// CumSum of a [rows, n] tensor (or its transpose, along axis 0) by a loop.
template <typename T>
std::vector<T> cumsum(const std::vector<T> &x, int64_t rows, int64_t n,
                      bool exclusive, bool reverse) {
  std::vector<T> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    T sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      int64_t j = reverse ? n - 1 - k : k;
      if (!exclusive)
        sum += x[r * n + j];
      out[r * n + j] = sum;
      if (exclusive)
        sum += x[r * n + j];
    }
  }
  return out;
}

TEST(CumSumTest, EveryModeOnFloatsAndIntegers) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true})
      for (int64_t axis : {1, -1, 0}) {
        SCOPED_TRACE(testing::Message() << "exclusive " << exclusive
                                        << " reverse " << reverse << " axis "
                                        << axis);
        // Along axis 0 the test transposes its [3, 5] data to [5, 3].
        bool alongRows = axis == 0;
        int64_t rows = 3, n = 5;
        Shape shape = alongRows ? Shape{n, rows} : Shape{rows, n};
        std::vector<float> floats(rows * n);
        std::vector<int64_t> ints(rows * n);
        for (int64_t i = 0; i < rows * n; ++i) {
          floats[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
          ints[i] = (i * 37) % 11 - 5;
        }
        auto layout = [&](auto values) {
          if (!alongRows)
            return values;
          auto t = values;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j)
              t[j * rows + r] = values[r * n + j];
          return t;
        };
        std::vector<float> expectedFloats =
            layout(cumsum(floats, rows, n, exclusive, reverse));
        std::vector<int64_t> expectedInts =
            layout(cumsum(ints, rows, n, exclusive, reverse));
        for (bool integers : {false, true}) {
          int32_t type = integers ? TensorProto::INT64 : TensorProto::FLOAT;
          OneNode model("CumSum", {{"x", type, shape}}, {{"out0", type, shape}});
          model.constantInput("axis", {}, {axis});
          model.attribute("exclusive", exclusive ? 1 : 0);
          model.attribute("reverse", reverse ? 1 : 0);
          HostTensor input;
          input.type = integers ? proto::I64 : proto::F32;
          input.dims = shape;
          auto data = integers ? layout(ints) : std::vector<int64_t>{};
          auto fdata = integers ? std::vector<float>{} : layout(floats);
          input.bytes.resize(rows * n * (integers ? 8 : 4));
          std::memcpy(input.bytes.data(),
                      integers ? static_cast<const void *>(data.data())
                               : static_cast<const void *>(fdata.data()),
                      input.bytes.size());
          std::vector<HostTensor> outputs = run(model, {input});
          ASSERT_EQ(outputs.size(), 1u);
          EXPECT_EQ(outputs[0].dims, shape);
          for (int64_t i = 0; i < rows * n; ++i) {
            if (integers)
              EXPECT_EQ(outputs[0].as<int64_t>()[i], expectedInts[i]) << i;
            else
              EXPECT_NEAR(outputs[0].as<float>()[i], expectedFloats[i], 1e-5)
                  << i;
          }
        }
      }
}

} // namespace
} // namespace tessel

namespace tessel {
namespace {

HostTensor int64Tensor(Shape dims, std::vector<int64_t> values) {
  HostTensor tensor;
  tensor.type = proto::I64;
  tensor.dims = std::move(dims);
  tensor.bytes.resize(values.size() * sizeof(int64_t));
  std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  return tensor;
}

// ScatterElements and ScatterND combine the updates of one target with the
// data there; max and min are exact at the integers' extremes (opset 18's
// reductions, which libonnx-testdata does not have).
TEST(ScatterTest, MaxAndMinAtTheIntegersExtremes) {
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  const int64_t highest = std::numeric_limits<int64_t>::max();
  // data [1, 4]; updates at columns 1, 1, 3 (two land on column 1).
  std::vector<int64_t> data = {5, lowest, 7, highest};
  std::vector<int64_t> updates = {lowest + 1, 3, highest - 1};
  for (const char *reduction : {"max", "min", "add", "none"}) {
    SCOPED_TRACE(reduction);
    OneNode model("ScatterElements",
                  {{"data", TensorProto::INT64, {1, 4}},
                   {"indices", TensorProto::INT64, {1, 3}},
                   {"updates", TensorProto::INT64, {1, 3}}},
                  {{"out0", TensorProto::INT64, {1, 4}}});
    model.attribute("axis", 1);
    model.text("reduction", reduction);
    std::vector<HostTensor> out =
        run(model, {int64Tensor({1, 4}, data), int64Tensor({1, 3}, {1, 1, 3}),
                    int64Tensor({1, 3}, updates)});
    ASSERT_EQ(out.size(), 1u);
    const int64_t *got = out[0].as<int64_t>();
    std::string name = reduction;
    std::vector<int64_t> expected =
        name == "max"   ? std::vector<int64_t>{5, 3, 7, highest}
        : name == "min" ? std::vector<int64_t>{5, lowest, 7, highest - 1}
                        : std::vector<int64_t>{};
    if (name == "add") // Wraps, as int64 arithmetic does.
      expected = {5,
                  static_cast<int64_t>(static_cast<uint64_t>(lowest) +
                                       static_cast<uint64_t>(lowest + 1) + 3),
                  7,
                  static_cast<int64_t>(static_cast<uint64_t>(highest) +
                                       static_cast<uint64_t>(highest - 1))};
    if (name == "none") // Duplicates sum (ONNX leaves them undefined).
      expected = {5,
                  static_cast<int64_t>(static_cast<uint64_t>(lowest + 1) + 3),
                  7, highest - 1};
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(got[i], expected[i]) << "column " << i;
  }
  // ScatterND: rows of a [3, 2] by index tuples, combined by max.
  OneNode nd("ScatterND",
             {{"data", TensorProto::INT64, {3, 2}},
              {"indices", TensorProto::INT64, {2, 1}},
              {"updates", TensorProto::INT64, {2, 2}}},
             {{"out0", TensorProto::INT64, {3, 2}}});
  nd.text("reduction", "min");
  std::vector<HostTensor> out = run(
      nd, {int64Tensor({3, 2}, {1, 2, 3, 4, highest, lowest}),
           int64Tensor({2, 1}, {2, -1}), int64Tensor({2, 2}, {0, 0, 9, 9})});
  ASSERT_EQ(out.size(), 1u);
  std::vector<int64_t> expected = {1, 2, 3, 4, 0, lowest};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[0].as<int64_t>()[i], expected[i]) << i;
}

// ConvInteger exactly, past the 258 products an f32 accumulation holds
// exactly: 40 channels x 3x3 = 360 products per output, cut into channel
// chunks, against a direct int64 computation with extreme values.
TEST(QuantizedTest, WideConvIntegerIsExact) {
  const int64_t c = 40, h = 4, w = 4, k = 3, m = 2;
  std::mt19937 random(3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> x(c * h * w), weights(m * c * k * k);
  for (uint8_t &v : x)
    v = byte(random) < 128 ? 255 : byte(random);
  for (uint8_t &v : weights)
    v = byte(random) < 128 ? 0 : byte(random);
  const uint8_t xZero = 3, wZero = 250;
  OneNode model("ConvInteger",
                {{"x", TensorProto::UINT8, {1, c, h, w}},
                 {"w", TensorProto::UINT8, {m, c, k, k}},
                 {"x_zero_point", TensorProto::UINT8, {}},
                 {"w_zero_point", TensorProto::UINT8, {}}},
                {{"y", TensorProto::INT32, {1, m, h - k + 1, w - k + 1}}});
  auto bytes = [](proto::ElementType type, Shape dims,
                  const std::vector<uint8_t> &values) {
    HostTensor tensor;
    tensor.type = type;
    tensor.dims = std::move(dims);
    tensor.bytes.assign(values.begin(), values.end());
    return tensor;
  };
  std::vector<HostTensor> out =
      run(model, {bytes(proto::U8, {1, c, h, w}, x),
                  bytes(proto::U8, {m, c, k, k}, weights),
                  bytes(proto::U8, {}, {xZero}), bytes(proto::U8, {}, {wZero})});
  ASSERT_EQ(out.size(), 1u);
  const int32_t *got = out[0].as<int32_t>();
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i + k <= h; ++i)
      for (int64_t j = 0; j + k <= w; ++j) {
        int64_t want = 0;
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t a = 0; a < k; ++a)
            for (int64_t b = 0; b < k; ++b)
              want += (int64_t{x[(ch * h + i + a) * w + j + b]} - xZero) *
                      (int64_t{weights[((o * c + ch) * k + a) * k + b]} -
                       wZero);
        EXPECT_EQ(got[(o * (h - k + 1) + i) * (w - k + 1) + j], want)
            << o << " " << i << " " << j;
      }
}

// Det of batches of 3x3 and 4x4 (ONNX's node tests stop at 2x2) against
// a Gaussian elimination with partial pivoting in double.
TEST(LinearAlgebraTest, DetByCofactorsMatchesElimination) {
  std::mt19937 random(5);
  std::uniform_real_distribution<float> uniform(-2, 2);
  for (int64_t n : {3, 4, 5}) {
    SCOPED_TRACE(n);
    const int64_t batch = 3;
    std::vector<float> values(batch * n * n);
    for (float &v : values)
      v = uniform(random);
    OneNode model("Det", {{"x", TensorProto::FLOAT, {batch, n, n}}},
                  {{"y", TensorProto::FLOAT, {batch}}});
    HostTensor x;
    x.type = proto::F32;
    x.dims = {batch, n, n};
    x.bytes.resize(values.size() * sizeof(float));
    std::memcpy(x.bytes.data(), values.data(), x.bytes.size());
    std::vector<HostTensor> out = run(model, {x});
    ASSERT_EQ(out.size(), 1u);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<double> a(values.begin() + b * n * n,
                            values.begin() + (b + 1) * n * n);
      double det = 1;
      for (int64_t c = 0; c < n; ++c) {
        int64_t pivot = c;
        for (int64_t r = c + 1; r < n; ++r)
          if (std::fabs(a[r * n + c]) > std::fabs(a[pivot * n + c]))
            pivot = r;
        if (pivot != c) {
          for (int64_t k = 0; k < n; ++k)
            std::swap(a[c * n + k], a[pivot * n + k]);
          det = -det;
        }
        det *= a[c * n + c];
        for (int64_t r = c + 1; r < n; ++r) {
          double f = a[r * n + c] / a[c * n + c];
          for (int64_t k = c; k < n; ++k)
            a[r * n + k] -= f * a[c * n + k];
        }
      }
      EXPECT_NEAR(out[0].as<float>()[b], det, 1e-3 * std::max(1.0, std::fabs(det)))
          << "matrix " << b;
    }
  }
  EXPECT_THAT(OneNode("Det", {{"x", TensorProto::FLOAT, {6, 6}}},
                      {{"y", TensorProto::FLOAT, {}}})
                  .importErrors(),
              Says("matrices of 6 rows are not supported"));
}

/// A float tensor of `dims` holding `values`.
HostTensor floatTensor(Shape dims, std::vector<float> values) {
  HostTensor tensor;
  tensor.type = proto::F32;
  tensor.dims = std::move(dims);
  tensor.bytes.resize(values.size() * sizeof(float));
  std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  return tensor;
}

/// A one-node subgraph `op`(inputs) -> output, its inputs and output
/// declared as float [2] when `declared`.
onnx::GraphProto subgraph(const std::string &op,
                          std::vector<std::string> inputs,
                          const std::string &output,
                          std::vector<std::string> declared = {}) {
  onnx::GraphProto graph;
  graph.set_name(op + "_body");
  onnx::NodeProto *node = graph.add_node();
  node->set_op_type(op);
  for (const std::string &input : inputs)
    node->add_input(input);
  node->add_output(output);
  auto declare = [](onnx::ValueInfoProto *value, const std::string &name) {
    value->set_name(name);
    auto *type = value->mutable_type()->mutable_tensor_type();
    type->set_elem_type(TensorProto::FLOAT);
    type->mutable_shape()->add_dim()->set_dim_value(2);
  };
  for (const std::string &name : declared)
    declare(graph.add_input(), name);
  declare(graph.add_output(), output);
  return graph;
}

// If on a condition known only when the program runs: both branches (each
// reading the outer x) computed, the result selected.
TEST(ControlFlowTest, IfOnDataSelectsTheBranch) {
  for (bool condition : {true, false}) {
    OneNode model("If",
                  {{"cond", TensorProto::BOOL, {}},
                   {"x", TensorProto::FLOAT, {2}}},
                  {{"y", TensorProto::FLOAT, {2}}});
    model.node->mutable_input()->RemoveLast(); // x: read by the branches.
    onnx::AttributeProto *then = model.node->add_attribute();
    then->set_name("then_branch");
    then->set_type(onnx::AttributeProto::GRAPH);
    *then->mutable_g() = subgraph("Neg", {"x"}, "negated");
    onnx::AttributeProto *otherwise = model.node->add_attribute();
    otherwise->set_name("else_branch");
    otherwise->set_type(onnx::AttributeProto::GRAPH);
    *otherwise->mutable_g() = subgraph("Abs", {"x"}, "absolute");
    HostTensor cond;
    cond.type = proto::I1;
    cond.bytes = {static_cast<char>(condition)};
    std::vector<HostTensor> out =
        run(model, {cond, floatTensor({2}, {3, -4})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].as<float>()[0], condition ? -3 : 3);
    EXPECT_EQ(out[0].as<float>()[1], condition ? 4 : 4);
  }
}

// Scan unrolled: a running sum over the rows of x read in reverse, the
// scan output stacked along axis 1.
TEST(ControlFlowTest, ScanRunsTheBodyPerStep) {
  OneNode model("Scan",
                {{"initial", TensorProto::FLOAT, {2}},
                 {"x", TensorProto::FLOAT, {3, 2}}},
                {{"final", TensorProto::FLOAT, {2}},
                 {"sums", TensorProto::FLOAT, {2, 3}}});
  model.attribute("num_scan_inputs", 1);
  model.attribute("scan_input_directions", std::vector<int64_t>{1});
  model.attribute("scan_output_axes", std::vector<int64_t>{1});
  onnx::GraphProto body = subgraph("Add", {"sum_in", "row"}, "sum_out",
                                   {"sum_in", "row"});
  // The state is also the scan output.
  *body.add_output() = body.output(0);
  onnx::AttributeProto *attribute = model.node->add_attribute();
  attribute->set_name("body");
  attribute->set_type(onnx::AttributeProto::GRAPH);
  *attribute->mutable_g() = body;
  std::vector<HostTensor> out =
      run(model, {floatTensor({2}, {0, 100}),
                  floatTensor({3, 2}, {1, 2, 3, 4, 5, 6})});
  ASSERT_EQ(out.size(), 2u);
  // Rows 2, 1, 0: running sums (5, 106), (8, 110), (9, 112).
  std::vector<float> sums = {5, 8, 9, 106, 110, 112};
  EXPECT_EQ(out[0].as<float>()[0], 9);
  EXPECT_EQ(out[0].as<float>()[1], 112);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[1].as<float>()[i], sums[i]) << i;
}

} // namespace
} // namespace tessel
