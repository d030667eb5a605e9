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
#include "passes/partition/DeviceValues.h"
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

void eraseAttention(Attention attention, Value result);

/// `keys` and `values` passed one step along the attention's ring, at the
/// gathers' locations: their reasons (why the attention needs every key)
/// are the shifts' (--explain-collectives).
void shiftAlongRing(mlir::OpBuilder &builder, Attention &attention, Value &keys,
                    Value &values) {
  keys = spmd::RingShiftOp::create(builder, attention.keys.gather.getLoc(),
                                   keys, attention.mesh, attention.keys.axes,
                                   builder.getI64IntegerAttr(1));
  values = spmd::RingShiftOp::create(
      builder, attention.values.gather.getLoc(), values, attention.mesh,
      attention.keys.axes, builder.getI64IntegerAttr(1));
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
    if (step > 0)
      shiftAlongRing(builder, attention, keys, values);
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
  eraseAttention(attention, g.div(accumulated, rows(sum, outType)));
}

/// Replaces `attention`'s output by `result` and erases what computed it
/// whole: the scores, the chain, the softmax, the gathers and the masks,
/// scales and biases at the whole scores' size.
void eraseAttention(Attention attention, Value result) {
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

//===----------------------------------------------------------------------===//
// Causal attention with the work balanced (zigzag)
//===----------------------------------------------------------------------===//

/// Scores below this are masked out: exp of them is 0 in every float type.
constexpr double kMasked = -1e9;

/// The dimension of `dot`'s lhs that is neither batched nor contracted.
int64_t freeLhsDim(graph::DotGeneralOp dot) {
  for (int64_t d = 0; d < typeOf(dot.getLhs()).getRank(); ++d)
    if (!llvm::is_contained(dot.getLhsBatchingDimensions(), d) &&
        !llvm::is_contained(dot.getLhsContractingDimensions(), d))
      return d;
  return -1;
}

/// The dimensions of the scores along which `side` varies (all but those a
/// broadcast adds or stretches from size 1).
llvm::SmallVector<bool> variesAlong(Value side, int64_t rank) {
  llvm::SmallVector<bool> varies(rank, true);
  if (auto broadcast = side.getDefiningOp<graph::BroadcastInDimOp>()) {
    varies.assign(rank, false);
    llvm::ArrayRef<int64_t> source = typeOf(broadcast.getOperand()).getShape();
    for (auto [d, to] : llvm::enumerate(broadcast.getBroadcastDimensions()))
      varies[to] = source[d] != 1;
  }
  return varies;
}

/// Whether `side`, an operand of the scores' shape, is a broadcast constant
/// along the queries and keys (a scale): it can be rebuilt at any block's
/// size.
bool isBlockInvariant(Value side, int64_t rank) {
  llvm::SmallVector<bool> varies = variesAlong(side, rank);
  return !varies[rank - 2] && !varies[rank - 1];
}

/// The op of `attention`'s chain that applies a causal mask, if there is
/// one and the attention can be balanced: self-attention whose queries are
/// split as its keys, in even blocks of an even size, the other side
/// operands of the chain constant along queries and keys, and the mask
/// provably causal on every device: each score at (query q, key k), global
/// positions, kept where k <= q and pushed below kMasked where k > q, by a
/// select against such a value or by adding 0 or it.
mlir::Operation *causalMaskOf(Attention attention) {
  RankedTensorType scoresType = typeOf(attention.softmax.getResult());
  int64_t rank = scoresType.getRank(), n = attention.devices;
  int64_t whole = scoresType.getDimSize(rank - 1);
  int64_t block =
      typeOf(attention.keys.gather.getInput()).getDimSize(attention.keys.dim);
  int64_t queryDim = freeLhsDim(attention.scores);
  if (block * n != whole || block % 2 != 0 ||
      scoresType.getDimSize(rank - 2) != block || queryDim < 0 ||
      typeOf(attention.scores.getLhs()).getDimSize(queryDim) != block)
    return nullptr;
  // The queries split along the keys' axes.
  spmd::ShardingAttr sharding = spmd::getSharding(attention.scores.getResult());
  if (!sharding || int64_t(sharding.getDims().size()) != rank)
    return nullptr;
  std::vector<std::string> queryAxes;
  for (spmd::AxisRefAttr axis : sharding.getDims()[rank - 2].getAxes())
    queryAxes.push_back(spmd::axisName(axis));
  if (queryAxes != spmd::namesOf(attention.keys.axes))
    return nullptr;
  mlir::FailureOr<spmd::MeshAttr> mesh =
      spmd::lookupMesh(attention.out, attention.mesh);
  if (mlir::failed(mesh))
    return nullptr;

  // The mask, and the scores as they reach it (`chained`).
  mlir::Operation *mask = nullptr;
  Value previous = attention.scores.getResult(), chained;
  for (mlir::Operation *op : attention.chain) {
    bool invariant = llvm::all_of(op->getOperands(), [&](Value operand) {
      return operand == previous || isBlockInvariant(operand, rank);
    });
    if (!invariant) {
      if (mask || !mlir::isa<graph::SelectOp, graph::AddOp>(op))
        return nullptr;
      mask = op;
      chained = previous;
    }
    previous = op->getResult(0);
  }
  if (!mask)
    return nullptr;

  // Where the mask keeps a score: 1; where it masks one: 0; else unknown.
  llvm::SmallVector<bool> varies(rank, false);
  for (Value operand : mask->getOperands())
    if (operand != chained)
      for (auto [d, v] : llvm::enumerate(variesAlong(operand, rank)))
        varies[d] = varies[d] || v;
  std::vector<int64_t> ring =
      spmd::partIndices(*mesh, spmd::namesOf(attention.keys.axes));
  // The rows of the mask's other operands, and whether each score of a
  // row is kept (1), masked (0) or neither (-1).
  auto keptRow =
      [&](DeviceEvaluator &values,
          llvm::ArrayRef<int64_t> index) -> std::optional<std::vector<double>> {
    auto rowOf = [&](Value v) { return values.row(v, index, whole); };
    auto masked = [](double x) { return x <= kMasked; };
    if (auto select = mlir::dyn_cast<graph::SelectOp>(mask)) {
      bool chainedIfTrue = select.getOnTrue() == chained;
      std::optional<std::vector<double>> pred = rowOf(select.getPred());
      std::optional<std::vector<double>> other =
          rowOf(chainedIfTrue ? select.getOnFalse() : select.getOnTrue());
      if (!pred || !other)
        return std::nullopt;
      for (int64_t k = 0; k < whole; ++k) {
        bool takesChained = ((*pred)[k] != 0) == chainedIfTrue;
        (*pred)[k] = takesChained ? 1 : masked((*other)[k]) ? 0 : -1;
      }
      return pred;
    }
    std::optional<std::vector<double>> added =
        rowOf(mask->getOperand(0) == chained ? mask->getOperand(1)
                                             : mask->getOperand(0));
    if (added)
      for (double &x : *added)
        x = x == 0 ? 1 : masked(x) ? 0 : -1;
    return added;
  };
  for (int64_t device = 0; device < mesh->numDevices(); ++device) {
    DeviceEvaluator values(*mesh, device);
    // Every row, once per combination of the batch dimensions the mask
    // varies along.
    llvm::SmallVector<int64_t> index(rank, 0);
    while (true) {
      for (int64_t q = 0; q < block; ++q) {
        index[rank - 2] = q;
        index[rank - 1] = 0;
        std::optional<std::vector<double>> kept = keptRow(values, index);
        if (!kept)
          return nullptr;
        for (int64_t k = 0; k < whole; ++k)
          if ((*kept)[k] != double(k <= ring[device] * block + q))
            return nullptr;
      }
      int64_t d = rank - 3;
      for (; d >= 0; --d) {
        if (!varies[d])
          continue;
        if (++index[d] < scoresType.getDimSize(d))
          break;
        index[d] = 0;
      }
      if (d < 0)
        break;
    }
  }
  return mask;
}

/// One block's part of an online softmax: the row maxima of its scores,
/// the sums of exp(score - maximum) and those weights times the values.
struct Partial {
  Value maximum, sum, out;
};

/// Causal attention over a ring with the work balanced, Brandon et al.'s
/// and Megatron's zigzag: the sequence is 2n chunks of half a block, and
/// device c holds chunks c and 2n-1-c of the queries, keys and values
/// (half blocks exchanged by spmd.ring_permute before the ring and the
/// output's after it). At the ring's first step each device scores its
/// queries against its own keys (the causal mask within: chunk c's
/// queries see chunk c, chunk 2n-1-c's see both); at every later step,
/// with the keys of device j, exactly half the block is unmasked and needs
/// no mask: all queries against chunk j if j < c, the queries of chunk
/// 2n-1-c against both chunks if j > c. Computed as two quarter blocks,
/// one the same on every device (chunk 2n-1-c's queries against chunk
/// j's keys), one chosen per device. Each device then does
/// (n + 1) / 2 blocks of work instead of n, the same on all.
void rewriteBalanced(Attention attention, mlir::Operation *mask) {
  mlir::OpBuilder builder(attention.out);
  mlir::Location loc = attention.out.getLoc();
  graph::GraphBuilder g(builder, loc);
  RankedTensorType scoresType = typeOf(attention.softmax.getResult());
  int64_t rank = scoresType.getRank(), n = attention.devices;
  int64_t block =
      typeOf(attention.keys.gather.getInput()).getDimSize(attention.keys.dim);
  int64_t half = block / 2;
  mlir::ArrayAttr axes = attention.keys.axes;
  auto typeAt = [](RankedTensorType type, int64_t dim, int64_t size) {
    llvm::SmallVector<int64_t> shape(type.getShape());
    shape[dim] = size;
    return type.clone(shape);
  };
  auto rows = [&](Value x, RankedTensorType type) {
    return g.unreduce(
        x, type, llvm::to_vector(llvm::seq<int64_t>(rank - 1, type.getRank())));
  };
  auto slice = [&](Value x, int64_t dim, int64_t from, int64_t to) -> Value {
    RankedTensorType type = typeOf(x);
    llvm::SmallVector<int64_t> start(type.getRank(), 0), limit(type.getShape()),
        strides(type.getRank(), 1);
    start[dim] = from;
    limit[dim] = to;
    return graph::SliceOp::create(builder, loc, x, start, limit, strides);
  };
  // Per device, the entry of `table` at (its coordinate along the ring -
  // `shift`): a scalar flag choosing between two halves.
  auto flag = [&](llvm::ArrayRef<bool> table, int64_t shift) -> Value {
    auto tableType = RankedTensorType::get({n}, builder.getI1Type());
    Value all = graph::ConstantOp::create(
        builder, loc, mlir::DenseElementsAttr::get(tableType, table));
    Value mine = spmd::RingBlockOp::create(
        builder, loc, RankedTensorType::get({1}, builder.getI1Type()), all,
        attention.mesh, axes, builder.getI64IntegerAttr(0),
        builder.getI64IntegerAttr(shift));
    return g.reshape(mine, RankedTensorType::get({}, builder.getI1Type()));
  };
  // `scalar` spread to `like`'s shape, to select between values like it.
  auto spreadLike = [&](Value scalar, Value like) {
    return g.spread(scalar, typeOf(like).clone(builder.getI1Type()));
  };
  auto permute = [&](Value x, llvm::ArrayRef<int64_t> targets,
                     mlir::Location at) -> Value {
    if (llvm::equal(targets, llvm::seq<int64_t>(0, n)))
      return x; // every device keeps its part (n = 2: the even chunks)
    return spmd::RingPermuteOp::create(builder, at, x, attention.mesh, axes,
                                       builder.getDenseI64ArrayAttr(targets));
  };
  // Chunk k of 2n lives on device k < n ? k : 2n-1-k in the zigzag order.
  auto zigzagDevice = [&](int64_t k) { return k < n ? k : 2 * n - 1 - k; };
  llvm::SmallVector<bool> even;
  llvm::SmallVector<int64_t> evenTargets, oddTargets, evenHomes, oddHomes;
  for (int64_t c = 0; c < n; ++c) {
    even.push_back(c % 2 == 0);
    evenTargets.push_back(zigzagDevice(2 * c));
    oddTargets.push_back(zigzagDevice(2 * c + 1));
    int64_t evenChunk = c % 2 == 0 ? c : 2 * n - 1 - c;
    evenHomes.push_back(evenChunk / 2);
    oddHomes.push_back((2 * n - 1 - evenChunk) / 2);
  }
  Value onEven = flag(even, 0);
  // A contiguous block (chunks 2c, 2c+1) as its zigzag halves: the even
  // chunk and the odd one each move as a permutation; chunk c is the even
  // one on even devices.
  auto toZigzag = [&](Value x, int64_t dim, mlir::Location at) {
    Value evenChunk = permute(slice(x, dim, 0, half), evenTargets, at);
    Value oddChunk = permute(slice(x, dim, half, block), oddTargets, at);
    Value isEven = spreadLike(onEven, evenChunk);
    return std::pair<Value, Value>{g.select(isEven, evenChunk, oddChunk),
                                   g.select(isEven, oddChunk, evenChunk)};
  };
  auto fromZigzag = [&](Value first, Value second, int64_t dim,
                        mlir::Location at) {
    Value isEven = spreadLike(onEven, first);
    Value evenChunk = permute(g.select(isEven, first, second), evenHomes, at);
    Value oddChunk = permute(g.select(isEven, second, first), oddHomes, at);
    return graph::ConcatenateOp::create(
               builder, loc, mlir::ValueRange{evenChunk, oddChunk}, dim)
        .getResult();
  };

  int64_t queryDim = freeLhsDim(attention.scores);
  int64_t keyDim = attention.keys.dim, valueDim = attention.values.dim;
  // The queries' and the output's moves say why (--explain-collectives);
  // the keys' and values' are at their gathers', whose reasons they
  // inherit.
  std::string why = "the causal attention's work balanced across the ring "
                    "(zigzag: device c works on chunks c and 2n-1-c of the "
                    "sequence, in half blocks)";
  auto [q0, q1] =
      toZigzag(attention.scores.getLhs(), queryDim,
               spmd::withCollectiveOrigin(attention.scores.getLoc(),
                                          "queries moved for " + why,
                                          attention.scores.getLhs()));
  auto [k0, k1] = toZigzag(attention.keys.gather.getInput(), keyDim,
                           attention.keys.gather.getLoc());
  auto [v0, v1] = toZigzag(attention.values.gather.getInput(), valueDim,
                           attention.values.gather.getLoc());
  Value keys = graph::ConcatenateOp::create(builder, loc,
                                            mlir::ValueRange{k0, k1}, keyDim);
  Value values = graph::ConcatenateOp::create(
      builder, loc, mlir::ValueRange{v0, v1}, valueDim);

  // Scores of `q` against `k` through the chain, the causal mask applied
  // where `maskOffset` is given (key i masked for query j where
  // i > j + offset, local positions), dropped where not.
  auto partial = [&](Value q, Value k, Value v,
                     std::optional<int64_t> maskOffset) {
    int64_t queries = typeOf(q).getDimSize(queryDim);
    int64_t keyCount = typeOf(k).getDimSize(keyDim);
    RankedTensorType type =
        typeAt(typeAt(scoresType, rank - 2, queries), rank - 1, keyCount);
    mlir::IRMapping mapping;
    mapping.map(attention.scores.getLhs(), q);
    mapping.map(attention.scores.getRhs(), k);
    mlir::Operation *scores = builder.clone(*attention.scores, mapping);
    scores->getResult(0).setType(type);
    Value current = scores->getResult(0);
    Value previous = attention.scores.getResult();
    for (mlir::Operation *op : attention.chain) {
      Value chained = current;
      if (op == mask) {
        if (maskOffset) {
          // [queries, keys] positions, then spread over the batch.
          auto positions =
              RankedTensorType::get({queries, keyCount}, builder.getI64Type());
          Value key = graph::IotaOp::create(builder, loc, positions, 1);
          Value query = g.add(graph::IotaOp::create(builder, loc, positions, 0),
                              g.splat(double(*maskOffset), positions));
          Value masked = graph::BroadcastInDimOp::create(
              builder, loc, type.clone(builder.getI1Type()),
              g.compare(graph::ComparisonDirection::GT, key, query),
              llvm::ArrayRef<int64_t>{rank - 2, rank - 1});
          current = g.select(
              masked, g.splat(-std::numeric_limits<double>::infinity(), type),
              current);
        }
      } else {
        mlir::IRMapping chainMapping;
        for (Value operand : op->getOperands())
          if (operand != previous) {
            auto broadcast = operand.getDefiningOp<graph::BroadcastInDimOp>();
            chainMapping.map(operand,
                             graph::BroadcastInDimOp::create(
                                 builder, loc,
                                 typeOf(operand).clone(type.getShape()),
                                 broadcast.getOperand(),
                                 broadcast.getBroadcastDimensions()));
          }
        chainMapping.map(previous, chained);
        mlir::Operation *clone = builder.clone(*op, chainMapping);
        clone->getResult(0).setType(type);
        current = clone->getResult(0);
      }
      previous = op->getResult(0);
    }
    Partial part;
    part.maximum = g.reduce(graph::ReduceKind::Max, current, {rank - 1});
    Value p = graph::ExpOp::create(builder, loc,
                                   g.sub(current, rows(part.maximum, type)));
    part.sum = g.reduce(graph::ReduceKind::Sum, p, {rank - 1});
    mlir::IRMapping outMapping;
    outMapping.map(attention.out.getLhs(), p);
    outMapping.map(attention.out.getRhs(), v);
    mlir::Operation *out = builder.clone(*attention.out, outMapping);
    out->getResult(0).setType(
        typeAt(typeOf(attention.out.getResult()), rank - 2, queries));
    part.out = out->getResult(0);
    return part;
  };
  // `into` with `part` folded in (only where `applies`, if given: a row
  // flag per device).
  auto merge = [&](Partial into, Partial part, Value applies) {
    Value maximum =
        graph::MaxOp::create(builder, loc, into.maximum, part.maximum);
    if (applies)
      maximum = g.select(applies, maximum, into.maximum);
    Value keep =
        graph::ExpOp::create(builder, loc, g.sub(into.maximum, maximum));
    Value take =
        graph::ExpOp::create(builder, loc, g.sub(part.maximum, maximum));
    if (applies)
      take = g.select(applies, take, g.zerosLike(take));
    RankedTensorType outType = typeOf(into.out);
    Partial merged;
    merged.maximum = maximum;
    merged.sum = g.add(g.mul(into.sum, keep), g.mul(part.sum, take));
    merged.out = g.add(g.mul(into.out, rows(keep, outType)),
                       g.mul(part.out, rows(take, outType)));
    return merged;
  };

  // Step 0, the diagonal: chunk c's queries against chunk c (causal
  // within), chunk 2n-1-c's against both (the second causal within).
  Partial first = partial(q0, k0, v0, 0);
  Partial second = partial(q1, keys, values, half);
  for (int64_t step = 1; step < n; ++step) {
    shiftAlongRing(builder, attention, keys, values);
    Value keys0 = slice(keys, keyDim, 0, half);
    Value keys1 = slice(keys, keyDim, half, block);
    Value values0 = slice(values, valueDim, 0, half);
    Value values1 = slice(values, valueDim, half, block);
    // The keys here are device j = c - step's: j < c where c >= step.
    llvm::SmallVector<bool> before;
    for (int64_t j = 0; j < n; ++j)
      before.push_back(j < n - step);
    second = merge(second, partial(q1, keys0, values0, std::nullopt), nullptr);
    Value isBefore = flag(before, step);
    Value q = g.select(spreadLike(isBefore, q0), q0, q1);
    Value k = g.select(spreadLike(isBefore, keys0), keys0, keys1);
    Value v = g.select(spreadLike(isBefore, values0), values0, values1);
    Partial chosen = partial(q, k, v, std::nullopt);
    Value toFirst = spreadLike(isBefore, first.maximum);
    first = merge(first, chosen, toFirst);
    second = merge(second, chosen,
                   graph::NotOp::create(builder, loc, toFirst).getResult());
  }
  RankedTensorType halfOut = typeOf(first.out);
  Value result = fromZigzag(
      g.div(first.out, rows(first.sum, halfOut)),
      g.div(second.out, rows(second.sum, halfOut)), rank - 2,
      spmd::withCollectiveOrigin(loc, "output moved back after " + why,
                                 attention.out.getResult()));
  eraseAttention(attention, result);
}

struct RingAttentionPass : impl::RingAttentionPassBase<RingAttentionPass> {
  using RingAttentionPassBase::RingAttentionPassBase;

  void runOnOperation() override {
    llvm::SmallVector<Attention> found;
    getOperation().walk([&](graph::SoftmaxOp softmax) {
      if (std::optional<Attention> attention = match(softmax))
        found.push_back(*attention);
    });
    for (Attention &attention : found) {
      mlir::Operation *mask = balanceCausal ? causalMaskOf(attention) : nullptr;
      if (mask)
        rewriteBalanced(attention, mask);
      else
        rewrite(attention);
    }
  }
};

} // namespace

} // namespace tessel::partition
