//===- GlobalToLocal.cpp - Per-device shapes ------------------------------===//
//
// Every value takes its local type from its sharding: a dimension of size n
// in p parts is ceil(n / p) long on every device, the last parts padded
// where p does not divide n. Padding holds anything, so it is masked with
// the identity (spmd.mask_padding) before an op reduces over it or reads it
// as indices; everything else computes garbage there that nothing reads.
// Ops whose attributes name sizes are adjusted or, where a split dimension
// would need more than new types (device offsets, halos), reported.
//
//===----------------------------------------------------------------------===//

#include <limits>

#include <numeric>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/partition/Passes.h"

namespace tessel::partition {

#define GEN_PASS_DEF_GLOBALTOLOCALPASS
#include "passes/partition/Passes.h.inc"

namespace {

using spmd::MeshAttr;
using spmd::ShardingAttr;

class Localizer {
public:
  explicit Localizer(MeshAttr mesh) : mesh(mesh) {}

  /// The parts each dimension of a tensor with `sharding` is split into
  /// (all 1 without a sharding).
  llvm::SmallVector<int64_t> partsOf(ShardingAttr sharding,
                                     int64_t rank) const {
    llvm::SmallVector<int64_t> parts(rank, 1);
    if (sharding)
      for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
        parts[d] = dim.numParts(mesh);
    return parts;
  }

  /// The local type of `value`: every split dimension rounded up.
  mlir::Type localType(mlir::Value value) const {
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
    if (!type)
      return value.getType();
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    llvm::SmallVector<int64_t> shape(type.getShape());
    for (int64_t d = 0; d < type.getRank(); ++d)
      shape[d] = llvm::divideCeil(shape[d], parts[d]);
    return type.clone(shape);
  }

  /// Whether any of `dims` of `value` is split unevenly (padded).
  bool anyPadded(mlir::Value value, llvm::ArrayRef<int64_t> dims) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    return llvm::any_of(
        dims, [&](int64_t d) { return type.getDimSize(d) % parts[d] != 0; });
  }

  /// Masks the padding of `op`'s operands where it would leak into a
  /// result: dimensions it reduces over (its rule's reduction factors), the
  /// indices of a gather (padding may hold any index), and a window's
  /// input (its padding value, which halos then carry to the neighbours).
  void maskPadding(mlir::Operation *op) const;

  /// On local types: gives a windowed op's input, along each split spatial
  /// dimension, the halo its windows reach into, and leaves the op itself
  /// no padding there (the halos hold it).
  void insertHalos(mlir::Operation *op) const;

  /// Whether any of `dims` of `value` is split.
  bool anySplit(mlir::Value value, llvm::ArrayRef<int64_t> dims) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    return llvm::any_of(dims, [&](int64_t d) { return parts[d] > 1; });
  }

  /// Checks what new types alone cannot express, and adjusts attributes.
  mlir::LogicalResult adjust(mlir::Operation *op) const;

private:
  MeshAttr mesh;
};

/// What padding must hold so that `op` ignores it: the identity of its
/// reduction (0 for sums and contractions).
double paddingIdentity(mlir::Operation *op, mlir::Type elementType) {
  auto reduce = mlir::dyn_cast<graph::ReduceOp>(op);
  if (!reduce)
    return 0.0;
  bool isBool = elementType.isInteger(1);
  double infinity = std::numeric_limits<double>::infinity();
  switch (reduce.getKind()) {
  case graph::ReduceKind::Max:
    return isBool ? 0.0 : -infinity; // Integers saturate at their lowest.
  case graph::ReduceKind::Min:
    return isBool ? 1.0 : infinity;
  case graph::ReduceKind::Prod:
    return 1.0;
  case graph::ReduceKind::Sum:
  case graph::ReduceKind::Mean:
    return 0.0;
  }
  return 0.0;
}

void Localizer::maskPadding(mlir::Operation *op) const {
  spmd::OpShardingRuleAttr rule = spmd::getShardingRule(op);
  for (mlir::OpOperand &use : op->getOpOperands()) {
    mlir::Value operand = use.get();
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(operand.getType());
    if (!type)
      continue;
    llvm::SmallVector<int64_t> dims;
    unsigned i = use.getOperandNumber();
    std::optional<spmd::WindowHalo> window;
    for (int64_t d = 2; i == 0 && !window && d < type.getRank(); ++d)
      if (anySplit(operand, {d}))
        window = spmd::windowHalo(op, d);
    bool isWindow = window.has_value();
    for (int64_t d = 0; d < type.getRank(); ++d) {
      bool isIndex = mlir::isa<graph::GatherOp>(op) && i == 1;
      isIndex |= isWindow && d >= 2;
      bool isReduced =
          rule && llvm::any_of(rule.factorsOf(false, i, d),
                               [&](int64_t f) { return rule.isReduction(f); });
      if (isIndex || isReduced)
        dims.push_back(d);
    }
    if (dims.empty() || !anyPadded(operand, dims))
      continue;
    // Arguments arrive with zeros in their padding (runtime/proto).
    double identity = paddingIdentity(op, type.getElementType());
    if (isWindow)
      identity = window->padding;
    if (identity == 0.0 && mlir::isa<mlir::BlockArgument>(operand))
      continue;
    mlir::OpBuilder builder(op);
    auto mask = spmd::MaskPaddingOp::create(
        builder, op->getLoc(), operand, builder.getF64FloatAttr(identity),
        spmd::getSharding(operand),
        builder.getDenseI64ArrayAttr(type.getShape()));
    use.set(mask.getResult());
  }
}

