//===- SystemLibrariesTest.cpp - The wrapped Debian libraries work --------===//
//
// One small real use of each system library that third_party/ wraps, so that
// a broken package, a wrong flag or a missing link option shows up here, named,
// rather than deep inside a later target.
//
//===----------------------------------------------------------------------===//

#include <string>
#include <vector>

#include "CbcModel.hpp"
#include "CoinPackedMatrix.hpp"
#include "Eigen/Dense"
#include "OsiClpSolverInterface.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "mpi.h"
#include "oneapi/dnnl/dnnl.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"
#include "tests/unit/third_party/tensor.pb.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

absl::StatusOr<int> parsePositive(int value) {
  if (value <= 0)
    return absl::InvalidArgumentError(absl::StrCat("not positive: ", value));
  return value;
}

TEST(SystemLibrariesTest, Abseil) {
  EXPECT_EQ(*parsePositive(3), 3);
  absl::StatusOr<int> bad = parsePositive(-2);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "not positive: -2");
}

TEST(SystemLibrariesTest, ProtobufWithImportsAndWellKnownTypes) {
  test::Tensor tensor;
  tensor.set_name("x");
  tensor.mutable_shape()->add_dims(2);
  tensor.mutable_shape()->add_dims(3);
  test::Shape packed;
  packed.add_dims(7);
  tensor.mutable_extra()->PackFrom(packed);

  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(tensor, &text));
  test::Tensor parsed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &parsed));
  EXPECT_EQ(parsed.shape().dims_size(), 2);
  test::Shape unpacked;
  ASSERT_TRUE(parsed.extra().UnpackTo(&unpacked));
  EXPECT_EQ(unpacked.dims(0), 7);
}

TEST(SystemLibrariesTest, OnnxCheckerAcceptsAndRejects) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto *graph = model.mutable_graph();
  graph->set_name("g");
  onnx::NodeProto *node = graph->add_node();
  node->set_op_type("Relu");
  node->add_input("x");
  node->add_output("y");
  for (auto *value : {graph->add_input(), graph->add_output()}) {
    value->set_name(value == &graph->input(0) ? "x" : "y");
    auto *tensor = value->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    tensor->mutable_shape()->add_dim()->set_dim_value(4);
  }
  EXPECT_NO_THROW(onnx::checker::check_model(model));

  node->set_op_type("NoSuchOp");
  EXPECT_THROW(onnx::checker::check_model(model),
               onnx::checker::ValidationError);
}

TEST(SystemLibrariesTest, OneDnnGemm) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50], row-major.
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8}, c(4, 0.0f);
  ASSERT_EQ(dnnl_sgemm('N', 'N', 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2,
                       0.0f, c.data(), 2),
            dnnl_success);
  EXPECT_EQ(c, (std::vector<float>{19, 22, 43, 50}));
}

TEST(SystemLibrariesTest, Eigen) {
  Eigen::Matrix2f a;
  a << 1, 2, 3, 4;
  Eigen::Matrix2f inverse = a.inverse();
  EXPECT_TRUE((a * inverse).isIdentity(1e-5f));
}

TEST(SystemLibrariesTest, CbcSolvesIntegerProgram) {
  // max x + y  s.t.  2x + 2y <= 7, x, y integer in [0, 10]  ->  objective 3.
  OsiClpSolverInterface solver;
  CoinPackedMatrix matrix(false, 0, 0);
  matrix.setDimensions(0, 2);
  CoinPackedVector row;
  row.insert(0, 2.0);
  row.insert(1, 2.0);
  matrix.appendRow(row);
  double colLower[] = {0, 0}, colUpper[] = {10, 10}, objective[] = {-1, -1};
  double rowLower[] = {-COIN_DBL_MAX}, rowUpper[] = {7};
  solver.loadProblem(matrix, colLower, colUpper, objective, rowLower, rowUpper);
  solver.setInteger(0);
  solver.setInteger(1);
  solver.messageHandler()->setLogLevel(0);
  CbcModel model(solver);
  model.setLogLevel(0);
  model.branchAndBound();
  ASSERT_TRUE(model.isProvenOptimal());
  EXPECT_NEAR(model.getObjValue(), -3.0, 1e-9);
}

TEST(SystemLibrariesTest, OpenMpiHeadersAndLibrary) {
  // Initialising MPI is left to the MPI backend's tests under mpirun; here the
  // library links and reports its version.
  int major = 0, minor = 0;
  ASSERT_EQ(MPI_Get_version(&major, &minor), MPI_SUCCESS);
  EXPECT_GE(major, 3);
}

} // namespace
} // namespace tessel
