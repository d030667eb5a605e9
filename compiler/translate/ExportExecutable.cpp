//===- ExportExecutable.cpp - graph IR to a Tessel executable -------------===//

#include "compiler/translate/ExportExecutable.h"

#include <map>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/DeviceGroups.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/lowering/Passes.h"
#include "runtime/Executable.h"

namespace tessel::translate {
namespace {

using mlir::failure;
using mlir::LogicalResult;
using mlir::success;
using spmd::namesOf;

std::optional<proto::ElementType> elementTypeOf(mlir::Type type) {
  mlir::Type element =
      mlir::cast<mlir::RankedTensorType>(type).getElementType();
  if (element.isF32())
    return proto::F32;
  if (element.isF64())
    return proto::F64;
  if (element.isF16())
    return proto::F16;
  if (element.isBF16())
    return proto::BF16;
  if (element.isInteger(1))
    return proto::I1;
  if (element.isUnsignedInteger(8))
    return proto::U8;
  if (element.isUnsignedInteger(16))
    return proto::U16;
  if (element.isUnsignedInteger(32))
    return proto::U32;
  if (element.isUnsignedInteger(64))
    return proto::U64;
  if (element.isSignlessInteger(8))
    return proto::I8;
  if (element.isSignlessInteger(16))
    return proto::I16;
  if (element.isSignlessInteger(32))
    return proto::I32;
  if (element.isSignlessInteger(64))
    return proto::I64;
  return std::nullopt;
}

std::string nameOf(mlir::Location loc) {
  if (std::string name = spmd::locationName(loc); !name.empty())
    return name;
  // Unnamed (MLIR input): where in the file, without the fused wrapping.
  std::string text;
  loc->walk([&](mlir::Location inner) {
    if (auto file = mlir::dyn_cast<mlir::FileLineColLoc>(inner)) {
      text = (file.getFilename().str() + ":" + std::to_string(file.getLine()) +
              ":" + std::to_string(file.getColumn()));
      return mlir::WalkResult::interrupt();
    }
    return mlir::WalkResult::advance();
  });
  if (!text.empty())
    return text;
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
  } else if (auto text = mlir::dyn_cast<mlir::StringAttr>(attribute)) {
    result.set_s(text.str());
  }
  return result;
}

/// What the op's kernel reads (graph::KernelOpInterface), into `out`.
void addKernelAttributes(
    mlir::Operation *op,
    google::protobuf::Map<std::string, proto::Attribute> &out) {
  auto kernel = mlir::dyn_cast<graph::KernelOpInterface>(op);
  if (!kernel)
    return;
  if (mlir::DictionaryAttr attributes = kernel.getKernelAttributes())
    for (mlir::NamedAttribute attribute : attributes)
      out[attribute.getName().str()] = toAttribute(attribute.getValue());
}

/// Axis names of each dimension of `sharding` (none if null).
std::vector<std::vector<std::string>> axesOf(spmd::ShardingAttr sharding,
                                             int64_t rank) {
  std::vector<std::vector<std::string>> dims(rank);
  if (sharding)
    for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
      for (spmd::AxisRefAttr axis : dim.getAxes())
        dims[d].push_back(spmd::axisName(axis));
  return dims;
}

/// Where the program runs: one device of a mesh, or a single device.
struct Placement {
  spmd::MeshAttr mesh; // Null for a single-device program.
  int64_t device = 0;
};

class Exporter {
public:
  Exporter(proto::Executable &executable, proto::DeviceProgram &program,
           Placement placement, bool first)
      : executable(executable), program(program), placement(placement),
        first(first) {}

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

  /// This device's part of `value` under its sharding: the start of the
  /// part in the global tensor per dimension, and the global dims (those of
  /// `globalShape` if given, else the parts' sizes times their number).
  void placeOf(mlir::Value value, spmd::ShardingAttr sharding,
               mlir::DenseI64ArrayAttr globalShape,
               std::vector<int64_t> &offsets,
               std::vector<int64_t> &globalDims) const;
  LogicalResult exportCollective(mlir::Operation *op,
                                 proto::Instruction &instruction);

