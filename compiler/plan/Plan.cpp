//===- Plan.cpp - Sharding plans: reading, applying, extracting -----------===//

#include "compiler/plan/Plan.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dialects/RegisterDialects.h"
#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/SpmdOps.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "runtime/Names.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"

namespace tessel {
namespace {

struct FirstError : google::protobuf::io::ErrorCollector {
  void AddError(int line, int column, const std::string &message) override {
    if (text.empty())
      text = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  std::string text;
};

} // namespace

absl::StatusOr<proto::Plan> readPlan(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot open plan '", path, "': ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  return parsePlan(text.str(), path);
}

absl::StatusOr<proto::Plan> parsePlan(const std::string &text,
                                      const std::string &source) {
  proto::Plan plan;
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &plan))
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", errors.text,
                     " (a plan is a tessel.proto.Plan "
                     "in protobuf text form)"));
  return plan;
}

absl::StatusOr<proto::PlanMesh> parseMeshFlag(const std::string &flag) {
  proto::PlanMesh mesh;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(entry, absl::MaxSplits('=', 1));
    int64_t size;
    if (parts.first.empty() || !absl::SimpleAtoi(parts.second, &size) ||
        size < 1)
      return absl::InvalidArgumentError(
          absl::StrCat("--mesh entry '", entry,
                       "' is not of the form axis=size with size >= 1"));
    proto::PlanMesh::Axis *axis = mesh.add_axes();
    axis->set_name(parts.first);
    axis->set_size(size);
  }
  if (mesh.axes_size() == 0)
    return absl::InvalidArgumentError(
        "--mesh needs at least one axis, e.g. --mesh x=2,y=4");
  return mesh;
}

std::string formatSpec(const std::vector<SpecDimension> &spec) {
  std::vector<std::string> dims;
  for (const SpecDimension &dim : spec) {
    std::vector<std::string> axes;
    for (const std::string &axis : dim.axes)
      axes.push_back(absl::StrCat("\"", axis, "\""));
    if (dim.open)
      dims.push_back("\"?\"");
    else if (axes.empty())
      dims.push_back("null");
    else if (axes.size() == 1)
      dims.push_back(axes.front());
    else
      dims.push_back(absl::StrCat("[", absl::StrJoin(axes, ", "), "]"));
  }
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

absl::StatusOr<std::vector<SpecDimension>> parseSpec(const std::string &spec) {
  std::vector<SpecDimension> dims;
  size_t i = 0;
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec '", spec, "': ", why, " at character ", i + 1));
  };
  auto skip = [&] {
    while (i < spec.size() && std::isspace(static_cast<unsigned char>(spec[i])))
      ++i;
  };
  auto name = [&](std::string &out) -> bool {
    if (i >= spec.size() || spec[i] != '"')
      return false;
    size_t end = spec.find('"', i + 1);
    if (end == std::string::npos)
      return false;
    out = spec.substr(i + 1, end - i - 1);
    i = end + 1;
    return !out.empty();
  };
  skip();
  if (i >= spec.size() || spec[i] != '[')
    return bad("expected '['");
  ++i;
  skip();
  if (i < spec.size() && spec[i] == ']') {
    ++i;
  } else {
    while (true) {
      skip();
      SpecDimension dim;
      std::string axis;
      if (spec.compare(i, 4, "null") == 0) {
        i += 4;
      } else if (name(axis)) {
        if (axis == "?")
          dim.open = true;
        else
          dim.axes.push_back(axis);
      } else if (i < spec.size() && spec[i] == '[') {
        ++i;
        skip();
        while (i < spec.size() && spec[i] != ']') {
          if (!name(axis))
            return bad("expected an axis name in quotes");
          dim.axes.push_back(axis);
          skip();
          if (i < spec.size() && spec[i] == ',')
            ++i;
          skip();
        }
        if (i >= spec.size())
          return bad("unclosed '['");
        ++i;
      } else {
        return bad("expected null, \"axis\", \"?\" or [\"axis\", ...]");
      }
      dims.push_back(std::move(dim));
      skip();
      if (i < spec.size() && spec[i] == ',') {
        ++i;
        continue;
      }
      if (i < spec.size() && spec[i] == ']') {
        ++i;
        break;
      }
      return bad("expected ',' or ']'");
    }
  }
  skip();
  if (i != spec.size())
    return bad("unexpected text after the spec");
  return dims;
}

