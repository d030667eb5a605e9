//===- ParameterExportTest.cpp - Weights reach the parameter file ---------===//

#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compiler/import/onnx/OnnxImporter.h"
#include "compiler/import/onnx/StaticTensor.h"
#include "dialects/graph/GraphDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "onnx/onnx_pb.h"
#include "runtime/params/ParameterFile.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

/// y = x @ w + b, with w inline (raw data), b as typed floats and an unused
/// initializer that must not become a parameter.
std::shared_ptr<onnx::ModelProto> linearModel() {
  auto model = std::make_shared<onnx::ModelProto>();
  model->set_ir_version(8);
  model->add_opset_import()->set_version(13);
  onnx::GraphProto *graph = model->mutable_graph();
  graph->set_name("linear");
  auto addValue = [](onnx::ValueInfoProto *value, const std::string &name,
                     std::vector<int64_t> dims) {
    value->set_name(name);
    auto *tensor = value->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t dim : dims)
      tensor->mutable_shape()->add_dim()->set_dim_value(dim);
  };
  addValue(graph->add_input(), "x", {2, 3});
  addValue(graph->add_output(), "y", {2, 4});
  onnx::NodeProto *matmul = graph->add_node();
  matmul->set_name("matmul");
  matmul->set_op_type("MatMul");
  matmul->add_input("x");
  matmul->add_input("w");
  matmul->add_output("xw");
  onnx::NodeProto *add = graph->add_node();
  add->set_name("add");
  add->set_op_type("Add");
  add->add_input("xw");
  add->add_input("b");
  add->add_output("y");

  onnx::TensorProto *w = graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  w->add_dims(4);
  std::vector<float> weights(12);
  for (int i = 0; i < 12; ++i)
    weights[i] = 0.5f * i;
  w->set_raw_data(std::string(reinterpret_cast<char *>(weights.data()), 48));
  onnx::TensorProto *b = graph->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(4);
  for (float value : {1.0f, -2.0f, 3.5f, 0.25f})
    b->add_float_data(value);
  onnx::TensorProto *unused = graph->add_initializer();
  unused->set_name("unused");
  unused->set_data_type(onnx::TensorProto::FLOAT);
  unused->add_dims(1);
  unused->add_float_data(9);
  return model;
}

std::vector<float> readFloats(const ParameterFile &file,
                              const std::string &name) {
  absl::StatusOr<const proto::ParameterEntry *> entry = file.find(name);
  EXPECT_TRUE(entry.ok()) << entry.status();
  if (!entry.ok())
    return {};
  std::vector<float> values((*entry)->byte_size() / sizeof(float));
  absl::Status status = file.read(
      **entry, absl::Span<char>(reinterpret_cast<char *>(values.data()),
                                (*entry)->byte_size()));
  EXPECT_TRUE(status.ok()) << status;
  return values;
}

TEST(ParameterExportTest, InitializersBecomeParametersWithTheirData) {
  mlir::MLIRContext context;
  mlir::FailureOr<ImportedModel> imported =
      importOnnxModel(linearModel(), ".", "linear", context, {});
  ASSERT_TRUE(succeeded(imported));
  EXPECT_EQ(imported->numParameters(), 2u);

  auto function = *imported->module->getOps<mlir::func::FuncOp>().begin();
  ASSERT_EQ(function.getNumArguments(), 3u);
  EXPECT_FALSE(function.getArgAttr(0, graph::GraphDialect::kParameterAttr));
  EXPECT_TRUE(function.getArgAttr(1, graph::GraphDialect::kParameterAttr));
  EXPECT_EQ(mlir::cast<mlir::StringAttr>(
                function.getArgAttr(2, graph::GraphDialect::kNameAttr))
                .getValue(),
            "b");

  ASSERT_TRUE(imported->writeParameterFile(tempPath("linear.params")).ok());
  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(tempPath("linear.params"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->index().entries_size(), 2);
  std::vector<float> w = readFloats(*file, "w");
  ASSERT_EQ(w.size(), 12u);
  EXPECT_EQ(w[11], 5.5f);
  EXPECT_EQ(readFloats(*file, "b"),
            (std::vector<float>{1.0f, -2.0f, 3.5f, 0.25f}));
  EXPECT_FALSE(file->find("unused").ok());
}

TEST(ParameterExportTest, ExternalDataIsReferencedNotCopied) {
  // w's bytes live in an external file at offset 16.
  std::vector<float> weights(12);
  for (int i = 0; i < 12; ++i)
    weights[i] = -1.0f * i;
  {
    std::ofstream out(tempPath("weights.bin"), std::ios::binary);
    out.write(std::string(16, '\0').data(), 16);
    out.write(reinterpret_cast<char *>(weights.data()), 48);
  }
  std::shared_ptr<onnx::ModelProto> model = linearModel();
  onnx::TensorProto *w = model->mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [key, value] :
       {std::pair{"location", "weights.bin"}, std::pair{"offset", "16"},
        std::pair{"length", "48"}}) {
    onnx::StringStringEntryProto *entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  const char *dir = std::getenv("TEST_TMPDIR");
  mlir::MLIRContext context;
  mlir::FailureOr<ImportedModel> imported =
      importOnnxModel(model, dir ? dir : "/tmp", "linear", context, {});
  ASSERT_TRUE(succeeded(imported));
  ASSERT_TRUE(imported->writeParameterFile(tempPath("external.params")).ok());

  absl::StatusOr<ParameterFile> file =
      ParameterFile::open(tempPath("external.params"));
  ASSERT_TRUE(file.ok()) << file.status();
  const proto::ParameterEntry *entry = *file->find("w");
  EXPECT_NE(entry->file().find("weights.bin"), std::string::npos);
  EXPECT_EQ(entry->offset(), 16u);
  EXPECT_EQ(readFloats(*file, "w"), weights);
}

TEST(ParameterExportTest, ImportErrorsAreDiagnostics) {
  std::shared_ptr<onnx::ModelProto> model = linearModel();
  model->mutable_graph()->mutable_node(0)->set_op_type("MatMulInteger");
  mlir::MLIRContext context;
  std::string message;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    message += d.str();
    return mlir::success();
  });
  EXPECT_TRUE(failed(importOnnxModel(model, ".", "linear", context, {})));
  EXPECT_NE(message.find("node 'matmul' (MatMulInteger)"), std::string::npos)
      << message;
}