  proto::Executable &executable;
  proto::DeviceProgram &program;
  Placement placement;
  // Whether this is the first device's program, which also records the
  // executable's inputs, outputs and parameters.
  bool first;
  int64_t inputs = 0, parameters = 0;
  // Per argument: whether it is a parameter, and its index among the
  // parameters or the inputs.
  std::vector<std::pair<bool, int64_t>> argumentSlots;
  llvm::DenseMap<mlir::Value, int64_t> bufferOf;
  /// Asynchronous collectives: the index of their (start) instruction.
  llvm::DenseMap<mlir::Operation *, int64_t> startedAt;
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
  auto arena =
      function->getAttrOfType<mlir::IntegerAttr>(lowering::kArenaBytesAttr);
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
    std::vector<int64_t> offsets, globalDims;
    placeOf(argument, spmd::getSharding(argument),
            function.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
                argument.getArgNumber(), spmd::SpmdDialect::kGlobalShapeAttr),
            offsets, globalDims);
    for (int64_t dim : globalDims)
      spec.add_dims(dim);
    if (auto stored = function.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
            argument.getArgNumber(), graph::GraphDialect::kStoredShapeAttr)) {
      int64_t storedElements = 1, elements = 1;
      for (int64_t dim : stored.asArrayRef()) {
        spec.add_stored_dims(dim);
        storedElements *= dim;
      }
      for (int64_t dim : globalDims)
        elements *= dim;
      if (storedElements != elements)
        return function.emitError()
               << "argument " << argument.getArgNumber() << ": '"
               << graph::GraphDialect::kStoredShapeAttr << "' " << stored
               << " does not hold the elements of its shape";
    }
    proto::Buffer buffer;
    if (placement.mesh)
      for (int64_t offset : offsets)
        buffer.add_global_offsets(offset);
    argumentSlots.emplace_back(parameter, parameter ? parameters : inputs);
    if (parameter) {
      buffer.set_storage(proto::Buffer::PARAMETER);
      buffer.set_index(parameters++);
      if (first)
        *executable.add_parameters() = spec;
    } else {
      buffer.set_storage(proto::Buffer::INPUT);
      buffer.set_index(inputs++);
      if (first)
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
      std::vector<int64_t> offsets, globalDims;
      placeOf(value,
              function.getResultAttrOfType<spmd::ShardingAttr>(
                  i, spmd::SpmdDialect::kShardingAttr),
              function.getResultAttrOfType<mlir::DenseI64ArrayAttr>(
                  i, spmd::SpmdDialect::kGlobalShapeAttr),
              offsets, globalDims);
      if (first) {
        proto::TensorSpec *spec = executable.add_outputs();
        spec->set_name(name ? name.str() : "output" + std::to_string(i));
        spec->set_element_type(*elementTypeOf(value.getType()));
        for (int64_t dim : globalDims)
          spec->add_dims(dim);
        if (std::optional<unsigned> argument =
                graph::GraphDialect::updatedArgument(function, i)) {
          // The next value of a viewed argument, shown as it is stored.
          if (auto stored = function.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
                  *argument, graph::GraphDialect::kStoredShapeAttr))
            for (int64_t dim : stored.asArrayRef())
              spec->add_stored_dims(dim);
          proto::StateUpdate *update = executable.add_state_updates();
          update->set_output(i);
          update->set_parameter(argumentSlots[*argument].first);
          update->set_index(argumentSlots[*argument].second);
        }
      }
      program.add_output_buffers(bufferOf.lookup(value));
      if (placement.mesh) {
        proto::Ints *outputOffsets = program.add_output_offsets();
        for (int64_t offset : offsets)
          outputOffsets->add_values(offset);
      }
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
  if (auto index = mlir::dyn_cast<spmd::PartIndexOp>(op)) {
    // This device's number, a constant of its own program.
    if (!placement.mesh)
      return op->emitError() << "numbers parts in a single-device program";
    int64_t dim = index.getDimAttr().getInt();
    uint64_t word = static_cast<uint64_t>(spmd::partIndicesOf(
        placement.mesh,
        index.getSharding().getDims()[dim].getAxes())[placement.device]);
    proto::Buffer buffer;
    buffer.set_storage(proto::Buffer::CONSTANT);
    buffer.set_data(std::string(reinterpret_cast<const char *>(&word),
                                index.getType().getElementTypeBitWidth() / 8));
    addBuffer(index.getResult(), buffer);
    return success();
  }
  if (auto reshape = mlir::dyn_cast<graph::ReshapeOp>(op)) {
    // A view: the operand's storage with the result's dims.
    proto::Buffer buffer =
        program.buffers(bufferOf.lookup(reshape.getOperand()));
    // Where a part sits in the global tensor is the operand's business.
    buffer.clear_global_offsets();
    addBuffer(reshape.getResult(), buffer);
    return success();
  }

  if (auto done = mlir::dyn_cast<spmd::CollectiveDoneOp>(op)) {
    // The wait: reads the collective's results (the same buffer as its own
    // result, a view) and operands, which stay untouched until here.
    proto::Instruction &instruction = *program.add_instructions();
    instruction.set_op("collective_done");
    instruction.set_location(nameOf(op->getLoc()));
    mlir::Operation *start = done.getStart();
    auto index = startedAt.find(start);
    if (index == startedAt.end())
      return op->emitError() << "waits for a collective not exported first";
    (*instruction.mutable_attributes())["start"].set_i(index->second);
    for (mlir::Value value : start->getResults())
      instruction.add_operands(bufferOf.lookup(value));
    for (mlir::Value value : start->getOperands())
      instruction.add_operands(bufferOf.lookup(value));
    bufferOf[done.getResult()] = bufferOf.lookup(done.getStarted());
    return success();
  }

  auto offsets =
      op->getAttrOfType<mlir::DenseI64ArrayAttr>(lowering::kBufferOffsetsAttr);
  if (!offsets || offsets.size() != static_cast<int64_t>(op->getNumResults()))
    return op->emitError()
           << "has no buffer: run --graph-assign-buffers before exporting";
  proto::Instruction &instruction = *program.add_instructions();
  instruction.set_op(op->getName().stripDialect().str());
  instruction.set_location(nameOf(op->getLoc()));
  if (auto cost = mlir::dyn_cast<graph::CostOpInterface>(op))
    instruction.set_flops(cost.getFlops());
  for (mlir::Value operand : op->getOperands())
    instruction.add_operands(bufferOf.lookup(operand));
  auto donated = op->getAttrOfType<mlir::DenseI64ArrayAttr>(
      lowering::kDonatedArgumentsAttr);
  auto function = op->getParentOfType<mlir::func::FuncOp>();
  for (auto [r, result] : llvm::enumerate(op->getResults())) {
    proto::Buffer buffer;
    if (donated && donated[r] >= 0) {
      // Written over the argument it updates: the argument's storage.
      buffer =
          program.buffers(bufferOf.lookup(function.getArgument(donated[r])));
    } else {
      buffer.set_storage(proto::Buffer::ARENA);
      buffer.set_offset(offsets[r]);
    }
    instruction.add_results(addBuffer(result, buffer));
  }

  if (auto fusion = mlir::dyn_cast<graph::FusionOp>(op))
    return exportFusion(fusion, instruction);
  if (op->getDialect() && op->getDialect()->getNamespace() ==
                              spmd::SpmdDialect::getDialectNamespace()) {
    for (const std::string &origin : spmd::collectiveOrigins(op->getLoc()))
      instruction.add_origins(origin);
    for (const spmd::PlanEntry &remedy :
         spmd::collectiveRemedies(op->getLoc())) {
      proto::PlanEntry *entry = instruction.add_remedies();
      entry->set_tensor(remedy.tensor);
      entry->set_spec(remedy.spec);
    }
    return exportCollective(op, instruction);
  }
  if (!op->hasTrait<graph::OpTrait::HostKernel>())
    return op->emitError() << "has no host kernel; elementwise ops and "
                              "broadcasts must be fused first "
                              "(--graph-fuse-elementwise)";
  addKernelAttributes(op, *instruction.mutable_attributes());
  return success();
}

