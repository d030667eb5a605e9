//===- OneDnnPostOps.h - Fusions computed inside oneDNN kernels -*- C++ -*-===//
//
// At load the host backend may give a kernel the elementwise fusion that
// alone reads its result (kernels::registerEpilogue). The oneDNN-backed
// kernels (convolution, matrix multiply) compute such an epilogue as
// post-ops while the result is still in registers: a shift or scale per
// channel, an activation, a residual add. This maps a fusion onto post-ops,
// for any kernel whose result's last memory dimension is its channels (a
// channels-last convolution's C, a matrix multiply's N). And what else
// those kernels share: binding the post-ops' operands, dropping the
// epilogue where oneDNN takes none, running one primitive per piece of the
// result on the pool.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H
#define TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "runtime/kernels/KernelContext.h"
#include "runtime/kernels/OpenMp.h"

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

/// Whether postOpsOf maps `fusion` (reading the kernel's result as operand
/// `operand`) onto post-ops: a kernel's epilogue rule.
bool postOpsTake(const proto::Fusion &fusion, int operand,
                 const std::vector<TensorView> &operands,
                 const TensorView &result);

/// Memory for the binary post-ops' operands (`sides`, described in order
/// by `descriptions`, their data set at each run by setSideHandles), added
/// to a primitive's execution `arguments`.
void bindSides(const std::vector<PostOp> &ops,
               const std::vector<dnnl::memory::desc> &descriptions,
               const dnnl::engine &engine, std::vector<dnnl::memory> &sides,
               std::unordered_map<int, dnnl::memory> &arguments);

/// Points `sides` at the epilogue's operands: a per-channel one from
/// channel `firstChannel`, a whole one from element `wholeOffset`.
void setSideHandles(const std::vector<PostOp> &ops,
                    const KernelEpilogue &epilogue,
                    std::vector<dnnl::memory> &sides, int64_t firstChannel,
                    int64_t wholeOffset);

/// Whether oneDNN answered with its reference implementation (naive loops,
/// its answer when no optimised kernel takes a case), which is slower than
/// the host's own fallbacks: a kernel then does not use it.
bool onlyReference(const dnnl::primitive_desc &description);

/// Fills a fresh kernel state by `prepare(epilogue)` (false or a
/// dnnl::error: oneDNN does not take it), with the epilogue's post-ops and,
/// failing that, without them (the epilogue then runs apart); the state is
/// `unsupported` when neither. `state.epilogue` says whether post-ops were
/// mapped.
template <typename State, typename Prepare>
void prepareWithEpilogue(State &state, const KernelEpilogue *epilogue,
                         Prepare prepare) {
  auto attempt = [&](const KernelEpilogue *with) {
    try {
      state.unsupported = !prepare(with);
    } catch (const dnnl::error &) {
      state.unsupported = true; // No implementation for this case.
    }
  };
  attempt(epilogue);
  if (state.unsupported && state.epilogue)
    attempt(nullptr);
}

/// primitive.execute(stream, arguments) (`arguments`: pairs of an
/// argument kind and a dnnl::memory) through oneDNN's C call on an array
/// on the stack: the C++ call builds a vector of them at every call.
template <typename Arguments>
void execute(const dnnl::primitive &primitive, const dnnl::stream &stream,
             const Arguments &arguments) {
  constexpr size_t kMost = 32;
  dnnl_exec_arg_t array[kMost];
  size_t count = 0;
  for (const auto &[which, memory] : arguments) {
    if (count == kMost)
      throw dnnl::error(dnnl_invalid_arguments, "too many arguments");
    array[count++] = {which, memory.get(/*allow_empty=*/true)};
  }
  dnnl::error::wrap_c_api(dnnl_primitive_execute(primitive.get(), stream.get(),
                                                 static_cast<int>(count),
                                                 array),
                          "could not execute a primitive");
}

/// Executes each piece's primitive (`piece.primitive`, `.stream`,
/// `.arguments`) on the pool, one OpenMP thread each, then `after(piece)`;
/// the first failure, as an error of `context` naming `what`.
template <typename Piece, typename After>
absl::Status executePieces(KernelContext &context, std::vector<Piece> &pieces,
                           const char *what, After after) {
  std::mutex mutex;
  absl::Status failure;
  context.pool.parallelFor(pieces.size(), 1, [&](int64_t first, int64_t last) {
    SingleOpenMpThread single;
    for (int64_t p = first; p < last; ++p) {
      Piece &piece = pieces[p];
      try {
        execute(piece.primitive, piece.stream, piece.arguments);
        piece.stream.wait();
        after(piece);
      } catch (const dnnl::error &error) {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure.ok())
          failure = context.error(std::string("oneDNN ") + what +
                                  " failed: " + error.what());
      }
    }
  });
  return failure;
}

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_ONEDNNPOSTOPS_H
