//===- Solver.cpp - Choose a strategy per node ----------------------------===//

#include "passes/autoshard/Solver.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace tessel::autoshard {
namespace {

using Clock = std::chrono::steady_clock;

/// Range add and range maximum over the compressed time steps.
class UsageTree {
public:
  void reset(int64_t size) {
    n = std::max<int64_t>(1, size);
    maxima.assign(4 * n, 0);
    pending.assign(4 * n, 0);
  }
  void add(int64_t lo, int64_t hi, int64_t delta) {
    if (lo < hi && delta != 0)
      add(1, 0, n, lo, hi, delta);
  }
  int64_t max(int64_t lo, int64_t hi) const {
    return lo < hi ? max(1, 0, n, lo, hi) : 0;
  }
  int64_t max() const { return maxima[1]; }
  /// A step where the maximum is reached.
  int64_t argmax() const {
    int64_t node = 1, lo = 0, hi = n;
    while (hi - lo > 1) {
      int64_t mid = (lo + hi) / 2;
      // Children hold their maxima without this node's pending additions.
      if (maxima[2 * node] >= maxima[2 * node + 1]) {
        node = 2 * node;
        hi = mid;
      } else {
        node = 2 * node + 1;
        lo = mid;
      }
    }
    return lo;
  }

private:
  void add(int64_t node, int64_t lo, int64_t hi, int64_t a, int64_t b,
           int64_t delta) {
    if (b <= lo || hi <= a)
      return;
    if (a <= lo && hi <= b) {
      maxima[node] += delta;
      pending[node] += delta;
      return;
    }
    int64_t mid = (lo + hi) / 2;
    add(2 * node, lo, mid, a, b, delta);
    add(2 * node + 1, mid, hi, a, b, delta);
    maxima[node] =
        std::max(maxima[2 * node], maxima[2 * node + 1]) + pending[node];
  }
  int64_t max(int64_t node, int64_t lo, int64_t hi, int64_t a,
              int64_t b) const {
    if (b <= lo || hi <= a)
      return std::numeric_limits<int64_t>::min() / 2;
    if (a <= lo && hi <= b)
      return maxima[node];
    int64_t mid = (lo + hi) / 2;
    return std::max(max(2 * node, lo, mid, a, b),
                    max(2 * node + 1, mid, hi, a, b)) +
           pending[node];
  }

  int64_t n = 1;
  std::vector<int64_t> maxima, pending;
};

class Search {
public:
  Search(const ShardingProblem &problem, const SolverOptions &options)
      : problem(problem), options(options), rng(options.seed),
        start(Clock::now()) {}

  Solution run();

private:
  struct MergedEdge {
    int32_t u, v;
    std::vector<int64_t> costs; // |S_u| x |S_v|
  };

