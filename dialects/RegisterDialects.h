//===- RegisterDialects.h - Dialects Tessel's tools load --------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_REGISTERDIALECTS_H
#define TESSEL_DIALECTS_REGISTERDIALECTS_H

namespace mlir {
class DialectRegistry;
class MLIRContext;
} // namespace mlir

namespace tessel {

/// Adds Tessel's dialects and the upstream dialects its programs use
/// (func, arith, tensor) to `registry`.
void registerTesselDialects(mlir::DialectRegistry &registry);

/// Makes `context` know all of them, with their interfaces (the graph ops'
/// sharding rules among them), and loads graph and spmd. Sharding and
/// partitioning call it, so that a context set up by hand cannot leave ops
/// without their rules.
void loadTesselDialects(mlir::MLIRContext &context);

} // namespace tessel

#endif // TESSEL_DIALECTS_REGISTERDIALECTS_H
