//===- OneDnnPostOps.h - Fusions computed inside oneDNN kernels -*- C++ -*-===//
//
// At load the host backend may give a kernel the elementwise fusion that
// alone reads its result (kernels::registerEpilogue). The oneDNN-backed
// kernels (convolution, matrix multiply) compute such an epilogue as
// post-ops while the result is still in registers: a shift or scale per
// channel, an activation, a residual add. This maps a fusion onto post-ops,
// for any kernel whose result's last memory dimension is its channels (a
// channels-last convolution's C, a matrix multiply's N).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H
#define TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H

#include <optional>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "runtime/kernels/KernelContext.h"

namespace tessel::kernels {

/// A fusion to compute in the kernel that produces its operand `operand`.
/// `operands` and `result` are the fusion's views as the kernel sees them
/// (memory order).
struct KernelEpilogue {
  const proto::Fusion *fusion = nullptr;
  int operand = 0;
  std::vector<TensorView> operands;
  TensorView result;
  /// Set by the kernel: whether it computed the epilogue (else it wrote
  /// its own result, and the fusion runs apart).
  mutable bool applied = false;
};

/// One post-op: an eltwise function, or a binary one with the epilogue's
/// operand `side`, read per channel (the last dimension), as one value, or
/// whole (the result's shape and layout).
struct PostOp {
  enum class Side { None, PerChannel, Scalar, Whole };
  dnnl::algorithm algorithm = dnnl::algorithm::undef;
  float alpha = 0, beta = 0;
  Side kind = Side::None;
  int side = -1;
};

/// The epilogue as post-ops, or nullopt where it is not one f32 chain from
/// the kernel's result to the fusion's only output through steps oneDNN
/// has: add, sub, mul, div, max, min with a per-channel vector, a whole
/// tensor, a constant or a sum of such; relu, clamp, tanh, sigmoid, exp,
/// abs, sqrt, neg; and GELU written out (tanh or erf form), as exporters
/// write it.
std::optional<std::vector<PostOp>> postOpsOf(const KernelEpilogue &epilogue);

/// `ops` as oneDNN post-ops; `sideDescription` gives each binary one's
/// operand description (appended to `sides`, in order).
template <typename SideDescription>
dnnl::post_ops makePostOps(const std::vector<PostOp> &ops,
                           SideDescription sideDescription,
                           std::vector<dnnl::memory::desc> &sides) {
  dnnl::post_ops result;
  for (const PostOp &op : ops) {
    if (op.kind == PostOp::Side::None) {
      result.append_eltwise(1.0f, op.algorithm, op.alpha, op.beta);
      continue;
    }
    sides.push_back(sideDescription(op));
    result.append_binary(op.algorithm, sides.back());
  }
  return result;
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H