  double elapsed() const {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  bool timeLeft() const { return elapsed() < options.seconds; }
  int32_t strategies(int32_t node) const { return problem.strategies(node); }
  int64_t edgeCost(int32_t e, int32_t a, int32_t b) const {
    return edges[e].costs[static_cast<size_t>(a) * strategies(edges[e].v) + b];
  }
  /// Node `i`'s cost and its edges' under `s`, the neighbours as chosen.
  Cost localCost(int32_t i, int32_t s) const {
    Cost cost = nodeCost(i, s);
    for (auto [e, isU] : adjacency[i]) {
      const MergedEdge &edge = edges[e];
      cost +=
          isU ? edgeCost(e, s, choice[edge.v]) : edgeCost(e, choice[edge.u], s);
    }
    return cost;
  }
  int64_t usage(int32_t i, int32_t s) const {
    return problem.nodes[i].usages[s];
  }
  /// Node `i`'s own cost under `s`, with the memory penalty it pays while
  /// memory is relaxed.
  Cost nodeCost(int32_t i, int32_t s) const {
    Cost cost = problem.nodes[i].costs[s];
    if (!penalty.empty() && penalty[i] > 0)
      cost += static_cast<Cost>(penalty[i] * static_cast<double>(usage(i, s)));
    return cost;
  }

  void mergeEdges();
  void compressTime();
  void setChoice(const std::vector<int32_t> &next);
  void move(int32_t i, int32_t s) {
    usageTree.add(span[i].first, span[i].second,
                  usage(i, s) - usage(i, choice[i]));
    choice[i] = s;
  }
  bool fits() const {
    return !memoryMatters || usageTree.max() <= *problem.usageLimit;
  }
  /// Greedy in node order: each node takes its cheapest strategy given
  /// the nodes before it (edges to later nodes ignored), `seed` fixed to
  /// `seedStrategy`. In a program's order, a layout chosen for an input
  /// flows through the ops that follow, as data parallelism does.
  std::vector<int32_t> greedyForward(int32_t seed, int32_t seedStrategy) const;
  /// Where memory cannot bind: eliminates nodes of one or two neighbours
  /// exactly (a leaf folds its best answer into its neighbour's costs; a
  /// node between two becomes the edge of its best answer to each pair),
  /// solves what is left by a search of its own with `seconds`, and
  /// answers the eliminated nodes back. The choice of every node.
  std::vector<int32_t> reduceAndSolve(double seconds);
  /// Exact dynamic program over the trees of `forest` (edge indices),
  /// node costs only elsewhere.
  std::vector<int32_t> treeProgram(const std::vector<int32_t> &forest) const;
  /// Local search from the current choice over the nodes in `work` (and
  /// those their changes affect); with `keepFit`, only moves that keep
  /// memory within the limit.
  void localSearch(std::vector<int32_t> work, bool keepFit);
  /// Moves until memory fits; false if no move frees more.
  bool repair();
  /// Lagrangian relaxation of the memory limit: nodes live at an overfull
  /// step pay for their memory, more each round, while single, pair and
  /// star moves run; true once everything fits.
  bool relaxMemory();
  /// For each edge in `work` whose ends' choices are forbidden together,
  /// the best pair of strategies for both ends at once (single moves
  /// cannot leave such a pair when each end's other edges hold it).
  void pairSearch(const std::vector<int32_t> &work, bool keepFit);
  /// Edges whose current pair, or either end's current strategy, is
  /// forbidden.
  std::vector<int32_t> forbiddenEdges() const;
  /// For each node in `centers`: each of its strategies with every
  /// neighbour's best response to it, the cheapest kept (a node tied to
  /// many neighbours that must agree with it moves with them).
  void starSearch(const std::vector<int32_t> &centers, bool keepFit);
  /// The ends of forbiddenEdges().
  std::vector<int32_t> forbiddenNodes() const {
    std::vector<int32_t> nodes;
    for (int32_t e : forbiddenEdges()) {
      nodes.push_back(edges[e].u);
      nodes.push_back(edges[e].v);
    }
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    return nodes;
  }
  std::vector<int32_t> allNodes() const {
    std::vector<int32_t> nodes(problem.nodes.size());
    std::iota(nodes.begin(), nodes.end(), 0);
    return nodes;
  }
  /// Records the current choice if it is feasible and better (true then).
  bool offer(const std::string &method);
  void runIlp();

  const ShardingProblem &problem;
  const SolverOptions &options;
  std::mt19937_64 rng;
  Clock::time_point start;

  std::vector<MergedEdge> edges;
  std::vector<std::vector<std::pair<int32_t, bool>>> adjacency;
  /// Per node, its live steps among the compressed ones: [first, second).
  std::vector<std::pair<int64_t, int64_t>> span;
  int64_t steps = 0;
  bool memoryMatters = false;
  UsageTree usageTree;
  std::vector<int32_t> choice;
  /// Per node, the price of a byte of its memory (empty: none).
  std::vector<double> penalty;
  /// This is the search of a reduced problem: it reduces no further.
  bool isReduced = false;

  Solution best;
};

void Search::mergeEdges() {
  std::map<std::pair<int32_t, int32_t>, int32_t> index;
  for (const ShardingProblem::Edge &edge : problem.edges) {
    if (edge.u == edge.v)
      continue; // Both ends are one node: only the diagonal can be chosen.
    int32_t u = std::min(edge.u, edge.v), v = std::max(edge.u, edge.v);
    auto [it, inserted] =
        index.try_emplace({u, v}, static_cast<int32_t>(edges.size()));
    if (inserted)
      edges.push_back(
          {u, v,
           std::vector<int64_t>(
               static_cast<size_t>(strategies(u)) * strategies(v), 0)});
    MergedEdge &merged = edges[it->second];
    int32_t su = strategies(edge.u), sv = strategies(edge.v);
    for (int32_t a = 0; a < su; ++a)
      for (int32_t b = 0; b < sv; ++b) {
        int64_t cost = edge.costs[static_cast<size_t>(a) * sv + b];
        // Stored over (min, max): a reversed edge is transposed.
        size_t at = edge.u == u ? static_cast<size_t>(a) * sv + b
                                : static_cast<size_t>(b) * su + a;
        // Saturating: forbidden stays forbidden, and sums cannot overflow.
        merged.costs[at] =
            std::min(merged.costs[at] + std::min(cost, kForbidden), kForbidden);
      }
  }
  // Self-loops add their diagonal to the node.
  adjacency.assign(problem.nodes.size(), {});
  for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e) {
    adjacency[edges[e].u].push_back({e, true});
    adjacency[edges[e].v].push_back({e, false});
  }
}

void Search::compressTime() {
  // Memory peaks where some interval starts: those are the steps.
  std::vector<int64_t> times;
  for (const ShardingProblem::Node &node : problem.nodes)
    if (node.start < node.end)
      times.push_back(node.start);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  steps = static_cast<int64_t>(times.size());
  span.clear();
  for (const ShardingProblem::Node &node : problem.nodes) {
    if (node.start >= node.end) {
      span.push_back({0, 0});
      continue;
    }
    int64_t lo = std::lower_bound(times.begin(), times.end(), node.start) -
                 times.begin();
    int64_t hi =
        std::lower_bound(times.begin(), times.end(), node.end) - times.begin();
    span.push_back({lo, hi});
  }
  // Memory matters only if the largest usages could exceed the limit.
  memoryMatters = false;
  if (problem.usageLimit) {
    usageTree.reset(steps);
    for (size_t i = 0; i < problem.nodes.size(); ++i) {
      const std::vector<int64_t> &usages = problem.nodes[i].usages;
      usageTree.add(span[i].first, span[i].second,
                    *std::max_element(usages.begin(), usages.end()));
    }
    memoryMatters = usageTree.max() > *problem.usageLimit;
  }
}

void Search::setChoice(const std::vector<int32_t> &next) {
  choice = next;
  usageTree.reset(steps);
  for (size_t i = 0; i < choice.size(); ++i)
    usageTree.add(span[i].first, span[i].second, usage(i, choice[i]));
}

std::vector<int32_t>
Search::treeProgram(const std::vector<int32_t> &forest) const {
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  std::vector<std::vector<std::pair<int32_t, int32_t>>> tree(
      n); // (edge, other)
  for (int32_t e : forest) {
    tree[edges[e].u].push_back({e, edges[e].v});
    tree[edges[e].v].push_back({e, edges[e].u});
  }
  // f[i][s]: the cheapest of i's subtree with i at s.
  std::vector<std::vector<Cost>> f(n);
  // For a child: its best strategy per strategy of its parent.
  std::vector<std::vector<int32_t>> bestChild(n);
  std::vector<int32_t> parent(n, -1), parentEdge(n, -1), order;
  std::vector<bool> seen(n, false);
  std::vector<int32_t> choiceOut(n, 0);
  for (int32_t root = 0; root < n; ++root) {
    if (seen[root])
      continue;
    // Breadth first from the root; children after their parents.
    size_t first = order.size();
    order.push_back(root);
    seen[root] = true;
    for (size_t k = first; k < order.size(); ++k)
      for (auto [e, other] : tree[order[k]])
        if (!seen[other]) {
          seen[other] = true;
          parent[other] = order[k];
          parentEdge[other] = e;
          order.push_back(other);
        }
  }
  for (int32_t i = 0; i < n; ++i) {
    f[i].resize(strategies(i));
    for (int32_t s = 0; s < strategies(i); ++s)
      f[i][s] = problem.nodes[i].costs[s];
  }
  // Children into parents, deepest first.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    int32_t c = *it, p = parent[c];
    if (p < 0)
      continue;
    int32_t e = parentEdge[c];
    bool parentIsU = edges[e].u == p;
    bestChild[c].resize(strategies(p));
    for (int32_t sp = 0; sp < strategies(p); ++sp) {
      Cost bestCost = 0;
      int32_t bestS = -1;
      for (int32_t sc = 0; sc < strategies(c); ++sc) {
        Cost cost =
            f[c][sc] + (parentIsU ? edgeCost(e, sp, sc) : edgeCost(e, sc, sp));
        if (bestS < 0 || cost < bestCost) {
          bestCost = cost;
          bestS = sc;
        }
      }
      f[p][sp] += bestCost;
      bestChild[c][sp] = bestS;
    }
  }
  for (int32_t i : order) {
    if (parent[i] >= 0) {
      choiceOut[i] = bestChild[i][choiceOut[parent[i]]];
      continue;
    }
    choiceOut[i] = static_cast<int32_t>(
        std::min_element(f[i].begin(), f[i].end()) - f[i].begin());
  }
  return choiceOut;
}

