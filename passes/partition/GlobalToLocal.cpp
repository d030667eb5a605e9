//===- GlobalToLocal.cpp - Per-device shapes ------------------------------===//
//
// Every value takes its local type from its sharding: a dimension of size n
// in p parts is ceil(n / p) long on every device, the last parts padded
// where p does not divide n. Padding holds anything, so it is masked with
// the identity (spmd.mask_padding) before an op reduces over it or reads it
// as indices; everything else computes garbage there that nothing reads.
// Ops whose attributes name sizes are adjusted or, where a split dimension
// would need more than new types (device offsets), reported; windows take
// halos. Each op family has a pattern of its own (LocalizePattern), the
// generic one changing types only.
//
//===----------------------------------------------------------------------===//

#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "dialects/graph/GraphBuilders.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/partition/Passes.h"
#include "llvm/ADT/StringExtras.h"

namespace tessel::partition {

#define GEN_PASS_DEF_GLOBALTOLOCALPASS
#include "passes/partition/Passes.h.inc"

namespace {

using spmd::MeshAttr;
using spmd::ShardingAttr;

/// Local shapes of the values of one mesh.
class Localizer {
public:
  explicit Localizer(MeshAttr mesh) : mesh(mesh) {}

  MeshAttr getMesh() const { return mesh; }

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
    llvm::SmallVector<int64_t> shape(type.getShape());
    for (int64_t d = 0; d < type.getRank(); ++d)
      shape[d] = partSize(value, d);
    return type.clone(shape);
  }

  /// The size of dimension `dim` of `value` on one device (rounded up
  /// where it is split unevenly: the last parts are padded).
  int64_t partSize(mlir::Value value, int64_t dim) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    return llvm::divideCeil(
        type.getDimSize(dim),
        partsOf(spmd::getSharding(value), type.getRank())[dim]);
  }

  /// Whether any of `dims` of `value` is split unevenly (padded).
  bool anyPadded(mlir::Value value, llvm::ArrayRef<int64_t> dims) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    return llvm::any_of(
        dims, [&](int64_t d) { return type.getDimSize(d) % parts[d] != 0; });
  }

  /// Whether any of `dims` of `value` is split.
  bool anySplit(mlir::Value value, llvm::ArrayRef<int64_t> dims) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    llvm::SmallVector<int64_t> parts =
        partsOf(spmd::getSharding(value), type.getRank());
    return llvm::any_of(dims, [&](int64_t d) { return parts[d] > 1; });
  }

  /// Whether any dimension of `value` is split.
  bool anySplit(mlir::Value value) const {
    auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
    return anySplit(value,
                    llvm::to_vector(llvm::seq<int64_t>(0, type.getRank())));
  }

private:
  MeshAttr mesh;
};

mlir::LogicalResult unsupported(mlir::Operation *op, llvm::StringRef what) {
  return op->emitOpError() << what
                           << " is not supported by the partitioner yet";
}

/// A splat constant (on global types, its sharding set) becomes the same
/// splat of its local size.
void localSplat(graph::ConstantOp constant, const Localizer &localizer) {
  constant.setValueAttr(mlir::cast<mlir::DenseElementsAttr>(constant.getValue())
                            .resizeSplat(mlir::cast<mlir::ShapedType>(
                                localizer.localType(constant.getResult()))));
}

/// How one family of ops becomes local (as Shardy's global-to-local
/// conversion has a pattern per op family). The generic pattern, the
/// fallback, only lets the op's values take local types and masks the
/// padding of the dimensions its sharding rule reduces over; a family
/// overrides what differs.
class LocalizePattern {
public:
  virtual ~LocalizePattern() = default;

  virtual bool matches(mlir::Operation *op) const = 0;

  /// On global types: checks what new types alone cannot express, and
  /// adjusts attributes that name sizes.
  virtual mlir::LogicalResult prepare(mlir::Operation *op,
                                      const Localizer &localizer) const {
    return mlir::success();
  }

  /// Dimensions of operand `i` whose padding the op reads beyond its rule's
  /// reduction factors (indices, a window's input).
  virtual llvm::SmallVector<int64_t>
  paddedReads(mlir::Operation *op, unsigned i, const Localizer &) const {
    return {};
  }

