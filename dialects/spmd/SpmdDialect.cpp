//===- SpmdDialect.cpp - The spmd sharding dialect ------------------------===//

#include "dialects/spmd/SpmdDialect.h"

#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "dialects/spmd/SpmdDialect.cpp.inc"

namespace tessel::spmd {

void SpmdDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialects/spmd/SpmdOps.cpp.inc"
      >();
}

/// Whether `origins` is an array of one string per dimension of `type`.
static mlir::LogicalResult
verifyOrigins(mlir::Operation *, mlir::Attribute origins, mlir::Type type) {
  auto array = mlir::dyn_cast<mlir::ArrayAttr>(origins);
  auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
  if (!array || !tensor ||
      static_cast<int64_t>(array.size()) != tensor.getRank() ||
      !llvm::all_of(array, [](mlir::Attribute origin) {
        return mlir::isa<mlir::StringAttr>(origin);
      }))
    return mlir::failure();
  return mlir::success();
}

/// The type of argument or result `index` of a function-like `op`.
static mlir::Type valueType(mlir::Operation *op, unsigned index,
                            bool isArgument) {
  auto function = mlir::dyn_cast<mlir::FunctionOpInterface>(op);
  if (!function)
    return {};
  return isArgument ? function.getArgumentTypes()[index]
                    : function.getResultTypes()[index];
}

static mlir::LogicalResult verifyValueSharding(mlir::Operation *op,
                                               unsigned index,
                                               mlir::NamedAttribute attr,
                                               bool isArgument) {
  if (attr.getName() == SpmdDialect::kGlobalShapeAttr) {
    auto shape = mlir::dyn_cast<mlir::DenseI64ArrayAttr>(attr.getValue());
    auto type = mlir::dyn_cast_or_null<mlir::RankedTensorType>(
        valueType(op, index, isArgument));
    if (!shape || !type || shape.size() != type.getRank())
      return op->emitError()
             << "'" << SpmdDialect::kGlobalShapeAttr
             << "' must be an array of one size per dimension of a ranked "
                "function argument or result";
    return mlir::success();
  }
  if (attr.getName() == SpmdDialect::kOriginsAttr) {
    auto type = mlir::dyn_cast_or_null<mlir::RankedTensorType>(
        valueType(op, index, isArgument));
    if (!isArgument || !type ||
        mlir::failed(verifyOrigins(op, attr.getValue(), type)))
      return op->emitError()
             << "'" << SpmdDialect::kOriginsAttr
             << "' on a function argument must be an array of one string "
                "per dimension of a ranked tensor";
    return mlir::success();
  }
  if (attr.getName() != SpmdDialect::kShardingAttr)
    return op->emitError() << "unknown " << (isArgument ? "argument" : "result")
                           << " attribute '" << attr.getName().getValue()
                           << "'";
  auto sharding = mlir::dyn_cast<ShardingAttr>(attr.getValue());
  if (!sharding)
    return op->emitError() << "'" << SpmdDialect::kShardingAttr
                           << "' must be a #spmd.sharding";
  mlir::Type type = valueType(op, index, isArgument);
  if (!type)
    return op->emitError() << "'" << SpmdDialect::kShardingAttr
                           << "' attaches to function arguments and results";
  return verifySharding(op, sharding, type);
}

mlir::LogicalResult SpmdDialect::verifyRegionArgAttribute(
    mlir::Operation *op, unsigned, unsigned index, mlir::NamedAttribute attr) {
  return verifyValueSharding(op, index, attr, /*isArgument=*/true);
}

mlir::LogicalResult SpmdDialect::verifyRegionResultAttribute(
    mlir::Operation *op, unsigned, unsigned index, mlir::NamedAttribute attr) {
  return verifyValueSharding(op, index, attr, /*isArgument=*/false);
}

