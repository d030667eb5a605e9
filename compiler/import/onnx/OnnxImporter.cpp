//===- OnnxImporter.cpp - ONNX models to the graph dialect ----------------===//

#include "compiler/import/onnx/OnnxImporter.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/import/onnx/ConstantFolding.h"
#include "compiler/import/onnx/ModuleBuilder.h"
#include "dialects/graph/GraphDialect.h"
#include "dialects/graph/GraphOps.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "mlir/IR/Verifier.h"
#include "onnx/checker.h"
#include "runtime/Names.h"
#include "runtime/params/ParameterFile.h"

namespace onnx::checker {
// Defined and exported by libonnx but not declared in its header: the check
// with a context, which tells the checker where external data files are.
void check_model(const ModelProto &model, CheckerContext &context);
} // namespace onnx::checker

namespace tessel {
namespace onnx_import {

using mlir::failure;
using mlir::FailureOr;
using mlir::LogicalResult;
using mlir::success;
using mlir::Value;

/// Opsets of the default ONNX domain this importer implements.
constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 17;

static std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  return absl::StrJoin(shape, "x");
}

ModuleBuilder::ModuleBuilder(mlir::MLIRContext &context,
                             std::shared_ptr<const onnx::ModelProto> model,
                             std::string baseDirectory, std::string sourceName)
    : context(context), model(std::move(model)),
      baseDirectory(std::move(baseDirectory)),
      sourceName(std::move(sourceName)),
      fileLoc(mlir::FileLineColLoc::get(&context, this->sourceName, 0, 0)),
      opBuilder(&context) {}

LogicalResult ModuleBuilder::error(const llvm::Twine &message) {
  return mlir::emitError(fileLoc) << message;
}

FailureOr<mlir::Type> ModuleBuilder::elementType(int32_t dataType,
                                                 llvm::StringRef what) {
  mlir::Builder b(&context);
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto::INT32:
    return b.getI32Type();
  case onnx::TensorProto::INT64:
    return b.getI64Type();
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  case onnx::TensorProto::INT8:
    return b.getIntegerType(8);
  case onnx::TensorProto::INT16:
    return b.getIntegerType(16);
  case onnx::TensorProto::UINT8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case onnx::TensorProto::UINT16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case onnx::TensorProto::UINT32:
    return b.getIntegerType(32, /*isSigned=*/false);
  case onnx::TensorProto::UINT64:
    return b.getIntegerType(64, /*isSigned=*/false);
  default:
    return failure();
  }
}

bool ModuleBuilder::isKnown(const std::string &name) const {
  return values.count(name) || statics.count(name) || initializers.count(name);
}

Shape ModuleBuilder::shapeOf(const std::string &name) const {
  if (auto it = values.find(name); it != values.end())
    return Shape(typeOf(it->second).getShape());
  if (auto it = statics.find(name); it != statics.end())
    return it->second.shape;
  const onnx::TensorProto *tensor = initializers.lookup(name);
  return Shape(tensor->dims().begin(), tensor->dims().end());
}

int32_t ModuleBuilder::dataTypeOf(const std::string &name) const {
  if (auto it = statics.find(name); it != statics.end())
    return it->second.dataType;
  if (const onnx::TensorProto *tensor = initializers.lookup(name))
    return tensor->data_type();
  mlir::Type type = typeOf(values.lookup(name)).getElementType();
  if (type.isF32())
    return onnx::TensorProto::FLOAT;
  if (type.isF64())
    return onnx::TensorProto::DOUBLE;
  if (type.isF16())
    return onnx::TensorProto::FLOAT16;
  if (type.isBF16())
    return onnx::TensorProto::BFLOAT16;
  if (type.isInteger(1))
    return onnx::TensorProto::BOOL;
  if (type.isUnsignedInteger(8))
    return onnx::TensorProto::UINT8;
  if (type.isUnsignedInteger(16))
    return onnx::TensorProto::UINT16;
  if (type.isUnsignedInteger(32))
    return onnx::TensorProto::UINT32;
  if (type.isUnsignedInteger(64))
    return onnx::TensorProto::UINT64;
  if (type.isInteger(8))
    return onnx::TensorProto::INT8;
  if (type.isInteger(16))
    return onnx::TensorProto::INT16;
  if (type.isInteger(32))
    return onnx::TensorProto::INT32;
  if (type.isInteger(64))
    return onnx::TensorProto::INT64;
  return onnx::TensorProto::UNDEFINED;
}

