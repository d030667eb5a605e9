//===- RegisterDialects.cpp - Dialects Tessel's tools load ----------------===//

#include "dialects/RegisterDialects.h"

#include "dialects/graph/GraphDialect.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

namespace tessel {

void registerTesselDialects(mlir::DialectRegistry &registry) {
  registry
      .insert<graph::GraphDialect, spmd::SpmdDialect, mlir::arith::ArithDialect,
              mlir::func::FuncDialect, mlir::tensor::TensorDialect>();
  spmd::registerGraphShardingRules(registry);
}

void loadTesselDialects(mlir::MLIRContext &context) {
  mlir::DialectRegistry registry;
  registerTesselDialects(registry);
  context.appendDialectRegistry(registry);
  context.getOrLoadDialect<graph::GraphDialect>();
  context.getOrLoadDialect<spmd::SpmdDialect>();
}

} // namespace tessel