void Exporter::placeOf(mlir::Value value, spmd::ShardingAttr sharding,
                       mlir::DenseI64ArrayAttr globalShape,
                       std::vector<int64_t> &offsets,
                       std::vector<int64_t> &globalDims) const {
  auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
  offsets.assign(type.getRank(), 0);
  globalDims.assign(type.getShape().begin(), type.getShape().end());
  if (!placement.mesh || !sharding)
    return;
  // Sub-axes count: a reshape may leave a dimension split by part of an axis.
  for (auto [d, dim] : llvm::enumerate(sharding.getDims())) {
    int64_t parts = dim.numParts(placement.mesh);
    int64_t part =
        spmd::partIndicesOf(placement.mesh, dim.getAxes())[placement.device];
    offsets[d] = part * type.getDimSize(d);
    globalDims[d] = parts * type.getDimSize(d);
  }
  if (globalShape)
    globalDims.assign(globalShape.asArrayRef().begin(),
                      globalShape.asArrayRef().end());
}

LogicalResult Exporter::exportCollective(mlir::Operation *op,
                                         proto::Instruction &instruction) {
  if (!placement.mesh)
    return op->emitError() << "is a collective in a single-device program";
  auto inType = mlir::cast<mlir::RankedTensorType>(op->getOperand(0).getType());
  auto outType = mlir::cast<mlir::RankedTensorType>(op->getResult(0).getType());
  auto &attributes = *instruction.mutable_attributes();
  // Each device's coordinate along a ring's axes.
  auto ringCoordinates = [&](mlir::ArrayAttr names) {
    return spmd::partIndices(placement.mesh, namesOf(names));
  };
  // Local: block `blocks[d]` (of the result's size) of each dimension, as
  // a pad with negative edges, which also pads a block reaching past the
  // end.
  auto exportBlock = [&](llvm::ArrayRef<int64_t> blocks) {
    instruction.set_op("pad");
    proto::Ints &low = *attributes["edge_padding_low"].mutable_ints();
    proto::Ints &high = *attributes["edge_padding_high"].mutable_ints();
    proto::Ints &interior = *attributes["interior_padding"].mutable_ints();
    attributes["padding_value"].set_f(0.0);
    for (int64_t d = 0; d < inType.getRank(); ++d) {
      int64_t start = blocks[d] * outType.getDimSize(d);
      low.add_values(-start);
      high.add_values(start + outType.getDimSize(d) - inType.getDimSize(d));
      interior.add_values(0);
    }
    return success();
  };
  if (auto slice = mlir::dyn_cast<spmd::AllSliceOp>(op)) {
    // This device's part of each sliced dimension.
    std::vector<int64_t> blocks;
    for (mlir::Attribute list : slice.getSlicingAxes())
      blocks.push_back(spmd::partIndices(
          placement.mesh,
          namesOf(mlir::cast<mlir::ArrayAttr>(list)))[placement.device]);
    return exportBlock(blocks);
  }
  if (auto block = mlir::dyn_cast<spmd::RingBlockOp>(op)) {
    // The block the ring's step brought here, (c - shift) mod n.
    std::vector<int64_t> part = ringCoordinates(block.getAxes());
    int64_t dim = block.getDimAttr().getInt();
    int64_t n = inType.getDimSize(dim) / outType.getDimSize(dim);
    std::vector<int64_t> blocks(inType.getRank(), 0);
    blocks[dim] =
        ((part[placement.device] - block.getShiftAttr().getInt()) % n + n) % n;
    return exportBlock(blocks);
  }
  if (auto mask = mlir::dyn_cast<spmd::MaskPaddingOp>(op)) {
    // This device's part holds the global tensor up to these limits.
    instruction.set_op("pad");
    proto::Ints &low = *attributes["edge_padding_low"].mutable_ints();
    proto::Ints &high = *attributes["edge_padding_high"].mutable_ints();
    proto::Ints &interior = *attributes["interior_padding"].mutable_ints();
    proto::Ints &limits = *attributes["operand_limits"].mutable_ints();
    attributes["padding_value"].set_f(mask.getValue().convertToDouble());
    std::vector<int64_t> offsets, globalDims;
    placeOf(mask.getResult(), mask.getSharding(), mask.getGlobalShapeAttr(),
            offsets, globalDims);
    for (int64_t d = 0; d < outType.getRank(); ++d) {
      low.add_values(0);
      high.add_values(0);
      interior.add_values(0);
      limits.add_values(mask.getGlobalShape()[d] - offsets[d]);
    }
    return success();
  }
  instruction.set_op("collective");
  proto::Collective &collective = *instruction.mutable_collective();
  if (op->hasAttr(spmd::SpmdDialect::kAsyncAttr)) {
    collective.set_async(true);
    startedAt[op] = program.instructions_size() - 1;
  }
  auto setGroups = [&](const std::vector<std::string> &axes) {
    for (const std::vector<int64_t> &group :
         spmd::deviceGroups(placement.mesh, axes)) {
      proto::Ints *ints = collective.add_groups();
      for (int64_t device : group)
        ints->add_values(device);
    }
  };
  auto setReduction = [&](llvm::StringRef reduction) {
    collective.set_reduction(reduction == "max"   ? proto::Collective::MAX
                             : reduction == "min" ? proto::Collective::MIN
                                                  : proto::Collective::SUM);
  };
  /// The one dimension a gather or scatter works on, and its axes.
  auto singleDimension = [&](mlir::ArrayAttr lists, int64_t &dimension,
                             std::vector<std::string> &axes) -> LogicalResult {
    dimension = -1;
    for (auto [d, list] : llvm::enumerate(lists)) {
      if (mlir::cast<mlir::ArrayAttr>(list).empty())
        continue;
      if (dimension >= 0)
        return op->emitError()
               << "works on several dimensions; the executable takes one "
                  "per collective";
      dimension = d;
      axes = namesOf(mlir::cast<mlir::ArrayAttr>(list));
    }
    return success();
  };
  if (auto halo = mlir::dyn_cast<spmd::HaloExchangeOp>(op)) {
    collective.set_kind(proto::Collective::HALO_EXCHANGE);
    collective.set_dimension(halo.getDimAttr().getInt());
    collective.set_halo_low(halo.getLowAttr().getInt());
    collective.set_halo_high(halo.getHighAttr().getInt());
    collective.set_padding_value(halo.getPadding().convertToDouble());
    setGroups(namesOf(halo.getAxes()));
    return success();
  }
  if (auto reduce = mlir::dyn_cast<spmd::AllReduceOp>(op)) {
    collective.set_kind(proto::Collective::ALL_REDUCE);
    setReduction(reduce.getReduction());
    setGroups(namesOf(reduce.getReductionAxes()));
    return success();
  }
  if (auto gather = mlir::dyn_cast<spmd::AllGatherOp>(op)) {
    int64_t dimension;
    std::vector<std::string> axes;
    if (failed(singleDimension(gather.getGatheringAxes(), dimension, axes)))
      return failure();
    collective.set_kind(proto::Collective::ALL_GATHER);
    collective.set_dimension(dimension);
    setGroups(axes);
    return success();
  }
  if (auto scatter = mlir::dyn_cast<spmd::ReduceScatterOp>(op)) {
    int64_t dimension;
    std::vector<std::string> axes;
    if (failed(singleDimension(scatter.getScatterAxes(), dimension, axes)))
      return failure();
    collective.set_kind(proto::Collective::REDUCE_SCATTER);
    setReduction(scatter.getReduction());
    collective.set_dimension(dimension);
    setGroups(axes);
    return success();
  }
  if (auto allToAll = mlir::dyn_cast<spmd::AllToAllOp>(op)) {
    // The axis leaves src_dim (whose parts are concatenated) for tgt_dim
    // (which is split among the members).
    collective.set_kind(proto::Collective::ALL_TO_ALL);
    collective.set_dimension(allToAll.getSrcDim());
    collective.set_split_dimension(allToAll.getTgtDim());
    setGroups(namesOf(allToAll.getAxes()));
    return success();
  }
  // Each ring along `axes` sends coordinate c's part to coordinate
  // target(c, n).
  auto exportRing = [&](mlir::ArrayAttr axes, auto target) {
    std::vector<int64_t> part = ringCoordinates(axes);
    collective.set_kind(proto::Collective::COLLECTIVE_PERMUTE);
    proto::Ints *all = collective.add_groups();
    for (int64_t device = 0; device < placement.mesh.numDevices(); ++device)
      all->add_values(device);
    for (const std::vector<int64_t> &ring :
         spmd::deviceGroups(placement.mesh, namesOf(axes))) {
      int64_t n = ring.size();
      std::vector<int64_t> byCoordinate(n);
      for (int64_t device : ring)
        byCoordinate[part[device]] = device;
      for (int64_t c = 0; c < n; ++c) {
        proto::Ints *pair = collective.add_pairs();
        pair->add_values(byCoordinate[c]);
        pair->add_values(byCoordinate[target(c, n)]);
      }
    }
    return success();
  };
  if (auto shift = mlir::dyn_cast<spmd::RingShiftOp>(op))
    return exportRing(shift.getAxes(), [&](int64_t c, int64_t n) {
      return ((c + shift.getShiftAttr().getInt()) % n + n) % n;
    });
  if (auto permute = mlir::dyn_cast<spmd::RingPermuteOp>(op))
    return exportRing(permute.getAxes(), [&](int64_t c, int64_t) {
      return permute.getTargets()[c];
    });
  if (auto permute = mlir::dyn_cast<spmd::CollectivePermuteOp>(op)) {
    spmd::ShardingAttr source = permute.getInSharding();
    std::vector<int64_t> sources = spmd::permuteSources(
        placement.mesh, axesOf(source, inType.getRank()),
        axesOf(permute.getOutSharding(), outType.getRank()));
    if (sources.empty())
      return op->emitError() << "moves between layouts with different part "
                                "counts";
    collective.set_kind(proto::Collective::COLLECTIVE_PERMUTE);
    // One group of every device, by id; pairs name sources and targets.
    proto::Ints *all = collective.add_groups();
    for (int64_t device = 0; device < placement.mesh.numDevices(); ++device)
      all->add_values(device);
    for (auto [target, from] : llvm::enumerate(sources)) {
      proto::Ints *pair = collective.add_pairs();
      pair->add_values(from);
      pair->add_values(target);
    }
    return success();
  }
  return op->emitError() << "has no host kernel and is not a collective";
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
        // Unsigned values zero-extend, as the runtime loads them.
        scalar = dense.getElementType().isUnsignedInteger()
                     ? static_cast<double>(
                           dense.getSplatValue<llvm::APInt>().getZExtValue())
                     : dense.getSplatValue<llvm::APInt>().getSExtValue();
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
      addKernelAttributes(op, *step.mutable_attributes());
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
  // A partitioned program runs on every device of its mesh.
  Placement placement;
  for (spmd::MeshOp mesh : module.getOps<spmd::MeshOp>()) {
    if (placement.mesh)
      return module.emitError()
             << "a partitioned program must use one mesh, this one has several";
    placement.mesh = mesh.getMesh();
    for (spmd::MeshAxisAttr axis : placement.mesh.getAxes()) {
      proto::MeshAxis *out = executable.mutable_mesh()->add_axes();
      out->set_name(axis.getName().str());
      out->set_size(axis.getSize());
    }
    for (int64_t id : placement.mesh.getDeviceIds())
      executable.mutable_mesh()->add_device_ids(id);
  }
  int64_t devices = placement.mesh ? placement.mesh.numDevices() : 1;
  for (int64_t device = 0; device < devices; ++device) {
    proto::DeviceProgram &program = *executable.add_programs();
    program.set_device_id(device);
    placement.device = device;
    Exporter exporter(executable, program, placement, device == 0);
    if (failed(exporter.exportFunction(functions.front())))
      return failure();
  }
  if (executable.parameters_size() > 0)
    executable.set_parameter_file(parameterFile);
  if (absl::Status status = validateExecutable(executable); !status.ok())
    return module.emitError() << "the exported executable is invalid (an "
                                 "exporter bug): "
                              << std::string(status.message());
  return executable;
}

} // namespace tessel::translate