  /// What the padding of operand `i` must hold for the op to ignore it: the
  /// identity of its reduction (0 for sums and contractions).
  virtual double paddingValue(mlir::Operation *op, unsigned i,
                              mlir::Type elementType, const Localizer &) const {
    return 0.0;
  }

  /// On local types, after every value took its own.
  virtual void finish(mlir::Operation *op, const Localizer &) const {}
};

template <typename... Ops> class OpFamily : public LocalizePattern {
public:
  bool matches(mlir::Operation *op) const override {
    return mlir::isa<Ops...>(op);
  }
};

/// Any op: types only.
class GenericPattern : public LocalizePattern {
public:
  bool matches(mlir::Operation *) const override { return true; }
};

/// Reshards and constraints must be collectives by now.
class LeftoverReshards
    : public OpFamily<spmd::ReshardOp, spmd::ShardingConstraintOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &) const override {
    return op->emitOpError() << "is left for --spmd-global-to-local; run "
                                "--spmd-reshard-to-collectives first";
  }
};

/// Where this device's part of dimension `dim` of `value` (split, laid out
/// as its sharding says) starts in the global tensor, as a scalar of
/// `element` type: its spmd.part_index times the part's size. Built at
/// `b`'s insertion point; unsharded (every device has its own).
mlir::Value partStart(graph::GraphBuilder &b, mlir::Value value, int64_t dim,
                      mlir::Type element, const Localizer &localizer) {
  int64_t size = localizer.partSize(value, dim);
  auto scalar = mlir::RankedTensorType::get({}, element);
  mlir::Value part = spmd::PartIndexOp::create(
      b.b, b.loc, scalar.clone(b.b.getI64Type()), spmd::getSharding(value),
      b.b.getI64IntegerAttr(dim));
  if (!element.isInteger(64))
    part = graph::ConvertOp::create(b.b, b.loc, scalar, part);
  return b.mul(part, b.splat(static_cast<double>(size), scalar));
}

/// Lays `value`, made by a rewrite on global types, out as `sharding` (a
/// splat constant takes its local size).
void layOut(mlir::Value value, ShardingAttr sharding,
            const Localizer &localizer) {
  spmd::setSharding(value, sharding);
  if (auto constant = value.getDefiningOp<graph::ConstantOp>())
    localSplat(constant, localizer);
}

/// Lays each of `values` out as `sharding` where it has the shape of
/// `like` (and leaves the others, and all without a sharding, whole:
/// scalars, replicated values).
void shardLike(llvm::ArrayRef<mlir::Value> values, mlir::Value like,
               ShardingAttr sharding, const Localizer &localizer) {
  if (!sharding)
    return;
  auto shape = mlir::cast<mlir::RankedTensorType>(like.getType()).getShape();
  for (mlir::Value value : values)
    if (mlir::cast<mlir::RankedTensorType>(value.getType()).getShape() == shape)
      layOut(value, sharding, localizer);
}

/// The values `from` (inclusive) up to `to` (exclusive) define, in order.
llvm::SmallVector<mlir::Value> valuesBetween(mlir::Operation *from,
                                             mlir::Operation *to) {
  llvm::SmallVector<mlir::Value> values;
  for (mlir::Operation *op = from; op && op != to; op = op->getNextNode())
    values.append(op->result_begin(), op->result_end());
  return values;
}

/// An iota counts from the global origin: split along its counting
/// dimension, each device adds where its part starts.
class Iotas : public OpFamily<graph::IotaOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    auto iota = mlir::cast<graph::IotaOp>(op);
    int64_t dim = static_cast<int64_t>(iota.getDimension());
    ShardingAttr sharding = spmd::getSharding(iota.getResult());
    if (!localizer.anySplit(iota.getResult(), {dim}))
      return mlir::success();
    mlir::OpBuilder builder(op->getContext());
    builder.setInsertionPointAfter(op);
    graph::GraphBuilder b(builder, op->getLoc());
    auto type = iota.getType();
    mlir::Value start =
        partStart(b, iota.getResult(), dim, type.getElementType(), localizer);
    mlir::Operation *first = op->getNextNode();
    mlir::Value counted = b.add(iota.getResult(), b.spread(start, type));
    iota.getResult().replaceAllUsesExcept(counted, counted.getDefiningOp());
    shardLike(valuesBetween(first, counted.getDefiningOp()->getNextNode()),
              iota.getResult(), sharding, localizer);
    return mlir::success();
  }
};