void Localizer::insertHalos(mlir::Operation *op) const {
  if (!mlir::isa<graph::ConvolutionOp, graph::MaxPoolOp, graph::AvgPoolOp>(op))
    return;
  mlir::Value input = op->getOperand(0);
  ShardingAttr sharding = spmd::getSharding(input);
  if (!sharding)
    return;
  mlir::OpBuilder builder(op);
  int64_t rank = mlir::cast<mlir::RankedTensorType>(input.getType()).getRank();
  auto zeroAt = [&](llvm::StringRef name, int64_t d) {
    auto values = mlir::cast<mlir::DenseI64ArrayAttr>(
        op->getInherentAttr(name).value_or(mlir::Attribute()));
    llvm::SmallVector<int64_t> updated(values.asArrayRef());
    updated[d - 2] = 0;
    op->setInherentAttr(builder.getStringAttr(name),
                        builder.getDenseI64ArrayAttr(updated));
  };
  for (int64_t d = 2; d < rank; ++d) {
    llvm::ArrayRef<spmd::AxisRefAttr> axes = sharding.getDims()[d].getAxes();
    std::optional<spmd::WindowHalo> halo = spmd::windowHalo(op, d);
    if (axes.empty() || !halo)
      continue;
    // Chained along each split dimension in turn, a later exchange carries
    // the earlier one's rows: corners come from diagonal neighbours.
    auto type = mlir::cast<mlir::RankedTensorType>(input.getType());
    llvm::SmallVector<int64_t> shape(type.getShape());
    shape[d] += halo->low + halo->high;
    llvm::SmallVector<std::string> names;
    for (spmd::AxisRefAttr axis : axes)
      names.push_back(spmd::axisName(axis));
    input = spmd::HaloExchangeOp::create(
        builder, op->getLoc(), type.clone(shape), input, sharding.getMesh(),
        builder.getStrArrayAttr(
            llvm::SmallVector<llvm::StringRef>(names.begin(), names.end())),
        builder.getI64IntegerAttr(d), builder.getI64IntegerAttr(halo->low),
        builder.getI64IntegerAttr(halo->high),
        builder.getF64FloatAttr(halo->padding));
    zeroAt("padding_low", d);
    zeroAt("padding_high", d);
  }
  // With the halos, every split dimension's windows fit exactly (ceil_mode
  // rounds nothing up there), so ceil_mode stays for the others.
  op->setOperand(0, input);
}