std::vector<int32_t> Search::greedyForward(int32_t seed,
                                           int32_t seedStrategy) const {
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  std::vector<int32_t> result(n, 0);
  for (int32_t i = 0; i < n; ++i) {
    if (i == seed) {
      result[i] = seedStrategy;
      continue;
    }
    Cost bestCost = 0;
    for (int32_t s = 0; s < strategies(i); ++s) {
      Cost cost = problem.nodes[i].costs[s];
      for (auto [e, isU] : adjacency[i]) {
        const MergedEdge &edge = edges[e];
        int32_t other = isU ? edge.v : edge.u;
        if (other >= i)
          continue;
        cost +=
            isU ? edgeCost(e, s, result[other]) : edgeCost(e, result[other], s);
      }
      if (s == 0 || cost < bestCost) {
        bestCost = cost;
        result[i] = s;
      }
    }
  }
  return result;
}

std::vector<int32_t> Search::reduceAndSolve(double seconds) {
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  // Saturating: forbidden stays forbidden and nothing overflows.
  auto add = [](int64_t a, int64_t b) { return std::min(a + b, kForbidden); };
  std::vector<std::vector<int64_t>> unary(n);
  for (int32_t i = 0; i < n; ++i)
    for (int64_t cost : problem.nodes[i].costs)
      unary[i].push_back(std::min(cost, kForbidden));
  // Working edges, each stored from its smaller end.
  std::map<std::pair<int32_t, int32_t>, std::vector<int64_t>> matrix;
  std::vector<std::set<int32_t>> neighbours(n);
  for (const MergedEdge &edge : edges) {
    matrix[{edge.u, edge.v}] = edge.costs;
    neighbours[edge.u].insert(edge.v);
    neighbours[edge.v].insert(edge.u);
  }
  auto at = [&](int32_t a, int32_t b, int32_t sa, int32_t sb) {
    // The cost of (a at sa, b at sb), whichever end is stored first.
    if (a < b)
      return matrix[{a, b}][static_cast<size_t>(sa) * strategies(b) + sb];
    return matrix[{b, a}][static_cast<size_t>(sb) * strategies(a) + sa];
  };
  // How to answer eliminated nodes, in elimination order: a leaf by its
  // one neighbour's strategy, a middle node by its two neighbours'.
  struct Elimination {
    int32_t node, first, second; // second < 0 for a leaf
    std::vector<int32_t> answer;
  };
  std::vector<Elimination> eliminated;
  std::vector<bool> gone(n, false);
  std::vector<int32_t> queue;
  for (int32_t i = 0; i < n; ++i)
    if (neighbours[i].size() <= 2)
      queue.push_back(i);
  while (!queue.empty()) {
    int32_t v = queue.back();
    queue.pop_back();
    if (gone[v] || neighbours[v].size() > 2 || neighbours[v].empty())
      continue;
    std::vector<int32_t> ends(neighbours[v].begin(), neighbours[v].end());
    Elimination record{v, ends[0], ends.size() == 2 ? ends[1] : -1, {}};
    if (ends.size() == 1) {
      int32_t u = ends[0];
      for (int32_t su = 0; su < strategies(u); ++su) {
        int32_t best = 0;
        int64_t bestCost = kForbidden + 1;
        for (int32_t sv = 0; sv < strategies(v); ++sv)
          if (int64_t cost = add(unary[v][sv], at(u, v, su, sv));
              cost < bestCost) {
            bestCost = cost;
            best = sv;
          }
        unary[u][su] = add(unary[u][su], bestCost);
        record.answer.push_back(best);
      }
      matrix.erase({std::min(u, v), std::max(u, v)});
      neighbours[u].erase(v);
      if (neighbours[u].size() <= 2)
        queue.push_back(u);
    } else {
      int32_t u = ends[0], w = ends[1];
      std::vector<int64_t> through(static_cast<size_t>(strategies(u)) *
                                   strategies(w));
      record.answer.resize(through.size());
      for (int32_t su = 0; su < strategies(u); ++su)
        for (int32_t sw = 0; sw < strategies(w); ++sw) {
          int32_t best = 0;
          int64_t bestCost = kForbidden + 1;
          for (int32_t sv = 0; sv < strategies(v); ++sv)
            if (int64_t cost =
                    add(add(unary[v][sv], at(u, v, su, sv)), at(v, w, sv, sw));
                cost < bestCost) {
              bestCost = cost;
              best = sv;
            }
          size_t k = static_cast<size_t>(su) * strategies(w) + sw;
          through[k] = bestCost;
          record.answer[k] = best;
        }
      matrix.erase({std::min(u, v), std::max(u, v)});
      matrix.erase({std::min(v, w), std::max(v, w)});
      neighbours[u].erase(v);
      neighbours[w].erase(v);
      // The new edge u-w, added to one already there.
      std::vector<int64_t> &existing = matrix[{u, w}];
      if (existing.empty())
        existing.assign(through.size(), 0);
      for (size_t k = 0; k < through.size(); ++k)
        existing[k] = add(existing[k], through[k]);
      neighbours[u].insert(w);
      neighbours[w].insert(u);
      if (neighbours[u].size() <= 2)
        queue.push_back(u);
      if (neighbours[w].size() <= 2)
        queue.push_back(w);
    }
    neighbours[v].clear();
    gone[v] = true;
    eliminated.push_back(std::move(record));
  }

  // What is left: a smaller problem, searched on its own.
  ShardingProblem core;
  core.name = problem.name + " (reduced)";
  std::vector<int32_t> coreIndex(n, -1), original;
  for (int32_t i = 0; i < n; ++i)
    if (!gone[i]) {
      coreIndex[i] = static_cast<int32_t>(original.size());
      original.push_back(i);
      ShardingProblem::Node node;
      node.costs = unary[i];
      node.usages.assign(unary[i].size(), 0);
      core.nodes.push_back(std::move(node));
    }
  for (const auto &[ends, costs] : matrix)
    if (!gone[ends.first] && !gone[ends.second])
      core.edges.push_back(
          {coreIndex[ends.first], coreIndex[ends.second], costs});
  std::vector<int32_t> result(n, 0);
  if (!core.nodes.empty()) {
    SolverOptions coreOptions = options;
    coreOptions.seconds = seconds;
    coreOptions.onProgress = nullptr;
    Search nested(core, coreOptions);
    nested.isReduced = true;
    Solution coreSolution = nested.run();
    for (size_t k = 0; k < original.size(); ++k)
      result[original[k]] = coreSolution.choice[k];
  }
  // Answers back, the last eliminated first: its neighbours are decided.
  for (auto it = eliminated.rbegin(); it != eliminated.rend(); ++it)
    result[it->node] = it->second < 0
                           ? it->answer[result[it->first]]
                           : it->answer[static_cast<size_t>(result[it->first]) *
                                            strategies(it->second) +
                                        result[it->second]];
  return result;
}

