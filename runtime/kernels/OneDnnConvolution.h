//===- OneDnnConvolution.h - Dense 2-D convolutions on oneDNN ---*- C++ -*-===//
//
// f32 2-D convolutions (dense, grouped or depthwise) without input dilation
// run on oneDNN's direct convolutions (brgconv, brdgmm_dw, jit: chosen by
// the library from the CPU), channels-last: the input is transposed to NHWC,
// the output back to NCHW. The output rows are split into one piece per
// pool thread, each its own primitive on one OpenMP thread. Primitives,
// scratch buffers and, for read-only weights (parameters, constants), the
// weights packed into the primitives' layout are built at the first run and
// kept in the instruction's KernelState.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H
#define TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H

#include <optional>

#include "runtime/kernels/KernelContext.h"

namespace tessel::kernels {

/// Runs the convolution of `context` on oneDNN and returns its status, or
/// nullopt when oneDNN does not take this case (type, rank, input dilation,
/// negative padding, or no implementation): the caller then
/// computes it itself.
std::optional<absl::Status>
convolveWithOneDnn(KernelContext &context,
                   const ConvolutionAttributes &attributes);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H
