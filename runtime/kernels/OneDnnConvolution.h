//===- OneDnnConvolution.h - Dense 2-D convolutions on oneDNN ---*- C++ -*-===//
//
// f32 2-D convolutions (dense, grouped or depthwise) without input dilation
// run on oneDNN's direct convolutions (brgconv, brdgmm_dw, jit: chosen by
// the library from the CPU), channels-last: a row-major (NCHW) input is
// transposed to NHWC and the output back, where the host backend did not
// keep the buffers channels-last already. The output rows are split into one
// piece per pool thread, each its own primitive on one OpenMP thread.
// Primitives, scratch buffers and, for read-only weights (parameters,
// constants), the weights packed into the primitives' layout are built at the
// first run and kept in the instruction's KernelState.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H
#define TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H

#include <optional>
#include <vector>

#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/OneDnnPostOps.h"

namespace tessel::kernels {

/// Whether the input and the result buffers are channels-last ([N, H, W,
/// C] in memory; `context`'s views still carry logical dimensions).
struct ConvolutionLayouts {
  bool inputChannelsLast = false, resultChannelsLast = false;
};

/// Runs the convolution of `context` on oneDNN and returns its status, or
/// nullopt when oneDNN does not take this case (type, rank, input dilation,
/// negative padding, or no implementation): the caller then
/// computes it itself. With an `epilogue` (which postOpsOf
/// accepted, the result channels-last) the result written is the
/// epilogue's; the convolution's own result is left unwritten.
/// `attributes` may be null where oneDnnConvolutionPrepared(context): a
/// prepared convolution does not read them again.
std::optional<absl::Status> convolveWithOneDnn(
    KernelContext &context, const ConvolutionAttributes *attributes,
    ConvolutionLayouts layouts = {}, const KernelEpilogue *epilogue = nullptr);

/// Whether `context`'s state holds a convolution oneDNN prepared on an
/// earlier run, which convolveWithOneDnn runs without its attributes.
bool oneDnnConvolutionPrepared(const KernelContext &context);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ONEDNNCONVOLUTION_H
