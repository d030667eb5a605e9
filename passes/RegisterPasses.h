//===- RegisterPasses.h - Passes Tessel's tools offer -----------*- C++ -*-===//

#ifndef TESSEL_PASSES_REGISTERPASSES_H
#define TESSEL_PASSES_REGISTERPASSES_H

namespace tessel {

/// Registers Tessel's passes and pipelines, and the upstream passes they are
/// used with (canonicalize, cse, inline, symbol-dce, ...), with the global
/// pass registry so that tessel-opt can run them by flag.
void registerTesselPasses();

} // namespace tessel

#endif // TESSEL_PASSES_REGISTERPASSES_H
