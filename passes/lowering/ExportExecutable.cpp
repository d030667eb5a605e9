//===- ExportExecutable.cpp - graph IR to a Tessel executable -------------===//

#include "passes/lowering/ExportExecutable.h"

#include <map>

#include "dialects/graph/GraphOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/lowering/Passes.h"
#include "runtime/Executable.h"

namespace tessel::lowering {
namespace {

using mlir::failure;
using mlir::LogicalResult;
using mlir::success;

std::optional<proto::ElementType> elementTypeOf(mlir::Type type) {
  mlir::Type element =
      mlir::cast<mlir::RankedTensorType>(type).getElementType();
  if (element.isF32())
    return proto::F32;
  if (element.isF16())
    return proto::F16;
  if (element.isBF16())
    return proto::BF16;
  if (element.isInteger(1))
    return proto::I1;
  if (element.isInteger(32))
    return proto::I32;
  if (element.isInteger(64))
    return proto::I64;
  return std::nullopt;
}

std::string nameOf(mlir::Location loc) {
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(loc))
    return name.getName().str();
  std::string text;
  llvm::raw_string_ostream os(text);
  loc.print(os);
  return text;
}

proto::Attribute toAttribute(mlir::Attribute attribute) {
  proto::Attribute result;
  if (auto ints = mlir::dyn_cast<mlir::DenseI64ArrayAttr>(attribute)) {
    result.mutable_ints(); // Set even when empty.
    for (int64_t value : ints.asArrayRef())
      result.mutable_ints()->add_values(value);
  } else if (auto floats = mlir::dyn_cast<mlir::DenseF64ArrayAttr>(attribute)) {
    result.mutable_floats();
    for (double value : floats.asArrayRef())
      result.mutable_floats()->add_values(value);
  } else if (auto boolean = mlir::dyn_cast<mlir::BoolAttr>(attribute)) {
    result.set_i(boolean.getValue());
  } else if (auto integer = mlir::dyn_cast<mlir::IntegerAttr>(attribute)) {
    result.set_i(integer.getInt());
  } else if (auto real = mlir::dyn_cast<mlir::FloatAttr>(attribute)) {
    result.set_f(real.getValueAsDouble());
  }
  return result;
}

class Exporter {
public:
  Exporter(proto::Executable &executable, proto::DeviceProgram &program)
      : executable(executable), program(program) {}

  LogicalResult exportFunction(mlir::func::FuncOp function);

private:
  int64_t addBuffer(mlir::Value value, proto::Buffer buffer);
  LogicalResult exportOp(mlir::Operation *op);
  LogicalResult exportFusion(graph::FusionOp fusion,
                             proto::Instruction &instruction);
  std::optional<int64_t> fusionStep(mlir::Value value,
                                    llvm::ArrayRef<int64_t> mapping,
                                    graph::FusionOp fusion,
                                    proto::Instruction &instruction);

