//===- RegisterDialects.h - Dialects Tessel's tools load --------*- C++ -*-===//

#ifndef TESSEL_DIALECTS_REGISTERDIALECTS_H
#define TESSEL_DIALECTS_REGISTERDIALECTS_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace tessel {

/// Adds Tessel's dialects and the upstream dialects its programs use
/// (func, arith, tensor) to `registry`.
void registerTesselDialects(mlir::DialectRegistry &registry);

} // namespace tessel

#endif // TESSEL_DIALECTS_REGISTERDIALECTS_H
