//===- OneNodeModel.h - A one-node ONNX model, for tests --------*- C++ -*-===//

#ifndef TESSEL_TESTS_UNIT_IMPORT_ONENODEMODEL_H
#define TESSEL_TESTS_UNIT_IMPORT_ONENODEMODEL_H

#include <memory>
#include <string>
#include <vector>

#include "compiler/import/onnx/OnnxImporter.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "onnx/onnx_pb.h"

namespace tessel {

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
  /// The node in `domain` (imported at version 1).
  OneNode &domain(const std::string &name) {
    node->set_domain(name);
    auto *import = model->add_opset_import();
    import->set_domain(name);
    import->set_version(1);
    return *this;
  }
  OneNode &attribute(const std::string &name, int64_t value) {
    onnx::AttributeProto *attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::INT);
    attribute->set_i(value);
    return *this;
  }
  /// One more input of the node: an int64 initializer (a value known at
  /// import time).
  OneNode &constantInput(const std::string &name, std::vector<int64_t> dims,
                         std::vector<int64_t> values) {
    node->add_input(name);
    onnx::TensorProto *tensor = model->mutable_graph()->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(TensorProto::INT64);
    for (int64_t dim : dims)
      tensor->add_dims(dim);
    for (int64_t value : values)
      tensor->add_int64_data(value);
    return *this;
  }
  OneNode &text(const std::string &name, const std::string &value) {
    onnx::AttributeProto *attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::STRING);
    attribute->set_s(value);
    return *this;
  }
  OneNode &attribute(const std::string &name, std::vector<int64_t> values) {
    onnx::AttributeProto *attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::INTS);
    for (int64_t value : values)
      attribute->add_ints(value);
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

} // namespace tessel

#endif // TESSEL_TESTS_UNIT_IMPORT_ONENODEMODEL_H
