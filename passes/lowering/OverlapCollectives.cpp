//===- OverlapCollectives.cpp - Start collectives early, wait late --------===//
//
// Each collective of the function's block becomes a start (the op, marked
// spmd.async) and a wait (spmd.collective_done). The wait goes just before
// the first reader of the result. Collectives are started in the order
// their operands become ready (every device runs the same program, so any
// fixed order pairs up), each just after its operands are made and the
// previous start.
//
// Where a start would put more than max-in-flight collectives in flight,
// the in-flight one that finishes first (`old`) makes room in one of two
// ways: the new start waits for old's wait, or old's wait moves up to the
// new start. Of the two, the one that leaves more work hidden behind the
// less-hidden collective of the pair (a collective with none hidden at
// all stays in line): a gradient all-reduce waited for at
// the optimizer's update, far away, finishes where the next gradient's
// starts (data parallel backward passes), while a layer's weight gather
// read by that layer keeps its window and the next gathers wait for it
// (ZeRO-3 prefetching one layer ahead, not every layer's at the top). Work
// is the ops' flops (graph::CostOpInterface), or their results' elements.
//
//===----------------------------------------------------------------------===//

#include <algorithm>

#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/IR/Builders.h"
#include "passes/lowering/Passes.h"

namespace tessel::lowering {

#define GEN_PASS_DEF_OVERLAPCOLLECTIVESPASS
#include "passes/lowering/Passes.h.inc"

namespace {

/// Whether `a` comes before `b` in their block, null being the block's
/// start.
bool before(mlir::Operation *a, mlir::Operation *b) {
  if (!a)
    return b != nullptr;
  return b && a->isBeforeInBlock(b);
}

/// The last op of `block` that makes an operand of `op`, or null.
mlir::Operation *readyPoint(mlir::Block &block, mlir::Operation *op) {
  mlir::Operation *ready = nullptr;
  for (mlir::Value operand : op->getOperands())
    if (mlir::Operation *def = operand.getDefiningOp())
      if (mlir::Operation *producer = block.findAncestorOpInBlock(*def);
          before(ready, producer))
        ready = producer;
  return ready;
}

/// The work of an op that computes, for comparing how much a collective
/// can hide behind.
double workOf(mlir::Operation &op) {
  if (auto cost = mlir::dyn_cast<graph::CostOpInterface>(op))
    return 1 + cost.getFlops();
  double elements = 1;
  for (mlir::Type type : op.getResultTypes())
    if (auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(type))
      elements += tensor.getNumElements();
  return elements;
}

/// How many ops after a wait are looked at for work to move up.
constexpr int kScanLimit = 256;

struct Flight {
  mlir::Operation *start;
  spmd::CollectiveDoneOp done;
};

struct OverlapCollectivesPass
    : impl::OverlapCollectivesPassBase<OverlapCollectivesPass> {
  using OverlapCollectivesPassBase::OverlapCollectivesPassBase;

  void runOnOperation() override {
    mlir::func::FuncOp function = getOperation();
    if (maxInFlight <= 0 || function.getBody().empty())
      return;
    mlir::Block &block = function.getBody().front();

    struct Collective {
      mlir::Operation *op, *ready;
    };
    std::vector<Collective> collectives;
    for (mlir::Operation &op : block)
      if (op.hasTrait<spmd::OpTrait::Communicates>() &&
          !op.hasAttr(spmd::SpmdDialect::kAsyncAttr) && op.getNumResults() == 1)
        collectives.push_back({&op, readyPoint(block, &op)});

    // Work done before each op that computes, where it stands now
    // (collectives and waits compute nothing).
    llvm::DenseMap<mlir::Operation *, double> workBefore;
    double total = 0;
    auto indexWork = [&] {
      workBefore.clear();
      total = 0;
      for (mlir::Operation &op : block)
        if (!op.hasTrait<spmd::OpTrait::Communicates>() &&
            !mlir::isa<spmd::CollectiveDoneOp>(op)) {
          workBefore[&op] = total;
          if (!op.hasTrait<mlir::OpTrait::IsTerminator>())
            total += workOf(op);
        }
    };
    indexWork();
    // Work between two points of the block (null: its start), each point
    // just after the op named.
    auto workAfter = [&](mlir::Operation *op) -> double {
      // Collectives and waits do no work: the work before the next op
      // that does.
      mlir::Operation *next = op ? op->getNextNode() : &block.front();
      while (next && !workBefore.count(next))
        next = next->getNextNode();
      return next ? workBefore.lookup(next) : total;
    };
    auto workBetween = [&](mlir::Operation *from, mlir::Operation *to) {
      return std::max(0.0, workAfter(to) - workAfter(from));
    };

    // In the order their operands are ready (the original order on ties).
    std::stable_sort(collectives.begin(), collectives.end(),
                     [](const Collective &a, const Collective &b) {
                       return before(a.ready, b.ready);
                     });

    mlir::OpBuilder builder(&getContext());
    std::vector<Flight> flights;
    for (const Collective &collective : collectives) {
      mlir::Operation *op = collective.op;
      // The wait, before the first reader (or the terminator).
      mlir::Value result = op->getResult(0);
      mlir::Operation *firstReader = block.getTerminator();
      for (mlir::Operation *user : result.getUsers())
        if (mlir::Operation *reader = block.findAncestorOpInBlock(*user);
            reader && reader->isBeforeInBlock(firstReader))
          firstReader = reader;
      builder.setInsertionPoint(firstReader);
      auto done = builder.create<spmd::CollectiveDoneOp>(op->getLoc(), result);
      result.replaceAllUsesExcept(done.getResult(), done);
      op->setAttr(spmd::SpmdDialect::kAsyncAttr, builder.getUnitAttr());

      // The start: after its operands (a collective's operand is now its
      // wait) and the previous start, unless that start was held back
      // past this one's wait.
      mlir::Operation *after = readyPoint(block, op);
      if (!flights.empty() && before(after, flights.back().start))
        after = flights.back().start;
      if (!before(after, done))
        after =
            done->getPrevNode() == op ? op->getPrevNode() : done->getPrevNode();
      for (;;) {
        Flight *old = nullptr;
        int64_t inFlight = 0;
        for (Flight &flight : flights)
          if (!before(after, flight.start) && before(after, flight.done)) {
            ++inFlight;
            if (!old || flight.done->isBeforeInBlock(old->done))
              old = &flight;
          }
        if (inFlight < maxInFlight)
          break;
        mlir::Operation *oldDone = old->done;
        // (a) this start waits for old's wait; (b) old's wait moves up.
        bool waitFeasible = oldDone->isBeforeInBlock(done);
        double a = std::min(workBetween(old->start, oldDone),
                            workBetween(oldDone, done));
        double b =
            std::min(workBetween(old->start, after), workBetween(after, done));
        if (!(waitFeasible && a >= b)) {
          if (after)
            oldDone->moveAfter(after);
          else
            oldDone->moveBefore(&block.front());
        }
        after = oldDone;
      }
      if (after)
        op->moveAfter(after);
      else
        op->moveBefore(&block.front());
      flights.push_back({op, done});
    }

    // Work that does not need a collective's result moves up before its
    // wait, from the ops that follow up to the next collective or wait.
    for (Flight &flight : flights) {
      llvm::DenseSet<mlir::Operation *> dependent{flight.done};
      mlir::Operation *next = flight.done->getNextNode();
      for (int scanned = 0; next && scanned < kScanLimit; ++scanned) {
        mlir::Operation *op = next;
        next = op->getNextNode();
        if (op->hasTrait<mlir::OpTrait::IsTerminator>() ||
            op->hasTrait<spmd::OpTrait::Communicates>() ||
            mlir::isa<spmd::CollectiveDoneOp>(op))
          break;
        // Only ops without side effects move (a fusion's are its body's).
        if (!mlir::isMemoryEffectFree(op) ||
            llvm::any_of(op->getOperands(), [&](mlir::Value v) {
              mlir::Operation *def = v.getDefiningOp();
              return def && dependent.contains(def);
            }))
          dependent.insert(op);
        else
          op->moveBefore(flight.done);
      }
    }

    // Moved work counts where it now stands.
    indexWork();

    // A collective with no work between its start and its wait hides
    // nothing: it runs in line, without the hand-over to the stream.
    for (Flight &flight : flights) {
      if (workBetween(flight.start, flight.done) > 0)
        continue;
      flight.start->removeAttr(spmd::SpmdDialect::kAsyncAttr);
      flight.done.getResult().replaceAllUsesWith(flight.done.getStarted());
      flight.done->erase();
    }
  }
};

} // namespace
} // namespace tessel::lowering
