//===- ZeroPlan.cpp - ZeRO stages as plan entries -------------------------===//

#include "compiler/train/ZeroPlan.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/plan/Plan.h"
#include "compiler/train/TrainingStep.h"
#include "dialects/graph/GraphDialect.h"

namespace tessel::train {

UpdatedArguments updatedArguments(mlir::func::FuncOp function) {
  UpdatedArguments updated;
  for (unsigned r = 0; r < function.getNumResults(); ++r)
    if (std::optional<unsigned> argument =
            graph::GraphDialect::updatedArgument(function, r)) {
      if (function.getArgAttr(*argument, graph::GraphDialect::kParameterAttr))
        updated.parameters.push_back(*argument);
      else
        updated.stateInputs.push_back(*argument);
    }
  return updated;
}

absl::Status expandZero(mlir::func::FuncOp function,
                        const proto::PlanMesh &mesh, proto::Plan &plan) {
  const proto::Zero &zero = plan.zero();
  if (zero.stage() == 0 && zero.axis().empty())
    return absl::OkStatus();
  if (zero.stage() < 1 || zero.stage() > 3)
    return absl::InvalidArgumentError(
        absl::StrCat("zero stage ", zero.stage(),
                     ": 1 (optimizer state split), 2 (and gradients) or 3 "
                     "(and parameters)"));
  int64_t size = 0;
  std::vector<std::string> axes;
  for (const proto::PlanMesh::Axis &axis : mesh.axes()) {
    axes.push_back(axis.name());
    if (axis.name() == zero.axis())
      size = axis.size();
  }
  if (size == 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "zero axis '", zero.axis(), "' is no axis of the mesh (",
        absl::StrJoin(axes, ", "), "): name the data-parallel axis"));

  auto nameOf = [&](unsigned argument) -> std::string {
    auto name = function.getArgAttrOfType<mlir::StringAttr>(
        argument, graph::GraphDialect::kNameAttr);
    return name ? name.str() : "";
  };
  std::set<std::string> named;
  for (const proto::TensorPlan &tensor : plan.tensors())
    named.insert(tensor.name());
  auto add = [&](const std::string &name,
                 const std::vector<SpecDimension> &spec) {
    if (named.count(name) || !lookupTensor(function, name))
      return;
    proto::TensorPlan *tensor = plan.add_tensors();
    tensor->set_name(name);
    tensor->set_spec(formatSpec(spec));
    named.insert(name);
  };

  auto [parameters, stateInputs] = updatedArguments(function);
  if (parameters.empty())
    return absl::InvalidArgumentError(
        "a plan's zero stage applies to a training step (tessel-compile "
        "--train): this model updates no parameter");

  for (unsigned argument : parameters) {
    std::string name = nameOf(argument);
    auto type = mlir::cast<mlir::RankedTensorType>(
        function.getArgument(argument).getType());
    std::vector<SpecDimension> base(type.getRank());
    auto entry = std::find_if(
        plan.tensors().begin(), plan.tensors().end(),
        [&](const proto::TensorPlan &tensor) { return tensor.name() == name; });
    if (entry != plan.tensors().end()) {
      absl::StatusOr<std::vector<SpecDimension>> spec =
          parseSpec(entry->spec());
      if (!spec.ok() || spec->size() != base.size())
        continue; // applyPlan reports it.
      base = *spec;
    }
    bool usesAxis = false;
    for (const SpecDimension &dim : base)
      usesAxis |= std::count(dim.axes.begin(), dim.axes.end(), zero.axis()) > 0;
    int64_t split = -1;
    for (int64_t d = 0; d < type.getRank() && split < 0; ++d)
      if (base[d].axes.empty() && !base[d].open &&
          type.getDimSize(d) % size == 0)
        split = d;
    if (usesAxis || split < 0)
      continue;
    std::vector<SpecDimension> sharded = base;
    sharded[split].axes.push_back(zero.axis());
    add(name, zero.stage() == 3 ? sharded : base);
    add(name + kUpdatedSuffix, sharded);
    add(name + kGradientSuffix, zero.stage() >= 2 ? sharded : base);
    // Its optimizer state: `<name>.<state>`, state names having no dot.
    for (unsigned input : stateInputs) {
      std::string state = nameOf(input);
      if (absl::StartsWith(state, name + ".") &&
          state.find('.', name.size() + 1) == std::string::npos)
        add(state, sharded);
    }
  }
  return absl::OkStatus();
}

} // namespace tessel::train