/// A split splat constant is the same splat, smaller.
class Constants : public OpFamily<graph::ConstantOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    auto constant = mlir::cast<graph::ConstantOp>(op);
    if (!localizer.anySplit(constant.getResult()))
      return mlir::success();
    auto value = mlir::dyn_cast<mlir::DenseElementsAttr>(constant.getValue());
    if (!value || !value.isSplat())
      return unsupported(op, "splitting a non-splat constant");
    localSplat(constant, localizer);
    return mlir::success();
  }
};

class Reverses : public OpFamily<graph::ReverseOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    auto reverse = mlir::cast<graph::ReverseOp>(op);
    if (localizer.anySplit(reverse.getResult(), reverse.getDimensions()))
      return unsupported(op, "reversing a split dimension");
    return mlir::success();
  }
};

/// The spatial dimensions (2 and up) of an NC... tensor.
llvm::SmallVector<int64_t> spatialDims(mlir::Value value) {
  int64_t rank = mlir::cast<mlir::RankedTensorType>(value.getType()).getRank();
  return llvm::to_vector(llvm::seq<int64_t>(2, std::max<int64_t>(2, rank)));
}

class Resizes : public OpFamily<graph::ResizeOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    if (localizer.anySplit(op->getOperand(0), spatialDims(op->getOperand(0))) ||
        localizer.anySplit(op->getResult(0), spatialDims(op->getResult(0))))
      return unsupported(op, "a resize over a split spatial dimension");
    return mlir::success();
  }
};

/// A reduction's padding holds its identity.
class Reductions : public OpFamily<graph::ReduceOp> {
public:
  double paddingValue(mlir::Operation *op, unsigned, mlir::Type elementType,
                      const Localizer &) const override {
    bool isBool = elementType.isInteger(1);
    double infinity = std::numeric_limits<double>::infinity();
    switch (mlir::cast<graph::ReduceOp>(op).getKind()) {
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
};

/// A gather's indices: padding may hold any index, so it is masked. A
/// table split along the gathered axis (its sharding rule's reduction
/// factor: the result is a partial sum) has each device pick the rows it
/// holds, at the index less where its part starts, and zeros for indices
/// outside its part.
class Gathers : public OpFamily<graph::GatherOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    auto gather = mlir::cast<graph::GatherOp>(op);
    int64_t axis = static_cast<int64_t>(gather.getAxis());
    mlir::Value table = gather.getOperand(), indices = gather.getIndices();
    if (!localizer.anySplit(table, {axis}))
      return mlir::success();
    auto tableType = mlir::cast<mlir::RankedTensorType>(table.getType());
    auto indexType = mlir::cast<mlir::RankedTensorType>(indices.getType());
    auto resultType = gather.getType();
    int64_t rows = tableType.getDimSize(axis);
    int64_t local = localizer.partSize(table, axis);
    ShardingAttr indexSharding = spmd::getSharding(indices);
    ShardingAttr resultSharding = spmd::getSharding(gather.getResult());
    mlir::OpBuilder builder(op);
    graph::GraphBuilder b(builder, op->getLoc());
    mlir::Operation *previous = op->getPrevNode();
    // Negative indices count from the end of the whole axis.
    mlir::Value wrapped = b.wrapIndices(indices, rows);
    mlir::Operation *first =
        previous ? previous->getNextNode() : &op->getBlock()->front();
    mlir::Value zero = b.zerosLike(indices);
    mlir::Value start = b.spread(
        partStart(b, table, axis, indexType.getElementType(), localizer),
        indexType);
    mlir::Value shifted = b.sub(wrapped, start);
    mlir::Value mine = graph::AndOp::create(
        builder, op->getLoc(),
        b.compare(graph::ComparisonDirection::GE, shifted, zero),
        b.compare(graph::ComparisonDirection::LT, shifted,
                  b.splatLike(static_cast<double>(local), indices)));
    mlir::Value safe = b.select(mine, shifted, zero);
    shardLike(valuesBetween(first, op), indices, indexSharding, localizer);
    gather.getIndicesMutable().assign(safe);
    builder.setInsertionPointAfter(op);
    auto maskType =
        mlir::RankedTensorType::get(resultType.getShape(), builder.getI1Type());
    // The mask spreads over the result's other dimensions.
    llvm::SmallVector<int64_t> others;
    for (int64_t d = 0; d < resultType.getRank(); ++d)
      if (d < axis || d >= axis + indexType.getRank())
        others.push_back(d);
    mlir::Value masked =
        b.where(b.unreduce(mine, maskType, others), gather.getResult());
    mlir::Operation *maskedOp = masked.getDefiningOp();
    gather.getResult().replaceAllUsesExcept(masked, maskedOp);
    // The mask and the zeros are laid out like the result without its
    // partial axes; the masked result is the partial sum.
    if (resultSharding) {
      auto whole = ShardingAttr::get(op->getContext(), resultSharding.getMesh(),
                                     resultSharding.getDims(),
                                     resultSharding.getReplicated(), {});
      for (mlir::Value value : valuesBetween(op->getNextNode(), maskedOp))
        layOut(value, whole, localizer);
      spmd::setSharding(masked, resultSharding);
    }
    return mlir::success();
  }

