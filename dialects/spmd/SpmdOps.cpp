//===- SpmdOps.cpp - Ops of the spmd dialect ------------------------------===//

#include "dialects/spmd/SpmdOps.h"
#include "llvm/ADT/StringSet.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;

/// `tensor<8xf32>` when operand and result types agree (global shapes),
/// else `tensor<4xf32> -> tensor<8xf32>` (local parts).
static ParseResult parseCollectiveTypes(OpAsmParser &parser, Type &input,
                                        Type &result) {
  if (parser.parseType(input))
    return failure();
  result = input;
  if (succeeded(parser.parseOptionalArrow()))
    return parser.parseType(result);
  return success();
}

static void printCollectiveTypes(OpAsmPrinter &printer, Operation *, Type input,
                                 Type result) {
  printer << input;
  if (input != result)
    printer << " -> " << result;
}

#define GET_OP_CLASSES
#include "dialects/spmd/SpmdOps.cpp.inc"

namespace tessel::spmd {

namespace {
/// `name` (as axisName writes it) is an axis or a sub-axis of `mesh`.
LogicalResult verifyAxisName(Operation *op, StringRef name, MeshAttr mesh,
                             FlatSymbolRefAttr meshName) {
  AxisRefAttr axis = parseAxisName(op->getContext(), name);
  std::optional<int64_t> size =
      axis ? mesh.axisSize(axis.getName()) : std::nullopt;
  if (!size)
    return op->emitOpError() << "names axis \"" << name << "\", which mesh "
                             << meshName << " does not have";
  if (axis.isSubAxis() &&
      (*size % (axis.getPreSize() * axis.getSubSize()) != 0))
    return op->emitOpError()
           << "names sub-axis \"" << name << "\", which does not divide axis \""
           << axis.getName() << "\" of size " << *size;
  return success();
}

template <typename OpTy> LogicalResult verifyShardingChange(OpTy op) {
  return verifySharding(op, op.getSharding(), op.getType());
}
} // namespace

LogicalResult ShardingConstraintOp::verify() {
  return verifyShardingChange(*this);
}

LogicalResult ReshardOp::verify() { return verifyShardingChange(*this); }

LogicalResult MaskPaddingOp::verify() {
  if (failed(verifySharding(*this, getSharding(), getType())))
    return failure();
  if (static_cast<int64_t>(getGlobalShape().size()) != getType().getRank())
    return emitOpError() << "has a global shape of rank "
                         << getGlobalShape().size() << " for a tensor of rank "
                         << getType().getRank();
  return success();
}

LogicalResult PartIndexOp::verify() {
  int64_t dim = getDimAttr().getInt();
  int64_t rank = static_cast<int64_t>(getSharding().getDims().size());
  if (dim < 0 || dim >= rank)
    return emitOpError() << "dimension " << dim
                         << " is out of range for a sharding of rank " << rank;
  if (getType().getElementType().isInteger(1))
    return emitOpError() << "counts parts in a boolean";
  return success();
}

LogicalResult HaloExchangeOp::verify() {
  auto inType = mlir::cast<RankedTensorType>(getInput().getType());
  auto outType = mlir::cast<RankedTensorType>(getType());
  // I64Attr getters are unsigned: the attributes hold signed counts.
  int64_t dim = getDimAttr().getInt(), rank = inType.getRank();
  int64_t low = getLowAttr().getInt(), high = getHighAttr().getInt();
  if (dim < 0 || dim >= rank)
    return emitOpError() << "dimension " << dim << " is out of range for "
                         << inType;
  int64_t n = inType.getDimSize(dim);
  if (std::abs(low) > n || std::abs(high) > n)
    return emitOpError() << "halos of " << low << " and " << high
                         << " rows reach past the neighbours' " << n;
  SmallVector<int64_t> shape(inType.getShape());
  shape[dim] = n + low + high;
  if (outType != inType.clone(shape))
    return emitOpError() << "result " << outType << " should be "
                         << inType.clone(shape);
  FailureOr<MeshAttr> mesh = lookupMesh(*this, getMeshAttr());
  if (failed(mesh))
    return failure();
  for (Attribute name : getAxes())
    if (failed(verifyAxisName(*this, mlir::cast<StringAttr>(name).getValue(),
                              *mesh, getMeshAttr())))
      return failure();
  return success();
}

/// Verifies that `axes` name distinct axes of the mesh `meshName` refers to;
/// sets `devices` to the number of devices along them.
static LogicalResult verifyRingAxes(Operation *op, FlatSymbolRefAttr meshName,
                                    ArrayAttr axes, int64_t &devices) {
  FailureOr<MeshAttr> mesh = lookupMesh(op, meshName);
  if (failed(mesh))
    return failure();
  if (axes.empty())
    return op->emitOpError() << "needs at least one axis";
  devices = 1;
  llvm::StringSet<> seen;
  for (Attribute name : axes) {
    StringRef axis = mlir::cast<StringAttr>(name).getValue();
    if (failed(verifyAxisName(op, axis, *mesh, meshName)))
      return failure();
    if (!seen.insert(axis).second)
      return op->emitOpError() << "names axis '" << axis << "' twice";
    devices *= parseAxisName(op->getContext(), axis).size(*mesh);
  }
  return success();
}

LogicalResult RingShiftOp::verify() {
  int64_t devices;
  return verifyRingAxes(*this, getMeshAttr(), getAxes(), devices);
}

LogicalResult RingPermuteOp::verify() {
  int64_t devices;
  if (failed(verifyRingAxes(*this, getMeshAttr(), getAxes(), devices)))
    return failure();
  llvm::ArrayRef<int64_t> targets = getTargets();
  llvm::SmallVector<bool> taken(devices, false);
  if (int64_t(targets.size()) != devices)
    return emitOpError() << "has " << targets.size()
                         << " targets for a ring of " << devices;
  for (int64_t target : targets) {
    if (target < 0 || target >= devices || taken[target])
      return emitOpError() << "targets must be a permutation of 0.."
                           << devices - 1;
    taken[target] = true;
  }
  return success();
}

LogicalResult CollectiveDoneOp::verify() {
  mlir::Operation *start = getStart();
  if (!start || !start->hasAttr(SpmdDialect::kAsyncAttr))
    return emitOpError()
           << "waits for a value that no asynchronous collective made";
  if (start->getBlock() != getOperation()->getBlock())
    return emitOpError() << "must be in the block of its collective";
  return success();
}

mlir::Value CollectiveDoneOp::getViewSource() { return getStarted(); }

LogicalResult RingBlockOp::verify() {
  auto inType = mlir::cast<RankedTensorType>(getInput().getType());
  auto outType = mlir::cast<RankedTensorType>(getType());
  int64_t devices;
  if (failed(verifyRingAxes(*this, getMeshAttr(), getAxes(), devices)))
    return failure();
  int64_t dim = getDimAttr().getInt(), rank = inType.getRank();
  if (dim < 0 || dim >= rank)
    return emitOpError() << "dimension " << dim << " is out of range for "
                         << inType;
  SmallVector<int64_t> shape(inType.getShape());
  if (shape[dim] % devices != 0)
    return emitOpError() << "dimension " << dim << " of " << inType
                         << " is not " << devices << " equal blocks";
  shape[dim] /= devices;
  if (outType != inType.clone(shape))
    return emitOpError() << "result " << outType << " should be "
                         << inType.clone(shape);
  return success();
}

/// The local shape of `type` on one device, splitting dimensions along the
/// `manual` axes of `sharding`; nullopt if an axis does not divide.
static std::optional<RankedTensorType> localType(RankedTensorType type,
                                                 ShardingAttr sharding,
                                                 MeshAttr mesh,
                                                 ArrayRef<Attribute> manual) {
  SmallVector<int64_t> shape(type.getShape());
  for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
    for (AxisRefAttr axis : dim.getAxes()) {
      bool isManual = llvm::any_of(manual, [&](Attribute name) {
        return mlir::cast<StringAttr>(name).getValue() == axis.getName();
      });
      if (!isManual)
        continue;
      int64_t size = axis.size(mesh);
      if (shape[d] % size != 0)
        return std::nullopt;
      shape[d] /= size;
    }
  return type.clone(shape);
}

LogicalResult ManualComputationOp::verify() {
  Block &body = getBody().front();
  if (getInShardings().size() != getInputs().size() ||
      getOutShardings().size() != getResults().size())
    return emitOpError() << "needs one sharding per input and per result";
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "has " << getInputs().size() << " inputs but "
                         << body.getNumArguments() << " region arguments";
  auto check = [&](Value global, Attribute shardingAttr, Type local,
                   const char *what, size_t index) -> LogicalResult {
    auto sharding = mlir::cast<ShardingAttr>(shardingAttr);
    if (failed(verifySharding(*this, sharding, global.getType())))
      return failure();
    FailureOr<MeshAttr> mesh = lookupMesh(*this, sharding.getMesh());
    if (failed(mesh))
      return failure();
    std::optional<RankedTensorType> expected =
        localType(mlir::cast<RankedTensorType>(global.getType()), sharding,
                  *mesh, getManualAxes().getValue());
    if (!expected)
      return emitOpError() << what << " " << index
                           << ": a manual axis does not divide its dimension";
    if (*expected != local)
      return emitOpError() << what << " " << index << " is " << local
                           << " in the body, expected the local " << *expected;
    return success();
  };
  for (auto [i, input] : llvm::enumerate(getInputs()))
    if (failed(check(input, getInShardings()[i], body.getArgument(i).getType(),
                     "input", i)))
      return failure();
  auto terminator = mlir::cast<ReturnOp>(body.getTerminator());
  if (terminator.getValues().size() != getResults().size())
    return emitOpError() << "the body returns " << terminator.getValues().size()
                         << " values for " << getResults().size() << " results";
  for (auto [i, result] : llvm::enumerate(getResults()))
    if (failed(check(result, getOutShardings()[i],
                     terminator.getValues()[i].getType(), "result", i)))
      return failure();
  return success();
}

namespace {
/// Every axis a collective names must be in the mesh of its out_sharding;
/// operand and result are the same global type, or local parts of one
/// global shape under the input's and the output's shardings.
LogicalResult verifyCollective(Operation *op, ShardingAttr out, Type type,
                               ArrayRef<Attribute> axisLists) {
  if (failed(verifySharding(op, out, type)))
    return failure();
  FailureOr<MeshAttr> mesh = lookupMesh(op, out.getMesh());
  if (failed(mesh))
    return failure();
  auto inType = mlir::cast<RankedTensorType>(op->getOperand(0).getType());
  auto outType = mlir::cast<RankedTensorType>(type);
  if (inType != outType) {
    auto parts = [&](ShardingAttr sharding, int64_t d) {
      return sharding ? sharding.getDims()[d].numParts(*mesh) : int64_t(1);
    };
    // The operand's layout, where it is still recorded (lowering may have
    // rebuilt its producer); without it the types cannot be related.
    ShardingAttr in = getSharding(op->getOperand(0));
    if (!in)
      return success();
    bool consistent = inType.getElementType() == outType.getElementType() &&
                      inType.getRank() == outType.getRank();
    // Local sizes are ceil(global / parts): some global size must give
    // both.
    for (int64_t d = 0; consistent && d < inType.getRank(); ++d) {
      int64_t inParts = parts(in, d), outParts = parts(out, d);
      int64_t inSize = inType.getDimSize(d), outSize = outType.getDimSize(d);
      int64_t lowest =
          std::max((inSize - 1) * inParts + 1, (outSize - 1) * outParts + 1);
      consistent = lowest <= std::min(inSize * inParts, outSize * outParts);
    }
    if (!consistent)
      return op->emitOpError()
             << "operand " << inType << " and result " << outType
             << " are neither the same global type nor local parts of one "
                "shape under the operand's and the result's shardings";
  }
  for (Attribute list : axisLists) {
    auto names = mlir::dyn_cast<ArrayAttr>(list);
    for (Attribute name : names ? names.getValue() : ArrayRef<Attribute>(list))
      if (auto axis = mlir::dyn_cast<StringAttr>(name))
        if (failed(verifyAxisName(op, axis.getValue(), *mesh, out.getMesh())))
          return failure();
  }
  return success();
}
} // namespace

LogicalResult AllGatherOp::verify() {
  return verifyCollective(*this, getOutSharding(), getType(),
                          getGatheringAxes().getValue());
}
LogicalResult AllSliceOp::verify() {
  return verifyCollective(*this, getOutSharding(), getType(),
                          getSlicingAxes().getValue());
}
LogicalResult AllReduceOp::verify() {
  return verifyCollective(*this, getOutSharding(), getType(),
                          getReductionAxes().getValue());
}
LogicalResult ReduceScatterOp::verify() {
  return verifyCollective(*this, getOutSharding(), getType(),
                          getScatterAxes().getValue());
}
LogicalResult AllToAllOp::verify() {
  return verifyCollective(*this, getOutSharding(), getType(),
                          getAxes().getValue());
}
LogicalResult CollectivePermuteOp::verify() {
  if (failed(verifyCollective(*this, getOutSharding(), getType(), {})) ||
      failed(verifySharding(*this, getInSharding(), getInput().getType())))
    return failure();
  if (getInSharding().getMesh() != getOutSharding().getMesh())
    return emitOpError() << "permutes between meshes "
                         << getInSharding().getMesh() << " and "
                         << getOutSharding().getMesh();
  FailureOr<MeshAttr> mesh = lookupMesh(*this, getOutSharding().getMesh());
  if (failed(mesh))
    return failure();
  for (auto [d, in, out] :
       llvm::enumerate(getInSharding().getDims(), getOutSharding().getDims())) {
    int64_t inParts = in.numParts(*mesh), outParts = out.numParts(*mesh);
    if (inParts != outParts)
      return emitOpError() << "dimension " << d << " has " << inParts
                           << " parts before and " << outParts
                           << " after; a permutation keeps part counts";
  }
  return success();
}

namespace {

/// Whether every per-dimension axis list in `lists` is empty.
bool noAxes(ArrayAttr lists) {
  return llvm::all_of(lists, [](Attribute list) {
    return mlir::cast<ArrayAttr>(list).empty();
  });
}

/// The axis names of per-dimension lists, in order.
SmallVector<StringRef> flatten(ArrayAttr lists) {
  SmallVector<StringRef> names;
  for (Attribute list : lists)
    for (Attribute name : mlir::cast<ArrayAttr>(list))
      names.push_back(mlir::cast<StringAttr>(name).getValue());
  return names;
}

} // namespace

OpFoldResult AllGatherOp::fold(FoldAdaptor) {
  return noAxes(getGatheringAxes()) ? getInput() : OpFoldResult();
}
OpFoldResult AllSliceOp::fold(FoldAdaptor) {
  return noAxes(getSlicingAxes()) ? getInput() : OpFoldResult();
}
OpFoldResult AllReduceOp::fold(FoldAdaptor) {
  return getReductionAxes().empty() ? getInput() : OpFoldResult();
}
OpFoldResult ReduceScatterOp::fold(FoldAdaptor) {
  return noAxes(getScatterAxes()) ? getInput() : OpFoldResult();
}
OpFoldResult AllToAllOp::fold(FoldAdaptor) {
  return getAxes().empty() ? getInput() : OpFoldResult();
}
OpFoldResult CollectivePermuteOp::fold(FoldAdaptor) {
  return getInSharding() == getOutSharding() ? getInput() : OpFoldResult();
}

namespace {

/// Per dimension, `major`'s axes then `minor`'s.
ArrayAttr concatPerDimension(Builder &builder, ArrayAttr major,
                             ArrayAttr minor) {
  SmallVector<Attribute> dims;
  for (auto [a, b] : llvm::zip(major, minor)) {
    SmallVector<Attribute> axes(mlir::cast<ArrayAttr>(a).getValue());
    llvm::append_range(axes, mlir::cast<ArrayAttr>(b).getValue());
    dims.push_back(builder.getArrayAttr(axes));
  }
  return builder.getArrayAttr(dims);
}

/// How many dimensions have axes.
int64_t dimensionsWithAxes(ArrayAttr lists) {
  return llvm::count_if(lists, [](Attribute list) {
    return !mlir::cast<ArrayAttr>(list).empty();
  });
}

} // namespace

void AllGatherOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *context) {
  // The inner gather took the minor-most axes, the outer the next ones.
  // Executables gather along one dimension per collective, so only gathers
  // along the same one merge.
  patterns.add(+[](AllGatherOp outer, PatternRewriter &rewriter) {
    auto inner = outer.getInput().getDefiningOp<AllGatherOp>();
    if (!inner || !inner->hasOneUse())
      return failure();
    ArrayAttr merged = concatPerDimension(rewriter, outer.getGatheringAxes(),
                                          inner.getGatheringAxes());
    if (dimensionsWithAxes(merged) > 1)
      return failure();
    Location loc = rewriter.getFusedLoc({inner.getLoc(), outer.getLoc()});
    rewriter
        .replaceOpWithNewOp<AllGatherOp>(outer, outer.getType(),
                                         inner.getInput(), merged,
                                         outer.getOutSharding())
        ->setLoc(loc);
    return success();
  });
}

void AllReduceOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *context) {
  patterns.add(+[](AllReduceOp outer, PatternRewriter &rewriter) {
    auto inner = outer.getInput().getDefiningOp<AllReduceOp>();
    if (!inner || !inner->hasOneUse() ||
        inner.getReduction() != outer.getReduction())
      return failure();
    SmallVector<Attribute> axes(inner.getReductionAxes().getValue());
    llvm::append_range(axes, outer.getReductionAxes().getValue());
    Location loc = rewriter.getFusedLoc({inner.getLoc(), outer.getLoc()});
    rewriter
        .replaceOpWithNewOp<AllReduceOp>(
            outer, outer.getType(), inner.getInput(),
            rewriter.getArrayAttr(axes), outer.getReductionAttr(),
            outer.getOutSharding())
        ->setLoc(loc);
    return success();
  });
}

void AllSliceOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                             MLIRContext *context) {
  // The inner slice added the major axes, the outer the minor ones.
  patterns.add(+[](AllSliceOp outer, PatternRewriter &rewriter) {
    auto inner = outer.getInput().getDefiningOp<AllSliceOp>();
    if (!inner || !inner->hasOneUse())
      return failure();
    Location loc = rewriter.getFusedLoc({inner.getLoc(), outer.getLoc()});
    rewriter
        .replaceOpWithNewOp<AllSliceOp>(
            outer, outer.getType(), inner.getInput(),
            concatPerDimension(rewriter, inner.getSlicingAxes(),
                               outer.getSlicingAxes()),
            outer.getOutSharding())
        ->setLoc(loc);
    return success();
  });
  patterns.add(+[](AllSliceOp slice, PatternRewriter &rewriter) {
    auto reduce = slice.getInput().getDefiningOp<AllReduceOp>();
    if (!reduce || !reduce->hasOneUse())
      return failure();
    // One dimension only: a reduce_scatter scatters along one.
    if (llvm::count_if(slice.getSlicingAxes(), [](Attribute list) {
          return !mlir::cast<ArrayAttr>(list).empty();
        }) != 1)
      return failure();
    SmallVector<StringRef> sliced = flatten(slice.getSlicingAxes());
    SmallVector<StringRef> reduced;
    for (Attribute name : reduce.getReductionAxes())
      reduced.push_back(mlir::cast<StringAttr>(name).getValue());
    llvm::sort(sliced);
    llvm::sort(reduced);
    if (sliced != reduced)
      return failure();
    Location loc = rewriter.getFusedLoc({reduce.getLoc(), slice.getLoc()});
    rewriter
        .replaceOpWithNewOp<ReduceScatterOp>(
            slice, slice.getType(), reduce.getInput(), slice.getSlicingAxes(),
            reduce.getReductionAttr(), slice.getOutSharding())
        ->setLoc(loc);
    return success();
  });
}

} // namespace tessel::spmd