void Search::localSearch(std::vector<int32_t> work, bool keepFit) {
  std::vector<bool> queued(problem.nodes.size(), false);
  for (int32_t i : work)
    queued[i] = true;
  int64_t limit = problem.usageLimit.value_or(0);
  for (size_t k = 0; k < work.size(); ++k) {
    if ((k & 1023) == 0 && !timeLeft())
      return;
    int32_t i = work[k];
    queued[i] = false;
    int32_t current = choice[i];
    Cost currentCost = localCost(i, current), bestCost = currentCost;
    int32_t bestS = current;
    int64_t room = keepFit && memoryMatters
                       ? limit - usageTree.max(span[i].first, span[i].second)
                       : 0;
    for (int32_t s = 0; s < strategies(i); ++s) {
      if (s == current)
        continue;
      if (keepFit && memoryMatters && usage(i, s) - usage(i, current) > room)
        continue;
      Cost cost = localCost(i, s);
      if (cost < bestCost) {
        bestCost = cost;
        bestS = s;
      }
    }
    if (bestS == current)
      continue;
    move(i, bestS);
    for (auto [e, isU] : adjacency[i]) {
      int32_t other = isU ? edges[e].v : edges[e].u;
      if (!queued[other]) {
        queued[other] = true;
        work.push_back(other);
      }
    }
  }
}

