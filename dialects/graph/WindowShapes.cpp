//===- WindowShapes.cpp - Output sizes of windowed ops --------------------===//

#include "dialects/graph/WindowShapes.h"

#include "mlir/IR/Diagnostics.h"

namespace tessel::graph {

std::optional<int64_t> windowOutputSize(int64_t input, int64_t window,
                                        int64_t stride, int64_t windowDilation,
                                        int64_t paddingLow, int64_t paddingHigh,
                                        int64_t inputDilation, bool ceilMode) {
  int64_t dilatedInput = input == 0 ? 0 : (input - 1) * inputDilation + 1;
  int64_t padded = dilatedInput + paddingLow + paddingHigh;
  int64_t dilatedWindow = (window - 1) * windowDilation + 1;
  if (padded < dilatedWindow)
    return std::nullopt;
  int64_t span = padded - dilatedWindow;
  int64_t output = span / stride + 1;
  if (ceilMode && span % stride != 0) {
    ++output;
    // The last window must start inside the input or the low padding.
    if ((output - 1) * stride >= dilatedInput + paddingLow)
      --output;
  }
  return output;
}

mlir::LogicalResult
inferWindowOutputShape(std::optional<mlir::Location> loc,
                       llvm::ArrayRef<int64_t> input,
                       const WindowAttributes &attributes,
                       llvm::SmallVectorImpl<int64_t> &output) {
  size_t rank = input.size();
  struct Named {
    const char *name;
    llvm::ArrayRef<int64_t> values;
    int64_t minimum;
  };
  const Named checks[] = {
      {"window", attributes.window, 1},
      {"strides", attributes.strides, 1},
      {"window dilations", attributes.windowDilations, 1},
      {"low padding", attributes.paddingLow, INT64_MIN},
      {"high padding", attributes.paddingHigh, INT64_MIN},
      {"input dilations", attributes.inputDilations, 1},
  };
  for (const Named &check : checks) {
    if (check.values.size() != rank)
      return mlir::emitOptionalError(loc, check.name, " has ",
                                     check.values.size(),
                                     " entries, expected one per spatial "
                                     "dimension (",
                                     rank, ")");
    for (auto [d, value] : llvm::enumerate(check.values))
      if (value < check.minimum)
        return mlir::emitOptionalError(
            loc, check.name, " of spatial dimension ", d, " is ", value,
            ", must be at least ", check.minimum);
  }
  for (size_t d = 0; d < rank; ++d) {
    std::optional<int64_t> size =
        windowOutputSize(input[d], attributes.window[d], attributes.strides[d],
                         attributes.windowDilations[d],
                         attributes.paddingLow[d], attributes.paddingHigh[d],
                         attributes.inputDilations[d], attributes.ceilMode);
    if (!size)
      return mlir::emitOptionalError(
          loc, "window of size ", attributes.window[d], " (dilation ",
          attributes.windowDilations[d], ") does not fit spatial dimension ", d,
          " of size ", input[d], " with padding ", attributes.paddingLow[d],
          "/", attributes.paddingHigh[d]);
    output.push_back(*size);
  }
  return mlir::success();
}

} // namespace tessel::graph
