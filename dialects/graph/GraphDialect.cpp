//===- GraphDialect.cpp - The graph dialect -------------------------------===//

#include "dialects/graph/GraphDialect.h"

#include "dialects/graph/GraphOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "dialects/graph/GraphDialect.cpp.inc"

namespace tessel::graph {

void GraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/graph/GraphOps.cpp.inc"
      >();
}

mlir::Operation *GraphDialect::materializeConstant(mlir::OpBuilder &builder,
                                                   mlir::Attribute value,
                                                   mlir::Type type,
                                                   mlir::Location loc) {
  auto elements = mlir::dyn_cast<mlir::ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

/// `graph.name` must be a string and `graph.parameter` a unit attribute;
/// other `graph.*` argument or result attributes are unknown.
static mlir::LogicalResult verifyValueAttribute(mlir::Operation *op,
                                                mlir::NamedAttribute attr,
                                                bool isArgument) {
  if (attr.getName() == GraphDialect::kNameAttr) {
    if (!mlir::isa<mlir::StringAttr>(attr.getValue()))
      return op->emitError() << "'" << GraphDialect::kNameAttr
                             << "' must be a string, got " << attr.getValue();
    return mlir::success();
  }
  if (isArgument && attr.getName() == GraphDialect::kParameterAttr) {
    if (!mlir::isa<mlir::UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << GraphDialect::kParameterAttr
                             << "' takes no value, got " << attr.getValue();
    return mlir::success();
  }
  if (isArgument && attr.getName() == GraphDialect::kStoredShapeAttr) {
    if (!mlir::isa<mlir::DenseI64ArrayAttr>(attr.getValue()))
      return op->emitError()
             << "'" << GraphDialect::kStoredShapeAttr
             << "' must be an array<i64>, got " << attr.getValue();
    return mlir::success();
  }
  if (isArgument && attr.getName() == GraphDialect::kDiagonalBandAttr) {
    auto band = mlir::dyn_cast<mlir::DenseI64ArrayAttr>(attr.getValue());
    if (!band || band.size() != 2 || band[0] > band[1])
      return op->emitError()
             << "'" << GraphDialect::kDiagonalBandAttr
             << "' must be array<i64: low, high> with low <= high, got "
             << attr.getValue();
    return mlir::success();
  }
  return op->emitError() << "unknown " << (isArgument ? "argument" : "result")
                         << " attribute '" << attr.getName().getValue() << "'";
}

mlir::LogicalResult
GraphDialect::verifyRegionArgAttribute(mlir::Operation *op, unsigned, unsigned,
                                       mlir::NamedAttribute attr) {
  return verifyValueAttribute(op, attr, /*isArgument=*/true);
}

mlir::LogicalResult
GraphDialect::verifyRegionResultAttribute(mlir::Operation *op, unsigned,
                                          unsigned, mlir::NamedAttribute attr) {
  return verifyValueAttribute(op, attr, /*isArgument=*/false);
}

std::optional<unsigned>
GraphDialect::updatedArgument(mlir::FunctionOpInterface function,
                              unsigned result) {
  auto name = function.getResultAttrOfType<mlir::StringAttr>(result, kNameAttr);
  if (!name)
    return std::nullopt;
  for (unsigned i = 0; i < function.getNumArguments(); ++i)
    if (function.getArgAttrOfType<mlir::StringAttr>(i, kNameAttr) == name)
      return i;
  return std::nullopt;
}

} // namespace tessel::graph
