//===- RingAttention.cpp - Attention over a ring of key/value blocks ------===//
//
// An attention whose keys and values are gathered along their sequence
// dimension becomes blockwise attention over a ring (Passes.td,
// --spmd-ring-attention).
//
//===----------------------------------------------------------------------===//

#include <limits>

#include "dialects/graph/GraphBuilders.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/DeviceGroups.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/partition/Passes.h"
#include "passes/partition/ReshardPlan.h"

namespace tessel::partition {

#define GEN_PASS_DEF_RINGATTENTIONPASS
#include "passes/partition/Passes.h.inc"

namespace {

using mlir::RankedTensorType;
using mlir::Value;

RankedTensorType typeOf(Value value) {
  return mlir::cast<RankedTensorType>(value.getType());
}

/// The one dimension an all_gather gathers, its axes, and the gather.
struct Gathered {
  spmd::AllGatherOp gather;
  int64_t dim = -1;
  mlir::ArrayAttr axes;
};

/// `value` as made by an all_gather along exactly one dimension.
std::optional<Gathered> gatheredAlongOneDim(Value value) {
  auto gather = value.getDefiningOp<spmd::AllGatherOp>();
  if (!gather)
    return std::nullopt;
  Gathered found;
  found.gather = gather;
  for (auto [d, list] : llvm::enumerate(gather.getGatheringAxes())) {
    auto axes = mlir::cast<mlir::ArrayAttr>(list);
    if (axes.empty())
      continue;
    if (found.dim >= 0)
      return std::nullopt;
    found.dim = d;
    found.axes = axes;
  }
  if (found.dim < 0)
    return std::nullopt;
  return found;
}

/// The devices along `axes` of the function's mesh.
int64_t ringSize(mlir::Operation *op, mlir::ArrayAttr axes,
                 mlir::FlatSymbolRefAttr mesh) {
  mlir::FailureOr<spmd::MeshAttr> attr = spmd::lookupMesh(op, mesh);
  return mlir::failed(attr) ? 0 : partsOf(spmd::namesOf(axes), *attr);
}

/// One attention found: scores = q·k (one dot_general with one free
/// dimension on each side, so the scores are [batch..., queries, keys]),
/// elementwise ops on the scores (scaling, masking), a softmax over the
/// keys, and out = p·v contracting the keys.
struct Attention {
  graph::DotGeneralOp scores;
  llvm::SmallVector<mlir::Operation *> chain; // scores to softmax, in order
  graph::SoftmaxOp softmax;
  graph::DotGeneralOp out;
  Gathered keys, values;
  mlir::FlatSymbolRefAttr mesh;
  int64_t devices = 0;
};

bool isScoreOp(mlir::Operation *op) {
  return mlir::isa<graph::MulOp, graph::DivOp, graph::AddOp, graph::SubOp,
                   graph::SelectOp>(op);
}

std::optional<Attention> match(graph::SoftmaxOp softmax) {
  Attention found;
  found.softmax = softmax;
  RankedTensorType scoresType = typeOf(softmax.getResult());
  int64_t rank = scoresType.getRank();
  if (rank < 2 || int64_t(softmax.getDimension()) != rank - 1 ||
      !softmax.getResult().hasOneUse())
    return std::nullopt;
  // out = p·v: p's batch dimensions first, its keys contracted.
  found.out = mlir::dyn_cast<graph::DotGeneralOp>(
      *softmax.getResult().getUsers().begin());
  if (!found.out || found.out.getLhs() != softmax.getResult() ||
      found.out.getLhsContractingDimensions() !=
          llvm::ArrayRef<int64_t>{rank - 1} ||
      found.out.getLhsBatchingDimensions() !=
          llvm::ArrayRef<int64_t>(
              llvm::to_vector(llvm::seq<int64_t>(0, rank - 2))))
    return std::nullopt;
  // Back from the softmax through single-use elementwise ops to q·k.
  Value value = softmax.getOperand();
  while (true) {
    mlir::Operation *op = value.getDefiningOp();
    if (!op || !value.hasOneUse())
      return std::nullopt;
    if (auto dot = mlir::dyn_cast<graph::DotGeneralOp>(op)) {
      found.scores = dot;
      break;
    }
    if (!isScoreOp(op))
      return std::nullopt;
    found.chain.insert(found.chain.begin(), op);
    // The chain continues through the operand of the scores' shape made
    // by an op; the others are masks, scales and biases.
    Value next;
    for (Value operand : op->getOperands())
      if (operand.getDefiningOp() &&
          (mlir::isa<graph::DotGeneralOp>(operand.getDefiningOp()) ||
           isScoreOp(operand.getDefiningOp())) &&
          operand.hasOneUse() && typeOf(operand) == scoresType) {
        if (next)
          return std::nullopt;
        next = operand;
      }
    if (!next)
      return std::nullopt;
    value = next;
  }
  // q·k: one free dimension each side, rank - 2 batch dimensions.
  graph::DotGeneralOp scores = found.scores;
  int64_t kRank = typeOf(scores.getRhs()).getRank();
  int64_t qRank = typeOf(scores.getLhs()).getRank();
  int64_t batch = scores.getLhsBatchingDimensions().size();
  if (batch != rank - 2 ||
      qRank - batch - int64_t(scores.getLhsContractingDimensions().size()) !=
          1 ||
      kRank - batch - int64_t(scores.getRhsContractingDimensions().size()) != 1)
    return std::nullopt;
  int64_t keyDim = -1;
  for (int64_t d = 0; d < kRank; ++d)
    if (!llvm::is_contained(scores.getRhsBatchingDimensions(), d) &&
        !llvm::is_contained(scores.getRhsContractingDimensions(), d))
      keyDim = d;
  // Keys and values gathered along their sequence dimension over the same
  // axes.
  std::optional<Gathered> keys = gatheredAlongOneDim(scores.getRhs());
  std::optional<Gathered> values = gatheredAlongOneDim(found.out.getRhs());
  if (!keys || !values || keys->dim != keyDim ||
      found.out.getRhsContractingDimensions() !=
          llvm::ArrayRef<int64_t>{values->dim} ||
      keys->axes != values->axes ||
      keys->gather.getOutSharding().getMesh() !=
          values->gather.getOutSharding().getMesh())
    return std::nullopt;
  found.mesh = keys->gather.getOutSharding().getMesh();
  found.devices = ringSize(softmax, keys->axes, found.mesh);
  if (found.devices < 2)
    return std::nullopt;
  // Each device's block, n of which cover the keys (the last ones may
  // reach into padding: an uneven split, whose padding is zeroed by the
  // blocks' layout).
  for (Gathered gathered : {*keys, *values}) {
    int64_t block = typeOf(gathered.gather.getInput()).getDimSize(gathered.dim);
    int64_t whole =
        typeOf(gathered.gather.getResult()).getDimSize(gathered.dim);
    if (block * found.devices < whole ||
        (block * found.devices != whole &&
         !spmd::getSharding(gathered.gather.getInput())))
      return std::nullopt;
  }
  found.keys = *keys;
  found.values = *values;
  return found;
}

/// Rewrites one attention as n steps over the ring: each step scores the
/// queries against the key block at hand, folds the block into a running
/// maximum, sum and output (online softmax), and passes its keys and
/// values on.
void rewrite(Attention attention) {
  mlir::OpBuilder builder(attention.out);
  mlir::Location loc = attention.out.getLoc();
  graph::GraphBuilder g(builder, loc);
  RankedTensorType scoresType = typeOf(attention.softmax.getResult());
  int64_t rank = scoresType.getRank(), n = attention.devices;
  int64_t whole = scoresType.getDimSize(rank - 1);
  int64_t block =
      typeOf(attention.keys.gather.getInput()).getDimSize(attention.keys.dim);
  // An uneven split: the last blocks reach past the keys' end into
  // padding, which the ring carries like any row.
  bool uneven = block * n != whole;
  llvm::SmallVector<int64_t> blockShape(scoresType.getShape());
  blockShape.back() = block;
  RankedTensorType blockType = scoresType.clone(blockShape);
  RankedTensorType rowType =
      scoresType.clone(scoresType.getShape().drop_back());
  RankedTensorType outType = typeOf(attention.out.getResult());
  mlir::ArrayAttr axes = attention.keys.axes;
  mlir::Type element = scoresType.getElementType();
  auto scalar = [&](double value) {
    return g.splat(value, RankedTensorType::get({}, element));
  };
  // A value per row ([batch..., queries]) broadcast over the rest of
  // `type`.
  auto rows = [&](Value x, RankedTensorType type) {
    return g.unreduce(
        x, type, llvm::to_vector(llvm::seq<int64_t>(rank - 1, type.getRank())));
  };

  // `x` with its dimension `dim` (the keys') padded to n whole blocks,
  // once for all steps; what the padding holds does not matter: those
  // columns are masked.
  llvm::DenseMap<Value, Value> padded;
  auto padToBlocks = [&](Value x, int64_t dim) -> Value {
    if (!uneven)
      return x;
    Value &pad = padded[x];
    if (pad)
      return pad;
    RankedTensorType type = typeOf(x);
    llvm::SmallVector<int64_t> low(type.getRank(), 0), high(type.getRank(), 0),
        interior(type.getRank(), 0);
    high[dim] = block * n - type.getDimSize(dim);
    llvm::SmallVector<int64_t> shape(type.getShape());
    shape[dim] = block * n;
    pad = graph::PadOp::create(
        builder, loc, type.clone(shape), x, builder.getDenseI64ArrayAttr(low),
        builder.getDenseI64ArrayAttr(high),
        builder.getDenseI64ArrayAttr(interior), builder.getF64FloatAttr(0.0));
    return pad;
  };
  // A block of keys or values with its padding rows zero (they may hold
  // anything, and 0 * NaN is NaN in p·v).
  auto zeroPadding = [&](Value local, const Gathered &gathered) -> Value {
    if (!uneven)
      return local;
    spmd::ShardingAttr sharding = spmd::getSharding(local);
    mlir::FailureOr<spmd::MeshAttr> mesh =
        spmd::lookupMesh(attention.out, attention.mesh);
    RankedTensorType type = typeOf(local);
    llvm::SmallVector<int64_t> global(type.getShape());
    for (auto [d, dim] : llvm::enumerate(sharding.getDims()))
      global[d] *= dim.numParts(*mesh);
    global[gathered.dim] = whole;
    return spmd::MaskPaddingOp::create(builder, loc, local,
                                       builder.getF64FloatAttr(0.0), sharding,
                                       builder.getDenseI64ArrayAttr(global));
  };
  // Which of the n * block key positions are keys (uneven splits only).
  Value isKey;
  if (uneven) {
    llvm::SmallVector<bool> flags;
    for (int64_t i = 0; i < block * n; ++i)
      flags.push_back(i < whole);
    auto type = RankedTensorType::get({block * n}, builder.getI1Type());
    isKey = graph::ConstantOp::create(
        builder, loc, mlir::DenseElementsAttr::get(type, flags));
  }
  // A side operand of the score ops for step `step`: broadcasts that do
  // not reach the keys' dimension are rebuilt at the block's size; anything
  // else is cut to the block's columns.
  auto sideOperand = [&](Value side, int64_t step) -> Value {
    if (auto broadcast = side.getDefiningOp<graph::BroadcastInDimOp>()) {
      llvm::ArrayRef<int64_t> dims = broadcast.getBroadcastDimensions();
      auto keyPos = llvm::find(dims, rank - 1);
      Value source = broadcast.getOperand();
      if (keyPos == dims.end())
        return graph::BroadcastInDimOp::create(
            builder, loc, typeOf(side).clone(blockShape), source, dims);
      int64_t sourceDim = keyPos - dims.begin();
      if (typeOf(source).getDimSize(sourceDim) == 1)
        return graph::BroadcastInDimOp::create(
            builder, loc, typeOf(side).clone(blockShape), source, dims);
      llvm::SmallVector<int64_t> cut(typeOf(source).getShape());
      cut[sourceDim] = block;
      source = padToBlocks(source, sourceDim);
      Value part = spmd::RingBlockOp::create(
          builder, loc, typeOf(source).clone(cut), source, attention.mesh, axes,
          builder.getI64IntegerAttr(sourceDim),
          builder.getI64IntegerAttr(step));
      return graph::BroadcastInDimOp::create(
          builder, loc, typeOf(side).clone(blockShape), part, dims);
    }
    return spmd::RingBlockOp::create(
        builder, loc, typeOf(side).clone(blockShape),
        padToBlocks(side, rank - 1), attention.mesh, axes,
        builder.getI64IntegerAttr(rank - 1), builder.getI64IntegerAttr(step));
  };

  Value keys = zeroPadding(attention.keys.gather.getInput(), attention.keys);
  Value values =
      zeroPadding(attention.values.gather.getInput(), attention.values);
  Value maximum, sum, accumulated;
  for (int64_t step = 0; step < n; ++step) {
    if (step > 0) {
      // At the gathers' locations: their reasons (why the attention needs
      // every key) are the shifts' (--explain-collectives).
      keys = spmd::RingShiftOp::create(builder, attention.keys.gather.getLoc(),
                                       keys, attention.mesh, axes,
                                       builder.getI64IntegerAttr(1));
      values = spmd::RingShiftOp::create(
          builder, attention.values.gather.getLoc(), values, attention.mesh,
          axes, builder.getI64IntegerAttr(1));
    }
    mlir::IRMapping mapping;
    mapping.map(attention.scores.getRhs(), keys);
    mlir::Operation *scores = builder.clone(*attention.scores, mapping);
    scores->getResult(0).setType(blockType);
    Value current = scores->getResult(0);
    Value previous = attention.scores.getResult();
    for (mlir::Operation *op : attention.chain) {
      mlir::IRMapping chainMapping;
      for (Value operand : op->getOperands())
        chainMapping.map(operand, operand == previous
                                      ? current
                                      : sideOperand(operand, step));
      mlir::Operation *clone = builder.clone(*op, chainMapping);
      clone->getResult(0).setType(blockType);
      previous = op->getResult(0);
      current = clone->getResult(0);
    }
    if (uneven) {
      // The padding's columns out, as masked ones.
      Value blockIsKey = spmd::RingBlockOp::create(
          builder, loc, RankedTensorType::get({block}, builder.getI1Type()),
          isKey, attention.mesh, axes, builder.getI64IntegerAttr(0),
          builder.getI64IntegerAttr(step));
      Value keep = graph::BroadcastInDimOp::create(
          builder, loc, blockType.clone(builder.getI1Type()), blockIsKey,
          llvm::ArrayRef<int64_t>{rank - 1});
      current =
          g.select(keep, current,
                   g.spread(scalar(-std::numeric_limits<double>::infinity()),
                            blockType));
    }
    // Online softmax: the running maximum starts at the lowest finite
    // value, so that a row masked out of a whole block never computes
    // -inf - -inf.
    Value blockMax = g.reduce(graph::ReduceKind::Max, current, {rank - 1});
    Value newMax =
        step == 0
            ? graph::MaxOp::create(
                  builder, loc, blockMax,
                  g.spread(scalar(std::numeric_limits<float>::lowest()),
                           rowType))
                  .getResult()
            : graph::MaxOp::create(builder, loc, maximum, blockMax).getResult();
    Value p = graph::ExpOp::create(builder, loc,
                                   g.sub(current, rows(newMax, blockType)));
    Value blockSum = g.reduce(graph::ReduceKind::Sum, p, {rank - 1});
    mlir::IRMapping outMapping;
    outMapping.map(attention.out.getLhs(), p);
    outMapping.map(attention.out.getRhs(), values);
    Value blockOut = builder.clone(*attention.out, outMapping)->getResult(0);
    if (step == 0) {
      sum = blockSum;
      accumulated = blockOut;
    } else {
      Value correction =
          graph::ExpOp::create(builder, loc, g.sub(maximum, newMax));
      sum = g.add(g.mul(sum, correction), blockSum);
      accumulated =
          g.add(g.mul(accumulated, rows(correction, outType)), blockOut);
    }
    maximum = newMax;
  }
  Value result = g.div(accumulated, rows(sum, outType));
  // The masks, scales and biases at the whole scores' size, unused after.
  llvm::SmallVector<mlir::Operation *> sides;
  for (mlir::Operation *op : attention.chain)
    for (Value operand : op->getOperands())
      if (mlir::Operation *definer = operand.getDefiningOp();
          definer && !llvm::is_contained(attention.chain, definer) &&
          definer != attention.scores)
        sides.push_back(definer);
  attention.out.getResult().replaceAllUsesWith(result);
  attention.out.erase();
  attention.softmax.erase();
  for (mlir::Operation *op : llvm::reverse(attention.chain))
    op->erase();
  attention.scores.erase();
  spmd::AllGatherOp keyGather = attention.keys.gather;
  spmd::AllGatherOp valueGather = attention.values.gather;
  if (keyGather.getResult().use_empty())
    keyGather.erase();
  if (valueGather != keyGather && valueGather.getResult().use_empty())
    valueGather.erase();
  while (!sides.empty()) {
    mlir::Operation *op = sides.pop_back_val();
    if (!mlir::isOpTriviallyDead(op))
      continue;
    for (Value operand : op->getOperands())
      if (mlir::Operation *definer = operand.getDefiningOp())
        sides.push_back(definer);
    op->erase();
  }
}

struct RingAttentionPass : impl::RingAttentionPassBase<RingAttentionPass> {
  void runOnOperation() override {
    llvm::SmallVector<Attention> found;
    getOperation().walk([&](graph::SoftmaxOp softmax) {
      if (std::optional<Attention> attention = match(softmax))
        found.push_back(*attention);
    });
    for (Attention &attention : found)
      rewrite(attention);
  }
};

} // namespace

} // namespace tessel::partition