bool Search::repair() {
  int64_t limit = *problem.usageLimit;
  while (usageTree.max() > limit) {
    if (!timeLeft())
      return false;
    int64_t step = usageTree.argmax();
    // The moves at that step that free memory, cheapest per byte first.
    struct Candidate {
      double costPerByte;
      int32_t node, strategy;
    };
    // Moves into a forbidden choice only when nothing else frees memory.
    std::vector<Candidate> candidates, forbidden;
    for (int32_t i = 0; i < static_cast<int32_t>(problem.nodes.size()); ++i) {
      if (step < span[i].first || step >= span[i].second)
        continue;
      int32_t current = choice[i];
      Cost currentCost = localCost(i, current);
      double bestRatio = 0;
      int32_t bestS = -1;
      bool bestForbidden = true;
      for (int32_t s = 0; s < strategies(i); ++s) {
        int64_t freed = usage(i, current) - usage(i, s);
        if (freed <= 0)
          continue;
        Cost cost = localCost(i, s);
        bool isForbidden = cost >= kForbidden;
        double ratio = static_cast<double>(cost - currentCost) / freed;
        if (bestS < 0 || (bestForbidden && !isForbidden) ||
            (bestForbidden == isForbidden && ratio < bestRatio)) {
          bestRatio = ratio;
          bestS = s;
          bestForbidden = isForbidden;
        }
      }
      if (bestS >= 0)
        (bestForbidden ? forbidden : candidates)
            .push_back({bestRatio, i, bestS});
    }
    if (candidates.empty())
      candidates = std::move(forbidden);
    if (candidates.empty())
      return false;
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate &a, const Candidate &b) {
                return a.costPerByte < b.costPerByte;
              });
    for (const Candidate &candidate : candidates) {
      if (usageTree.max(step, step + 1) <= limit)
        break;
      move(candidate.node, candidate.strategy);
    }
  }
  return true;
}

bool Search::relaxMemory() {
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  // A byte's first price: what memory costs next to the nodes' costs.
  double costs = 0, usages = 0;
  for (const ShardingProblem::Node &node : problem.nodes)
    for (size_t s = 0; s < node.costs.size(); ++s)
      if (node.costs[s] < kForbidden) {
        costs += static_cast<double>(node.costs[s]);
        usages += static_cast<double>(node.usages[s]);
      }
  double price = usages > 0 ? std::max(costs / usages, 1e-9) * 0.01 : 1;
  penalty.assign(n, 0);
  int64_t limit = *problem.usageLimit;
  for (int round = 0; round < 48 && !fits() && timeLeft(); ++round) {
    // Nodes live at an overfull step pay more.
    std::vector<int64_t> over(steps + 1, 0);
    for (int64_t t = 0; t < steps; ++t)
      over[t + 1] = over[t] + (usageTree.max(t, t + 1) > limit);
    for (int32_t i = 0; i < n; ++i)
      if (over[span[i].second] > over[span[i].first])
        penalty[i] += price;
    localSearch(allNodes(), /*keepFit=*/false);
    pairSearch(forbiddenEdges(), /*keepFit=*/false);
    starSearch(forbiddenNodes(), /*keepFit=*/false);
    price *= 2;
  }
  penalty.clear();
  return fits();
}

std::vector<int32_t> Search::forbiddenEdges() const {
  std::vector<int32_t> bad;
  for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e) {
    const MergedEdge &edge = edges[e];
    if (edgeCost(e, choice[edge.u], choice[edge.v]) >= kForbidden ||
        problem.nodes[edge.u].costs[choice[edge.u]] >= kForbidden ||
        problem.nodes[edge.v].costs[choice[edge.v]] >= kForbidden)
      bad.push_back(e);
  }
  return bad;
}