namespace {

/// `x`, or the sub-axis `x:(2)4` (size 4 after a part of size 2).
absl::StatusOr<spmd::AxisRefAttr> parseAxisRef(mlir::MLIRContext *context,
                                               const std::string &text) {
  if (spmd::AxisRefAttr axis = spmd::parseAxisName(context, text))
    return axis;
  return absl::InvalidArgumentError(absl::StrCat(
      "axis '", text, "' is neither a name nor a sub-axis name:(pre)size"));
}

std::string describe(const proto::PlanMesh &mesh) {
  std::vector<std::string> axes;
  for (const proto::PlanMesh::Axis &axis : mesh.axes())
    axes.push_back(absl::StrCat(axis.name(), "=", axis.size()));
  return absl::StrJoin(axes, ",");
}

/// The tensors of `function` by name, in program order: arguments and
/// results by `graph.name`, others by the plain NameLoc of the op that
/// computes them (`loc("h")`; the ONNX importer names ops so). A name that
/// two different values carry is ambiguous and is left out, except that a
/// result named as an argument is that argument's next value (a training
/// step's updated parameters and state): the name means the argument.
struct NamedTensors {
  llvm::SmallVector<std::pair<std::string, mlir::Value>> values;
  llvm::StringMap<unsigned> index;
  llvm::StringSet<> ambiguous;

  void add(llvm::StringRef name, mlir::Value value) {
    if (ambiguous.contains(name))
      return;
    auto [it, inserted] = index.try_emplace(name, values.size());
    if (inserted) {
      values.emplace_back(name.str(), value);
    } else if (values[it->second].second != value) {
      ambiguous.insert(name);
      values[it->second].second = nullptr;
    }
  }
};

NamedTensors namedTensors(mlir::func::FuncOp function) {
  NamedTensors named;
  for (mlir::BlockArgument argument : function.getArguments())
    if (auto name = function.getArgAttrOfType<mlir::StringAttr>(
            argument.getArgNumber(), graph::GraphDialect::kNameAttr))
      named.add(name.getValue(), argument);
  function.walk([&](mlir::Operation *op) {
    if (auto name = mlir::dyn_cast<mlir::NameLoc>(op->getLoc());
        name && op->getNumResults() == 1)
      named.add(name.getName().getValue(), op->getResult(0));
  });
  mlir::Operation *terminator = function.getBody().front().getTerminator();
  for (unsigned i = 0; i < function.getNumResults(); ++i)
    if (auto name = function.getResultAttrOfType<mlir::StringAttr>(
            i, graph::GraphDialect::kNameAttr);
        name && !graph::GraphDialect::updatedArgument(function, i))
      named.add(name.getValue(), terminator->getOperand(i));
  return named;
}

/// For an argument the program views with another shape than the
/// parameter file stores it with (--graph-view-fused-weights): per stored
/// dimension, the consecutive view dimensions that hold it. Empty for any
/// other value.
llvm::SmallVector<llvm::SmallVector<int64_t>> viewGroups(mlir::Value value) {
  auto argument = mlir::dyn_cast<mlir::BlockArgument>(value);
  auto function = argument ? mlir::dyn_cast<mlir::func::FuncOp>(
                                 argument.getOwner()->getParentOp())
                           : nullptr;
  auto stored = function ? function.getArgAttrOfType<mlir::DenseI64ArrayAttr>(
                               argument.getArgNumber(),
                               graph::GraphDialect::kStoredShapeAttr)
                         : nullptr;
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
  if (!stored || !type)
    return {};
  llvm::SmallVector<llvm::SmallVector<int64_t>> groups;
  int64_t next = 0;
  for (int64_t size : stored.asArrayRef()) {
    llvm::SmallVector<int64_t> &group = groups.emplace_back();
    int64_t product = 1;
    while (next < type.getRank() &&
           (product < size || (group.empty() && type.getDimSize(next) == 1))) {
      product *= type.getDimSize(next);
      group.push_back(next++);
    }
    if (product != size)
      return {};
  }
  if (next != type.getRank())
    return {};
  return groups;
}

} // namespace