mlir::LogicalResult Localizer::adjust(mlir::Operation *op) const {
  auto unsupported = [&](llvm::StringRef what) {
    return op->emitOpError()
           << what << " is not supported by the partitioner yet";
  };
  auto spatialDims = [](mlir::Value value) {
    int64_t rank =
        mlir::cast<mlir::RankedTensorType>(value.getType()).getRank();
    llvm::SmallVector<int64_t> dims;
    for (int64_t d = 2; d < rank; ++d)
      dims.push_back(d);
    return dims;
  };
  if (mlir::isa<spmd::ReshardOp, spmd::ShardingConstraintOp>(op))
    return op->emitOpError() << "is left for --spmd-global-to-local; run "
                                "--spmd-reshard-to-collectives first";
  if (auto iota = mlir::dyn_cast<graph::IotaOp>(op)) {
    if (anySplit(iota.getResult(), {static_cast<int64_t>(iota.getDimension())}))
      return unsupported("an iota counting along a split dimension");
    return mlir::success();
  }
  if (auto constant = mlir::dyn_cast<graph::ConstantOp>(op)) {
    auto type = mlir::cast<mlir::RankedTensorType>(constant.getType());
    llvm::SmallVector<int64_t> all(type.getRank());
    std::iota(all.begin(), all.end(), 0);
    if (!anySplit(constant.getResult(), all))
      return mlir::success();
    auto value = mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue());
    if (!value || !value.isSplat())
      return unsupported("splitting a non-splat constant");
    constant.setValueAttr(value.resizeSplat(
        mlir::cast<mlir::ShapedType>(localType(constant.getResult()))));
    return mlir::success();
  }
  if (auto reverse = mlir::dyn_cast<graph::ReverseOp>(op)) {
    if (anySplit(reverse.getResult(), reverse.getDimensions()))
      return unsupported("reversing a split dimension");
    return mlir::success();
  }
  if (mlir::isa<graph::ResizeOp>(op)) {
    if (anySplit(op->getOperand(0), spatialDims(op->getOperand(0))) ||
        anySplit(op->getResult(0), spatialDims(op->getResult(0))))
      return unsupported("a resize over a split spatial dimension");
    return mlir::success();
  }
  if (mlir::isa<graph::ConvolutionOp, graph::MaxPoolOp, graph::AvgPoolOp>(op)) {
    // Split spatial dimensions take halos (insertHalos): the input and
    // the result split alike.
    ShardingAttr in = spmd::getSharding(op->getOperand(0));
    ShardingAttr out = spmd::getSharding(op->getResult(0));
    for (int64_t d : spatialDims(op->getOperand(0))) {
      if (!anySplit(op->getOperand(0), {d}) && !anySplit(op->getResult(0), {d}))
        continue;
      std::optional<spmd::WindowHalo> halo = spmd::windowHalo(op, d);
      if (!halo || !in || !out ||
          in.getDims()[d].getAxes() != out.getDims()[d].getAxes())
        return unsupported(
            "a window over a split spatial dimension that halos cannot "
            "serve (input and result split apart)");
      auto sizeOf = [&](mlir::Value value) {
        return mlir::cast<mlir::RankedTensorType>(value.getType())
            .getDimSize(d);
      };
      int64_t parts = in.getDims()[d].numParts(mesh);
      int64_t inPart = llvm::divideCeil(sizeOf(op->getOperand(0)), parts);
      int64_t outPart = llvm::divideCeil(sizeOf(op->getResult(0)), parts);
      if (inPart != halo->stride * outPart || std::abs(halo->low) > inPart ||
          std::abs(halo->high) > inPart)
        return unsupported(
            "a window over a split spatial dimension whose parts do not "
            "line up (uneven, with a stride) or whose halo is wider than a "
            "part");
    }
    return mlir::success();
  }
  if (auto slice = mlir::dyn_cast<graph::SliceOp>(op)) {
    // A split dimension of a slice is one it leaves whole (its rule makes
    // sliced dimensions need-replication): its limit is the local size.
    llvm::SmallVector<int64_t> limits(slice.getLimitIndices());
    auto type = mlir::cast<mlir::RankedTensorType>(slice.getType());
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(slice.getResult()), type.getRank());
    for (int64_t d = 0; d < type.getRank(); ++d)
      limits[d] = llvm::divideCeil(limits[d], parts[d]);
    slice.setLimitIndices(limits);
  }
  return mlir::success();
}

struct GlobalToLocalPass : impl::GlobalToLocalPassBase<GlobalToLocalPass> {
  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    // The mesh: from any sharding in the function.
    ShardingAttr any;
    for (mlir::BlockArgument argument : function.getArguments())
      if (!any)
        any = spmd::getSharding(argument);
    function.walk([&](mlir::Operation *op) {
      for (mlir::Value result : op->getResults())
        if (!any)
          any = spmd::getSharding(result);
    });
    if (!any)
      return; // Nothing is split.
    mlir::FailureOr<MeshAttr> mesh = spmd::lookupMesh(function, any.getMesh());
    if (mlir::failed(mesh))
      return signalPassFailure();
    Localizer localizer(*mesh);

    // Checks, attributes and masks first, on global types.
    mlir::Block &body = function.getBody().front();
    llvm::SmallVector<mlir::Operation *> ops;
    for (mlir::Operation &op : body)
      ops.push_back(&op);
    for (mlir::Operation *op : ops) {
      if (mlir::failed(localizer.adjust(op)))
        return signalPassFailure();
      localizer.maskPadding(op);
    }

    // The global shapes of arguments and results, for whoever places the
    // parts (local types alone do not tell a padded size from a whole one).
    auto shapeOf = [&](mlir::Type type) {
      return mlir::DenseI64ArrayAttr::get(
          &getContext(), mlir::cast<mlir::RankedTensorType>(type).getShape());
    };
    mlir::Operation *ret = body.getTerminator();
    for (mlir::BlockArgument argument : body.getArguments())
      if (mlir::isa<mlir::RankedTensorType>(argument.getType()))
        function.setArgAttr(argument.getArgNumber(),
                            spmd::SpmdDialect::kGlobalShapeAttr,
                            shapeOf(argument.getType()));
    for (auto [i, type] : llvm::enumerate(ret->getOperandTypes()))
      if (mlir::isa<mlir::RankedTensorType>(type))
        function.setResultAttr(i, spmd::SpmdDialect::kGlobalShapeAttr,
                               shapeOf(type));

    // Then types: all new types are computed before any changes, since a
    // value's local type depends on its global one.
    llvm::SmallVector<std::pair<mlir::Value, mlir::Type>> retyped;
    for (mlir::BlockArgument argument : body.getArguments())
      retyped.emplace_back(argument, localizer.localType(argument));
    function.walk([&](mlir::Operation *op) {
      for (mlir::Value result : op->getResults())
        retyped.emplace_back(result, localizer.localType(result));
    });
    for (auto [value, type] : retyped)
      value.setType(type);
    for (mlir::Operation *op : ops)
      localizer.insertHalos(op);

    function.setType(mlir::FunctionType::get(function.getContext(),
                                             body.getArgumentTypes(),
                                             ret->getOperandTypes()));
  }
};

} // namespace
} // namespace tessel::partition
