//===- GlobalToLocal.cpp - Per-device shapes ------------------------------===//
//
// Every value takes its local type from its sharding; ops whose attributes
// name sizes are adjusted or, where a split dimension would need more than
// new types (device offsets, halos, padding), reported.
//
//===----------------------------------------------------------------------===//

#include <numeric>

#include "dialects/graph/GraphOps.h"
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

  /// The local type of `value`; an error at `at` (about `what`) if a split
  /// is uneven.
  mlir::FailureOr<mlir::Type> localType(mlir::Operation *at, mlir::Value value,
                                        llvm::StringRef what = "") const {
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
    if (!type)
      return value.getType();
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    llvm::SmallVector<int64_t> shape(type.getShape());
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (shape[d] % parts[d] != 0)
        return at->emitOpError()
               << what << "dimension " << d << " of " << type
               << " does not split "
               << "evenly into " << parts[d]
               << " parts; padding uneven shards is not implemented yet";
      shape[d] /= parts[d];
    }
    return mlir::Type(type.clone(shape));
  }

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
    mlir::FailureOr<mlir::Type> local = localType(op, constant.getResult());
    if (mlir::failed(local))
      return mlir::failure();
    constant.setValueAttr(
        value.resizeSplat(mlir::cast<mlir::ShapedType>(*local)));
    return mlir::success();
  }
  if (auto reverse = mlir::dyn_cast<graph::ReverseOp>(op)) {
    if (anySplit(reverse.getResult(), reverse.getDimensions()))
      return unsupported("reversing a split dimension");
    return mlir::success();
  }
  if (mlir::isa<graph::ConvolutionOp, graph::MaxPoolOp, graph::AvgPoolOp,
                graph::ResizeOp>(op)) {
    if (anySplit(op->getOperand(0), spatialDims(op->getOperand(0))) ||
        anySplit(op->getResult(0), spatialDims(op->getResult(0))))
      return unsupported("a window or resize over a split spatial dimension "
                         "(halo exchange)");
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
      if (parts[d] > 1)
        limits[d] /= parts[d];
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

    // Checks and attributes first, on global types.
    mlir::WalkResult walk = function.walk([&](mlir::Operation *op) {
      if (op == function)
        return mlir::WalkResult::advance();
      return mlir::failed(localizer.adjust(op)) ? mlir::WalkResult::interrupt()
                                                : mlir::WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    // Then types: all new types are computed before any changes, since a
    // value's local type depends on its global one.
    llvm::SmallVector<std::pair<mlir::Value, mlir::Type>> retyped;
    mlir::Block &body = function.getBody().front();
    for (mlir::BlockArgument argument : body.getArguments()) {
      std::string what;
      llvm::raw_string_ostream(what)
          << "argument " << argument.getArgNumber() << ": ";
      mlir::FailureOr<mlir::Type> type =
          localizer.localType(function, argument, what);
      if (mlir::failed(type))
        return signalPassFailure();
      retyped.emplace_back(argument, *type);
    }
    walk = function.walk([&](mlir::Operation *op) {
      for (mlir::Value result : op->getResults()) {
        mlir::FailureOr<mlir::Type> type = localizer.localType(op, result);
        if (mlir::failed(type))
          return mlir::WalkResult::interrupt();
        retyped.emplace_back(result, *type);
      }
      return mlir::WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    for (auto [value, type] : retyped)
      value.setType(type);

    mlir::Operation *ret = body.getTerminator();
    function.setType(mlir::FunctionType::get(function.getContext(),
                                             body.getArgumentTypes(),
                                             ret->getOperandTypes()));
  }
};

} // namespace
} // namespace tessel::partition