const StaticTensor *ModuleBuilder::staticValueOf(const std::string &name) {
  if (auto it = statics.find(name); it != statics.end())
    return &it->second;
  const onnx::TensorProto *tensor = initializers.lookup(name);
  if (!tensor)
    return nullptr;
  int64_t elements = 1;
  for (int64_t dim : tensor->dims())
    elements *= dim;
  if (elements > (isFloatType(tensor->data_type())
                      ? kMaxFoldedFloatInitializerElements
                      : kMaxFoldedElements))
    return nullptr;
  absl::StatusOr<StaticTensor> decoded = decodeTensor(*tensor, baseDirectory);
  if (!decoded.ok())
    return nullptr; // Reported if the tensor is read as data.
  return &statics.try_emplace(name, std::move(*decoded)).first->second;
}

void ModuleBuilder::noteUse(const std::string &name, const std::string &node,
                            size_t operand) {
  std::string use = absl::StrCat(node, ":", operand);
  std::vector<std::string> &list = uses[name];
  if (std::find(list.begin(), list.end(), use) == list.end())
    list.push_back(use);
}

void ModuleBuilder::define(const std::string &name, Value value) {
  values[name] = value;
}

Value ModuleBuilder::addParameter(const std::string &name,
                                  mlir::RankedTensorType type,
                                  ParameterData data) {
  mlir::Block &entry = function.getBody().front();
  Value argument = entry.addArgument(
      type, mlir::NameLoc::get(opBuilder.getStringAttr(name)));
  argumentAttributes.push_back(opBuilder.getDictionaryAttr(
      {opBuilder.getNamedAttr(graph::GraphDialect::kNameAttr,
                              opBuilder.getStringAttr(name)),
       opBuilder.getNamedAttr(graph::GraphDialect::kParameterAttr,
                              opBuilder.getUnitAttr())}));
  parameters.push_back(std::move(data));
  values[name] = argument;
  return argument;
}

void ModuleBuilder::noteDiagonalBand(std::optional<DiagonalBand> band) {
  if (!band)
    return;
  llvm::SmallVector<mlir::NamedAttribute> attributes(
      argumentAttributes.back().getValue());
  attributes.push_back(opBuilder.getNamedAttr(
      graph::GraphDialect::kDiagonalBandAttr,
      opBuilder.getDenseI64ArrayAttr({band->low, band->high})));
  argumentAttributes.back() = opBuilder.getDictionaryAttr(attributes);
}

FailureOr<Value> ModuleBuilder::valueOf(const std::string &name,
                                        mlir::Location loc) {
  if (auto it = values.find(name); it != values.end())
    return it->second;
  if (const onnx::TensorProto *tensor = initializers.lookup(name)) {
    FailureOr<mlir::Type> element = elementType(tensor->data_type(), name);
    if (failed(element))
      return error(llvm::Twine("initializer '") + name + "' has element type " +
                   dataTypeName(tensor->data_type()) +
                   ", which Tessel does not support");
    Shape shape(tensor->dims().begin(), tensor->dims().end());
    Value parameter =
        addParameter(name, mlir::RankedTensorType::get(shape, *element),
                     ParameterData{name, tensor});
    noteDiagonalBand(diagonalBandOf(*tensor, baseDirectory));
    return parameter;
  }
  auto it = statics.find(name);
  if (it == statics.end())
    return error(llvm::Twine("tensor '") + name +
                 "' is not produced by any node before its use");
  const StaticTensor &tensor = it->second;
  FailureOr<mlir::Type> element = elementType(tensor.dataType, name);
  if (failed(element))
    return error(llvm::Twine("tensor '") + name + "' has element type " +
                 dataTypeName(tensor.dataType) +
                 ", which Tessel does not support as data");
  auto type = mlir::RankedTensorType::get(tensor.shape, *element);
  if (tensor.numElements() > kMaxInlineConstantElements) {
    Value parameter = addParameter(name, type, ParameterData{name, tensor});
    noteDiagonalBand(diagonalBandOf(tensor));
    return parameter;
  }
  Value constant = buildConstant(opBuilder, loc, tensor, *element);
  values[name] = constant;
  return constant;
}