void Search::pairSearch(const std::vector<int32_t> &work, bool keepFit) {
  int64_t limit = problem.usageLimit.value_or(0);
  for (int32_t e : work) {
    if (!timeLeft())
      return;
    const MergedEdge &edge = edges[e];
    int32_t u = edge.u, v = edge.v, cu = choice[u], cv = choice[v];
    // Both ends' costs count this edge: once is subtracted.
    auto pairCost = [&](int32_t a, int32_t b) {
      choice[u] = a;
      choice[v] = b;
      Cost cost = localCost(u, a) + localCost(v, b) - edgeCost(e, a, b);
      choice[u] = cu;
      choice[v] = cv;
      return cost;
    };
    Cost bestCost = pairCost(cu, cv);
    int32_t bestA = cu, bestB = cv;
    for (int32_t a = 0; a < strategies(u); ++a)
      for (int32_t b = 0; b < strategies(v); ++b) {
        if (a == cu && b == cv)
          continue;
        if (keepFit && memoryMatters) {
          // Apply tentatively and look: the two intervals may overlap.
          int64_t du = usage(u, a) - usage(u, cu),
                  dv = usage(v, b) - usage(v, cv);
          usageTree.add(span[u].first, span[u].second, du);
          usageTree.add(span[v].first, span[v].second, dv);
          bool fitsHere =
              usageTree.max(span[u].first, span[u].second) <= limit &&
              usageTree.max(span[v].first, span[v].second) <= limit;
          usageTree.add(span[u].first, span[u].second, -du);
          usageTree.add(span[v].first, span[v].second, -dv);
          if (!fitsHere)
            continue;
        }
        Cost cost = pairCost(a, b);
        if (cost < bestCost) {
          bestCost = cost;
          bestA = a;
          bestB = b;
        }
      }
    if (bestA != cu)
      move(u, bestA);
    if (bestB != cv)
      move(v, bestB);
  }
}

void Search::starSearch(const std::vector<int32_t> &centers, bool keepFit) {
  std::vector<bool> inStar(problem.nodes.size(), false);
  for (int32_t u : centers) {
    if (!timeLeft())
      return;
    std::vector<int32_t> star = {u};
    for (auto [e, isU] : adjacency[u])
      star.push_back(isU ? edges[e].v : edges[e].u);
    std::sort(star.begin() + 1, star.end());
    star.erase(std::unique(star.begin() + 1, star.end()), star.end());
    for (int32_t i : star)
      inStar[i] = true;
    // The star's nodes and every edge touching them, each edge once.
    auto starCost = [&]() {
      Cost cost = 0;
      for (int32_t i : star) {
        cost += nodeCost(i, choice[i]);
        for (auto [e, isU] : adjacency[i]) {
          int32_t other = isU ? edges[e].v : edges[e].u;
          if (!inStar[other] || isU)
            cost += edgeCost(e, choice[edges[e].u], choice[edges[e].v]);
        }
      }
      return cost;
    };
    std::vector<int32_t> saved;
    for (int32_t i : star)
      saved.push_back(choice[i]);
    Cost bestCost = starCost();
    std::vector<int32_t> bestAssignment = saved;
    for (int32_t a = 0; a < strategies(u); ++a) {
      choice[u] = a;
      for (size_t k = 1; k < star.size(); ++k) {
        int32_t v = star[k], bestB = choice[v];
        Cost bestLocal = localCost(v, bestB);
        for (int32_t b = 0; b < strategies(v); ++b)
          if (Cost local = localCost(v, b); local < bestLocal) {
            bestLocal = local;
            bestB = b;
          }
        choice[v] = bestB;
      }
      if (Cost cost = starCost(); cost < bestCost) {
        bestCost = cost;
        for (size_t k = 0; k < star.size(); ++k)
          bestAssignment[k] = choice[star[k]];
      }
      for (size_t k = 0; k < star.size(); ++k)
        choice[star[k]] = saved[k];
    }
    for (int32_t i : star)
      inStar[i] = false;
    if (bestAssignment == saved)
      continue;
    for (size_t k = 0; k < star.size(); ++k)
      move(star[k], bestAssignment[k]);
    if (keepFit && !fits())
      for (size_t k = 0; k < star.size(); ++k)
        move(star[k], saved[k]);
  }
}

bool Search::offer(const std::string &method) {
  if (!fits())
    return false;
  Evaluation evaluation = evaluate(problem, choice);
  if (!evaluation.feasible || (best.feasible && evaluation.cost >= best.cost))
    return false;
  if (!best.feasible)
    best.firstFeasibleSeconds = elapsed();
  best.choice = choice;
  best.cost = evaluation.cost;
  best.peakUsage = evaluation.peakUsage;
  best.feasible = true;
  best.method = method;
  if (options.onProgress)
    options.onProgress({elapsed(), best.cost, method});
  return true;
}