mlir::LogicalResult
SpmdDialect::verifyOperationAttribute(mlir::Operation *op,
                                      mlir::NamedAttribute attr) {
  if (attr.getName() == kShardingsAttr) {
    auto shardings = mlir::dyn_cast<mlir::ArrayAttr>(attr.getValue());
    if (!shardings || shardings.size() != op->getNumResults())
      return op->emitError()
             << "'" << kShardingsAttr << "' needs one sharding per result ("
             << op->getNumResults() << ")";
    for (auto [sharding, result] : llvm::zip(shardings, op->getResults())) {
      auto typed = mlir::dyn_cast<ShardingAttr>(sharding);
      if (!typed)
        return op->emitError() << "'" << kShardingsAttr
                               << "' holds a non-sharding " << sharding;
      if (mlir::failed(verifySharding(op, typed, result.getType())))
        return mlir::failure();
    }
    return mlir::success();
  }
  if (attr.getName() == kAsyncAttr) {
    if (!mlir::isa<mlir::UnitAttr>(attr.getValue()) ||
        !op->hasTrait<OpTrait::Communicates>() || op->getNumResults() != 1)
      return op->emitError()
             << "'" << kAsyncAttr << "' is a unit attribute of a collective";
    mlir::Value result = op->getResult(0);
    if (!result.hasOneUse() ||
        !mlir::isa<CollectiveDoneOp>(*result.user_begin()))
      return op->emitError() << "an asynchronous collective's result is "
                                "read by one spmd.collective_done alone";
    return mlir::success();
  }
  if (attr.getName() == kOriginsAttr) {
    auto origins = mlir::dyn_cast<mlir::ArrayAttr>(attr.getValue());
    if (!origins || origins.size() != op->getNumResults() ||
        llvm::any_of(llvm::zip(origins, op->getResultTypes()), [&](auto pair) {
          return mlir::failed(
              verifyOrigins(op, std::get<0>(pair), std::get<1>(pair)));
        }))
      return op->emitError()
             << "'" << kOriginsAttr
             << "' needs, per result, an array of one string per dimension";
    return mlir::success();
  }
  if (attr.getName() == kShardingRuleAttr) {
    auto rule = mlir::dyn_cast<OpShardingRuleAttr>(attr.getValue());
    if (!rule)
      return op->emitError()
             << "'" << kShardingRuleAttr << "' must be a #spmd.rule";
    if (rule.numOperands() != op->getNumOperands() ||
        rule.numResults() != op->getNumResults())
      return op->emitError()
             << "the sharding rule has " << rule.numOperands()
             << " operands and " << rule.numResults() << " results, the op "
             << op->getNumOperands() << " and " << op->getNumResults();
    auto check = [&](mlir::Type type, bool isResult,
                     int64_t index) -> mlir::LogicalResult {
      auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type);
      auto dims = mlir::cast<mlir::ArrayAttr>(
          (isResult ? rule.getResultMappings()
                    : rule.getOperandMappings())[index]);
      if (!tensor || static_cast<int64_t>(dims.size()) != tensor.getRank())
        return op->emitError() << "the sharding rule maps "
                               << (isResult ? "result " : "operand ") << index
                               << " with " << dims.size() << " dimensions";
      for (int64_t d = 0; d < tensor.getRank(); ++d) {
        int64_t product = 1;
        for (int64_t factor : rule.factorsOf(isResult, index, d)) {
          if (factor < 0 ||
              factor >= static_cast<int64_t>(rule.getFactorSizes().size()))
            return op->emitError()
                   << "the sharding rule names factor " << factor;
          product *= rule.getFactorSizes()[factor];
        }
        if (product != tensor.getDimSize(d))
          return op->emitError()
                 << "the sharding rule's factors of "
                 << (isResult ? "result " : "operand ") << index
                 << " dimension " << d << " multiply to " << product
                 << ", not its size " << tensor.getDimSize(d);
      }
      return mlir::success();
    };
    for (auto [i, operand] : llvm::enumerate(op->getOperands()))
      if (mlir::failed(check(operand.getType(), false, i)))
        return mlir::failure();
    for (auto [i, result] : llvm::enumerate(op->getResults()))
      if (mlir::failed(check(result.getType(), true, i)))
        return mlir::failure();
    return mlir::success();
  }
  return op->emitError() << "unknown attribute '" << attr.getName().getValue()
                         << "'";
}