LogicalResult ModuleBuilder::declareInputs(const OnnxImportOptions &options) {
  const onnx::GraphProto &graph = model->graph();
  // A pin of no input is a slip in the name: said first, with the names.
  std::vector<std::string> inputNames;
  for (const onnx::ValueInfoProto &input : graph.input())
    if (!initializers.count(input.name()))
      inputNames.push_back(input.name());
  for (const auto &[name, shape] : options.inputShapes)
    if (std::find(inputNames.begin(), inputNames.end(), name) ==
        inputNames.end())
      return error(
          tessel::withNameHint("--input-shape names '" + name +
                                   "', which is not an input of the model",
                               name, inputNames, "inputs"));
  mlir::Block &entry = function.getBody().front();
  for (const onnx::ValueInfoProto &input : graph.input()) {
    // Before IR version 4, initializers were also listed as inputs.
    if (initializers.count(input.name()))
      continue;
    if (!input.type().has_tensor_type())
      return error("graph input '" + input.name() +
                   "' is not a tensor; only tensor inputs are supported");
    const onnx::TypeProto::Tensor &tensorType = input.type().tensor_type();
    FailureOr<mlir::Type> element =
        elementType(tensorType.elem_type(), input.name());
    if (failed(element))
      return error("graph input '" + input.name() + "' has element type " +
                   dataTypeName(tensorType.elem_type()) +
                   ", which Tessel does not support " + supportedDataTypes());
    if (!tensorType.has_shape())
      return error("graph input '" + input.name() +
                   "' has no shape; give it with --input-shape " +
                   input.name() + "=<d0>x<d1>...");
    Shape declared;
    std::string dynamicDimension;
    for (const onnx::TensorShapeProto::Dimension &dim :
         tensorType.shape().dim()) {
      if (dim.has_dim_value() && dim.dim_value() >= 0) {
        declared.push_back(dim.dim_value());
        continue;
      }
      if (dynamicDimension.empty())
        dynamicDimension = absl::StrCat(
            "dimension ", declared.size(),
            dim.has_dim_param() ? absl::StrCat(" ('", dim.dim_param(), "')")
                                : std::string());
      declared.push_back(-1);
    }
    Shape shape = declared;
    auto pin = options.inputShapes.find(input.name());
    if (pin != options.inputShapes.end()) {
      absl::StrAppend(&pinned, pinned.empty() ? "" : ",", input.name(), "=",
                      formatShape(pin->second));
      if (pin->second.size() != declared.size())
        return error("--input-shape " + input.name() + "=" +
                     formatShape(pin->second) + " has rank " +
                     std::to_string(pin->second.size()) +
                     ", but the model's input has rank " +
                     std::to_string(declared.size()));
      for (size_t d = 0; d < declared.size(); ++d) {
        if (declared[d] >= 0 && declared[d] != pin->second[d])
          return error(
              "--input-shape " + input.name() + "=" + formatShape(pin->second) +
              " sets dimension " + std::to_string(d) + " to " +
              std::to_string(pin->second[d]) + ", but the model fixes it to " +
              std::to_string(declared[d]));
        if (pin->second[d] < 0)
          return error("--input-shape " + input.name() + "=" +
                       formatShape(pin->second) + " has a negative dimension");
      }
      shape = pin->second;
    } else if (!dynamicDimension.empty()) {
      std::string example;
      for (size_t d = 0; d < declared.size(); ++d)
        absl::StrAppend(&example, d ? "x" : "",
                        declared[d] >= 0 ? std::to_string(declared[d])
                                         : std::string("<n>"));
      return error("graph input '" + input.name() + "' has dynamic " +
                   dynamicDimension + "; pin it with --input-shape " +
                   input.name() + "=" + example);
    }
    Value argument = entry.addArgument(
        mlir::RankedTensorType::get(shape, *element),
        mlir::NameLoc::get(opBuilder.getStringAttr(input.name())));
    argumentAttributes.push_back(opBuilder.getDictionaryAttr(
        {opBuilder.getNamedAttr(graph::GraphDialect::kNameAttr,
                                opBuilder.getStringAttr(input.name()))}));
    values[input.name()] = argument;
  }
  return success();
}

LogicalResult ModuleBuilder::defineShapeOf(const onnx::NodeProto &node) {
  Shape shape = shapeOf(node.input(0));
  if (node.op_type() == "Size") {
    int64_t size = 1;
    for (int64_t dim : shape)
      size *= dim;
    statics[node.output(0)] =
        StaticTensor::ofInts(onnx::TensorProto::INT64, {}, {size});
    return success();
  }
  int64_t rank = shape.size();
  NodeAttributes attributes(node);
  int64_t start = attributes.getInt("start", 0);
  int64_t end = attributes.getInt("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  statics[node.output(0)] = StaticTensor::vector(
      Shape(shape.begin() + start, shape.begin() + std::max(start, end)));
  return success();
}

