//===- Plan.h - Sharding plans: reading, applying, extracting ---*- C++ -*-===//
//
// A plan (compiler/plan/plan.proto, text form) names a mesh and, per tensor
// name, a JAX-style partition spec. Applying it to a module adds the mesh
// (`spmd.mesh @mesh`) and closed user shardings on the named tensors:
// function arguments and results by `graph.name`, activations by the name
// of the op that computes them (the importer names ops after their ONNX
// output tensors); or inputs and weights by a node that reads them and the
// operand (the importer's TensorReaders). Extracting writes the shardings a
// module ended up with back as a plan.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_PLAN_PLAN_H
#define TESSEL_COMPILER_PLAN_PLAN_H

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/plan/plan.pb.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace tessel {

/// The name of the mesh a plan adds.
inline constexpr char kPlanMeshName[] = "mesh";

/// Reads a plan in protobuf text form; errors name the file and the line.
absl::StatusOr<proto::Plan> readPlan(const std::string &path);
/// Parses the text of a plan; `source` names it in errors.
absl::StatusOr<proto::Plan> parsePlan(const std::string &text,
                                      const std::string &source);

/// Parses `--mesh x=2,y=4`.
absl::StatusOr<proto::PlanMesh> parseMeshFlag(const std::string &flag);

/// One entry of a parsed spec: the axes of a dimension, or open ("?").
struct SpecDimension {
  std::vector<std::string> axes;
  bool open = false;
};

/// Parses a JAX-style spec: `["x", null]`, `[["x", "y"], "?"]`.
absl::StatusOr<std::vector<SpecDimension>> parseSpec(const std::string &spec);
/// The spec's text, as parseSpec reads it.
std::string formatSpec(const std::vector<SpecDimension> &spec);

/// For each input or weight of a model by name, the source nodes that read
/// it, as "node:operand" (ImportedModel::readers).
using TensorReaders = std::map<std::string, std::vector<std::string>>;

/// Adds `mesh` and the plan's shardings to the module's function. `mesh`
/// overrides the plan's (they must agree if both are given). Entries that
/// name a node and operand find their tensor in `readers`. Errors are
/// diagnostics naming the tensor. With `recordOrigins`, each annotated
/// tensor also records the entry as its dimensions' origin (spmd.origins).
mlir::LogicalResult applyPlan(mlir::ModuleOp module, const proto::Plan &plan,
                              const proto::PlanMesh &mesh,
                              const TensorReaders &readers = {},
                              bool recordOrigins = false);

/// `plan` in protobuf text form, the mesh and each tensor on a line;
/// `notes` adds a comment to the lines of the tensors it names.
std::string formatPlan(const proto::Plan &plan,
                       const std::map<std::string, std::string> &notes = {});

/// For each tensor `readers` names: "read by <node> operand <i>, ...", for
/// formatPlan.
std::map<std::string, std::string> planNotes(const TensorReaders &readers);

/// The shardings of every named tensor of the module's function as a plan.
proto::Plan extractPlan(mlir::ModuleOp module);

/// The names a plan can give tensors of the module's function, in program
/// order (ambiguous ones left out).
std::vector<std::string> tensorNames(mlir::ModuleOp module);

/// The tensor a plan entry named `name` would address in `function` (an
/// argument or result by graph.name, else the op whose location is that
/// name); null if there is none or the name is ambiguous.
mlir::Value lookupTensor(mlir::func::FuncOp function, llvm::StringRef name);

} // namespace tessel

#endif // TESSEL_COMPILER_PLAN_PLAN_H