  llvm::SmallVector<int64_t> paddedReads(mlir::Operation *op, unsigned i,
                                         const Localizer &) const override {
    if (i != 1)
      return {};
    return llvm::to_vector(llvm::seq<int64_t>(
        0, mlir::cast<mlir::RankedTensorType>(op->getOperand(1).getType())
               .getRank()));
  }
};

/// A split dimension of a slice is one it leaves whole (its rule makes
/// sliced dimensions need-replication): its limit is the local size.
class Slices : public OpFamily<graph::SliceOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    auto slice = mlir::cast<graph::SliceOp>(op);
    llvm::SmallVector<int64_t> limits(slice.getLimitIndices());
    auto type = mlir::cast<mlir::RankedTensorType>(slice.getType());
    llvm::SmallVector<int64_t> parts =
        localizer.partsOf(spmd::getSharding(slice.getResult()), type.getRank());
    for (int64_t d = 0; d < type.getRank(); ++d)
      limits[d] = llvm::divideCeil(limits[d], parts[d]);
    slice.setLimitIndices(limits);
    return mlir::success();
  }
};

/// Windows (convolutions, pools): a split spatial dimension takes halos
/// from the neighbours, the input and the result split alike.
class Windows : public OpFamily<graph::ConvolutionOp, graph::MaxPoolOp,
                                graph::AvgPoolOp> {
public:
  mlir::LogicalResult prepare(mlir::Operation *op,
                              const Localizer &localizer) const override {
    if (auto conv = mlir::dyn_cast<graph::ConvolutionOp>(op))
      if (mlir::failed(localGroups(conv, localizer)))
        return mlir::failure();
    ShardingAttr in = spmd::getSharding(op->getOperand(0));
    ShardingAttr out = spmd::getSharding(op->getResult(0));
    for (int64_t d : spatialDims(op->getOperand(0))) {
      if (!localizer.anySplit(op->getOperand(0), {d}) &&
          !localizer.anySplit(op->getResult(0), {d}))
        continue;
      std::optional<spmd::WindowHalo> halo = spmd::windowHalo(op, d);
      if (!halo || !in || !out ||
          in.getDims()[d].getAxes() != out.getDims()[d].getAxes())
        return unsupported(
            op, "a window over a split spatial dimension that halos cannot "
                "serve (input and result split apart)");
      auto sizeOf = [&](mlir::Value value) {
        return mlir::cast<mlir::RankedTensorType>(value.getType())
            .getDimSize(d);
      };
      int64_t parts = in.getDims()[d].numParts(localizer.getMesh());
      int64_t inPart = llvm::divideCeil(sizeOf(op->getOperand(0)), parts);
      int64_t outPart = llvm::divideCeil(sizeOf(op->getResult(0)), parts);
      if (inPart != halo->stride * outPart || std::abs(halo->low) > inPart ||
          std::abs(halo->high) > inPart)
        return unsupported(
            op, "a window over a split spatial dimension whose parts do not "
                "line up (uneven, with a stride) or whose halo is wider than "
                "a part");
    }
    return mlir::success();
  }

  /// The input's split spatial dimensions: their padding becomes the
  /// window's padding value, which halos then carry to the neighbours.
  llvm::SmallVector<int64_t>
  paddedReads(mlir::Operation *op, unsigned i,
              const Localizer &localizer) const override {
    if (i != 0 || !splitWindow(op, localizer))
      return {};
    return spatialDims(op->getOperand(0));
  }

  double paddingValue(mlir::Operation *op, unsigned i, mlir::Type,
                      const Localizer &localizer) const override {
    std::optional<spmd::WindowHalo> window = splitWindow(op, localizer);
    return i == 0 && window ? window->padding : 0.0;
  }

  /// Gives the input, along each split spatial dimension, the halo its
  /// windows reach into, and leaves the op itself no padding there (the
  /// halos hold it).
  void finish(mlir::Operation *op, const Localizer &) const override {
    mlir::Value input = op->getOperand(0);
    ShardingAttr sharding = spmd::getSharding(input);
    if (!sharding)
      return;
    mlir::OpBuilder builder(op);
    auto zeroAt = [&](llvm::StringRef name, int64_t d) {
      auto values = mlir::cast<mlir::DenseI64ArrayAttr>(
          op->getInherentAttr(name).value_or(mlir::Attribute()));
      llvm::SmallVector<int64_t> updated(values.asArrayRef());
      updated[d - 2] = 0;
      op->setInherentAttr(builder.getStringAttr(name),
                          builder.getDenseI64ArrayAttr(updated));
    };
    for (int64_t d : spatialDims(input)) {
      llvm::ArrayRef<spmd::AxisRefAttr> axes = sharding.getDims()[d].getAxes();
      std::optional<spmd::WindowHalo> halo = spmd::windowHalo(op, d);
      if (axes.empty() || !halo)
        continue;
      // Chained along each split dimension in turn, a later exchange
      // carries the earlier one's rows: corners come from diagonal
      // neighbours.
      auto type = mlir::cast<mlir::RankedTensorType>(input.getType());
      llvm::SmallVector<int64_t> shape(type.getShape());
      shape[d] += halo->low + halo->high;
      llvm::SmallVector<std::string> names;
      for (spmd::AxisRefAttr axis : axes)
        names.push_back(spmd::axisName(axis));
      auto rows = [](int64_t count) {
        return std::to_string(count) + (count == 1 ? " row" : " rows");
      };
      std::string why = "halo of " + spmd::describeOp(op) +
                        ": its windows along dimension " + std::to_string(d) +
                        ", split over " + llvm::join(names, ",") + ", reach " +
                        rows(halo->low) + " into the previous part and " +
                        std::to_string(halo->high) + " into the next" +
                        (halo->low < 0 || halo->high < 0
                             ? " (a negative count drops rows of its own)"
                             : "");
      input = spmd::HaloExchangeOp::create(
          builder, spmd::withCollectiveOrigin(op->getLoc(), why, input),
          type.clone(shape), input, sharding.getMesh(),
          builder.getStrArrayAttr(
              llvm::SmallVector<llvm::StringRef>(names.begin(), names.end())),
          builder.getI64IntegerAttr(d), builder.getI64IntegerAttr(halo->low),
          builder.getI64IntegerAttr(halo->high),
          builder.getF64FloatAttr(halo->padding));
      zeroAt("padding_low", d);
      zeroAt("padding_high", d);
    }
    // With the halos, every split dimension's windows fit exactly
    // (ceil_mode rounds nothing up there), so ceil_mode stays for the
    // others.
    op->setOperand(0, input);
  }

private:
  /// A grouped convolution whose channels are split holds whole groups on
  /// each device (the group factor is the major factor of its channels,
  /// its rule says): as many as the input channels' parts leave once the
  /// kernel's input channels (a group's own) take theirs.
  static mlir::LogicalResult localGroups(graph::ConvolutionOp conv,
                                         const Localizer &localizer) {
    int64_t groups = conv.getFeatureGroupCount();
    if (groups == 1)
      return mlir::success();
    auto partsOfDim = [&](mlir::Value value, int64_t d) {
      auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
      return localizer.partsOf(spmd::getSharding(value), type.getRank())[d];
    };
    int64_t inParts = partsOfDim(conv.getInput(), 1);
    int64_t kernelParts = partsOfDim(conv.getKernel(), 1);
    int64_t outParts = partsOfDim(conv.getResult(), 1);
    int64_t channels = conv.getInput().getType().getDimSize(1);
    int64_t perGroup = conv.getKernel().getType().getDimSize(1);
    int64_t outChannels = conv.getType().getDimSize(1);
    if (inParts % kernelParts != 0 || channels % inParts != 0 ||
        perGroup % kernelParts != 0 || outChannels % outParts != 0 ||
        groups % (inParts / kernelParts) != 0 ||
        outParts % (inParts / kernelParts) != 0)
      return unsupported(conv, "a grouped convolution whose channels are "
                               "not split into whole groups");
    conv.setFeatureGroupCount(groups / (inParts / kernelParts));
    return mlir::success();
  }

  /// The window of the first split spatial dimension of the input, if any.
  static std::optional<spmd::WindowHalo>
  splitWindow(mlir::Operation *op, const Localizer &localizer) {
    for (int64_t d : spatialDims(op->getOperand(0)))
      if (localizer.anySplit(op->getOperand(0), {d}))
        if (std::optional<spmd::WindowHalo> window = spmd::windowHalo(op, d))
          return window;
    return std::nullopt;
  }
};