void Search::runIlp() {
  // x[i][s] binary, one strategy per node; y[e][a][b] in [0, 1] the pair
  // an edge pays for, tied to both ends; memory rows at every step.
  IlpProblem ilp;
  int32_t n = static_cast<int32_t>(problem.nodes.size());
  std::vector<std::vector<int>> x(n);
  for (int32_t i = 0; i < n; ++i) {
    const ShardingProblem::Node &node = problem.nodes[i];
    bool anyAllowed = std::any_of(node.costs.begin(), node.costs.end(),
                                  [](int64_t c) { return c < kForbidden; });
    IlpProblem::Row one;
    for (int32_t s = 0; s < strategies(i); ++s) {
      bool forbidden = anyAllowed && node.costs[s] >= kForbidden;
      x[i].push_back(ilp.addVariable(forbidden ? 0 : node.costs[s], 0,
                                     forbidden ? 0 : 1, true));
      one.columns.push_back(x[i].back());
      one.values.push_back(1);
    }
    one.lower = one.upper = 1;
    ilp.rows.push_back(std::move(one));
  }
  std::vector<std::vector<int>> y(edges.size());
  for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e) {
    const MergedEdge &edge = edges[e];
    int32_t su = strategies(edge.u), sv = strategies(edge.v);
    std::vector<IlpProblem::Row> rowsU(su), rowsV(sv);
    for (int32_t a = 0; a < su; ++a)
      for (int32_t b = 0; b < sv; ++b) {
        int64_t cost = edgeCost(e, a, b);
        bool forbidden = cost >= kForbidden;
        int var =
            ilp.addVariable(forbidden ? 0 : cost, 0, forbidden ? 0 : 1, false);
        y[e].push_back(var);
        rowsU[a].columns.push_back(var);
        rowsU[a].values.push_back(1);
        rowsV[b].columns.push_back(var);
        rowsV[b].values.push_back(1);
      }
    for (int32_t a = 0; a < su; ++a) {
      rowsU[a].columns.push_back(x[edge.u][a]);
      rowsU[a].values.push_back(-1);
      rowsU[a].lower = rowsU[a].upper = 0;
      ilp.rows.push_back(std::move(rowsU[a]));
    }
    for (int32_t b = 0; b < sv; ++b) {
      rowsV[b].columns.push_back(x[edge.v][b]);
      rowsV[b].values.push_back(-1);
      rowsV[b].lower = rowsV[b].upper = 0;
      ilp.rows.push_back(std::move(rowsV[b]));
    }
  }
  if (memoryMatters) {
    std::vector<IlpProblem::Row> memory(steps);
    for (int32_t i = 0; i < n; ++i)
      for (int64_t t = span[i].first; t < span[i].second; ++t)
        for (int32_t s = 0; s < strategies(i); ++s)
          if (usage(i, s) != 0) {
            memory[t].columns.push_back(x[i][s]);
            memory[t].values.push_back(static_cast<double>(usage(i, s)));
          }
    for (IlpProblem::Row &row : memory) {
      row.upper = static_cast<double>(*problem.usageLimit);
      if (!row.columns.empty())
        ilp.rows.push_back(std::move(row));
    }
  }
  std::vector<double> startValues;
  if (best.feasible) {
    startValues.assign(ilp.objective.size(), 0);
    for (int32_t i = 0; i < n; ++i)
      startValues[x[i][best.choice[i]]] = 1;
    for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e)
      startValues[y[e][static_cast<size_t>(best.choice[edges[e].u]) *
                           strategies(edges[e].v) +
                       best.choice[edges[e].v]]] = 1;
  }
  std::unique_ptr<IlpSolver> cbc;
  IlpSolver *solver = options.ilp;
  if (!solver) {
    cbc = createCbcSolver();
    solver = cbc.get();
  }
  IlpResult result =
      solver->solve(ilp, std::max(0.1, options.seconds - elapsed()),
                    best.feasible ? &startValues : nullptr);
  if (result.values.empty())
    return;
  std::vector<int32_t> next(n);
  for (int32_t i = 0; i < n; ++i)
    next[i] = static_cast<int32_t>(std::max_element(x[i].begin(), x[i].end(),
                                                    [&](int a, int b) {
                                                      return result.values[a] <
                                                             result.values[b];
                                                    }) -
                                   x[i].begin());
  setChoice(next);
  offer("ilp");
  if (result.status == IlpResult::Optimal && best.feasible &&
      evaluate(problem, next).cost == best.cost)
    best.optimal = true;
}

