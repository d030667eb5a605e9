//===- SpmdDialect.h - The spmd sharding dialect ----------------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_SPMD_SPMDDIALECT_H
#define TESSEL_DIALECTS_SPMD_SPMDDIALECT_H

#include <optional>
#include <string>
#include <vector>

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"

#include "dialects/spmd/SpmdDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/spmd/SpmdAttrs.h.inc"

namespace tessel::spmd {

/// The number of parts `axes` split a dimension into (sub-axes count
/// their own size).
int64_t totalSize(llvm::ArrayRef<AxisRefAttr> axes, MeshAttr mesh);

/// How collectives name an axis in their axis lists: "x", or "x:(2)2" for
/// the sub-axis of size 2 after a major part of 2.
std::string axisName(AxisRefAttr axis);

/// The axis a name written by axisName denotes; null if it is malformed
/// (whether the mesh has it is for the caller to check).
AxisRefAttr parseAxisName(mlir::MLIRContext *context, llvm::StringRef name);

/// A collective's list of axis names (an array of strings) as strings.
std::vector<std::string> namesOf(mlir::ArrayAttr names);

/// Whether `axis` overlaps one of `axes`.
bool overlapsAny(AxisRefAttr axis, llvm::ArrayRef<AxisRefAttr> axes);

/// The mesh `sharding` names, looked up from `op`; an error on `op` if it
/// does not exist.
mlir::FailureOr<MeshAttr> lookupMesh(mlir::Operation *op,
                                     mlir::FlatSymbolRefAttr mesh);

/// Verifies `sharding` for a value of `type` used at `op`.
mlir::LogicalResult verifySharding(mlir::Operation *op, ShardingAttr sharding,
                                   mlir::Type type);

/// The sharding recorded for `value`: `spmd.sharding` on a function
/// argument, the sharding of a reshard, constraint or collective, or its
/// entry in `spmd.shardings` on the op that computes it; null if none.
ShardingAttr getSharding(mlir::Value value);

/// Records `sharding` for `value` where getSharding reads it. Other results
/// of the same op that have none get fully open shardings.
void setSharding(mlir::Value value, ShardingAttr sharding);

/// Per dimension of `value`, where its sharding came from (`spmd.origins`;
/// an empty string where nothing is recorded); empty if origins were not
/// recorded for it.
llvm::SmallVector<std::string> getOrigins(mlir::Value value);

/// Records `origins` (one per dimension) for `value` where getOrigins
/// reads them.
void setOrigins(mlir::Value value, llvm::ArrayRef<std::string> origins);

/// Removes every `spmd.origins` under `root` (once the collectives that
/// they explain are made).
void dropOrigins(mlir::Operation *root);

/// `loc` carrying why the collectives made there exist ("graph.add 'h'
/// needs operand 1 ..."), as the metadata of a fused location: it
/// survives rewriting, and CSE, which fuses the locations of the ops it
/// merges, keeps the reasons of both. With `moved`, named after that
/// tensor (the collectives' instructions then are).
///
/// `remedy`, if given, is a plan entry that would make the layouts agree
/// there: the tensor's name and the spec to give it (formatPlanSpec).
struct PlanEntry {
  std::string tensor, spec;
};
mlir::Location withCollectiveOrigin(mlir::Location loc, llvm::StringRef why,
                                    mlir::Value moved = {},
                                    std::optional<PlanEntry> remedy = {});

/// The remedies withCollectiveOrigin recorded anywhere in `loc`, each once.
std::vector<PlanEntry> collectiveRemedies(mlir::Location loc);

/// A layout as plans write it: ["x", null, ["x", "y"]] for the axes of
/// each dimension (axisName form).
std::string formatPlanSpec(const std::vector<std::vector<std::string>> &dims);

/// `sharding`'s dimensions (rank `rank`) as formatPlanSpec writes them.
std::string planSpecOf(ShardingAttr sharding, int64_t rank);

/// "graph.dot_general 'h'": an op and the tensor it computes, for the
/// reasons collectives give.
std::string describeOp(mlir::Operation *op);

/// The reasons withCollectiveOrigin recorded anywhere in `loc`, in order,
/// each once.
llvm::SmallVector<std::string> collectiveOrigins(mlir::Location loc);

/// The first name in `loc` (a NameLoc, also inside fused or call-site
/// locations); empty if none.
std::string locationName(mlir::Location loc);

/// A tensor's name for messages: a function argument's `graph.name`, else
/// the name of the location of the op that computes it; empty if none.
std::string tensorName(mlir::Value value);

/// One dimension's axes in short form: "{x,y}", "{}".
std::string describeAxes(llvm::ArrayRef<AxisRefAttr> axes);

/// `sharding` of a tensor of `rank` in short form: "[{x}, {}]", with
/// "partial sum over y" after it; "[{}, {}]" when null.
std::string describeLayout(ShardingAttr sharding, int64_t rank);

} // namespace tessel::spmd

#endif // TESSEL_DIALECTS_SPMD_SPMDDIALECT_H