/// The patterns, most specific first; the generic one last.
std::vector<std::unique_ptr<LocalizePattern>> localizePatterns() {
  std::vector<std::unique_ptr<LocalizePattern>> patterns;
  patterns.push_back(std::make_unique<LeftoverReshards>());
  patterns.push_back(std::make_unique<Iotas>());
  patterns.push_back(std::make_unique<Constants>());
  patterns.push_back(std::make_unique<Reverses>());
  patterns.push_back(std::make_unique<Resizes>());
  patterns.push_back(std::make_unique<Reductions>());
  patterns.push_back(std::make_unique<Gathers>());
  patterns.push_back(std::make_unique<Slices>());
  patterns.push_back(std::make_unique<Windows>());
  patterns.push_back(std::make_unique<GenericPattern>());
  return patterns;
}

/// Masks the padding of `op`'s operands where it would leak into a result:
/// dimensions it reduces over (its rule's reduction factors) and those the
/// pattern says it reads (indices, windows).
void maskPadding(mlir::Operation *op, const LocalizePattern &pattern,
                 const Localizer &localizer) {
  spmd::OpShardingRuleAttr rule = spmd::getShardingRule(op);
  for (mlir::OpOperand &use : op->getOpOperands()) {
    mlir::Value operand = use.get();
    auto type = mlir::dyn_cast<mlir::RankedTensorType>(operand.getType());
    if (!type)
      continue;
    unsigned i = use.getOperandNumber();
    llvm::SmallVector<int64_t> dims = pattern.paddedReads(op, i, localizer);
    for (int64_t d = 0; rule && d < type.getRank(); ++d)
      if (llvm::any_of(rule.factorsOf(false, i, d),
                       [&](int64_t f) { return rule.isReduction(f); }))
        dims.push_back(d);
    if (dims.empty() || !localizer.anyPadded(operand, dims))
      continue;
    double identity =
        pattern.paddingValue(op, i, type.getElementType(), localizer);
    // Arguments arrive with zeros in their padding (runtime/proto).
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
    std::vector<std::unique_ptr<LocalizePattern>> patterns = localizePatterns();

    // Checks, attributes and masks first, on global types.
    mlir::Block &body = function.getBody().front();
    llvm::SmallVector<std::pair<mlir::Operation *, const LocalizePattern *>>
        ops;
    for (mlir::Operation &op : body)
      for (const std::unique_ptr<LocalizePattern> &pattern : patterns)
        if (pattern->matches(&op)) {
          ops.emplace_back(&op, pattern.get());
          break;
        }
    for (auto [op, pattern] : ops) {
      if (mlir::failed(pattern->prepare(op, localizer)))
        return signalPassFailure();
      maskPadding(op, *pattern, localizer);
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
    for (auto [op, pattern] : ops)
      pattern->finish(op, localizer);

    function.setType(mlir::FunctionType::get(function.getContext(),
                                             body.getArgumentTypes(),
                                             ret->getOperandTypes()));
  }
};

} // namespace
} // namespace tessel::partition
