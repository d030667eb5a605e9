//===- AutoShard.cpp - Choose shardings by the cost model -----------------===//
//
// States a function's sharding choice as a ShardingProblem (nodes:
// arguments and ops with sharding rules, their strategies from
// Strategies.h; edges: reshards; costs from StrategyCosts.h), solves it
// (Solver.h), and writes the chosen layouts back as closed shardings.
//
//===----------------------------------------------------------------------===//

#include "passes/autoshard/AutoShard.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dialects/graph/GraphDialect.h"
#include "dialects/graph/GraphOps.h"
#include "dialects/spmd/ShardingRules.h"
#include "dialects/spmd/SpmdOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/autoshard/Passes.h"
#include "passes/autoshard/Solver.h"
#include "passes/autoshard/Strategies.h"
#include "passes/autoshard/StrategyCosts.h"

namespace tessel::autoshard {

#define GEN_PASS_DEF_AUTOSHARDPASS
#include "passes/autoshard/Passes.h.inc"

namespace {

using spmd::AxisRefAttr;
using spmd::MeshAttr;
using spmd::OpShardingRuleAttr;
using spmd::ShardingAttr;

constexpr double kPicoseconds = 1e12;

mlir::RankedTensorType tensorOf(mlir::Value value) {
  return mlir::dyn_cast<mlir::RankedTensorType>(value.getType());
}

/// Every renaming of `mesh`'s axes that exchanges axes of one size (the
/// identity included).
std::vector<std::map<std::string, std::string>>
sameSizeRenamings(MeshAttr mesh) {
  llvm::ArrayRef<spmd::MeshAxisAttr> axes = mesh.getAxes();
  std::vector<size_t> order(axes.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::map<std::string, std::string>> renamings;
  do {
    bool sizesKept = true;
    for (size_t i = 0; i < axes.size(); ++i)
      sizesKept = sizesKept && axes[i].getSize() == axes[order[i]].getSize();
    if (!sizesKept)
      continue;
    renamings.emplace_back();
    for (size_t i = 0; i < axes.size(); ++i)
      renamings.back()[axes[i].getName().str()] =
          axes[order[i]].getName().str();
  } while (std::next_permutation(order.begin(), order.end()));
  return renamings;
}

/// A layout as a plan writes it, ["x", null, ["x", "y"]], with its axes
/// renamed by `renaming`.
std::string renamed(const Dims &dims,
                    const std::map<std::string, std::string> &renaming) {
  std::vector<std::vector<std::string>> names;
  for (const AxisList &dim : dims) {
    names.emplace_back();
    for (AxisRefAttr axis : dim) {
      std::string name = spmd::axisName(axis);
      auto to = renaming.find(axis.getName().str());
      names.back().push_back(to == renaming.end()
                                 ? name
                                 : to->second + name.substr(to->first.size()));
    }
  }
  return spmd::formatPlanSpec(names);
}

/// A layout as a plan writes it: ["x", null, ["x", "y"]].
std::string formatDims(const Dims &dims) { return renamed(dims, {}); }

/// A candidate of a node priced with every other node as the solution
/// chose: its own compute and all-reduces, its reshards to and from its
/// neighbours (seconds).
struct LocalCost {
  double compute = 0, communication = 0, reshards = 0;
  double total() const { return compute + communication + reshards; }
};

/// The edges of each node of `problem`.
std::vector<std::vector<int32_t>> edgesByNode(const ShardingProblem &problem) {
  std::vector<std::vector<int32_t>> edges(problem.nodes.size());
  for (auto [e, edge] : llvm::enumerate(problem.edges)) {
    edges[edge.u].push_back(static_cast<int32_t>(e));
    edges[edge.v].push_back(static_cast<int32_t>(e));
  }
  return edges;
}

/// Node `n`'s candidates priced (LocalCost); `edgesOfNode` are its edges.
std::vector<LocalCost> localCosts(const std::vector<StrategyNode> &nodes,
                                  int32_t n, const ShardingProblem &problem,
                                  llvm::ArrayRef<int32_t> edgesOfNode,
                                  const Solution &solution,
                                  const StrategyCosts &costs) {
  const StrategyNode &node = nodes[n];
  std::vector<LocalCost> result(node.size());
  for (size_t s = 0; s < node.size(); ++s) {
    std::tie(result[s].compute, result[s].communication) =
        costs.strategySeconds(node, s);
    for (int32_t e : edgesOfNode) {
      const ShardingProblem::Edge &edge = problem.edges[e];
      size_t a = edge.u == n ? s : solution.choice[edge.u];
      size_t b = edge.v == n ? s : solution.choice[edge.v];
      result[s].reshards +=
          static_cast<double>(edge.costs[a * nodes[edge.v].size() + b]) /
          kPicoseconds;
    }
  }
  return result;
}

/// One line per candidate of node `n` (localCosts), with its memory.
std::string explainCandidates(const std::vector<StrategyNode> &nodes, int32_t n,
                              const ShardingProblem &problem,
                              const Solution &solution,
                              const StrategyCosts &costs) {
  std::string text;
  llvm::raw_string_ostream out(text);
  const StrategyNode &node = nodes[n];
  std::vector<LocalCost> local =
      localCosts(nodes, n, problem, edgesByNode(problem)[n], solution, costs);
  for (size_t s = 0; s < node.size(); ++s)
    out << llvm::format(
        "  %-24s compute %9.4f ms  all-reduce %9.4f ms  "
        "reshards %9.4f ms  memory %9.2f MiB%s\n",
        formatDims(node.result[s]).c_str(), local[s].compute * 1e3,
        local[s].communication * 1e3, local[s].reshards * 1e3,
        static_cast<double>(problem.nodes[n].usages[s]) / (1 << 20),
        static_cast<int32_t>(s) == solution.choice[n] ? "  <- chosen" : "");
  return text;
}

/// Why --auto laid out node `n` as it did: its modeled gain over the
/// next-cheapest other layout, every other node as chosen.
std::string autoOrigin(const std::vector<StrategyNode> &nodes, int32_t n,
                       const ShardingProblem &problem,
                       llvm::ArrayRef<int32_t> edgesOfNode,
                       const Solution &solution, const StrategyCosts &costs) {
  const StrategyNode &node = nodes[n];
  std::string name = spmd::tensorName(node.value);
  std::string text =
      "--auto's choice" + (name.empty() ? "" : " for '" + name + "'");
  std::vector<LocalCost> local =
      localCosts(nodes, n, problem, edgesOfNode, solution, costs);
  int32_t chosen = solution.choice[n];
  int32_t next = -1;
  for (size_t s = 0; s < node.size(); ++s)
    if (node.result[s] != node.result[chosen] &&
        (next < 0 || local[s].total() < local[next].total()))
      next = static_cast<int32_t>(s);
  if (next < 0)
    return text + " (its only layout)";
  return text +
         llvm::formatv(" (modeled gain {0:F4} ms a step over {1})",
                       (local[next].total() - local[chosen].total()) * 1e3,
                       formatDims(node.result[next]))
             .str();
}

/// The memory a reshard holds: the operand made anew in the layout its
/// reader wants, at the reader's step; bytes per (producer strategy,
/// reader strategy), as the edge's costs (0 where the layouts agree).
struct EdgeMemory {
  /// Held over steps [at, until).
  int64_t at = 0, until = 0;
  mlir::Value operand;
  std::vector<int64_t> bytes;
  /// A training step's update laid out as the state it updates, to the
  /// step's end (not a reader's operand).
  bool returned = false;
  /// Which operand of the reader the edge feeds (not for `returned`).
  size_t operandIndex = 0;
};

/// The bytes a reshard edge `e` holds under `choice`.
int64_t heldBy(const ShardingProblem &problem,
               const std::vector<EdgeMemory> &edgeMemory, size_t e,
               const std::vector<int32_t> &choice) {
  return edgeMemory[e].bytes[problem.pairOf(problem.edges[e], choice)];
}

/// The workspace of the collectives a choice makes (CostModel::
/// collectiveWorkspaceBytes), bytes per device: per strategy of each node
/// (the all-reduce of a partial result), per pair of strategies of each
/// edge (a reshard), as their costs are laid out. The allocator keeps what
/// the largest took for the rest of the run, so a plan's peak adds it.
struct Workspaces {
  std::vector<std::vector<int64_t>> nodes, edges;
  /// What depends on more than a pair of choices: the reduce_scatters the
  /// partitioner makes of an all-reduce and a later slice.
  std::function<int64_t(const std::vector<int32_t> &)> chained;

  int64_t of(const ShardingProblem &problem,
             const std::vector<int32_t> &choice) const {
    int64_t largest = chained ? chained(choice) : 0;
    for (size_t n = 0; n < nodes.size(); ++n)
      largest = std::max(largest, nodes[n][choice[n]]);
    for (size_t e = 0; e < edges.size(); ++e)
      largest =
          std::max(largest, edges[e][problem.pairOf(problem.edges[e], choice)]);
    return largest;
  }
};

/// The largest workspace of the reduce_scatters the partitioner makes under
/// `choice` (StrategyCosts::reduceScatterWorkspaceBytes): of each partial
/// result, and of what ops that carry partial sums unreduced make of them
/// (their linearity trait, GraphInterfaces.td, as the partitioner reads
/// it: a transpose of a partial value, a sum of values partial over the
/// same axes), read sliced along the summed axes. `entering[n]`,
/// `leaving[n]`: the edges into and out of node n.
int64_t reduceScatterWorkspace(
    const std::vector<StrategyNode> &nodes, const ShardingProblem &problem,
    const std::vector<EdgeMemory> &edgeMemory,
    const std::vector<std::vector<int32_t>> &entering,
    const std::vector<std::vector<int32_t>> &leaving, StrategyCosts &costs,
    const std::vector<int32_t> &choice) {
  // Per node (in program order, producers first): the axes its result is
  // partial over under `choice`.
  std::vector<std::vector<std::string>> partial(nodes.size());
  int64_t largest = 0;
  for (size_t n = 0; n < nodes.size(); ++n) {
    const StrategyNode &node = nodes[n];
    partial[n] = costs.partialAxes(node, choice[n]);
    if (partial[n].empty() && node.op) {
      // Which operands arrive partial: from their producer's sole edge, in
      // the layout it has.
      std::vector<std::vector<std::string>> in(node.op->getNumOperands());
      for (int32_t e : entering[n]) {
        size_t u = problem.edges[e].u, i = edgeMemory[e].operandIndex;
        if (!edgeMemory[e].returned && leaving[u].size() == 1 &&
            node.operands[choice[n]][i] == nodes[u].result[choice[u]])
          in[i] = partial[u];
      }
      llvm::SmallVector<bool> arrives;
      for (const std::vector<std::string> &axes : in)
        arrives.push_back(!axes.empty());
      if (std::optional<unsigned> carried = graph::carriedPartialOperand(
              node.op, arrives, llvm::all_equal(in)))
        partial[n] = in[*carried];
    }
    if (partial[n].empty())
      continue;
    for (int32_t e : leaving[n]) {
      size_t v = problem.edges[e].v;
      const StrategyNode &reader = nodes[v];
      const Dims &to =
          edgeMemory[e].returned
              ? reader.result[choice[v]]
              : reader.operands[choice[v]][edgeMemory[e].operandIndex];
      largest = std::max(largest, costs.reduceScatterWorkspaceBytes(
                                      node, choice[n], partial[n], to));
    }
  }
  return largest;
}

/// The peak of the memory live per device under `choice`, the nodes' and
/// the reshards', and the step it falls at.
std::pair<int64_t, int64_t> peakUsage(const ShardingProblem &problem,
                                      const std::vector<EdgeMemory> &edgeMemory,
                                      const std::vector<int32_t> &choice) {
  std::vector<std::pair<int64_t, int64_t>> events; // (time, usage change)
  for (auto [n, node] : llvm::enumerate(problem.nodes)) {
    int64_t usage = node.usages[choice[n]];
    if (node.start < node.end && usage != 0) {
      events.emplace_back(node.start, usage);
      events.emplace_back(node.end, -usage);
    }
  }
  for (size_t e = 0; e < edgeMemory.size(); ++e)
    if (int64_t bytes = heldBy(problem, edgeMemory, e, choice)) {
      events.emplace_back(edgeMemory[e].at, bytes);
      events.emplace_back(edgeMemory[e].until, -bytes);
    }
  // At equal times, ends (negative) first: intervals are half-open.
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0, when = 0;
  for (const auto &[time, change] : events) {
    live += change;
    if (live > peak)
      peak = live, when = time;
  }
  return {peak, when};
}

/// A plan's modeled peak per device: what is live at the peak step and the
/// largest collective workspace (not the runtime's own).
int64_t planPeak(const ShardingProblem &problem,
                 const std::vector<EdgeMemory> &edgeMemory,
                 const Workspaces &workspaces,
                 const std::vector<int32_t> &choice) {
  return peakUsage(problem, edgeMemory, choice).first +
         workspaces.of(problem, choice);
}

/// AutoShardOptions::alternatives next-best plans after `solution` into
/// `report` (AutoShardReport::alternatives): the best under each
/// next-cheapest layout of the largest named inputs and parameters
/// (nextBest), twins that only exchange mesh axes of one size passed over.
void listAlternatives(const std::vector<StrategyNode> &nodes,
                      const ShardingProblem &problem,
                      const std::vector<EdgeMemory> &edgeMemory,
                      const Workspaces &workspaces, const Solution &solution,
                      const SolverOptions &search, MeshAttr mesh,
                      const StrategyCosts &costs,
                      const AutoShardOptions &options,
                      AutoShardReport &report) {
  // The decisions: the largest named inputs and parameters with a choice.
  std::vector<int32_t> decisions;
  for (auto [n, node] : llvm::enumerate(nodes))
    if (!node.op && node.size() > 1 && !spmd::tensorName(node.value).empty())
      decisions.push_back(static_cast<int32_t>(n));
  auto wholeBytes = [&](int32_t n) {
    mlir::RankedTensorType type = tensorOf(nodes[n].value);
    return costs.localBytes(type, Dims(type.getRank()));
  };
  std::stable_sort(
      decisions.begin(), decisions.end(),
      [&](int32_t a, int32_t b) { return wholeBytes(a) > wholeBytes(b); });
  if (decisions.size() > static_cast<size_t>(options.alternativeDecisions))
    decisions.resize(std::max(0, options.alternativeDecisions));
  // Plans that differ only by exchanging mesh axes of one size, priced
  // alike, are one plan (on a 2x2 mesh every plan has such a twin): the
  // list keeps the first of each.
  auto symmetric = [&](const Solution &a, const Solution &b) {
    Cost difference = a.cost > b.cost ? a.cost - b.cost : b.cost - a.cost;
    if (difference * 1000000 > std::max(a.cost, b.cost))
      return false;
    for (const std::map<std::string, std::string> &renaming :
         sameSizeRenamings(mesh)) {
      bool same = true;
      for (int32_t n : decisions)
        same = same && renamed(nodes[n].result[a.choice[n]], renaming) ==
                           formatDims(nodes[n].result[b.choice[n]]);
      if (same)
        return true;
    }
    return false;
  };
  std::vector<Solution> kept = {solution};
  auto keep = [&](const Solution &next) {
    for (const Solution &earlier : kept)
      if (symmetric(next, earlier))
        return false;
    kept.push_back(next);
    return true;
  };
  auto layoutsOf = [&](const Solution &chosen) {
    std::vector<std::pair<std::string, std::string>> layouts;
    for (int32_t n : decisions)
      layouts.emplace_back(spmd::tensorName(nodes[n].value),
                           formatDims(nodes[n].result[chosen.choice[n]]));
    return layouts;
  };
  report.decisionLayouts = layoutsOf(solution);
  // Each subproblem gets a share of the search's time; the search's
  // patience ends most of them sooner.
  SolverOptions each = search;
  each.seconds =
      std::max(0.1, options.seconds / std::max<size_t>(1, decisions.size()));
  for (const Solution &next :
       nextBest(problem, each, solution, options.alternatives, decisions, keep))
    report.alternatives.push_back(
        {static_cast<double>(next.cost) / kPicoseconds,
         planPeak(problem, edgeMemory, workspaces, next.choice),
         layoutsOf(next)});
}

/// A tensor's name for a report: its plan name, else its op's location
/// name; with the op that makes it (one name may be several values: a
/// parameter and the transposes of it).
std::string reportName(const StrategyNode &node) {
  std::string name = spmd::tensorName(node.value);
  if (!node.op)
    return name;
  if (auto loc = mlir::dyn_cast<mlir::NameLoc>(node.op->getLoc());
      name.empty() && loc)
    name = loc.getName().str();
  return absl::StrCat(name, name.empty() ? "" : " ", "(",
                      node.op->getName().getStringRef().str(), ")");
}

/// Fills the report's peakAt and peakLive for `choice`: the step where the
/// live memory is largest, and the largest tensors live there.
void describePeak(const std::vector<StrategyNode> &nodes,
                  const ShardingProblem &problem,
                  const std::vector<EdgeMemory> &edgeMemory,
                  const std::vector<int32_t> &choice, AutoShardReport &report) {
  int64_t when = peakUsage(problem, edgeMemory, choice).second;
  std::vector<std::pair<int64_t, std::string>> there; // (bytes, name)
  for (auto [n, node] : llvm::enumerate(problem.nodes))
    if (node.start <= when && when < node.end && node.usages[choice[n]] > 0)
      there.emplace_back(node.usages[choice[n]], reportName(nodes[n]));
  for (size_t e = 0; e < edgeMemory.size(); ++e)
    if (int64_t bytes = heldBy(problem, edgeMemory, e, choice);
        bytes > 0 && edgeMemory[e].at <= when && when < edgeMemory[e].until) {
      std::string name = spmd::tensorName(edgeMemory[e].operand);
      there.emplace_back(
          bytes,
          absl::StrCat(name, name.empty() ? "" : " ",
                       edgeMemory[e].returned
                           ? std::string("(resharded as the state)")
                           : "(resharded for " +
                                 reportName(nodes[problem.edges[e].v]) + ")"));
    }
  std::sort(there.rbegin(), there.rend());
  constexpr size_t kListed = 8;
  for (size_t i = 0; i < there.size() && i < kListed; ++i)
    report.peakLive.emplace_back(there[i].second, there[i].first);
  // The op the peak falls at: the one whose node starts there.
  for (auto [n, node] : llvm::enumerate(problem.nodes))
    if (node.start == when && nodes[n].op) {
      report.peakAt = reportName(nodes[n]);
      break;
    }
}

/// Whether `op` reads its operand's bytes where they are, as a view: a
/// reshape, or a transpose folded into the products that read it.
bool isView(mlir::Operation *op) {
  if (mlir::isa<graph::ReshapeOp>(op))
    return true;
  auto transpose = mlir::dyn_cast<graph::TransposeOp>(op);
  return transpose && graph::foldsIntoItsReaders(transpose);
}

/// Calls `read` with every op that reads `value`'s bytes: its users, and
/// through the views among them (isView), their users in turn.
void forEachReader(mlir::Value value,
                   llvm::function_ref<void(mlir::Operation *)> read) {
  for (mlir::Operation *user : value.getUsers()) {
    read(user);
    if (isView(user))
      forEachReader(user->getResult(0), read);
  }
}

/// Whether the executable gives `value` memory of its own, as far as the
/// lowering's rules can be told before partitioning: a reshape is a view
/// of its operand (AssignBuffers), a transpose its dot products read
/// strided makes no copy (their canonicalization), a splat constant and an
/// elementwise value read only by elementwise ops join their readers' fusion
/// (FuseElementwise: a producer joins when the group reads all of it;
/// constants and broadcasts join every group that reads them).
bool holdsMemory(mlir::Value value) {
  mlir::Operation *op = value.getDefiningOp();
  if (!op)
    return true;
  if (isView(op))
    return false;
  if (!graph::isFusible(op) || value.use_empty())
    return true;
  bool cheap = mlir::isa<graph::BroadcastInDimOp, graph::ConstantOp>(op);
  // Computed inside its readers unless one of them (through views: a
  // slice of the fused q/k/v reshaped into heads and read transposed by
  // the attention's products) is no fusion, or there are several.
  llvm::SmallPtrSet<mlir::Operation *, 2> readers;
  bool materialized = false;
  forEachReader(value, [&](mlir::Operation *user) {
    if (isView(user))
      return;
    materialized = materialized || !graph::isFusible(user) ||
                   user->getBlock() != op->getBlock();
    readers.insert(user);
  });
  return materialized || (!cheap && readers.size() > 1);
}

/// The position of the last op that reads `value` or a view of it.
int64_t lastRead(mlir::Value value,
                 const std::map<mlir::Operation *, int64_t> &position) {
  int64_t last = 0;
  forEachReader(value, [&](mlir::Operation *user) {
    auto at = position.find(user);
    last = std::max(last, at == position.end() ? 0 : at->second);
  });
  return last;
}

class Builder {
public:
  Builder(mlir::func::FuncOp function, MeshAttr mesh,
          mlir::FlatSymbolRefAttr meshRef, const cost::CostModel &model)
      : function(function), mesh(mesh), meshRef(meshRef), model(model),
        strategies(mesh), costs(mesh, model) {}

  mlir::FailureOr<AutoShardReport> run(const AutoShardOptions &options);

private:
  /// The node of `op`, constrained to its annotation; failure (reported)
  /// if no strategy gives it.
  mlir::FailureOr<StrategyNode>
  opNode(mlir::Operation &op, OpShardingRuleAttr rule, bool exactly) const;
  ShardingAttr toSharding(const Dims &dims) const;

  mlir::func::FuncOp function;
  MeshAttr mesh;
  mlir::FlatSymbolRefAttr meshRef;
  const cost::CostModel &model;
  StrategyEnumerator strategies;
  StrategyCosts costs;
};

mlir::FailureOr<StrategyNode> Builder::opNode(mlir::Operation &op,
                                              OpShardingRuleAttr rule,
                                              bool exactly) const {
  StrategyNode node = strategies.forOp(&op, rule);
  ShardingAttr given = spmd::getSharding(op.getResult(0));
  if (strategies.constrain(node, given, exactly))
    return node;
  // The annotation may split unevenly: look among those splits too.
  node = strategies.forOp(&op, rule, /*even=*/false);
  if (node.result.empty() || strategies.constrain(node, given, exactly))
    return node;
  if (given)
    op.emitError() << "auto-sharding: no strategy gives the annotated "
                      "sharding "
                   << given;
  else
    op.emitError() << "auto-sharding: no strategy keeps the result whole";
  return mlir::failure();
}

ShardingAttr Builder::toSharding(const Dims &dims) const {
  mlir::MLIRContext *context = function->getContext();
  llvm::SmallVector<spmd::DimensionShardingAttr> result;
  for (const AxisList &axesOfDim : dims)
    result.push_back(spmd::DimensionShardingAttr::get(
        context, axesOfDim, /*isClosed=*/true, /*priority=*/-1));
  return ShardingAttr::get(context, meshRef, result, {}, {});
}

mlir::FailureOr<AutoShardReport> Builder::run(const AutoShardOptions &options) {
  std::vector<StrategyNode> nodes;
  llvm::DenseMap<mlir::Value, int32_t> nodeOf;
  mlir::Block &body = function.getBody().front();
  for (mlir::BlockArgument argument : body.getArguments()) {
    if (!tensorOf(argument))
      continue;
    // An annotated argument has the one layout it is given, even or not
    // (open dimensions stay whole).
    StrategyNode node;
    if (ShardingAttr given = spmd::getSharding(argument);
        given && llvm::any_of(given.getDims(), [](auto dim) {
          return !dim.getAxes().empty();
        })) {
      node.value = argument;
      Dims dims;
      for (spmd::DimensionShardingAttr dim : given.getDims())
        dims.emplace_back(dim.getAxes().begin(), dim.getAxes().end());
      node.result.push_back(dims);
    } else {
      // Without axes, an annotation still keeps its closed dimensions whole
      // (a parameter the plan replicates); open dimensions stay free.
      node = strategies.forArgument(argument);
      if (!strategies.constrain(node, given, options.priceOnly)) {
        mlir::emitError(argument.getLoc())
            << "auto-sharding: no strategy gives argument #"
            << argument.getArgNumber() << " the annotated sharding " << given;
        return mlir::failure();
      }
    }
    nodeOf[argument] = static_cast<int32_t>(nodes.size());
    nodes.push_back(std::move(node));
  }
  for (mlir::Operation &op : body) {
    OpShardingRuleAttr rule = spmd::getShardingRule(&op);
    if (!rule || op.getNumResults() == 0 || !tensorOf(op.getResult(0)) ||
        !llvm::all_of(op.getOperands(),
                      [](mlir::Value v) { return tensorOf(v); }))
      continue;
    mlir::FailureOr<StrategyNode> node = opNode(op, rule, options.priceOnly);
    if (mlir::failed(node))
      return mlir::failure();
    if (node->result.empty())
      continue;
    nodeOf[op.getResult(0)] = static_cast<int32_t>(nodes.size());
    nodes.push_back(std::move(*node));
  }

  // The problem: strategy costs, reshards on edges, memory by liveness
  // (time: arguments at 0, then ops in program order).
  ShardingProblem problem;
  std::vector<EdgeMemory> edgeMemory;
  Workspaces workspaces;
  problem.name = function.getName().str();
  std::map<mlir::Operation *, int64_t> position;
  int64_t step = 0;
  for (mlir::Operation &op : body)
    position[&op] = ++step;
  // A training step's update is written over the state it updates (the
  // argument, held all step: AssignBuffers donates it).
  llvm::DenseSet<mlir::Value> updates;
  mlir::Operation *terminator = body.getTerminator();
  for (unsigned r = 0; r < terminator->getNumOperands(); ++r)
    if (graph::GraphDialect::updatedArgument(function, r))
      updates.insert(terminator->getOperand(r));
  // What the runtime computes once at load and keeps (an op whose
  // operands are all constants or parameters no step updates: an
  // attention mask's slices) is held for the whole step.
  llvm::DenseSet<mlir::Value> invariant;
  {
    llvm::DenseSet<unsigned> updated;
    for (unsigned r = 0; r < terminator->getNumOperands(); ++r)
      if (auto argument = graph::GraphDialect::updatedArgument(function, r))
        updated.insert(*argument);
    for (mlir::BlockArgument argument : body.getArguments())
      if (function.getArgAttr(argument.getArgNumber(),
                              graph::GraphDialect::kParameterAttr) &&
          !updated.contains(argument.getArgNumber()))
        invariant.insert(argument);
    for (mlir::Operation &op : body)
      if (op.getNumRegions() == 0 &&
          !op.hasTrait<mlir::OpTrait::IsTerminator>() &&
          llvm::all_of(op.getOperands(), [&](mlir::Value operand) {
            return invariant.contains(operand);
          }))
        invariant.insert(op.result_begin(), op.result_end());
  }
  for (const StrategyNode &node : nodes) {
    ShardingProblem::Node entry;
    bool held = holdsMemory(node.value) && !updates.contains(node.value);
    std::vector<int64_t> &workspace = workspaces.nodes.emplace_back();
    for (size_t s = 0; s < node.size(); ++s) {
      auto [compute, communication] = costs.strategySeconds(node, s);
      workspace.push_back(costs.strategyWorkspaceBytes(node, s));
      entry.costs.push_back(
          static_cast<int64_t>((compute + communication) * kPicoseconds));
      entry.usages.push_back(
          held ? costs.localBytes(tensorOf(node.value), node.result[s]) : 0);
    }
    // The runtime holds arguments (inputs, parameters, state) for the
    // whole step; a value, until its last reader (through the reshapes
    // that view it).
    bool whole = !node.op || invariant.contains(node.value);
    entry.start = whole ? 0 : position[node.op];
    entry.end = whole ? step + 1 : lastRead(node.value, position) + 1;
    problem.nodes.push_back(std::move(entry));
  }
  for (auto [c, node] : llvm::enumerate(nodes)) {
    if (!node.op)
      continue;
    for (auto [i, operand] : llvm::enumerate(node.op->getOperands())) {
      auto producer = nodeOf.find(operand);
      if (producer == nodeOf.end())
        continue;
      const StrategyNode &from = nodes[producer->second];
      ShardingProblem::Edge edge;
      edge.u = producer->second;
      edge.v = static_cast<int32_t>(c);
      // A reshard makes the operand anew in the layout the op reads, held
      // while the op runs. Its collective reads the operand from memory:
      // one its producer would not have held (a transpose folded into the
      // product reading it, a fusion computed inside its readers) is made
      // for it and held as long (ZeRO's transposed embedding, gathered
      // for the tied output projection: 2 MiB of the bench model's step).
      mlir::Operation *made = operand.getDefiningOp();
      bool materialized =
          made && !mlir::isa<graph::ReshapeOp>(made) && !holdsMemory(operand);
      // An operand read twice (a squared gradient's g * g) is resharded
      // once where both reads want one layout: CSE merges the collectives.
      std::optional<size_t> first;
      for (size_t j = 0; j < i && !first; ++j)
        if (node.op->getOperand(j) == operand)
          first = j;
      EdgeMemory &held = edgeMemory.emplace_back();
      held.at = position[node.op];
      held.until = held.at + 1;
      held.operand = operand;
      held.operandIndex = i;
      std::vector<int64_t> &workspace = workspaces.edges.emplace_back();
      for (size_t a = 0; a < from.result.size(); ++a)
        for (size_t b = 0; b < node.result.size(); ++b) {
          const StrategyCosts::Reshard &reshard = costs.reshard(
              tensorOf(operand), from.result[a], node.operands[b][i]);
          bool again = first && node.operands[b][*first] == node.operands[b][i];
          edge.costs.push_back(
              again ? 0 : static_cast<int64_t>(reshard.seconds * kPicoseconds));
          workspace.push_back(reshard.workspace);
          held.bytes.push_back(
              again || from.result[a] == node.operands[b][i]
                  ? 0
                  : costs.localBytes(tensorOf(operand), node.operands[b][i]) +
                        (materialized ? costs.localBytes(tensorOf(operand),
                                                         from.result[a])
                                      : 0));
        }
      problem.edges.push_back(std::move(edge));
    }
  }
  // A training step returns each update in its state's layout: where the
  // update is laid out otherwise (ZeRO computes it on a part), the
  // reshard is priced, and its result is held to the step's end instead
  // of being written over the state.
  for (unsigned r = 0; r < terminator->getNumOperands(); ++r) {
    std::optional<unsigned> argument =
        graph::GraphDialect::updatedArgument(function, r);
    mlir::Value update = terminator->getOperand(r);
    auto from = nodeOf.find(update);
    auto to =
        argument ? nodeOf.find(function.getArgument(*argument)) : nodeOf.end();
    if (from == nodeOf.end() || to == nodeOf.end() || !nodes[from->second].op)
      continue;
    const StrategyNode &made = nodes[from->second], &state = nodes[to->second];
    ShardingProblem::Edge edge;
    edge.u = from->second;
    edge.v = to->second;
    EdgeMemory &held = edgeMemory.emplace_back();
    held.at = position[made.op];
    held.until = step + 1;
    held.operand = update;
    held.returned = true;
    std::vector<int64_t> &workspace = workspaces.edges.emplace_back();
    for (size_t a = 0; a < made.result.size(); ++a)
      for (size_t b = 0; b < state.result.size(); ++b) {
        const StrategyCosts::Reshard &reshard =
            costs.reshard(tensorOf(update), made.result[a], state.result[b]);
        edge.costs.push_back(
            static_cast<int64_t>(reshard.seconds * kPicoseconds));
        workspace.push_back(reshard.workspace);
        held.bytes.push_back(
            made.result[a] == state.result[b]
                ? 0
                : costs.localBytes(tensorOf(update), state.result[b]));
      }
    problem.edges.push_back(std::move(edge));
  }
  std::vector<std::vector<int32_t>> entering(nodes.size()),
      leaving(nodes.size());
  for (auto [e, edge] : llvm::enumerate(problem.edges)) {
    entering[edge.v].push_back(static_cast<int32_t>(e));
    leaving[edge.u].push_back(static_cast<int32_t>(e));
  }
  workspaces.chained = [&](const std::vector<int32_t> &choice) {
    return reduceScatterWorkspace(nodes, problem, edgeMemory, entering, leaving,
                                  costs, choice);
  };
  int64_t budget =
      options.memoryBudget > 0 ? options.memoryBudget : model.memoryBytes();
  // The program has what the runtime itself does not take of the budget.
  int64_t runtime = model.runtimeBytes();
  int64_t room = budget - runtime;
  if (!options.priceOnly && budget > 0 && room <= 0)
    return function.emitError()
           << "auto-sharding: the runtime alone takes " << runtime
           << " bytes per device (the device profile's runtime_bytes), the "
              "whole memory budget of "
           << budget;
  // A plan priced as given is reported over the budget, not refused.
  if (!options.priceOnly)
    problem.usageLimit = room;

  SolverOptions solverOptions;
  solverOptions.seconds = options.seconds;
  solverOptions.patience = options.patience;
  solverOptions.staleSeconds = options.staleSeconds;
  if (options.onProgress)
    solverOptions.onProgress = [&](const SolverProgress &progress) {
      options.onProgress(progress.seconds,
                         static_cast<double>(progress.cost) / kPicoseconds);
    };
  Solution solution = solve(problem, solverOptions);
  // The problem's memory is its nodes'; the reshards between them hold
  // memory too. Where they take the plan over the budget, the limit is
  // lowered by the excess and the search runs again (at most 3 times).
  int64_t peak = solution.feasible ? planPeak(problem, edgeMemory, workspaces,
                                              solution.choice)
                                   : solution.peakUsage;
  if (problem.usageLimit && solution.feasible && peak > room) {
    // Limits known to leave no plan (below) and to give one over budget.
    int64_t below = 0, over = *problem.usageLimit;
    SolverOptions again = solverOptions;
    again.seconds = std::max(0.25, solverOptions.seconds / 4);
    for (int round = 0; round < 4 && peak > room; ++round) {
      int64_t limit = over - (peak - room);
      if (limit <= below)
        limit = below + (over - below) / 2;
      ShardingProblem tighter = problem;
      tighter.usageLimit = limit;
      Solution next = solve(tighter, again);
      if (!next.feasible) {
        below = limit;
        continue;
      }
      int64_t nextPeak = planPeak(problem, edgeMemory, workspaces, next.choice);
      over = limit;
      if (nextPeak < peak || nextPeak <= room) {
        solution = std::move(next);
        peak = nextPeak;
      }
    }
    if (peak > room)
      solution.feasible = false;
  }

  AutoShardReport report;
  report.nodes = static_cast<int64_t>(nodes.size());
  report.edges = static_cast<int64_t>(problem.edges.size());
  for (const StrategyNode &node : nodes)
    report.strategies += static_cast<int64_t>(node.size());
  report.feasible = solution.feasible;
  report.priced = options.priceOnly;
  report.optimal = solution.optimal;
  report.solveSeconds = solution.seconds;
  report.costSeconds = static_cast<double>(solution.cost) / kPicoseconds;
  if (solution.lowerBound)
    report.lowerBoundSeconds =
        static_cast<double>(*solution.lowerBound) / kPicoseconds;
  report.method = solution.method;
  report.profile = model.profile().name();
  report.peakBytes = peak + runtime;
  report.budgetBytes = budget;
  report.runtimeBytes = runtime;
  if (solution.feasible)
    report.workspaceBytes = workspaces.of(problem, solution.choice);
  if (!solution.feasible)
    return function.emitError()
           << "auto-sharding: no plan fits the memory budget of " << budget
           << " bytes per device (the least needs "
           << std::max(peak, solution.peakUsage) + runtime
           << (runtime ? ", the runtime's own included)" : ")");

  // Does the budget bind? The best plan found without it, in a quarter of
  // the time, says what fitting cost.
  if (!options.priceOnly && budget > 0 && peak * 10 >= room * 9) {
    ShardingProblem unbounded = problem;
    unbounded.usageLimit.reset();
    SolverOptions quick = solverOptions;
    quick.seconds = std::min(options.seconds / 4, 5.0);
    quick.onProgress = nullptr;
    Solution free = solve(unbounded, quick);
    int64_t freePeak = planPeak(problem, edgeMemory, workspaces, free.choice);
    if (free.feasible && freePeak > room && free.cost < solution.cost) {
      std::vector<std::string> smaller;
      int64_t others = 0;
      for (auto [n, node] : llvm::enumerate(nodes)) {
        int32_t kept = solution.choice[n], best = free.choice[n];
        if (kept == best ||
            problem.nodes[n].usages[kept] >= problem.nodes[n].usages[best])
          continue;
        std::string name = spmd::tensorName(node.value);
        if (name.empty())
          ++others;
        else
          smaller.push_back(name);
      }
      std::string listed;
      for (size_t i = 0; i < smaller.size() && i < 12; ++i)
        listed += (i ? ", " : "") + smaller[i];
      if (smaller.size() > 12)
        listed += absl::StrCat(", and ", smaller.size() - 12, " more");
      report.budgetNote = absl::StrFormat(
          "  the memory budget binds: the best plan found without it models "
          "%.3f ms at %.1f MiB per device; fitting costs %+.3f ms. Split "
          "further to fit: %s%s%lld unnamed tensors\n",
          static_cast<double>(free.cost) / kPicoseconds * 1e3,
          static_cast<double>(freePeak + runtime) / (1 << 20),
          static_cast<double>(solution.cost - free.cost) / kPicoseconds * 1e3,
          listed, listed.empty() ? "" : "; ", static_cast<long long>(others));
    }
  }

  if (options.alternatives > 0)
    listAlternatives(nodes, problem, edgeMemory, workspaces, solution,
                     solverOptions, mesh, costs, options, report);
  for (AutoShardAlternative &alternative : report.alternatives)
    alternative.peakBytes += runtime;

  if (options.explain) {
    auto found = nodeOf.find(options.explain);
    if (found == nodeOf.end()) {
      report.explanation = "  (no choice to explain: the tensor is not an "
                           "argument or the result of an op with a rule)\n";
    } else {
      report.explanation =
          explainCandidates(nodes, found->second, problem, solution, costs);
    }
  }

  describePeak(nodes, problem, edgeMemory, solution.choice, report);

  std::vector<std::vector<int32_t>> edgesOfNodes;
  if (options.recordOrigins)
    edgesOfNodes = edgesByNode(problem);
  for (auto [n, node] : llvm::enumerate(nodes)) {
    int32_t s = solution.choice[n];
    auto [compute, communication] = costs.strategySeconds(node, s);
    report.computeSeconds += compute;
    report.communicationSeconds += communication;
    spmd::setSharding(node.value, toSharding(node.result[s]));
    // What the plan fixed keeps the plan's origin.
    if (options.recordOrigins &&
        llvm::all_of(spmd::getOrigins(node.value),
                     [](const std::string &origin) { return origin.empty(); }))
      spmd::setOrigins(node.value,
                       llvm::SmallVector<std::string>(
                           node.result[s].size(),
                           autoOrigin(nodes, static_cast<int32_t>(n), problem,
                                      edgesOfNodes[n], solution, costs)));
  }
  for (const ShardingProblem::Edge &edge : problem.edges)
    report.communicationSeconds +=
        static_cast<double>(
            edge.costs[static_cast<size_t>(solution.choice[edge.u]) *
                           nodes[edge.v].size() +
                       solution.choice[edge.v]]) /
        kPicoseconds;
  return report;
}

} // namespace

mlir::FailureOr<AutoShardReport> autoShard(mlir::ModuleOp module,
                                           const cost::CostModel &model,
                                           const AutoShardOptions &options) {
  llvm::SmallVector<spmd::MeshOp> meshes(module.getOps<spmd::MeshOp>());
  if (meshes.size() != 1)
    return module.emitError() << "auto-sharding needs exactly one spmd.mesh, "
                                 "found "
                              << meshes.size();
  llvm::SmallVector<mlir::func::FuncOp> functions(
      module.getOps<mlir::func::FuncOp>());
  if (functions.size() != 1)
    return module.emitError()
           << "auto-sharding needs exactly one function, found "
           << functions.size();
  MeshAttr mesh = meshes[0].getMesh();
  auto meshRef = mlir::FlatSymbolRefAttr::get(meshes[0].getSymNameAttr());
  return Builder(functions[0], mesh, meshRef, model).run(options);
}

namespace {

struct AutoShardPass : impl::AutoShardPassBase<AutoShardPass> {
  using AutoShardPassBase::AutoShardPassBase;
  void runOnOperation() override {
    absl::StatusOr<cost::CostModel> model = cost::CostModel::named(profilePath);
    if (!model.ok()) {
      getOperation().emitError()
          << "auto-sharding: " << std::string(model.status().message());
      return signalPassFailure();
    }
    AutoShardOptions options;
    options.memoryBudget = memoryBudget;
    options.seconds = seconds;
    if (mlir::failed(autoShard(getOperation(), *model, options)))
      signalPassFailure();
  }
};

} // namespace
} // namespace tessel::autoshard