  proto::Executable &executable;
  proto::DeviceProgram &program;
  llvm::DenseMap<mlir::Value, int64_t> bufferOf;
  // Fusion export state: (value, mapping) -> step, (input, mapping) -> operand.
  std::map<std::pair<void *, std::vector<int64_t>>, int64_t> steps;
  std::map<std::pair<unsigned, std::vector<int64_t>>, int64_t> loads;
};

int64_t Exporter::addBuffer(mlir::Value value, proto::Buffer buffer) {
  auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
  buffer.set_element_type(*elementTypeOf(type));
  buffer.clear_dims();
  for (int64_t dim : type.getShape())
    buffer.add_dims(dim);
  int64_t id = program.buffers_size();
  *program.add_buffers() = std::move(buffer);
  bufferOf[value] = id;
  return id;
}

LogicalResult Exporter::exportFunction(mlir::func::FuncOp function) {
  auto arena = function->getAttrOfType<mlir::IntegerAttr>(kArenaBytesAttr);
  if (!arena)
    return function.emitError()
           << "buffers are not assigned: run --graph-assign-buffers first";
  program.set_arena_bytes(arena.getInt());
  for (mlir::BlockArgument argument : function.getArguments()) {
    std::optional<proto::ElementType> type = elementTypeOf(argument.getType());
    if (!type)
      return function.emitError() << "argument " << argument.getArgNumber()
                                  << " has an unsupported element type";
    bool parameter = static_cast<bool>(function.getArgAttr(
        argument.getArgNumber(), graph::GraphDialect::kParameterAttr));
    auto name = function.getArgAttrOfType<mlir::StringAttr>(
        argument.getArgNumber(), graph::GraphDialect::kNameAttr);
    proto::TensorSpec spec;
    spec.set_name(name ? name.str()
                       : "arg" + std::to_string(argument.getArgNumber()));
    spec.set_element_type(*type);
    for (int64_t dim :
         mlir::cast<mlir::RankedTensorType>(argument.getType()).getShape())
      spec.add_dims(dim);
    proto::Buffer buffer;
    if (parameter) {
      buffer.set_storage(proto::Buffer::PARAMETER);
      buffer.set_index(executable.parameters_size());
      *executable.add_parameters() = spec;
    } else {
      buffer.set_storage(proto::Buffer::INPUT);
      buffer.set_index(executable.inputs_size());
      *executable.add_inputs() = spec;
    }
    addBuffer(argument, buffer);
  }
  for (mlir::Operation &op : function.getBody().front())
    if (failed(exportOp(&op)))
      return failure();
  return success();
}

LogicalResult Exporter::exportOp(mlir::Operation *op) {
  if (auto ret = mlir::dyn_cast<mlir::func::ReturnOp>(op)) {
    auto function = op->getParentOfType<mlir::func::FuncOp>();
    for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
      auto name = function.getResultAttrOfType<mlir::StringAttr>(
          i, graph::GraphDialect::kNameAttr);
      proto::TensorSpec *spec = executable.add_outputs();
      spec->set_name(name ? name.str() : "output" + std::to_string(i));
      spec->set_element_type(*elementTypeOf(value.getType()));
      for (int64_t dim :
           mlir::cast<mlir::RankedTensorType>(value.getType()).getShape())
        spec->add_dims(dim);
      program.add_output_buffers(bufferOf.lookup(value));
    }
    return success();
  }
  for (mlir::Value result : op->getResults())
    if (!elementTypeOf(result.getType()))
      return op->emitError() << "has a result of unsupported element type";

