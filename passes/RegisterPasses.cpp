//===- RegisterPasses.cpp - Passes Tessel's tools offer -------------------===//

#include "passes/RegisterPasses.h"

#include "mlir/Transforms/Passes.h"

namespace tessel {

void registerTesselPasses() {
  // Upstream's generic transforms: canonicalize, cse, inline, symbol-dce, ...
  mlir::registerTransformsPasses();
}

} // namespace tessel