std::vector<std::string> tensorNames(mlir::ModuleOp module) {
  std::vector<std::string> names;
  for (mlir::func::FuncOp function : module.getOps<mlir::func::FuncOp>())
    for (const auto &[name, value] : namedTensors(function).values)
      if (value)
        names.push_back(name);
  return names;
}

mlir::Value lookupTensor(mlir::func::FuncOp function, llvm::StringRef name) {
  NamedTensors named = namedTensors(function);
  auto it = named.index.find(name);
  if (it == named.index.end() || named.ambiguous.contains(name))
    return nullptr;
  return named.values[it->second].second;
}

mlir::LogicalResult applyPlan(mlir::ModuleOp module, const proto::Plan &plan,
                              const proto::PlanMesh &flagMesh,
                              const TensorReaders &readersByName,
                              bool recordOrigins) {
  mlir::MLIRContext *context = module.getContext();
  loadTesselDialects(*context);
  mlir::Location loc = module.getLoc();
  proto::PlanMesh meshProto = plan.mesh();
  if (flagMesh.axes_size() > 0) {
    if (meshProto.axes_size() > 0 && describe(meshProto) != describe(flagMesh))
      return mlir::emitError(loc)
             << "--mesh " << describe(flagMesh)
             << " differs from the plan's mesh " << describe(meshProto);
    meshProto = flagMesh;
  }
  if (meshProto.axes_size() == 0)
    return mlir::emitError(loc)
           << "no mesh: give --mesh (e.g. --mesh x=2,y=4) or a plan with one";
  auto functions = llvm::to_vector(module.getOps<mlir::func::FuncOp>());
  if (functions.size() != 1)
    return mlir::emitError(loc) << "a plan applies to a module of one function";
  mlir::func::FuncOp function = functions.front();

  llvm::SmallVector<spmd::MeshAxisAttr> axes;
  for (const proto::PlanMesh::Axis &axis : meshProto.axes())
    axes.push_back(spmd::MeshAxisAttr::get(context, axis.name(), axis.size()));
  if (mlir::failed(spmd::MeshAttr::verify([&] { return mlir::emitError(loc); },
                                          axes, llvm::ArrayRef<int64_t>())))
    return mlir::failure();
  auto meshAttr = spmd::MeshAttr::get(context, axes, llvm::ArrayRef<int64_t>());
  mlir::OpBuilder builder(module.getBodyRegion());
  spmd::MeshOp::create(builder, loc, kPlanMeshName, meshAttr);
  auto meshRef = mlir::FlatSymbolRefAttr::get(context, kPlanMeshName);

  NamedTensors named = namedTensors(function);
  // Inputs and weights by the nodes that read them: "node:operand".
  llvm::StringMap<mlir::Value> byUse;
  std::vector<std::string> readers;
  for (const auto &[name, uses] : readersByName) {
    auto found = named.index.find(name);
    if (found == named.index.end() || !named.values[found->second].second)
      continue;
    for (const std::string &use : uses) {
      byUse[use] = named.values[found->second].second;
      readers.push_back(llvm::StringRef(use).rsplit(':').first.str());
    }
  }
  llvm::DenseSet<mlir::Value> planned;
  for (const proto::TensorPlan &tensor : plan.tensors()) {
    std::string label = tensor.node().empty()
                            ? absl::StrCat("tensor '", tensor.name(), "'")
                            : absl::StrCat("node '", tensor.node(),
                                           "' operand ", tensor.operand());
    auto error = [&]() {
      return mlir::emitError(loc) << "plan entry for " << label << ": ";
    };
    absl::StatusOr<std::vector<SpecDimension>> spec = parseSpec(tensor.spec());
    if (!spec.ok())
      return error() << std::string(spec.status().message());
    mlir::Value value;
    if (!tensor.node().empty()) {
      if (!tensor.name().empty())
        return error() << "give a tensor's name or a node and operand, not "
                          "both";
      value = byUse.lookup(absl::StrCat(tensor.node(), ":", tensor.operand()));
      if (!value) {
        bool nodeReads = std::find(readers.begin(), readers.end(),
                                   tensor.node()) != readers.end();
        if (nodeReads)
          return error() << "that operand of the node reads no input or "
                            "weight of the model (--emit=plan shows which "
                            "node reads each)";
        return error() << withNameHint(
                              "no node of that name reads an input or weight "
                              "of the model",
                              tensor.node(), readers, "nodes",
                              /*listAtMost=*/0)
                       << " (--emit=plan shows which node reads each)";
      }
    } else {
      if (named.ambiguous.contains(tensor.name()))
        return error() << "several tensors of the model have that name";
      auto found = named.index.find(tensor.name());
      if (found == named.index.end()) {
        std::vector<std::string> names;
        for (const auto &[name, value] : named.values)
          if (value)
            names.push_back(name);
        return error() << withNameHint("the model has no tensor of that name",
                                       tensor.name(), names, "tensors",
                                       /*listAtMost=*/0)
                       << " (--emit=plan lists every name)";
      }
      value = named.values[found->second].second;
    }
    if (!planned.insert(value).second)
      return error() << "the plan names this tensor twice";
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
    if (!type)
      return error() << "it is not a ranked tensor but " << value.getType();
    // A spec of a viewed weight's stored shape: a split of a dimension the
    // view regroups splits its innermost part (each part of a fused q/k/v
    // alike).
    if (llvm::SmallVector<llvm::SmallVector<int64_t>> groups =
            viewGroups(value);
        !groups.empty() && spec->size() == groups.size() &&
        static_cast<int64_t>(groups.size()) != type.getRank()) {
      std::vector<SpecDimension> viewed(type.getRank());
      for (auto [group, dim] : llvm::zip(groups, *spec))
        for (int64_t d : group) {
          viewed[d].open = dim.open;
          if (d == group.back())
            viewed[d].axes = dim.axes;
        }
      *spec = std::move(viewed);
    }

    llvm::SmallVector<spmd::DimensionShardingAttr> dims;
    for (const SpecDimension &dim : *spec) {
      llvm::SmallVector<spmd::AxisRefAttr> refs;
      for (const std::string &axis : dim.axes) {
        absl::StatusOr<spmd::AxisRefAttr> ref = parseAxisRef(context, axis);
        if (!ref.ok())
          return error() << std::string(ref.status().message());
        refs.push_back(*ref);
      }
      dims.push_back(spmd::DimensionShardingAttr::get(context, refs,
                                                      /*isClosed=*/!dim.open,
                                                      /*priority=*/-1));
    }
    auto sharding = spmd::ShardingAttr::get(context, meshRef, dims, {}, {});
    if (mlir::failed(sharding.verifyFor(type.getRank(), meshAttr, error)))
      return mlir::failure();
    for (auto [d, dim] : llvm::enumerate(dims)) {
      int64_t parts = dim.numParts(meshAttr);
      if (type.getDimSize(d) % parts != 0)
        mlir::emitWarning(loc)
            << label << " dimension " << d << " of size " << type.getDimSize(d)
            << " is split into " << parts
            << " unequal parts: the last devices hold padding";
    }
    spmd::setSharding(value, sharding);
    if (recordOrigins) {
      // Dimensions the entry leaves open and whole are not its decision.
      llvm::SmallVector<std::string> origins;
      for (const SpecDimension &dim : *spec)
        origins.push_back(dim.open && dim.axes.empty()
                              ? std::string()
                              : "the plan's entry for " + label);
      spmd::setOrigins(value, origins);
    }
    // A function result by that name is that tensor returned.
    for (unsigned i = 0; i < function.getNumResults(); ++i)
      if (auto name = function.getResultAttrOfType<mlir::StringAttr>(
              i, graph::GraphDialect::kNameAttr);
          name && name.getValue() == tensor.name())
        function.setResultAttr(i, spmd::SpmdDialect::kShardingAttr, sharding);
  }
  return mlir::success();
}

