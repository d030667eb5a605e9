//===- RegisterPasses.cpp - Passes Tessel's tools offer -------------------===//

#include "passes/RegisterPasses.h"

#include "mlir/Transforms/Passes.h"
#include "passes/Pipelines.h"
#include "passes/autodiff/Passes.h"
#include "passes/autoshard/Passes.h"
#include "passes/layout/Passes.h"
#include "passes/lowering/Passes.h"
#include "passes/partition/Passes.h"
#include "passes/propagation/Passes.h"

namespace tessel {

void registerTesselPasses() {
  // Upstream's generic transforms: canonicalize, cse, inline, symbol-dce, ...
  mlir::registerTransformsPasses();
  autodiff::registerAutodiffPasses();
  layout::registerLayoutPasses();
  lowering::registerLoweringPasses();
  propagation::registerPropagationPasses();
  partition::registerPartitionPasses();
  autoshard::registerAutoshardPasses();
  registerTesselPipelines();
}

} // namespace tessel