Solution Search::run() {
  mergeEdges();
  compressTime();
  int32_t n = static_cast<int32_t>(problem.nodes.size());

  // A spanning forest of the edges whose choice matters most.
  auto spread = [&](int32_t e) {
    const std::vector<int64_t> &costs = edges[e].costs;
    auto [lo, hi] = std::minmax_element(costs.begin(), costs.end());
    return static_cast<double>(*hi) - static_cast<double>(*lo);
  };
  std::vector<int32_t> byWeight(edges.size());
  std::iota(byWeight.begin(), byWeight.end(), 0);
  std::vector<double> weight(edges.size());
  for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e)
    weight[e] = spread(e);
  std::sort(byWeight.begin(), byWeight.end(),
            [&](int32_t a, int32_t b) { return weight[a] > weight[b]; });
  std::vector<int32_t> root(n);
  std::iota(root.begin(), root.end(), 0);
  auto find = [&](int32_t i) {
    while (root[i] != i)
      i = root[i] = root[root[i]];
    return i;
  };
  std::vector<int32_t> forest;
  bool isForest = true;
  for (int32_t e : byWeight) {
    int32_t a = find(edges[e].u), b = find(edges[e].v);
    if (a == b) {
      // A cycle: only an edge that costs the same for every pair is free
      // to leave out.
      isForest &= weight[e] == 0;
      continue;
    }
    root[a] = b;
    forest.push_back(e);
  }

  setChoice(treeProgram(forest));
  if (!(isForest && !memoryMatters)) {
    // Other starts: greedy in node order, from each strategy of the first
    // few sources (nodes no earlier node feeds), keeping the cheapest.
    Cost startCost = evaluate(problem, choice).cost;
    std::vector<int32_t> start = choice;
    int sources = 0;
    for (int32_t i = 0; i < n && sources < 8 && timeLeft(); ++i) {
      bool fed = std::any_of(adjacency[i].begin(), adjacency[i].end(),
                             [&](const auto &entry) {
                               const MergedEdge &edge = edges[entry.first];
                               return (entry.second ? edge.v : edge.u) < i;
                             });
      if (fed || strategies(i) < 2)
        continue;
      ++sources;
      for (int32_t s = 0; s < strategies(i) && timeLeft(); ++s) {
        std::vector<int32_t> candidate = greedyForward(i, s);
        Cost cost = evaluate(problem, candidate).cost;
        if (cost < startCost) {
          startCost = cost;
          start = std::move(candidate);
        }
      }
    }
    setChoice(start);
    // Without memory to mind, chains and trees hanging off the graph
    // reduce away exactly; the rest is searched small.
    // Where memory binds, the same answer (memory ignored) is a start that
    // the memory relaxation below makes fit, on problems small enough for
    // that to leave time (on large ones it crowds out the relaxation).
    if (!isReduced && (!memoryMatters || n <= 5000)) {
      double left = options.seconds - elapsed();
      std::vector<int32_t> reduced = reduceAndSolve(
          memoryMatters ? std::min(2.0, left / 4) : std::max(0.05, left / 2));
      if (evaluate(problem, reduced).cost < startCost)
        setChoice(reduced);
    }
  }
  if (isForest && !memoryMatters) {
    offer("tree");
    best.optimal = true;
  } else {
    localSearch(allNodes(), /*keepFit=*/false);
    pairSearch(forbiddenEdges(), /*keepFit=*/false);
    starSearch(forbiddenNodes(), /*keepFit=*/false);
    offer("local search");
    if (memoryMatters && (relaxMemory() || repair())) {
      localSearch(allNodes(), /*keepFit=*/true);
      pairSearch(forbiddenEdges(), /*keepFit=*/true);
      starSearch(forbiddenNodes(), /*keepFit=*/true);
      offer("local search");
    }
    if (!best.feasible) {
      // The least memory everywhere (cheapest among equals): if this does
      // not fit, nothing does.
      std::vector<int32_t> least(n);
      for (int32_t i = 0; i < n; ++i) {
        const ShardingProblem::Node &node = problem.nodes[i];
        for (int32_t s = 1; s < strategies(i); ++s)
          if (std::make_pair(node.usages[s], node.costs[s]) <
              std::make_pair(node.usages[least[i]], node.costs[least[i]]))
            least[i] = s;
      }
      setChoice(least);
      if (fits()) {
        localSearch(allNodes(), /*keepFit=*/true);
        offer("local search");
      }
    }
  }

  // Small problems: the exact ILP.
  int64_t ilpVariables = 0;
  for (int32_t i = 0; i < n; ++i)
    ilpVariables += strategies(i);
  for (const MergedEdge &edge : edges)
    ilpVariables += static_cast<int64_t>(edge.costs.size());
  if (!best.optimal && ilpVariables <= options.ilpVariableLimit && timeLeft())
    runIlp();

  // Large-neighbourhood search: perturb a connected region, search again;
  // half the regions grow from a forbidden choice while any is left.
  int64_t stale = 0;
  while (!best.optimal && best.feasible && timeLeft() && n > 0 &&
         (options.patience == 0 || stale++ < options.patience)) {
    setChoice(best.choice);
    std::vector<int32_t> bad =
        rng() % 2 ? forbiddenEdges() : std::vector<int32_t>();
    int32_t seed = bad.empty() ? static_cast<int32_t>(rng() % n)
                               : edges[bad[rng() % bad.size()]].u;
    std::vector<int32_t> region = {seed};
    std::vector<bool> inRegion(n, false);
    inRegion[region[0]] = true;
    size_t size = 2 + rng() % 40;
    for (size_t k = 0; k < region.size() && region.size() < size; ++k)
      for (auto [e, isU] : adjacency[region[k]]) {
        int32_t other = isU ? edges[e].v : edges[e].u;
        if (!inRegion[other] && region.size() < size) {
          inRegion[other] = true;
          region.push_back(other);
        }
      }
    for (int32_t i : region) {
      std::vector<int32_t> allowed;
      for (int32_t s = 0; s < strategies(i); ++s)
        if (problem.nodes[i].costs[s] < kForbidden)
          allowed.push_back(s);
      if (!allowed.empty())
        move(i, allowed[rng() % allowed.size()]);
    }
    localSearch(region, /*keepFit=*/false);
    pairSearch(forbiddenEdges(), /*keepFit=*/false);
    starSearch(rng() % 2 ? forbiddenNodes() : region, /*keepFit=*/false);
    if (memoryMatters && !repair())
      continue;
    localSearch(region, /*keepFit=*/true);
    if (offer("neighbourhood search"))
      stale = 0;
  }

  if (!best.feasible) {
    // Nothing fits: return the least-memory choice, marked infeasible.
    Evaluation evaluation = evaluate(problem, choice);
    best.choice = choice;
    best.cost = evaluation.cost;
    best.peakUsage = evaluation.peakUsage;
    best.method = "none fits";
  }
  best.seconds = elapsed();
  return best;
}

} // namespace

Solution solve(const ShardingProblem &problem, const SolverOptions &options) {
  return Search(problem, options).run();
}

} // namespace tessel::autoshard
