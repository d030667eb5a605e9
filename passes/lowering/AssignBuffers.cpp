//===- AssignBuffers.cpp - Place temporaries in the arena by liveness -----===//

#include <map>

#include "dialects/graph/GraphDialect.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/SpmdOps.h"
#include "passes/lowering/Passes.h"

namespace tessel::lowering {

#define GEN_PASS_DEF_ASSIGNBUFFERSPASS
#include "passes/lowering/Passes.h.inc"

namespace {

constexpr uint64_t kAlignment = 64;

uint64_t alignUp(uint64_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

uint64_t byteSizeOf(mlir::Type type) {
  auto tensor = mlir::cast<mlir::RankedTensorType>(type);
  unsigned bits = tensor.getElementTypeBitWidth();
  uint64_t elementBytes = bits == 1 ? 1 : bits / 8;
  return elementBytes * tensor.getNumElements();
}

/// Best-fit allocation of one arena, with neighbouring free ranges merged.
class Arena {
public:
  uint64_t allocate(uint64_t bytes) {
    bytes = std::max<uint64_t>(alignUp(bytes), kAlignment);
    auto best = free.end();
    for (auto it = free.begin(); it != free.end(); ++it)
      if (it->second >= bytes &&
          (best == free.end() || it->second < best->second))
        best = it;
    if (best == free.end()) {
      // Grow the arena, absorbing a free range that ends at its top.
      uint64_t offset = top;
      if (!free.empty() &&
          std::prev(free.end())->first + std::prev(free.end())->second == top) {
        offset = std::prev(free.end())->first;
        free.erase(std::prev(free.end()));
      }
      top = offset + bytes;
      return offset;
    }
    uint64_t offset = best->first, size = best->second;
    free.erase(best);
    if (size > bytes)
      free[offset + bytes] = size - bytes;
    return offset;
  }

  void release(uint64_t offset, uint64_t bytes) {
    bytes = std::max<uint64_t>(alignUp(bytes), kAlignment);
    auto next = free.lower_bound(offset);
    if (next != free.end() && offset + bytes == next->first) {
      bytes += next->second;
      next = free.erase(next);
    }
    if (next != free.begin()) {
      auto previous = std::prev(next);
      if (previous->first + previous->second == offset) {
        previous->second += bytes;
        return;
      }
    }
    free[offset] = bytes;
  }

  uint64_t size() const { return top; }

private:
  std::map<uint64_t, uint64_t> free; // offset -> bytes
  uint64_t top = 0;
};

/// The value whose storage `value` is: reshapes are views of their
/// operand, and so are waits for collectives (mlir::ViewLikeOpInterface).
mlir::Value storageOf(mlir::Value value) {
  for (;;) {
    if (auto reshape = value.getDefiningOp<graph::ReshapeOp>())
      value = reshape.getOperand();
    else if (auto view = value.getDefiningOp<mlir::ViewLikeOpInterface>())
      value = view.getViewSource();
    else
      return value;
  }
}

/// What an op reads until it has run: its operands, and for the wait of
/// an asynchronous collective, the collective's operands too.
llvm::SmallVector<mlir::Value> readsOf(mlir::Operation &op) {
  llvm::SmallVector<mlir::Value> reads(op.getOperands());
  if (auto done = mlir::dyn_cast<spmd::CollectiveDoneOp>(op))
    reads.append(done.getStart()->operand_begin(),
                 done.getStart()->operand_end());
  return reads;
}

bool inArena(mlir::Value storage) {
  return storage.getDefiningOp() &&
         !mlir::isa<graph::ConstantOp>(storage.getDefiningOp());
}

/// Whether `fusion` may write its result over operand `index`: the operand
/// has the result's shape and byte width and is read without a broadcast.
bool canWriteInPlace(graph::FusionOp fusion, unsigned index) {
  mlir::Value input = fusion.getInputs()[index];
  auto inputType = mlir::cast<mlir::RankedTensorType>(input.getType());
  auto resultType = fusion.getType();
  if (inputType.getShape() != resultType.getShape() ||
      inputType.getElementTypeBitWidth() != resultType.getElementTypeBitWidth())
    return false;
  mlir::BlockArgument argument = fusion.getBody().front().getArgument(index);
  return llvm::none_of(argument.getUsers(), [](mlir::Operation *user) {
    return mlir::isa<graph::BroadcastInDimOp>(user);
  });
}

struct AssignBuffersPass : impl::AssignBuffersPassBase<AssignBuffersPass> {
  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (function.getBody().empty())
      return;
    mlir::Block &block = function.getBody().front();
    llvm::DenseMap<mlir::Operation *, int64_t> position;
    int64_t index = 0;
    for (mlir::Operation &op : block)
      position[&op] = index++;
    int64_t end = index;

    // Last reader of each storage, views included; returned values live to
    // the end.
    llvm::DenseMap<mlir::Value, int64_t> lastUse;
    for (mlir::Operation &op : block) {
      for (mlir::Value operand : readsOf(op)) {
        mlir::Value storage = storageOf(operand);
        int64_t when =
            op.hasTrait<mlir::OpTrait::IsTerminator>() ? end : position[&op];
        lastUse[storage] = std::max(lastUse.lookup(storage), when);
      }
    }

    // A result returned as an argument's next value (a training step's
    // update) may be written over that argument's storage by a fusion
    // that is the argument's last reader: the argument is donated.
    llvm::DenseMap<mlir::Value, unsigned> updates;
    mlir::Operation *ret = block.getTerminator();
    for (unsigned r = 0; r < ret->getNumOperands(); ++r)
      if (std::optional<unsigned> argument =
              graph::GraphDialect::updatedArgument(function, r))
        updates[storageOf(ret->getOperand(r))] = *argument;

    Arena arena;
    llvm::DenseMap<mlir::Value, uint64_t> offsets;
    mlir::Builder builder(&getContext());
    for (mlir::Operation &op : block) {
      if (mlir::isa<graph::ReshapeOp, graph::ConstantOp>(op) ||
          op.hasTrait<mlir::OpTrait::IsTerminator>())
        continue;
      int64_t now = position[&op];
      if (auto done = mlir::dyn_cast<spmd::CollectiveDoneOp>(op)) {
        // A view: frees what the collective read for the last time.
        llvm::DenseSet<mlir::Value> released;
        for (mlir::Value operand : done.getStart()->getOperands()) {
          mlir::Value storage = storageOf(operand);
          if (inArena(storage) && lastUse.lookup(storage) == now &&
              released.insert(storage).second)
            arena.release(offsets.lookup(storage),
                          byteSizeOf(storage.getType()));
        }
        continue;
      }
      llvm::SmallVector<int64_t> resultOffsets, donated;
      llvm::DenseSet<mlir::Value> reused;
      for (mlir::Value result : op.getResults()) {
        std::optional<uint64_t> offset;
        donated.push_back(-1);
        auto fusion = mlir::dyn_cast<graph::FusionOp>(op);
        if (auto update = updates.find(result);
            fusion && update != updates.end()) {
          mlir::Value argument = function.getArgument(update->second);
          for (auto [i, input] : llvm::enumerate(fusion.getInputs()))
            if (storageOf(input) == argument &&
                lastUse.lookup(argument) == now && canWriteInPlace(fusion, i) &&
                byteSizeOf(argument.getType()) ==
                    byteSizeOf(result.getType())) {
              donated.back() = update->second;
              break;
            }
        }
        if (donated.back() >= 0) {
          resultOffsets.push_back(-1);
          continue;
        }
        if (fusion) {
          for (auto [i, input] : llvm::enumerate(fusion.getInputs())) {
            mlir::Value storage = storageOf(input);
            if (inArena(storage) && !reused.contains(storage) &&
                lastUse.lookup(storage) == now && canWriteInPlace(fusion, i) &&
                byteSizeOf(storage.getType()) == byteSizeOf(result.getType())) {
              offset = offsets.lookup(storage);
              reused.insert(storage);
              break;
            }
          }
        }
        if (!offset)
          offset = arena.allocate(byteSizeOf(result.getType()));
        offsets[result] = *offset;
        resultOffsets.push_back(*offset);
      }
      op.setAttr(kBufferOffsetsAttr,
                 builder.getDenseI64ArrayAttr(resultOffsets));
      if (llvm::any_of(donated, [](int64_t a) { return a >= 0; }))
        op.setAttr(kDonatedArgumentsAttr,
                   builder.getDenseI64ArrayAttr(donated));

      // Operands read for the last time here free their bytes now, after
      // the op has run (unless a result took them over).
      llvm::DenseSet<mlir::Value> released;
      for (mlir::Value operand : op.getOperands()) {
        mlir::Value storage = storageOf(operand);
        if (inArena(storage) && lastUse.lookup(storage) == now &&
            !reused.contains(storage) && released.insert(storage).second)
          arena.release(offsets.lookup(storage), byteSizeOf(storage.getType()));
      }
      for (auto [result, argument] : llvm::zip(op.getResults(), donated))
        if (!lastUse.count(result) && argument < 0)
          arena.release(offsets.lookup(result), byteSizeOf(result.getType()));
    }
    function->setAttr(kArenaBytesAttr, builder.getI64IntegerAttr(arena.size()));
  }
};

} // namespace
} // namespace tessel::lowering
