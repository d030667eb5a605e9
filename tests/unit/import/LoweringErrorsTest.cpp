//===- LoweringErrorsTest.cpp - What the ONNX lowerings refuse, and why ---===//
//
// A one-node model per case, imported: the error names the node, the op
// and the reason (the lowerings' happy paths are ONNX's node tests, run by
// tests/conformance).
//
//===----------------------------------------------------------------------===//

#include <memory>
#include <string>

#include "compiler/import/onnx/OnnxImporter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "onnx/onnx_pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessel {
namespace {

using onnx::TensorProto;

struct Tensor {
  std::string name;
  int32_t type;
  std::vector<int64_t> dims;
};

/// A model of one `op` node from `inputs` to one output.
class OneNode {
public:
  OneNode(const std::string &op, std::vector<Tensor> inputs,
          std::vector<Tensor> outputs = {{"out0", TensorProto::FLOAT, {1}}}) {
    model->set_ir_version(8);
    model->add_opset_import()->set_version(17);
    onnx::GraphProto *graph = model->mutable_graph();
    graph->set_name("g");
    node = graph->add_node();
    node->set_op_type(op);
    node->set_name("the_node");
    for (const Tensor &input : inputs) {
      node->add_input(input.name);
      onnx::ValueInfoProto *value = graph->add_input();
      value->set_name(input.name);
      auto *tensor = value->mutable_type()->mutable_tensor_type();
      tensor->set_elem_type(input.type);
      tensor->mutable_shape();
      for (int64_t dim : input.dims)
        tensor->mutable_shape()->add_dim()->set_dim_value(dim);
    }
    for (const Tensor &output : outputs) {
      node->add_output(output.name);
      onnx::ValueInfoProto *value = graph->add_output();
      value->set_name(output.name);
      auto *tensor = value->mutable_type()->mutable_tensor_type();
      tensor->set_elem_type(output.type);
      tensor->mutable_shape();
      for (int64_t dim : output.dims)
        tensor->mutable_shape()->add_dim()->set_dim_value(dim);
    }
  }
  OneNode &attribute(const std::string &name, int64_t value) {
    onnx::AttributeProto *attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::INT);
    attribute->set_i(value);
    return *this;
  }
  OneNode &attribute(const std::string &name,
                     std::vector<std::string> values) {
    onnx::AttributeProto *attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::STRINGS);
    for (const std::string &value : values)
      attribute->add_strings(value);
    return *this;
  }
  /// The import's diagnostics; empty if it succeeded.
  std::string importErrors() {
    mlir::MLIRContext context;
    std::string messages;
    mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
      messages += d.str() + "\n";
      return mlir::success();
    });
    mlir::FailureOr<ImportedModel> imported =
        importOnnxModel(model, "", "test.onnx", context, {});
    if (mlir::succeeded(imported))
      return "";
    return messages.empty() ? "(failed without a message)" : messages;
  }

  std::shared_ptr<onnx::ModelProto> model =
      std::make_shared<onnx::ModelProto>();
  onnx::NodeProto *node;
};

MATCHER_P(Says, text, "") { return arg.find(text) != std::string::npos; }

TEST(LoweringErrorsTest, RecurrentOps) {
  auto lstm = [] {
    return OneNode("LSTM", {{"X", TensorProto::FLOAT, {4, 2, 3}},
                            {"W", TensorProto::FLOAT, {1, 20, 3}},
                            {"R", TensorProto::FLOAT, {1, 20, 5}}},
                   {{"Y", TensorProto::FLOAT, {4, 1, 2, 5}},
                    {"Y_h", TensorProto::FLOAT, {1, 2, 5}}});
  };
  EXPECT_EQ(lstm().attribute("hidden_size", 5).importErrors(), "");
  EXPECT_THAT(lstm().attribute("hidden_size", 5)
                  .attribute("input_forget", 1)
                  .importErrors(),
              Says("input_forget is not supported"));
  EXPECT_THAT(lstm()
                  .attribute("hidden_size", 5)
                  .attribute("activations",
                             std::vector<std::string>{"Sigmoid", "Gelu",
                                                      "Tanh"})
                  .importErrors(),
              Says("activation 'Gelu' is not supported"));
  EXPECT_THAT(lstm().attribute("hidden_size", 4).importErrors(),
              Says("W must be 1x16x3 of X's element type"));
}

TEST(LoweringErrorsTest, SelectionsAndLosses) {
  EXPECT_THAT(OneNode("ArgMax", {{"x", TensorProto::BOOL, {3, 4}}},
                      {{"out0", TensorProto::INT64, {1, 4}}})
                  .importErrors(),
              Says("needs a numeric input, not booleans"));
  EXPECT_THAT(OneNode("GatherElements", {{"data", TensorProto::FLOAT, {3, 4}},
                                         {"i", TensorProto::INT64, {3}}})
                  .importErrors(),
              Says("data and indices must have the same rank"));
  EXPECT_THAT(
      OneNode("NegativeLogLikelihoodLoss",
              {{"input", TensorProto::FLOAT, {3, 5}},
               {"target", TensorProto::INT64, {4}}})
          .importErrors(),
      Says("the target's shape must be the input's without its class "
           "dimension"));
  // A depth computed from the model's inputs gives no static shape.
  EXPECT_THAT(OneNode("OneHot", {{"indices", TensorProto::INT64, {3}},
                                 {"depth", TensorProto::INT64, {1}},
                                 {"values", TensorProto::FLOAT, {2}}})
                  .importErrors(),
              Says("depth"));
  EXPECT_THAT(OneNode("DepthToSpace", {{"x", TensorProto::FLOAT, {1, 6, 2, 2}}})
                  .attribute("blocksize", 2)
                  .importErrors(),
              Says("must be a multiple of blocksize^2"));
}

} // namespace
} // namespace tessel
