//===- WindowShapes.h - Output sizes of windowed ops ------------*- C++ -*-===//
//
// The output size of a sliding window (convolution, pooling) along each
// spatial dimension, shared by the ops' shape functions, the importer and the
// kernels so that all agree on rounding and padding.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECTS_GRAPH_WINDOWSHAPES_H
#define TESSEL_DIALECTS_GRAPH_WINDOWSHAPES_H

#include <cstdint>
#include <optional>

#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

namespace tessel::graph {

/// Per spatial dimension: window size, stride, window dilation, low and high
/// padding (may be negative), and input dilation (holes between elements).
struct WindowAttributes {
  llvm::ArrayRef<int64_t> window;
  llvm::ArrayRef<int64_t> strides;
  llvm::ArrayRef<int64_t> windowDilations;
  llvm::ArrayRef<int64_t> paddingLow;
  llvm::ArrayRef<int64_t> paddingHigh;
  llvm::ArrayRef<int64_t> inputDilations;
  /// Round the output size up, keeping only windows that start inside the
  /// input or its low padding (ONNX and PyTorch pooling).
  bool ceilMode = false;
};

/// The output size of one spatial dimension, or nullopt if no window fits.
std::optional<int64_t> windowOutputSize(int64_t input, int64_t window,
                                        int64_t stride, int64_t windowDilation,
                                        int64_t paddingLow, int64_t paddingHigh,
                                        int64_t inputDilation, bool ceilMode);

/// The output sizes of all spatial dimensions `input`, checking that every
/// attribute has one entry per dimension and valid values; errors go to `loc`.
mlir::LogicalResult inferWindowOutputShape(
    std::optional<mlir::Location> loc, llvm::ArrayRef<int64_t> input,
    const WindowAttributes &attributes, llvm::SmallVectorImpl<int64_t> &output);

} // namespace tessel::graph

#endif // TESSEL_DIALECTS_GRAPH_WINDOWSHAPES_H