ShardingAttr getSharding(mlir::Value value) {
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    auto function = mlir::dyn_cast<mlir::FunctionOpInterface>(
        argument.getOwner()->getParentOp());
    if (!function || argument.getOwner() != &function.getFunctionBody().front())
      return {};
    return function.getArgAttrOfType<ShardingAttr>(argument.getArgNumber(),
                                                   SpmdDialect::kShardingAttr);
  }
  auto result = mlir::cast<mlir::OpResult>(value);
  mlir::Operation *op = result.getOwner();
  if (auto reshard = mlir::dyn_cast<ReshardOp>(op))
    return reshard.getSharding();
  if (auto constraint = mlir::dyn_cast<ShardingConstraintOp>(op))
    return constraint.getSharding();
  if (auto mask = mlir::dyn_cast<MaskPaddingOp>(op))
    return mask.getSharding();
  if (mlir::isa<AllGatherOp, AllSliceOp, AllReduceOp, ReduceScatterOp,
                AllToAllOp, CollectivePermuteOp>(op))
    return mlir::dyn_cast<ShardingAttr>(
        op->getInherentAttr("out_sharding").value_or(mlir::Attribute()));
  auto shardings =
      op->getAttrOfType<mlir::ArrayAttr>(SpmdDialect::kShardingsAttr);
  if (!shardings || shardings.size() <= result.getResultNumber())
    return {};
  return mlir::dyn_cast<ShardingAttr>(shardings[result.getResultNumber()]);
}

void setSharding(mlir::Value value, ShardingAttr sharding) {
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    auto function = mlir::cast<mlir::FunctionOpInterface>(
        argument.getOwner()->getParentOp());
    function.setArgAttr(argument.getArgNumber(), SpmdDialect::kShardingAttr,
                        sharding);
    return;
  }
  auto result = mlir::cast<mlir::OpResult>(value);
  mlir::Operation *op = result.getOwner();
  llvm::SmallVector<mlir::Attribute> shardings;
  for (mlir::OpResult other : op->getResults()) {
    ShardingAttr existing = getSharding(other);
    if (other == result)
      shardings.push_back(sharding);
    else if (existing)
      shardings.push_back(existing);
    else
      shardings.push_back(ShardingAttr::getOpen(
          op->getContext(), sharding.getMesh(),
          mlir::cast<mlir::RankedTensorType>(other.getType()).getRank()));
  }
  op->setAttr(SpmdDialect::kShardingsAttr,
              mlir::ArrayAttr::get(op->getContext(), shardings));
}

llvm::SmallVector<std::string> getOrigins(mlir::Value value) {
  mlir::ArrayAttr origins;
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    if (auto function = mlir::dyn_cast<mlir::FunctionOpInterface>(
            argument.getOwner()->getParentOp()))
      origins = function.getArgAttrOfType<mlir::ArrayAttr>(
          argument.getArgNumber(), SpmdDialect::kOriginsAttr);
  } else {
    auto result = mlir::cast<mlir::OpResult>(value);
    if (auto perResult = result.getOwner()->getAttrOfType<mlir::ArrayAttr>(
            SpmdDialect::kOriginsAttr);
        perResult && perResult.size() > result.getResultNumber())
      origins =
          mlir::dyn_cast<mlir::ArrayAttr>(perResult[result.getResultNumber()]);
  }
  llvm::SmallVector<std::string> texts;
  if (origins)
    for (mlir::Attribute origin : origins)
      texts.push_back(mlir::cast<mlir::StringAttr>(origin).str());
  return texts;
}