  if (auto constant = mlir::dyn_cast<graph::ConstantOp>(op)) {
    auto dense = mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue());
    if (!dense)
      return op->emitError() << "only dense constants can be exported";
    proto::Buffer buffer;
    buffer.set_storage(proto::Buffer::CONSTANT);
    std::string bytes;
    auto type = constant.getType();
    unsigned bits = type.getElementTypeBitWidth();
    if (bits == 1) {
      for (bool value : dense.getValues<bool>())
        bytes.push_back(value ? 1 : 0);
    } else if (mlir::isa<mlir::FloatType>(type.getElementType())) {
      for (llvm::APFloat value : dense.getValues<llvm::APFloat>()) {
        uint64_t word = value.bitcastToAPInt().getZExtValue();
        bytes.append(reinterpret_cast<const char *>(&word), bits / 8);
      }
    } else {
      for (llvm::APInt value : dense.getValues<llvm::APInt>()) {
        uint64_t word = value.getZExtValue();
        bytes.append(reinterpret_cast<const char *>(&word), bits / 8);
      }
    }
    buffer.set_data(std::move(bytes));
    addBuffer(constant.getResult(), buffer);
    return success();
  }
  if (auto reshape = mlir::dyn_cast<graph::ReshapeOp>(op)) {
    // A view: the operand's storage with the result's dims.
    proto::Buffer buffer =
        program.buffers(bufferOf.lookup(reshape.getOperand()));
    addBuffer(reshape.getResult(), buffer);
    return success();
  }

  auto offsets = op->getAttrOfType<mlir::DenseI64ArrayAttr>(kBufferOffsetsAttr);
  if (!offsets || offsets.size() != static_cast<int64_t>(op->getNumResults()))
    return op->emitError()
           << "has no buffer: run --graph-assign-buffers before exporting";
  proto::Instruction &instruction = *program.add_instructions();
  instruction.set_op(op->getName().stripDialect().str());
  instruction.set_location(nameOf(op->getLoc()));
  for (mlir::Value operand : op->getOperands())
    instruction.add_operands(bufferOf.lookup(operand));
  for (auto [result, offset] :
       llvm::zip(op->getResults(), offsets.asArrayRef())) {
    proto::Buffer buffer;
    buffer.set_storage(proto::Buffer::ARENA);
    buffer.set_offset(offset);
    instruction.add_results(addBuffer(result, buffer));
  }

  if (auto fusion = mlir::dyn_cast<graph::FusionOp>(op))
    return exportFusion(fusion, instruction);
  if (!mlir::isa<graph::DotGeneralOp, graph::ConvolutionOp, graph::ReduceOp,
                 graph::SoftmaxOp, graph::LayerNormOp,
                 graph::BatchNormInferenceOp, graph::TransposeOp,
                 graph::SliceOp, graph::ConcatenateOp, graph::PadOp,
                 graph::ReverseOp, graph::GatherOp, graph::IotaOp,
                 graph::MaxPoolOp, graph::AvgPoolOp, graph::ResizeOp>(op))
    return op->emitError() << "has no host kernel; elementwise ops and "
                              "broadcasts must be fused first "
                              "(--graph-fuse-elementwise)";
  auto &attributes = *instruction.mutable_attributes();
  if (auto properties = mlir::dyn_cast_or_null<mlir::DictionaryAttr>(
          op->getPropertiesAsAttribute()))
    for (mlir::NamedAttribute attribute : properties)
      attributes[attribute.getName().str()] = toAttribute(attribute.getValue());
  // Enumerations travel by name.
  if (auto reduce = mlir::dyn_cast<graph::ReduceOp>(op))
    attributes["kind"].set_s(
        graph::stringifyReduceKind(reduce.getKind()).str());
  if (auto resize = mlir::dyn_cast<graph::ResizeOp>(op)) {
    attributes["mode"].set_s(
        graph::stringifyResizeMode(resize.getMode()).str());
    attributes["coordinate_transform"].set_s(
        graph::stringifyCoordinateTransform(resize.getCoordinateTransform())
            .str());
    attributes["nearest_mode"].set_s(
        graph::stringifyNearestMode(resize.getNearestMode()).str());
  }
  return success();
}

LogicalResult Exporter::exportFusion(graph::FusionOp fusion,
                                     proto::Instruction &instruction) {
  // Operands are re-listed per (input, broadcast) pair: each load reads one
  // operand through one mapping into the iteration space.
  instruction.clear_operands();
  steps.clear();
  loads.clear();
  int64_t rank = fusion.getType().getRank();
  llvm::SmallVector<int64_t> identity =
      llvm::to_vector(llvm::seq<int64_t>(0, rank));
  mlir::Value yielded =
      mlir::cast<graph::YieldOp>(fusion.getBody().front().getTerminator())
          .getValue();
  std::optional<int64_t> output =
      fusionStep(yielded, identity, fusion, instruction);
  if (!output)
    return failure();
  instruction.mutable_fusion()->add_outputs(*output);
  return success();
}

