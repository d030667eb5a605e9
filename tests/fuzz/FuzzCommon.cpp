//===- FuzzCommon.cpp - What Tessel's fuzz targets share ------------------===//

#include "tests/fuzz/FuzzCommon.h"

#include "dialects/RegisterDialects.h"
#include "mlir/IR/DialectRegistry.h"

namespace tessel::fuzz {

std::unique_ptr<mlir::MLIRContext> makeContext() {
  mlir::DialectRegistry registry;
  registerTesselDialects(registry);
  auto context = std::make_unique<mlir::MLIRContext>(
      registry, mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  context->getDiagEngine().registerHandler(
      [](mlir::Diagnostic &) { return mlir::success(); });
  return context;
}

} // namespace tessel::fuzz
