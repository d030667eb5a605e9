//===- GraphBuilders.cpp - Compositions of graph ops ----------------------===//

#include "dialects/graph/GraphBuilders.h"

#include "dialects/graph/GraphOps.h"

namespace tessel::graph {

mlir::Value classMask(mlir::OpBuilder &builder, mlir::Location loc,
                      mlir::RankedTensorType type, mlir::Value classIndices,
                      int64_t classDim) {
  auto indexType = mlir::cast<mlir::RankedTensorType>(classIndices.getType());
  auto shape =
      mlir::RankedTensorType::get(type.getShape(), indexType.getElementType());
  llvm::SmallVector<int64_t> targetDims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != classDim)
      targetDims.push_back(d);
  mlir::Value classIndex = IotaOp::create(builder, loc, shape, classDim);
  mlir::Value targets =
      BroadcastInDimOp::create(builder, loc, shape, classIndices, targetDims);
  return CompareOp::create(builder, loc, ComparisonDirection::EQ, classIndex,
                           targets);
}

} // namespace tessel::graph