/// A [1, rows, columns] tensor of `value(i, j)`: raw float data, or typed
/// int32 data for bool.
onnx::TensorProto matrix(int64_t rows, int64_t columns,
                         const std::function<double(int64_t, int64_t)> &value,
                         bool asBool = false) {
  onnx::TensorProto tensor;
  tensor.set_name("mask");
  tensor.set_data_type(asBool ? onnx::TensorProto::BOOL
                              : onnx::TensorProto::FLOAT);
  for (int64_t dim : {int64_t(1), rows, columns})
    tensor.add_dims(dim);
  std::vector<float> floats;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < columns; ++j) {
      if (asBool)
        tensor.add_int32_data(int32_t(value(i, j)));
      else
        floats.push_back(float(value(i, j)));
    }
  if (!asBool)
    tensor.set_raw_data(floats.data(), floats.size() * sizeof(float));
  return tensor;
}

TEST(DiagonalBandTest, FindsTrianglesAndWindows) {
  auto band = [](const onnx::TensorProto &tensor) {
    std::optional<onnx_import::DiagonalBand> found =
        onnx_import::diagonalBandOf(tensor, ".");
    return found ? std::vector<int64_t>{found->low, found->high}
                 : std::vector<int64_t>{};
  };
  // torch.tril(ones(6, 6)): diagonals -5..0.
  EXPECT_EQ(band(matrix(6, 6, [](int64_t i, int64_t j) { return j <= i; })),
            (std::vector<int64_t>{-5, 0}));
  // torch.triu(ones, 1) as bools, rectangular: 1..7.
  EXPECT_EQ(band(matrix(
                4, 8, [](int64_t i, int64_t j) { return j - i >= 1; }, true)),
            (std::vector<int64_t>{1, 7}));
  // A sliding window of 3 past positions.
  EXPECT_EQ(
      band(matrix(8, 8,
                  [](int64_t i, int64_t j) { return j <= i && i - j <= 3; })),
      (std::vector<int64_t>{-3, 0}));
  // Not bands: a hole on a diagonal, all ones, a weight, another value.
  EXPECT_TRUE(band(matrix(6, 6, [](int64_t i, int64_t j) {
                return j <= i && !(i == 4 && j == 1);
              })).empty());
  EXPECT_TRUE(band(matrix(4, 4, [](int64_t, int64_t) { return 1; })).empty());
  EXPECT_TRUE(band(matrix(4, 4, [](int64_t i, int64_t j) {
                return 0.1 * i - 0.2 * j;
              })).empty());
  EXPECT_TRUE(band(matrix(4, 4, [](int64_t i, int64_t j) {
                return j <= i ? 2 : 0;
              })).empty());
  // A leading dimension other than 1 is a batch of masks, not one.
  onnx::TensorProto batched =
      matrix(4, 4, [](int64_t i, int64_t j) { return j <= i; });
  batched.set_dims(0, 2);
  batched.set_raw_data(batched.raw_data() + batched.raw_data());
  EXPECT_TRUE(band(batched).empty());
}

TEST(DiagonalBandTest, ReadsExternalData) {
  onnx::TensorProto tensor =
      matrix(16, 16, [](int64_t i, int64_t j) { return j <= i; });
  {
    std::ofstream out(tempPath("mask.bin"), std::ios::binary);
    out << std::string(8, '\0') << tensor.raw_data();
  }
  tensor.clear_raw_data();
  tensor.set_data_location(onnx::TensorProto::EXTERNAL);
  auto entry = [&](const std::string &key, const std::string &value) {
    onnx::StringStringEntryProto *e = tensor.add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  entry("location", "mask.bin");
  entry("offset", "8");
  const char *dir = std::getenv("TEST_TMPDIR");
  std::optional<onnx_import::DiagonalBand> found =
      onnx_import::diagonalBandOf(tensor, dir ? dir : "/tmp");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->low, -15);
  EXPECT_EQ(found->high, 0);
}

} // namespace
} // namespace tessel
