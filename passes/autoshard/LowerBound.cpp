//===- LowerBound.cpp - TRW-S with memory prices --------------------------===//
//
// The costs are reparametrized in place: `node[i][s]` and each edge's table
// change so that every choice's total stays what the problem says, and the
// sum of the cheapest entries is then a bound (each part of any choice
// costs at least its part's cheapest entry). A pass visits the nodes in an
// order; at each it collects from every edge the cheapest entry of each of
// the node's rows, then hands an equal share of what it holds to the edges
// towards the nodes later in the pass, where it flows on. Passes alternate
// forward and backward (program order, where chains run).
//
//===----------------------------------------------------------------------===//

#include "passes/autoshard/LowerBound.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

namespace tessel::autoshard {
namespace {

using Clock = std::chrono::steady_clock;

Cost floorDiv(Cost x, Cost n) {
  Cost q = x / n;
  if (x % n != 0 && x < 0)
    --q;
  return q;
}

class Dual {
public:
  Dual(const ShardingProblem &problem, const LowerBoundOptions &options)
      : problem(problem), options(options), start(Clock::now()) {}

  LowerBoundResult run();

private:
  struct Edge {
    int32_t u, v, su, sv;
    std::vector<Cost> costs; // su x sv, reparametrized.
  };

  double elapsed() const {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  void build();
  /// One pass in `order`; with `decode`, also the choice that message
  /// passing points to (each node its cheapest given the nodes before it).
  /// False if stopped on the way (the costs are still a reparametrization
  /// at every step).
  bool pass(const std::vector<int32_t> &order, bool decode);
  bool stopped() const {
    return options.stop && options.stop->load(std::memory_order_relaxed);
  }
  /// The bound the current reparametrization and prices prove.
  Cost bound() const;
  /// Moves the memory prices along the subgradient of `decoded`.
  void updatePrices(Cost best);
  void setPrices(const std::vector<double> &next);

  const ShardingProblem &problem;
  const LowerBoundOptions &options;
  Clock::time_point start;

  std::vector<std::vector<Cost>> node;
  std::vector<Edge> edges;
  std::vector<std::vector<int32_t>> adjacency;
  std::vector<int32_t> position;
  std::vector<int32_t> decoded;
  // Memory: compressed steps, each node's [first, second) among them.
  bool memoryMatters = false;
  int64_t steps = 0;
  std::vector<std::pair<int64_t, int64_t>> span;
  std::vector<double> price;           // per step
  std::vector<std::vector<Cost>> paid; // per node and strategy, in node[]
  Cost priceConstant = 0;              // ceil(limit * sum of prices)
  double stepSize = 1.0;
};

void Dual::build() {
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  // Forbidden entries cost at most one more than every allowed entry
  // together: any choice with one then costs more than any without, and
  // lowering a cost keeps a bound a bound.
  Cost allowedMax = 0;
  auto largestAllowed = [](const std::vector<int64_t> &costs) {
    int64_t largest = 0;
    for (int64_t c : costs)
      if (c < kForbidden)
        largest = std::max(largest, c);
    return largest;
  };
  for (const ShardingProblem::Node &n : problem.nodes)
    allowedMax += largestAllowed(n.costs);
  for (const ShardingProblem::Edge &e : problem.edges)
    allowedMax += largestAllowed(e.costs);
  Cost cap = std::min<Cost>(allowedMax + 1, kForbidden);
  auto capped = [&](int64_t c) -> Cost {
    return c >= kForbidden ? std::min<Cost>(c, cap) : c;
  };

  node.assign(n, {});
  for (int32_t i = 0; i < n; ++i)
    for (int64_t c : problem.nodes[i].costs)
      node[i].push_back(capped(c));
  for (const ShardingProblem::Edge &edge : problem.edges)
    if (edge.u == edge.v) { // Only its diagonal can be chosen.
      int32_t s = problem.strategies(edge.u);
      for (int32_t a = 0; a < s; ++a)
        node[edge.u][a] += capped(edge.costs[static_cast<size_t>(a) * s + a]);
    }
  MergedEdges<Cost> merged = mergeEdges<Cost>(
      problem, [&](Cost total, int64_t cost) { return total + capped(cost); });
  edges.clear();
  for (auto &edge : merged.edges)
    edges.push_back({edge.u, edge.v, problem.strategies(edge.u),
                     problem.strategies(edge.v), std::move(edge.costs)});
  adjacency = std::move(merged.adjacency);

  if (!problem.usageLimit)
    return;
  LiveSteps live = liveSteps(problem);
  steps = live.steps;
  span = std::move(live.spans);
  // Does memory matter: would every node at its largest usage overfill?
  std::vector<Cost> largest(steps + 1, 0);
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<int64_t> &usages = problem.nodes[i].usages;
    int64_t most = *std::max_element(usages.begin(), usages.end());
    largest[span[i].first] += most;
    largest[span[i].second] -= most;
  }
  Cost used = 0;
  for (int64_t t = 0; t < steps && !memoryMatters; ++t)
    memoryMatters = (used += largest[t]) > *problem.usageLimit;
  if (memoryMatters) {
    price.assign(steps, 0.0);
    paid.assign(n, {});
    for (int32_t i = 0; i < n; ++i)
      paid[i].assign(node[i].size(), 0);
  }
}

bool Dual::pass(const std::vector<int32_t> &order, bool decode) {
  for (size_t k = 0; k < order.size(); ++k)
    position[order[k]] = static_cast<int32_t>(k);
  if (decode)
    decoded.assign(node.size(), -1);
  for (int32_t i : order) {
    if (stopped())
      return false;
    std::vector<Cost> &own = node[i];
    int32_t si = static_cast<int32_t>(own.size());
    // Collect: each edge's cheapest entry per strategy of `i` moves here.
    int32_t earlier = 0, later = 0;
    for (int32_t e : adjacency[i]) {
      Edge &edge = edges[e];
      bool isU = edge.u == i;
      int32_t other = isU ? edge.v : edge.u;
      (position[other] > position[i] ? later : earlier) += 1;
      int32_t so = isU ? edge.sv : edge.su;
      for (int32_t a = 0; a < si; ++a) {
        auto at = [&](int32_t b) -> Cost & {
          return isU ? edge.costs[static_cast<size_t>(a) * edge.sv + b]
                     : edge.costs[static_cast<size_t>(b) * edge.sv + a];
        };
        Cost least = at(0);
        for (int32_t b = 1; b < so; ++b)
          least = std::min(least, at(b));
        for (int32_t b = 0; b < so; ++b)
          at(b) -= least;
        own[a] += least;
      }
    }
    if (decode) {
      // The cheapest strategy given the neighbours decoded before.
      Cost bestCost = 0;
      for (int32_t a = 0; a < si; ++a) {
        Cost cost = own[a];
        for (int32_t e : adjacency[i]) {
          const Edge &edge = edges[e];
          bool isU = edge.u == i;
          int32_t other = isU ? edge.v : edge.u;
          if (decoded[other] < 0)
            continue;
          cost +=
              isU ? edge.costs[static_cast<size_t>(a) * edge.sv +
                               decoded[other]]
                  : edge.costs[static_cast<size_t>(decoded[other]) * edge.sv +
                               a];
        }
        if (decoded[i] < 0 || cost < bestCost) {
          decoded[i] = a;
          bestCost = cost;
        }
      }
    }
    // Distribute: an equal share of each strategy's cost to each edge
    // towards a later node (1 / max(earlier, later) each, as TRW-S).
    if (later == 0)
      continue;
    Cost share = std::max(earlier, later);
    for (int32_t a = 0; a < si; ++a) {
      Cost q = floorDiv(own[a], share);
      if (q == 0)
        continue;
      for (int32_t e : adjacency[i]) {
        Edge &edge = edges[e];
        bool isU = edge.u == i;
        int32_t other = isU ? edge.v : edge.u;
        if (position[other] < position[i])
          continue;
        if (isU)
          for (int32_t b = 0; b < edge.sv; ++b)
            edge.costs[static_cast<size_t>(a) * edge.sv + b] += q;
        else
          for (int32_t b = 0; b < edge.su; ++b)
            edge.costs[static_cast<size_t>(b) * edge.sv + a] += q;
      }
      own[a] -= q * later;
    }
  }
  return true;
}

Cost Dual::bound() const {
  Cost total = -priceConstant;
  for (const std::vector<Cost> &own : node)
    if (!own.empty())
      total += *std::min_element(own.begin(), own.end());
  for (const Edge &edge : edges)
    total += *std::min_element(edge.costs.begin(), edge.costs.end());
  return total;
}

void Dual::setPrices(const std::vector<double> &next) {
  // Each node pays floor(usage x the prices of its steps): never more than
  // its share of limit x prices for a choice that fits, so subtracting
  // ceil(limit x prices) keeps the bound below every such choice.
  std::vector<double> prefix(steps + 1, 0.0);
  for (int64_t t = 0; t < steps; ++t)
    prefix[t + 1] = prefix[t] + next[t];
  for (size_t i = 0; i < node.size(); ++i) {
    double rate = prefix[span[i].second] - prefix[span[i].first];
    for (size_t s = 0; s < node[i].size(); ++s) {
      double amount = rate * static_cast<double>(problem.nodes[i].usages[s]);
      Cost now = static_cast<Cost>(std::floor(std::min(amount, 1e30)));
      node[i][s] += now - paid[i][s];
      paid[i][s] = now;
    }
  }
  price = next;
  priceConstant = static_cast<Cost>(
      std::ceil(prefix[steps] * static_cast<double>(*problem.usageLimit)));
}

void Dual::updatePrices(Cost best) {
  // Subgradient: the decoded choice's memory over the limit at each step.
  std::vector<double> over(steps + 1, 0.0);
  for (size_t i = 0; i < node.size(); ++i) {
    double usage = static_cast<double>(problem.nodes[i].usages[decoded[i]]);
    over[span[i].first] += usage;
    over[span[i].second] -= usage;
  }
  double live = 0, norm = 0;
  std::vector<double> g(steps);
  for (int64_t t = 0; t < steps; ++t) {
    live += over[t];
    g[t] = live - static_cast<double>(*problem.usageLimit);
    if (g[t] > 0 || price[t] > 0)
      norm += g[t] * g[t];
  }
  if (norm == 0)
    return;
  // Polyak's step towards a target above the bound: the decoded choice's
  // cost when it fits, else 10% above the bound.
  Evaluation evaluation = evaluate(problem, decoded);
  double target =
      evaluation.feasible
          ? static_cast<double>(evaluation.cost)
          : static_cast<double>(best) +
                std::max(1.0, std::fabs(static_cast<double>(best)) * 0.1);
  double gap = std::max(target - static_cast<double>(best), 1.0);
  double alpha = stepSize * gap / norm;
  std::vector<double> next(steps);
  for (int64_t t = 0; t < steps; ++t)
    next[t] = std::max(0.0, price[t] + alpha * g[t]);
  setPrices(next);
}

LowerBoundResult Dual::run() {
  LowerBoundResult result;
  build();
  int32_t n = static_cast<int32_t>(node.size());
  std::vector<int32_t> forward(n), backward(n);
  for (int32_t i = 0; i < n; ++i) {
    forward[i] = i;
    backward[i] = n - 1 - i;
  }
  position.assign(n, 0);
  Cost best = bound();
  if (options.onBound)
    options.onBound(best);
  int64_t stale = 0;
  while (elapsed() < options.seconds &&
         (options.rounds == 0 || result.rounds < options.rounds)) {
    if (options.done && options.done(best))
      break;
    bool decode = memoryMatters || options.onDecoded;
    if (!pass(forward, decode))
      break;
    if (options.onDecoded)
      options.onDecoded(decoded);
    if (!pass(backward, /*decode=*/false))
      break;
    ++result.rounds;
    Cost now = bound();
    if (now > best) {
      best = now;
      stale = 0;
      if (options.onBound)
        options.onBound(best);
      if (memoryMatters && options.onPrices)
        options.onPrices(price);
    } else if (++stale % 30 == 0) {
      stepSize /= 2;
    }
    // Without memory prices, a fixed point of the passes; with them, steps
    // too small to move.
    if (stale >= (memoryMatters ? 600 : 10)) {
      result.converged = true;
      break;
    }
    if (memoryMatters)
      updatePrices(best);
  }
  result.bound = best;
  result.seconds = elapsed();
  return result;
}

} // namespace

LowerBoundResult lowerBound(const ShardingProblem &problem,
                            const LowerBoundOptions &options) {
  return Dual(problem, options).run();
}

} // namespace tessel::autoshard