std::optional<int64_t> Exporter::fusionStep(mlir::Value value,
                                            llvm::ArrayRef<int64_t> mapping,
                                            graph::FusionOp fusion,
                                            proto::Instruction &instruction) {
  std::vector<int64_t> key(mapping.begin(), mapping.end());
  auto memo = steps.find({value.getAsOpaquePointer(), key});
  if (memo != steps.end())
    return memo->second;
  proto::Fusion &program = *instruction.mutable_fusion();
  proto::FusionStep step;
  step.set_element_type(*elementTypeOf(value.getType()));

  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    unsigned input = argument.getArgNumber();
    auto [it, inserted] =
        loads.try_emplace({input, key}, instruction.operands_size());
    if (inserted) {
      instruction.add_operands(bufferOf.lookup(fusion.getInputs()[input]));
      proto::Ints *dims = program.add_operand_dims();
      for (int64_t d : mapping)
        dims->add_values(d);
    }
    step.set_op("load");
    step.add_args(it->second);
  } else {
    mlir::Operation *op = value.getDefiningOp();
    if (auto broadcast = mlir::dyn_cast<graph::BroadcastInDimOp>(op)) {
      llvm::SmallVector<int64_t> inner;
      for (int64_t d : broadcast.getBroadcastDimensions())
        inner.push_back(mapping[d]);
      std::optional<int64_t> source =
          fusionStep(broadcast.getOperand(), inner, fusion, instruction);
      if (source)
        steps[{value.getAsOpaquePointer(), key}] = *source;
      return source;
    }
    if (auto constant = mlir::dyn_cast<graph::ConstantOp>(op)) {
      auto dense = mlir::cast<mlir::DenseElementsAttr>(constant.getValue());
      double scalar;
      if (auto floats = mlir::dyn_cast<mlir::DenseFPElementsAttr>(dense))
        scalar = floats.getSplatValue<llvm::APFloat>().convertToDouble();
      else if (dense.getElementType().isInteger(1))
        scalar = dense.getSplatValue<bool>();
      else
        scalar = dense.getSplatValue<llvm::APInt>().getSExtValue();
      step.set_op("constant");
      (*step.mutable_attributes())["value"].set_f(scalar);
    } else {
      step.set_op(op->getName().stripDialect().str());
      for (mlir::Value operand : op->getOperands()) {
        std::optional<int64_t> arg =
            fusionStep(operand, mapping, fusion, instruction);
        if (!arg)
          return std::nullopt;
        step.add_args(*arg);
      }
      if (auto compare = mlir::dyn_cast<graph::CompareOp>(op))
        (*step.mutable_attributes())["direction"].set_i(
            static_cast<int64_t>(compare.getDirection()));
      if (auto clamp = mlir::dyn_cast<graph::ClampOp>(op)) {
        if (clamp.getMin())
          (*step.mutable_attributes())["min"].set_f(
              clamp.getMin()->convertToDouble());
        if (clamp.getMax())
          (*step.mutable_attributes())["max"].set_f(
              clamp.getMax()->convertToDouble());
      }
    }
  }
  int64_t index = program.steps_size();
  *program.add_steps() = std::move(step);
  steps[{value.getAsOpaquePointer(), key}] = index;
  return index;
}

} // namespace

mlir::FailureOr<proto::Executable>
exportExecutable(mlir::ModuleOp module, const std::string &parameterFile) {
  auto functions = llvm::to_vector(module.getOps<mlir::func::FuncOp>());
  if (functions.size() != 1)
    return module.emitError()
           << "expected one function to export, found " << functions.size();
  proto::Executable executable;
  executable.set_format_version(kExecutableFormatVersion);
  proto::DeviceProgram &program = *executable.add_programs();
  program.set_device_id(0);
  Exporter exporter(executable, program);
  if (failed(exporter.exportFunction(functions.front())))
    return failure();
  if (executable.parameters_size() > 0)
    executable.set_parameter_file(parameterFile);
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return module.emitError() << "the exported executable is invalid (an "
                                 "exporter bug): "
                              << std::string(status.message());
  return executable;
}

} // namespace tessel::lowering