FailureOr<llvm::SmallVector<Value>>
ModuleBuilder::importSubgraph(const onnx::GraphProto &graph,
                              llvm::ArrayRef<Value> inputs,
                              mlir::Location loc) {
  if (graph.initializer_size() > 0)
    return error("subgraph '" + graph.name() +
                 "' has initializers, which are not supported");
  if (graph.input_size() != static_cast<int>(inputs.size()))
    return error("subgraph '" + graph.name() + "' takes " +
                 std::to_string(graph.input_size()) + " inputs, given " +
                 std::to_string(inputs.size()));
  // The names the subgraph defines, and what they meant outside.
  std::vector<std::string> names;
  for (const onnx::ValueInfoProto &input : graph.input())
    names.push_back(input.name());
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &output : node.output())
      if (!output.empty())
        names.push_back(output);
  llvm::StringMap<Value> savedValues;
  llvm::StringMap<StaticTensor> savedStatics;
  for (const std::string &name : names) {
    if (auto it = values.find(name); it != values.end())
      savedValues.try_emplace(name, it->second);
    if (auto it = statics.find(name); it != statics.end())
      savedStatics.try_emplace(name, it->second);
  }
  auto restore = [&] {
    for (const std::string &name : names) {
      values.erase(name);
      statics.erase(name);
    }
    for (auto &entry : savedValues)
      values[entry.getKey()] = entry.getValue();
    for (auto &entry : savedStatics)
      statics[entry.getKey()] = entry.getValue();
  };
  for (const std::string &name : names) {
    values.erase(name);
    statics.erase(name);
  }
  for (int i = 0; i < graph.input_size(); ++i)
    values[graph.input(i).name()] = inputs[i];
  llvm::SmallVector<Value> outputs;
  for (const onnx::NodeProto &node : graph.node())
    if (failed(importNode(node))) {
      restore();
      return failure();
    }
  for (const onnx::ValueInfoProto &output : graph.output()) {
    FailureOr<Value> value = valueOf(output.name(), loc);
    if (failed(value)) {
      restore();
      return failure();
    }
    outputs.push_back(*value);
  }
  restore();
  return outputs;
}

LogicalResult ModuleBuilder::importNode(const onnx::NodeProto &node) {
  auto nodeError = [&](const llvm::Twine &message) {
    return error("node '" + node.name() + "' (" + node.op_type() +
                 "): " + message);
  };
  bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
  if (!defaultDomain && node.domain() != kTrainingDomain)
    return nodeError("operators of domain '" + node.domain() +
                     "' are not supported");
  for (const std::string &input : node.input())
    if (!input.empty() && !isKnown(input))
      return nodeError("input '" + input +
                       "' is not produced by any earlier node");
  if (node.output_size() == 0)
    return nodeError("the node has no outputs");

  if (defaultDomain &&
      (node.op_type() == "Shape" || node.op_type() == "Size")) {
    if (node.input_size() != 1)
      return nodeError("expects one input");
    return defineShapeOf(node);
  }

  if (defaultDomain && isFoldable(node.op_type())) {
    std::vector<const StaticTensor *> inputs;
    bool allStatic = true;
    for (const std::string &input : node.input()) {
      const StaticTensor *known =
          input.empty() ? nullptr : staticValueOf(input);
      allStatic &= input.empty() || known;
      inputs.push_back(known);
    }
    if (allStatic) {
      absl::StatusOr<std::optional<std::vector<StaticTensor>>> folded =
          foldNode(node, opset, inputs);
      if (!folded.ok())
        return nodeError(std::string(folded.status().message()));
      if (folded->has_value()) {
        if ((*folded)->size() < static_cast<size_t>(node.output_size()))
          return nodeError("produces fewer outputs than the node declares");
        for (int i = 0; i < node.output_size(); ++i)
          if (!node.output(i).empty())
            statics[node.output(i)] = std::move((**folded)[i]);
        return success();
      }
    }
  }

  LoweringFn lowering = findLowering(node.op_type(), node.domain());
  if (!lowering)
    return nodeError("operator " + node.op_type() +
                     (defaultDomain ? "" : " of domain " + node.domain()) +
                     " is not supported by Tessel's ONNX importer");
  NodeLowering context(*this, node, opset);
  if (failed(lowering(context)))
    return failure();
  for (int i = 0; i < node.output_size(); ++i)
    if (context.outputUsed(i) && !values.count(node.output(i)) &&
        !statics.count(node.output(i)))
      return nodeError("output " + std::to_string(i) + " ('" + node.output(i) +
                       "') is not supported");
  return success();
}