void setOrigins(mlir::Value value, llvm::ArrayRef<std::string> origins) {
  mlir::MLIRContext *context = value.getContext();
  auto array = [&](llvm::ArrayRef<std::string> texts) {
    llvm::SmallVector<mlir::Attribute> attrs;
    for (const std::string &text : texts)
      attrs.push_back(mlir::StringAttr::get(context, text));
    return mlir::ArrayAttr::get(context, attrs);
  };
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    auto function = mlir::cast<mlir::FunctionOpInterface>(
        argument.getOwner()->getParentOp());
    function.setArgAttr(argument.getArgNumber(), SpmdDialect::kOriginsAttr,
                        array(origins));
    return;
  }
  auto result = mlir::cast<mlir::OpResult>(value);
  mlir::Operation *op = result.getOwner();
  llvm::SmallVector<mlir::Attribute> perResult;
  for (mlir::OpResult other : op->getResults()) {
    llvm::SmallVector<std::string> texts =
        other == result
            ? llvm::SmallVector<std::string>(origins.begin(), origins.end())
            : getOrigins(other);
    if (auto type = mlir::dyn_cast<mlir::RankedTensorType>(other.getType()))
      texts.resize(type.getRank());
    perResult.push_back(array(texts));
  }
  op->setAttr(SpmdDialect::kOriginsAttr,
              mlir::ArrayAttr::get(context, perResult));
}

void dropOrigins(mlir::Operation *root) {
  root->walk([](mlir::Operation *op) {
    op->removeAttr(SpmdDialect::kOriginsAttr);
    if (auto function = mlir::dyn_cast<mlir::FunctionOpInterface>(op))
      for (unsigned i = 0; i < function.getNumArguments(); ++i)
        function.removeArgAttr(i, SpmdDialect::kOriginsAttr);
  });
}

mlir::Location withCollectiveOrigin(mlir::Location loc, llvm::StringRef why,
                                    mlir::Value moved,
                                    std::optional<PlanEntry> remedy) {
  mlir::MLIRContext *context = loc.getContext();
  if (moved)
    if (std::string name = tensorName(moved); !name.empty())
      loc = mlir::NameLoc::get(mlir::StringAttr::get(context, name), loc);
  llvm::SmallVector<mlir::NamedAttribute> entries = {mlir::NamedAttribute(
      mlir::StringAttr::get(context, SpmdDialect::kCollectiveOriginKey),
      mlir::StringAttr::get(context, why))};
  if (remedy)
    entries.push_back(mlir::NamedAttribute(
        mlir::StringAttr::get(context, SpmdDialect::kCollectiveRemedyKey),
        mlir::ArrayAttr::get(context,
                             {mlir::StringAttr::get(context, remedy->tensor),
                              mlir::StringAttr::get(context, remedy->spec)})));
  return mlir::FusedLoc::get(context, {loc},
                             mlir::DictionaryAttr::get(context, entries));
}

std::vector<PlanEntry> collectiveRemedies(mlir::Location loc) {
  std::vector<PlanEntry> remedies;
  loc->walk([&](mlir::Location inner) {
    auto fused = mlir::dyn_cast<mlir::FusedLoc>(inner);
    auto metadata =
        fused
            ? mlir::dyn_cast_or_null<mlir::DictionaryAttr>(fused.getMetadata())
            : mlir::DictionaryAttr();
    auto entry =
        metadata
            ? metadata.getAs<mlir::ArrayAttr>(SpmdDialect::kCollectiveRemedyKey)
            : mlir::ArrayAttr();
    if (entry && entry.size() == 2) {
      PlanEntry remedy{mlir::cast<mlir::StringAttr>(entry[0]).str(),
                       mlir::cast<mlir::StringAttr>(entry[1]).str()};
      if (llvm::none_of(remedies, [&](const PlanEntry &other) {
            return other.tensor == remedy.tensor && other.spec == remedy.spec;
          }))
        remedies.push_back(remedy);
    }
    return mlir::WalkResult::advance();
  });
  return remedies;
}

