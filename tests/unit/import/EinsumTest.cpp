//===- EinsumTest.cpp - ONNX Einsum against a naive evaluation ------------===//
//
// Each equation is imported, compiled and run on the host backend, and its
// output compared with a loop over every assignment of the labels (ONNX's
// own Einsum node tests are f64, which Tessel does not have yet).
//
//===----------------------------------------------------------------------===//

#include <cmath>
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
  mlir::MLIRContext context;
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  mlir::FailureOr<ImportedModel> imported =
      importOnnxModel(model.model, "", "einsum.onnx", context, {});
  ASSERT_TRUE(mlir::succeeded(imported)) << diagnostics;
  mlir::FailureOr<proto::Executable> executable =
      compileToExecutable(*imported->module, "einsum.params");
  ASSERT_TRUE(mlir::succeeded(executable)) << diagnostics;
  HostBackend host(1);
  const char *tmp = std::getenv("TEST_TMPDIR");
  absl::StatusOr<std::unique_ptr<LoadedExecutable>> loaded =
      host.load(*executable, tmp ? tmp : "/tmp");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::vector<HostTensor>> outputs = (*loaded)->run(hostInputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  const HostTensor &got = (*outputs)[0];
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
  };
  for (const Case &c : cases)
    check(c);
}

MATCHER_P(Says, text, "") { return arg.find(text) != std::string::npos; }

TEST(EinsumTest, ErrorsNameTheLabel) {
  EXPECT_THAT(OneNode("Einsum", {{"x", TensorProto::FLOAT, {3, 3}}},
                      {{"out", TensorProto::FLOAT, {3}}})
                  .text("equation", "ii->i")
                  .importErrors(),
              Says("label 'i' repeats in operand 0 (a diagonal)"));
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