LogicalResult ModuleBuilder::finish() {
  const onnx::GraphProto &graph = model->graph();
  llvm::SmallVector<Value> results;
  llvm::SmallVector<mlir::Attribute> resultAttributes;
  opBuilder.setInsertionPointToEnd(&function.getBody().front());
  for (const onnx::ValueInfoProto &output : graph.output()) {
    if (!isKnown(output.name()))
      return error("graph output '" + output.name() +
                   "' is not produced by any node");
    FailureOr<Value> value =
        valueOf(output.name(),
                mlir::NameLoc::get(opBuilder.getStringAttr(output.name())));
    if (failed(value))
      return failure();
    results.push_back(*value);
    resultAttributes.push_back(opBuilder.getDictionaryAttr(
        {opBuilder.getNamedAttr(graph::GraphDialect::kNameAttr,
                                opBuilder.getStringAttr(output.name()))}));
  }
  mlir::func::ReturnOp::create(opBuilder, fileLoc, results);
  mlir::Block &entry = function.getBody().front();
  function.setFunctionType(opBuilder.getFunctionType(
      entry.getArgumentTypes(), mlir::ValueRange(results).getTypes()));
  function.setAllArgAttrs(argumentAttributes);
  function.setAllResultAttrs(resultAttributes);
  if (failed(mlir::verify(*module)))
    return error("the imported program does not verify (an importer bug)");
  return success();
}

FailureOr<ImportedModel> ModuleBuilder::run(const OnnxImportOptions &options) {
  // A model of training operators alone imports no default domain: none of
  // its ops can then be used, and any opset will do.
  opset = kMaxOpset;
  for (const onnx::OperatorSetIdProto &import : model->opset_import())
    if (import.domain().empty() || import.domain() == "ai.onnx")
      opset = import.version();
  if (opset < kMinOpset || opset > kMaxOpset)
    return error("the model uses ONNX opset " + std::to_string(opset) +
                 "; Tessel imports opsets " + std::to_string(kMinOpset) +
                 " to " + std::to_string(kMaxOpset));
  try {
    onnx::checker::CheckerContext checker;
    checker.set_model_dir(baseDirectory);
    onnx::checker::check_model(*model, checker);
  } catch (const std::exception &exception) {
    std::string reason = exception.what();
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    return error("the model is not valid ONNX: " + reason);
  }

  const onnx::GraphProto &graph = model->graph();
  for (const onnx::TensorProto &initializer : graph.initializer())
    initializers[initializer.name()] = &initializer;
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &input : node.input())
      ++readCounts[input];
  for (const onnx::ValueInfoProto &output : graph.output())
    ++readCounts[output.name()];

  module = mlir::ModuleOp::create(fileLoc);
  opBuilder.setInsertionPointToEnd(module->getBody());
  function = mlir::func::FuncOp::create(opBuilder, fileLoc, "main",
                                        opBuilder.getFunctionType({}, {}));
  function.setSymName(options.functionName);
  opBuilder.setInsertionPointToEnd(function.addEntryBlock());
  if (failed(declareInputs(options)))
    return failure();
  for (const onnx::NodeProto &node : graph.node())
    if (failed(importNode(node)))
      return failure();
  if (failed(finish()))
    return failure();

  ImportedModel result;
  result.module = std::move(module);
  result.storage->model = model;
  result.storage->baseDirectory = baseDirectory;
  result.storage->parameters = std::move(parameters);
  // The nodes that read each input and weight, for plans that address a
  // weight through them (torch names many weights onnx::MatMul_407).
  for (mlir::BlockArgument argument : function.getArguments())
    if (auto name = function.getArgAttrOfType<mlir::StringAttr>(
            argument.getArgNumber(), graph::GraphDialect::kNameAttr))
      if (auto found = uses.find(name.getValue()); found != uses.end())
        result.readers[name.str()] = found->second;
  return result;
}

} // namespace onnx_import

//===----------------------------------------------------------------------===//
// ImportedModel
//===----------------------------------------------------------------------===//

