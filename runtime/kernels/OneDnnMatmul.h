//===- OneDnnMatmul.h - Matrix products on oneDNN's matmul ------*- C++ -*-===//
//
// An f32 product of a row-major [m, k] left operand (or [k, m] read
// transposed: a weight's gradient) and rank-2 weights ([k, n], or [n, k]
// read transposed) runs on oneDNN's matmul primitive: read-only weights
// packed into its layout once (dnnl_sgemm packs them again at every
// call), others read in place; the rows split into one piece per pool
// thread, each its own primitive on one OpenMP thread, with its scratch
// from the device's Workspace (dnnl_sgemm allocates its packing buffers
// per call); and an epilogue (bias, activation, residual) computed as
// post-ops. Primitives and packed weights are built at the first run and
// kept in the instruction's KernelState.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ONEDNNMATMUL_H
#define TESSEL_RUNTIME_KERNELS_ONEDNNMATMUL_H

#include <optional>

#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/OneDnnPostOps.h"

namespace tessel::kernels {

/// The shape of a product oneDNN's matmul takes: m rows of k times the
/// weights, n columns.
struct MatmulShape {
  int64_t m = 0, n = 0, k = 0;
  bool weightsTransposed = false; // Weights given as [n, k].
  bool sourceTransposed = false;  // The left operand given as [k, m].
  /// Read-only weights, packed into oneDNN's layout once; others (weights
  /// a training step updates, activations) are read where they are.
  bool packWeights = false;
};

/// Whether the dot_general of `context` is such a product: f32, no
/// batching, the contracted dimensions a run at the start or the end of
/// each operand (its other dimensions flattened into m or n).
std::optional<MatmulShape> matmulShapeOf(const KernelContext &context);

/// Runs the product on oneDNN, with `epilogue` if given (which postOpsOf
/// accepted; row-major, the product's shape), and returns its status, or
/// nullopt when the product is not such a product (matmulShapeOf) or
/// oneDNN has no optimised implementation (the caller then computes it
/// itself). What it decides and prepares at the first run is kept in
/// `slot`: later runs parse nothing and allocate nothing of their own.
std::optional<absl::Status>
multiplyWithOneDnn(KernelContext &context, std::unique_ptr<KernelState> &slot,
                   const KernelEpilogue *epilogue);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ONEDNNMATMUL_H
