//===- GraphShardingRules.cpp - The graph dialect's sharding rules --------===//
//
// One rule per graph op, written with OpShardingRuleBuilder and attached as
// ShardingRuleOpInterface external models, so that the graph dialect itself
// knows nothing of sharding.
//
// Conventions: a dimension that keeps its size and meaning through the op
// is pass-through; a summed dimension is a reduction factor; a dimension an
// op needs whole (softmax's, a normalised one, a gathered axis) is
// need-replication; a dimension whose data moves between positions (a
// reversed one) is a permutation; a dimension whose size changes (slice,
// pad, concatenate, windows) gets separate need-replication factors on each
// side, since no single factor describes both.
//
//===----------------------------------------------------------------------===//

#include <limits>
#include <numeric>

#include "dialects/graph/GraphDialect.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"

namespace tessel::spmd {
namespace {

using mlir::ArrayRef;
using mlir::RankedTensorType;
using mlir::SmallVector;

RankedTensorType typeOf(mlir::Value value) {
  return mlir::cast<RankedTensorType>(value.getType());
}

OpShardingRuleAttr pointwiseRule(mlir::Operation *op) {
  OpShardingRuleBuilder builder(op);
  builder.addPointwise(typeOf(op->getResult(0)).getShape());
  return builder.build();
}

/// Dimensions of `operand` and `result` that correspond one to one (same
/// size) are pass-through; the others get separate need-replication factors.
void addSameOrSeparate(OpShardingRuleBuilder &builder, mlir::Operation *op,
                       llvm::function_ref<bool(int64_t)> same) {
  RankedTensorType operand = typeOf(op->getOperand(0));
  RankedTensorType result = typeOf(op->getResult(0));
  for (int64_t d = 0; d < result.getRank(); ++d) {
    if (same(d)) {
      if (result.getDimSize(d) != 1) {
        SmallVector<int64_t> operandDims(op->getNumOperands(), -1);
        operandDims[0] = d;
        builder.addFactor(operandDims, {d}, result.getDimSize(d));
      }
      continue;
    }
    builder.addOperandFactor(0, d, operand.getDimSize(d),
                             FactorKind::NeedReplication);
    builder.addResultFactor(0, d, result.getDimSize(d),
                            FactorKind::NeedReplication);
  }
}

OpShardingRuleAttr ruleFor(graph::BroadcastInDimOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType operand = op.getOperand().getType(), result = op.getType();
  for (int64_t d = 0; d < result.getRank(); ++d) {
    if (result.getDimSize(d) == 1)
      continue;
    int64_t source = -1;
    for (auto [i, target] : llvm::enumerate(op.getBroadcastDimensions()))
      if (target == d && operand.getDimSize(i) == result.getDimSize(d))
        source = i;
    builder.addFactor({source}, {d}, result.getDimSize(d));
  }
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::TransposeOp op) {
  OpShardingRuleBuilder builder(op);
  for (auto [d, source] : llvm::enumerate(op.getPermutation()))
    if (op.getType().getDimSize(d) != 1)
      builder.addFactor({source}, {static_cast<int64_t>(d)},
                        op.getType().getDimSize(d));
  return builder.build();
}

/// Reshape: the common refinement of both shapes, each piece one factor. A
/// dimension merged from two ([8, 16] -> [128]) is a compound of their
/// factors; a split one is the reverse. Where the shapes share no divisor,
/// the rest is need-replication on each side.
OpShardingRuleAttr ruleFor(graph::ReshapeOp op) {
  OpShardingRuleBuilder builder(op);
  ArrayRef<int64_t> in = op.getOperand().getType().getShape();
  ArrayRef<int64_t> out = op.getType().getShape();
  size_t i = 0, o = 0;
  int64_t inLeft = in.empty() ? 1 : in[0], outLeft = out.empty() ? 1 : out[0];
  auto skipOnes = [&]() {
    while (i < in.size() && inLeft == 1 && ++i < in.size())
      inLeft = in[i];
    while (o < out.size() && outLeft == 1 && ++o < out.size())
      outLeft = out[o];
  };
  skipOnes();
  while (i < in.size() && o < out.size()) {
    int64_t common = std::gcd(inLeft, outLeft);
    if (common <= 1) // Nothing shared (or an empty tensor, where gcd is 0).
      break;
    builder.addFactor({static_cast<int64_t>(i)}, {static_cast<int64_t>(o)},
                      common);
    inLeft /= common;
    outLeft /= common;
    skipOnes();
  }
  // What does not line up cannot be sharded through the reshape.
  for (; i < in.size(); ++i, inLeft = i < in.size() ? in[i] : 1)
    builder.addOperandFactor(0, i, inLeft, FactorKind::NeedReplication);
  for (; o < out.size(); ++o, outLeft = o < out.size() ? out[o] : 1)
    builder.addResultFactor(0, o, outLeft, FactorKind::NeedReplication);
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::SliceOp op) {
  OpShardingRuleBuilder builder(op);
  addSameOrSeparate(builder, op, [&](int64_t d) {
    return op.getStartIndices()[d] == 0 && op.getStrides()[d] == 1 &&
           op.getLimitIndices()[d] == op.getOperand().getType().getDimSize(d);
  });
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::PadOp op) {
  OpShardingRuleBuilder builder(op);
  addSameOrSeparate(builder, op, [&](int64_t d) {
    return op.getEdgePaddingLow()[d] == 0 && op.getEdgePaddingHigh()[d] == 0 &&
           op.getInteriorPadding()[d] == 0;
  });
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::ConcatenateOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType result = op.getType();
  int64_t dim = op.getDimension();
  for (int64_t d = 0; d < result.getRank(); ++d) {
    if (d == dim) {
      for (auto [i, input] : llvm::enumerate(op.getInputs()))
        builder.addOperandFactor(i, d, typeOf(input).getDimSize(d),
                                 FactorKind::NeedReplication);
      builder.addResultFactor(0, d, result.getDimSize(d),
                              FactorKind::NeedReplication);
    } else if (result.getDimSize(d) != 1) {
      SmallVector<int64_t> operandDims(op.getInputs().size(), d);
      builder.addFactor(operandDims, {d}, result.getDimSize(d));
    }
  }
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::ReverseOp op) {
  OpShardingRuleBuilder builder(op);
  for (int64_t d = 0; d < op.getType().getRank(); ++d)
    if (op.getType().getDimSize(d) != 1)
      builder.addFactor({d}, {d}, op.getType().getDimSize(d),
                        llvm::is_contained(op.getDimensions(), d)
                            ? FactorKind::Permutation
                            : FactorKind::PassThrough);
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::GatherOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType operand = op.getOperand().getType();
  RankedTensorType indices = op.getIndices().getType();
  int64_t axis = op.getAxis(), indexRank = indices.getRank();
  // A table split along the gathered axis (Megatron's vocabulary-parallel
  // embedding): each device picks the rows it holds and zeros for the
  // others (--spmd-global-to-local masks by part_index), a partial sum.
  // Integer tables stay whole there.
  bool summable = mlir::isa<mlir::FloatType>(operand.getElementType());
  for (int64_t d = 0; d < operand.getRank(); ++d) {
    if (d == axis) {
      builder.addOperandFactor(0, d, operand.getDimSize(d),
                               summable ? FactorKind::Reduction
                                        : FactorKind::NeedReplication);
      continue;
    }
    int64_t resultDim = d < axis ? d : d - 1 + indexRank;
    if (operand.getDimSize(d) != 1)
      builder.addFactor({d, -1}, {resultDim}, operand.getDimSize(d));
  }
  for (int64_t d = 0; d < indexRank; ++d)
    if (indices.getDimSize(d) != 1)
      builder.addFactor({-1, d}, {axis + d}, indices.getDimSize(d));
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::DotGeneralOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
  ArrayRef<int64_t> lhsBatch = op.getLhsBatchingDimensions();
  ArrayRef<int64_t> rhsBatch = op.getRhsBatchingDimensions();
  ArrayRef<int64_t> lhsContract = op.getLhsContractingDimensions();
  ArrayRef<int64_t> rhsContract = op.getRhsContractingDimensions();
  int64_t resultDim = 0;
  for (auto [l, r] : llvm::zip(lhsBatch, rhsBatch)) {
    if (lhs.getDimSize(l) != 1)
      builder.addFactor({l, r}, {resultDim}, lhs.getDimSize(l));
    ++resultDim;
  }
  for (int64_t d = 0; d < lhs.getRank(); ++d) {
    if (llvm::is_contained(lhsBatch, d) || llvm::is_contained(lhsContract, d))
      continue;
    if (lhs.getDimSize(d) != 1)
      builder.addFactor({d, -1}, {resultDim}, lhs.getDimSize(d));
    ++resultDim;
  }
  for (int64_t d = 0; d < rhs.getRank(); ++d) {
    if (llvm::is_contained(rhsBatch, d) || llvm::is_contained(rhsContract, d))
      continue;
    if (rhs.getDimSize(d) != 1)
      builder.addFactor({-1, d}, {resultDim}, rhs.getDimSize(d));
    ++resultDim;
  }
  for (auto [l, r] : llvm::zip(lhsContract, rhsContract))
    if (lhs.getDimSize(l) != 1)
      builder.addFactor({l, r}, {-1}, lhs.getDimSize(l), FactorKind::Reduction);
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::ReduceOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType operand = op.getOperand().getType();
  int64_t resultDim = 0;
  for (int64_t d = 0; d < operand.getRank(); ++d) {
    bool reduced = llvm::is_contained(op.getDimensions(), d);
    if (operand.getDimSize(d) != 1)
      builder.addFactor({d}, {reduced ? -1 : resultDim}, operand.getDimSize(d),
                        !reduced ? FactorKind::PassThrough
                        : partialReductionOf(op).empty()
                            ? FactorKind::NeedReplication
                            : FactorKind::Reduction);
    if (!reduced)
      ++resultDim;
  }
  return builder.build();
}

/// TopK: the other dimensions pass through to both results; the selected
/// dimension stays whole (a device's top k of a part is not the part of
/// the top k).
OpShardingRuleAttr ruleFor(graph::TopKOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType operand = op.getOperand().getType();
  for (int64_t d = 0; d < operand.getRank(); ++d) {
    if (d != static_cast<int64_t>(op.getDimension())) {
      if (operand.getDimSize(d) != 1)
        builder.addFactor({d}, {d, d}, operand.getDimSize(d));
      continue;
    }
    builder.addOperandFactor(0, d, operand.getDimSize(d),
                             FactorKind::NeedReplication);
    if (op.getK() != 1)
      builder.addFactor({}, {d, d}, op.getK(), FactorKind::NeedReplication);
  }
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::SoftmaxOp op) {
  OpShardingRuleBuilder builder(op);
  for (int64_t d = 0; d < op.getType().getRank(); ++d)
    if (op.getType().getDimSize(d) != 1)
      builder.addFactor({d}, {d}, op.getType().getDimSize(d),
                        d == static_cast<int64_t>(op.getDimension())
                            ? FactorKind::NeedReplication
                            : FactorKind::PassThrough);
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::LayerNormOp op) {
  OpShardingRuleBuilder builder(op);
  int64_t axis = op.getAxis();
  for (int64_t d = 0; d < op.getType().getRank(); ++d) {
    int64_t size = op.getType().getDimSize(d);
    if (size == 1)
      continue;
    if (d < axis)
      builder.addFactor({d, -1, -1}, {d}, size);
    else
      builder.addFactor({d, d - axis, d - axis}, {d}, size,
                        FactorKind::NeedReplication);
  }
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::BatchNormInferenceOp op) {
  OpShardingRuleBuilder builder(op);
  int64_t feature = op.getFeatureIndex();
  for (int64_t d = 0; d < op.getType().getRank(); ++d) {
    int64_t size = op.getType().getDimSize(d);
    if (size == 1)
      continue;
    if (d == feature)
      builder.addFactor({d, 0, 0, 0, 0}, {d}, size);
    else
      builder.addFactor({d, -1, -1, -1, -1}, {d}, size);
  }
  return builder.build();
}

/// Spatial dimension `d` of a windowed op: one factor the size of the
/// result's where halos can split it (the input's is that times the
/// stride, a minor factor of its own), else separate need-replication
/// factors.
void addSpatialFactors(OpShardingRuleBuilder &builder, mlir::Operation *op,
                       int64_t d) {
  RankedTensorType input = typeOf(op->getOperand(0));
  RankedTensorType result = typeOf(op->getResult(0));
  std::optional<WindowHalo> halo = windowHalo(op, d);
  if (!halo) {
    builder.addOperandFactor(0, d, input.getDimSize(d),
                             FactorKind::NeedReplication);
    builder.addResultFactor(0, d, result.getDimSize(d),
                            FactorKind::NeedReplication);
    return;
  }
  SmallVector<int64_t> operandDims(op->getNumOperands(), -1);
  operandDims[0] = d;
  if (result.getDimSize(d) != 1)
    builder.addFactor(operandDims, {d}, result.getDimSize(d));
  if (halo->stride != 1)
    builder.addOperandFactor(0, d, halo->stride, FactorKind::NeedReplication);
}

OpShardingRuleAttr ruleFor(graph::ConvolutionOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType input = op.getInput().getType();
  RankedTensorType kernel = op.getKernel().getType();
  builder.addFactor({0, -1}, {0}, input.getDimSize(0));
  int64_t groups = op.getFeatureGroupCount();
  if (groups == 1) {
    builder.addFactor({-1, 0}, {1}, kernel.getDimSize(0));
    builder.addFactor({1, 1}, {-1}, input.getDimSize(1), FactorKind::Reduction);
  } else {
    // Channels come in groups: input channel g*K + k, output channel
    // g*M + m. The group factor g is the major factor of the input's and
    // the result's channels and of the kernel's output features; a device
    // holding a part of g holds whole groups (GlobalToLocal gives it the
    // local group count). m, a group's own output channels, passes through;
    // k, a group's input channels, is summed.
    builder.addFactor({1, 0}, {1}, groups);
    builder.addFactor({-1, 0}, {1}, kernel.getDimSize(0) / groups);
    builder.addFactor({1, 1}, {-1}, input.getDimSize(1) / groups,
                      FactorKind::Reduction);
  }
  // Spatial dimensions: windows overlap, so a split needs halos; the
  // window itself stays whole.
  for (int64_t d = 2; d < input.getRank(); ++d) {
    addSpatialFactors(builder, op, d);
    builder.addOperandFactor(1, d, kernel.getDimSize(d),
                             FactorKind::NeedReplication);
  }
  return builder.build();
}

template <typename PoolOp> OpShardingRuleAttr poolRule(PoolOp op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType operand = op.getOperand().getType();
  for (int64_t d = 0; d < 2; ++d)
    if (operand.getDimSize(d) != 1)
      builder.addFactor({d}, {d}, operand.getDimSize(d));
  for (int64_t d = 2; d < operand.getRank(); ++d)
    addSpatialFactors(builder, op, d);
  return builder.build();
}

OpShardingRuleAttr ruleFor(graph::MaxPoolOp op) { return poolRule(op); }
OpShardingRuleAttr ruleFor(graph::AvgPoolOp op) { return poolRule(op); }

OpShardingRuleAttr ruleFor(graph::ResizeOp op) {
  OpShardingRuleBuilder builder(op);
  addSameOrSeparate(builder, op, [&](int64_t d) {
    return op.getScales()[d] == 1.0 && op.getOperand().getType().getDimSize(
                                           d) == op.getType().getDimSize(d);
  });
  return builder.build();
}

/// Ops with no operands: every result dimension is its own factor.
OpShardingRuleAttr sourceRule(mlir::Operation *op) {
  OpShardingRuleBuilder builder(op);
  RankedTensorType result = typeOf(op->getResult(0));
  for (int64_t d = 0; d < result.getRank(); ++d)
    builder.addResultFactor(0, d, result.getDimSize(d),
                            FactorKind::PassThrough);
  return builder.build();
}

template <typename OpTy>
struct SpecificRule
    : ShardingRuleOpInterface::ExternalModel<SpecificRule<OpTy>, OpTy> {
  OpShardingRuleAttr getShardingRule(mlir::Operation *op) const {
    return ruleFor(mlir::cast<OpTy>(op));
  }
};

template <typename OpTy>
struct PointwiseRule
    : ShardingRuleOpInterface::ExternalModel<PointwiseRule<OpTy>, OpTy> {
  OpShardingRuleAttr getShardingRule(mlir::Operation *op) const {
    return pointwiseRule(op);
  }
};

template <typename OpTy>
struct SourceRule
    : ShardingRuleOpInterface::ExternalModel<SourceRule<OpTy>, OpTy> {
  OpShardingRuleAttr getShardingRule(mlir::Operation *op) const {
    return sourceRule(op);
  }
};

template <typename... Ops> void attachPointwise(mlir::MLIRContext *context) {
  (Ops::template attachInterface<PointwiseRule<Ops>>(*context), ...);
}

template <typename... Ops> void attachSpecific(mlir::MLIRContext *context) {
  (Ops::template attachInterface<SpecificRule<Ops>>(*context), ...);
}

} // namespace

std::optional<WindowHalo> windowHalo(mlir::Operation *op, int64_t d) {
  // Per spatial dimension: window extent (dilated), stride and padding.
  int64_t s = d - 2, extent, stride, low, high;
  double padding = 0.0;
  if (auto conv = mlir::dyn_cast<graph::ConvolutionOp>(op)) {
    if (conv.getLhsDilation()[s] != 1)
      return std::nullopt;
    extent = (conv.getKernel().getType().getDimSize(d) - 1) *
                 conv.getRhsDilation()[s] +
             1;
    stride = conv.getWindowStrides()[s];
    low = conv.getPaddingLow()[s];
    high = conv.getPaddingHigh()[s];
  } else if (mlir::isa<graph::MaxPoolOp, graph::AvgPoolOp>(op)) {
    auto window = [&](llvm::StringRef name) {
      return mlir::cast<mlir::DenseI64ArrayAttr>(
          op->getInherentAttr(name).value_or(mlir::Attribute()))[s];
    };
    extent = (window("window_dimensions") - 1) * window("window_dilations") + 1;
    stride = window("window_strides");
    low = window("padding_low");
    high = window("padding_high");
    if (auto avg = mlir::dyn_cast<graph::AvgPoolOp>(op)) {
      // Halo rows past the ends would count as elements.
      if (avg.getCeilMode() ||
          (!avg.getCountIncludePad() && (low != 0 || high != 0)))
        return std::nullopt;
    } else {
      padding = -std::numeric_limits<double>::infinity();
    }
  } else {
    return std::nullopt;
  }
  int64_t in = typeOf(op->getOperand(0)).getDimSize(d);
  int64_t out = typeOf(op->getResult(0)).getDimSize(d);
  if (stride < 1 || in != stride * out)
    return std::nullopt;
  // Output rows [0, n) read input rows [-low, (n - 1) stride - low + extent):
  // stride n of its own, low before, the rest after.
  return WindowHalo{stride, low, extent - stride - low, padding};
}

llvm::StringRef partialReductionOf(mlir::Operation *op) {
  auto reduce = mlir::dyn_cast<graph::ReduceOp>(op);
  if (!reduce)
    return "sum";
  switch (reduce.getKind()) {
  case graph::ReduceKind::Sum:
    return "sum";
  case graph::ReduceKind::Mean:
    // The partitioner makes a split mean a sum scaled by 1 / count, which
    // needs a float element type.
    return mlir::isa<mlir::FloatType>(reduce.getType().getElementType()) ? "sum"
                                                                         : "";
  case graph::ReduceKind::Max:
    return "max";
  case graph::ReduceKind::Min:
    return "min";
  case graph::ReduceKind::Prod:
    return "";
  }
  return "";
}

void registerGraphShardingRules(mlir::DialectRegistry &registry) {
  registry.addExtension(+[](mlir::MLIRContext *context, graph::GraphDialect *) {
    using namespace graph;
    attachPointwise<AddOp, SubOp, MulOp, DivOp, RemOp, ShiftLeftOp,
                    ShiftRightOp, MaxOp, MinOp, PowOp, AndOp, OrOp, XorOp,
                    NotOp, NegOp, AbsOp, SignOp, ReluOp, ExpOp, LogOp, TanhOp,
                    ErfOp, SqrtOp, RsqrtOp, ReciprocalOp, SigmoidOp, SinOp,
                    CosOp, FloorOp, CeilOp, RoundOp, ClampOp, CompareOp,
                    SelectOp, ConvertOp>(context);
    ConstantOp::attachInterface<SourceRule<ConstantOp>>(*context);
    IotaOp::attachInterface<SourceRule<IotaOp>>(*context);
    attachSpecific<BroadcastInDimOp, TransposeOp, ReshapeOp, SliceOp, PadOp,
                   ConcatenateOp, ReverseOp, GatherOp, DotGeneralOp, ReduceOp,
                   SoftmaxOp, LayerNormOp, BatchNormInferenceOp, ConvolutionOp,
                   MaxPoolOp, AvgPoolOp, ResizeOp, TopKOp>(context);
  });
}

} // namespace tessel::spmd