std::map<std::string, std::string> planNotes(const TensorReaders &readers) {
  std::map<std::string, std::string> notes;
  for (const auto &[name, uses] : readers) {
    std::vector<std::string> described;
    for (const std::string &use : uses) {
      auto [node, operand] = llvm::StringRef(use).rsplit(':');
      described.push_back(absl::StrCat(node.str(), " operand ", operand.str()));
    }
    if (!described.empty())
      notes[name] = "read by " + absl::StrJoin(described, ", ");
  }
  return notes;
}

std::string formatPlan(const proto::Plan &plan,
                       const std::map<std::string, std::string> &notes) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  auto line = [&](const std::string &field,
                  const google::protobuf::Message &message) {
    std::string text;
    printer.PrintToString(message, &text);
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    return absl::StrCat(field, " { ", text, " }\n");
  };
  std::string out = line("mesh", plan.mesh());
  for (const proto::TensorPlan &tensor : plan.tensors()) {
    std::string text = line("tensors", tensor);
    if (auto note = notes.find(tensor.name()); note != notes.end())
      text.insert(text.size() - 1, "  # " + note->second);
    out += text;
  }
  return out;
}

proto::Plan extractPlan(mlir::ModuleOp module) {
  proto::Plan plan;
  for (spmd::MeshOp mesh : module.getOps<spmd::MeshOp>()) {
    for (spmd::MeshAxisAttr axis : mesh.getMesh().getAxes()) {
      proto::PlanMesh::Axis *out = plan.mutable_mesh()->add_axes();
      out->set_name(axis.getName().str());
      out->set_size(axis.getSize());
    }
    break;
  }
  auto specOf = [](spmd::ShardingAttr sharding, mlir::Value value) {
    std::vector<SpecDimension> dims;
    for (spmd::DimensionShardingAttr dim : sharding.getDims()) {
      SpecDimension &out = dims.emplace_back();
      for (spmd::AxisRefAttr axis : dim.getAxes()) {
        std::string text = axis.getName().str();
        if (axis.isSubAxis())
          absl::StrAppend(&text, ":(", axis.getPreSize(), ")",
                          axis.getSubSize());
        out.axes.push_back(text);
      }
    }
    // A viewed weight in its stored shape where that says the same: only
    // the innermost dimension of each regrouped one split.
    llvm::SmallVector<llvm::SmallVector<int64_t>> groups = viewGroups(value);
    bool stored = !groups.empty() && groups.size() != dims.size();
    for (const auto &group : groups)
      for (int64_t d : group)
        stored = stored && (d == group.back() || dims[d].axes.empty());
    if (stored) {
      std::vector<SpecDimension> storedDims;
      for (const auto &group : groups)
        storedDims.push_back(dims[group.back()]);
      dims = std::move(storedDims);
    }
    return formatSpec(dims);
  };
  for (mlir::func::FuncOp function : module.getOps<mlir::func::FuncOp>())
    for (const auto &[name, value] : namedTensors(function).values)
      if (value)
        if (spmd::ShardingAttr sharding = spmd::getSharding(value)) {
          proto::TensorPlan *tensor = plan.add_tensors();
          tensor->set_name(name);
          tensor->set_spec(specOf(sharding, value));
        }
  return plan;
}

} // namespace tessel