ImportedModel::ImportedModel() : storage(std::make_unique<Storage>()) {}
ImportedModel::ImportedModel(ImportedModel &&) = default;
ImportedModel &ImportedModel::operator=(ImportedModel &&) = default;
ImportedModel::~ImportedModel() = default;

size_t ImportedModel::numParameters() const {
  return storage->parameters.size();
}

static std::string absolutePath(const std::string &path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

absl::Status ImportedModel::writeParameterFile(const std::string &path) const {
  absl::StatusOr<ParameterSet> set = parameters();
  if (!set.ok())
    return set.status();
  return set->write(path);
}

absl::StatusOr<ParameterSet> ImportedModel::parameters() const {
  ParameterSet writer("the model's weights");
  for (const ParameterData &parameter : storage->parameters) {
    if (const auto *tensor =
            std::get_if<onnx_import::StaticTensor>(&parameter.source)) {
      std::optional<proto::ElementType> type =
          onnx_import::runtimeElementType(tensor->dataType);
      if (!type)
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", parameter.name,
                         "' has an unsupported element type"));
      writer.addOwned(parameter.name, *type, tensor->shape,
                      onnx_import::encodeBytes(*tensor));
      continue;
    }
    const onnx::TensorProto &proto =
        *std::get<const onnx::TensorProto *>(parameter.source);
    std::optional<proto::ElementType> type =
        onnx_import::runtimeElementType(proto.data_type());
    if (!type)
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", parameter.name, "' has an unsupported element type"));
    std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
    int64_t byteSize = elementByteSize(*type);
    for (int64_t dim : dims)
      byteSize *= dim;
    if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
      std::string location;
      uint64_t offset = 0;
      for (const onnx::StringStringEntryProto &entry : proto.external_data()) {
        if (entry.key() == "location")
          location = entry.value();
        else if (entry.key() == "offset")
          offset = std::strtoull(entry.value().c_str(), nullptr, 10);
      }
      writer.addExternal(parameter.name, *type, dims,
                         absolutePath(storage->baseDirectory + "/" + location),
                         offset, byteSize);
      continue;
    }
    if (proto.has_raw_data()) {
      if (static_cast<int64_t>(proto.raw_data().size()) != byteSize)
        return absl::DataLossError(absl::StrCat(
            "initializer '", parameter.name, "' has ", proto.raw_data().size(),
            " bytes, its shape needs ", byteSize));
      writer.add(parameter.name, *type, dims, proto.raw_data());
      continue;
    }
    absl::StatusOr<onnx_import::StaticTensor> decoded =
        onnx_import::decodeTensor(proto, storage->baseDirectory);
    if (!decoded.ok())
      return decoded.status();
    writer.addOwned(parameter.name, *type, dims,
                    onnx_import::encodeBytes(*decoded));
  }
  return writer;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

bool isSupportedOnnxOp(const std::string &opType, const std::string &domain) {
  if (!domain.empty() && domain != "ai.onnx")
    return onnx_import::findLowering(opType, domain) != nullptr;
  return opType == "Shape" || opType == "Size" ||
         onnx_import::isFoldable(opType) || onnx_import::findLowering(opType);
}

mlir::FailureOr<ImportedModel>
importOnnxModel(std::shared_ptr<const onnx::ModelProto> model,
                const std::string &baseDirectory, const std::string &sourceName,
                mlir::MLIRContext &context, const OnnxImportOptions &options) {
  context.loadDialect<graph::GraphDialect, mlir::func::FuncDialect>();
  onnx_import::ModuleBuilder builder(context, std::move(model), baseDirectory,
                                     sourceName);
  return builder.run(options);
}

mlir::FailureOr<ImportedModel>
importOnnxFile(const std::string &path, mlir::MLIRContext &context,
               const OnnxImportOptions &options) {
  mlir::Location loc = mlir::FileLineColLoc::get(&context, path, 0, 0);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return mlir::emitError(loc)
           << "cannot open the model: " << std::strerror(errno);
  auto model = std::make_shared<onnx::ModelProto>();
  google::protobuf::io::IstreamInputStream stream(&in);
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return mlir::emitError(loc)
           << "the file is not a valid ONNX model (it does not parse as an "
              "ONNX ModelProto; truncated or not ONNX?)";
  size_t slash = path.find_last_of('/');
  std::string directory =
      slash == std::string::npos ? "." : path.substr(0, slash);
  return importOnnxModel(std::move(model), directory, path, context, options);
}

} // namespace tessel