std::string formatPlanSpec(const std::vector<std::vector<std::string>> &dims) {
  std::string text = "[";
  for (size_t d = 0; d < dims.size(); ++d) {
    text += d ? ", " : "";
    if (dims[d].empty()) {
      text += "null";
      continue;
    }
    if (dims[d].size() > 1)
      text += "[";
    for (size_t k = 0; k < dims[d].size(); ++k)
      text += (k ? ", \"" : "\"") + dims[d][k] + "\"";
    if (dims[d].size() > 1)
      text += "]";
  }
  return text + "]";
}

std::string planSpecOf(ShardingAttr sharding, int64_t rank) {
  std::vector<std::vector<std::string>> dims(rank);
  if (sharding)
    for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
      if (static_cast<int64_t>(d) < rank)
        for (AxisRefAttr axis : dim.getAxes())
          dims[d].push_back(axisName(axis));
  return formatPlanSpec(dims);
}

llvm::SmallVector<std::string> collectiveOrigins(mlir::Location loc) {
  llvm::SmallVector<std::string> origins;
  loc->walk([&](mlir::Location inner) {
    auto fused = mlir::dyn_cast<mlir::FusedLoc>(inner);
    if (!fused)
      return mlir::WalkResult::advance();
    auto metadata =
        mlir::dyn_cast_or_null<mlir::DictionaryAttr>(fused.getMetadata());
    if (!metadata)
      return mlir::WalkResult::advance();
    if (auto why =
            metadata.getAs<mlir::StringAttr>(SpmdDialect::kCollectiveOriginKey))
      if (!llvm::is_contained(origins, why.getValue()))
        origins.push_back(why.getValue().str());
    return mlir::WalkResult::advance();
  });
  return origins;
}

std::string locationName(mlir::Location loc) {
  std::string name;
  loc->walk([&](mlir::Location inner) {
    if (auto named = mlir::dyn_cast<mlir::NameLoc>(inner)) {
      name = named.getName().str();
      return mlir::WalkResult::interrupt();
    }
    return mlir::WalkResult::advance();
  });
  return name;
}

std::string tensorName(mlir::Value value) {
  if (auto argument = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    auto function = mlir::dyn_cast<mlir::FunctionOpInterface>(
        argument.getOwner()->getParentOp());
    if (function)
      if (auto name = function.getArgAttrOfType<mlir::StringAttr>(
              argument.getArgNumber(), "graph.name"))
        return name.str();
    return "";
  }
  return locationName(value.getDefiningOp()->getLoc());
}

std::string describeOp(mlir::Operation *op) {
  std::string name = locationName(op->getLoc());
  std::string text = op->getName().getStringRef().str();
  if (!name.empty())
    text += " '" + name + "'";
  return text;
}

std::string describeAxes(llvm::ArrayRef<AxisRefAttr> axes) {
  std::string text = "{";
  for (auto [k, axis] : llvm::enumerate(axes))
    text += (k ? "," : "") + axisName(axis);
  return text + "}";
}

std::string describeLayout(ShardingAttr sharding, int64_t rank) {
  std::string text = "[";
  for (int64_t d = 0; d < rank; ++d) {
    text += d ? ", " : "";
    text += describeAxes(
        sharding && d < static_cast<int64_t>(sharding.getDims().size())
            ? sharding.getDims()[d].getAxes()
            : llvm::ArrayRef<AxisRefAttr>());
  }
  text += "]";
  if (sharding && !sharding.getPartial().empty()) {
    std::string reduction = sharding.getPartial().front().getReduction().str();
    text += " partial " + reduction + " over ";
    for (auto [k, axis] : llvm::enumerate(sharding.getPartial()))
      text += (k ? "," : "") + axisName(axis.getAxis());
  }
  return text;
}

} // namespace tessel::spmd
