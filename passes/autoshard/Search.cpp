//===- Search.cpp - The solver: set-up and phases -------------------------===//

#include "passes/autoshard/Search.h"

#include <thread>

#include "passes/autoshard/LowerBound.h"

namespace tessel::autoshard {

void Search::mergeEdges() {
  // Saturating: forbidden stays forbidden, and sums cannot overflow.
  // (Self-loops, whose diagonal alone can be chosen, count in evaluate.)
  MergedEdges<int64_t> merged =
      autoshard::mergeEdges<int64_t>(problem, [](int64_t total, int64_t cost) {
        return std::min(total + std::min(cost, kForbidden), kForbidden);
      });
  edges.clear();
  for (auto &edge : merged.edges)
    edges.push_back({edge.u, edge.v, std::move(edge.costs)});
  adjacency.assign(problem.nodes.size(), {});
  for (int32_t e = 0; e < static_cast<int32_t>(edges.size()); ++e) {
    adjacency[edges[e].u].push_back({e, true});
    adjacency[edges[e].v].push_back({e, false});
  }
}

void Search::compressTime() {
  LiveSteps live = liveSteps(problem);
  steps = live.steps;
  span = std::move(live.spans);
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
  improvedAt = elapsed();
  if (shared) {
    std::lock_guard<std::mutex> lock(shared->mutex);
    shared->incumbent = best.cost;
  }
  if (options.onProgress)
    options.onProgress({elapsed(), best.cost, method});
  return true;
}

void Search::offerAlternative() {
  if (!fits())
    return;
  Evaluation evaluation = evaluate(problem, choice);
  if (evaluation.feasible &&
      (!alternative || evaluation.cost < alternative->cost))
    alternative = Incumbent{choice, evaluation.cost};
}

void Search::searchAndFit(const std::string &method) {
  localSearch(allNodes(), /*keepFit=*/false);
  pairSearch(forbiddenEdges(), /*keepFit=*/false);
  starSearch(forbiddenNodes(), /*keepFit=*/false);
  offer(method);
  if (memoryMatters && (relaxMemory() || repair())) {
    localSearch(allNodes(), /*keepFit=*/true);
    pairSearch(forbiddenEdges(), /*keepFit=*/true);
    starSearch(forbiddenNodes(), /*keepFit=*/true);
    offer(method);
  }
}

bool Search::proven() {
  if (!best.optimal && best.feasible && shared) {
    std::lock_guard<std::mutex> lock(shared->mutex);
    best.optimal = shared->bound && *shared->bound >= best.cost;
  }
  return best.optimal;
}

Solution Search::run() {
  // The lower bound improves on the other core until the search ends or
  // meets it.
  std::thread boundThread;
  if (options.lowerBound && !isReduced) {
    shared = std::make_shared<Shared>();
    boundThread = std::thread([this, shared = shared] {
      LowerBoundOptions boundOptions;
      boundOptions.seconds = options.seconds;
      boundOptions.stop = &shared->stop;
      boundOptions.done = [&](Cost bound) {
        std::lock_guard<std::mutex> lock(shared->mutex);
        return shared->incumbent && bound >= *shared->incumbent;
      };
      boundOptions.onBound = [&](Cost bound) { shared->raiseBound(bound); };
      boundOptions.onPrices = [&](const std::vector<double> &prices) {
        std::lock_guard<std::mutex> lock(shared->mutex);
        shared->prices = prices;
      };
      lowerBound(problem, boundOptions);
    });
  }
  struct Join {
    std::thread &thread;
    std::shared_ptr<Shared> shared;
    ~Join() {
      if (thread.joinable()) {
        shared->stop = true;
        thread.join();
      }
    }
  } join{boundThread, shared};

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
    searchAndFit("local search");
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

  // Exact solves with memory priced in, where an exact solver runs: before
  // message passing on problems too large for the exact ILP, after the ILP
  // (which proves small ones at once) on the others.
  int64_t ilpVariables = 0;
  for (int32_t i = 0; i < n; ++i)
    ilpVariables += strategies(i);
  for (const MergedEdge &edge : edges)
    ilpVariables += static_cast<int64_t>(edge.costs.size());
  bool small = ilpVariables <= options.ilpVariableLimit;
  auto exactSolves = [&] {
    if (isReduced || proven() || !timeLeft() || options.wcspShare <= 0)
      return;
    std::unique_ptr<WcspSolver> own;
    WcspSolver *wcsp = options.wcsp;
    if (!wcsp) {
      own = createToulbar2Solver();
      wcsp = own.get();
    }
    if (wcsp)
      wcspPhase(*wcsp, (options.seconds - elapsed()) * options.wcspShare);
  };
  if (!small)
    exactSolves();

  if (!isReduced && !proven() && timeLeft())
    messagePassing((options.seconds - elapsed()) / 4);

  // Small problems: the exact ILP.
  if (!proven() && small && timeLeft())
    runIlp();
  if (small)
    exactSolves();

  // Large-neighbourhood search: perturb a connected region, search again;
  // half the regions grow from a forbidden choice while any is left.
  // Once the best has not improved for a while (5% of the limit, 2 s at
  // least), every other region grows from the alternative incumbent while
  // it is another basin (costlier than the best, not the best itself). On
  // IOPDDL's V the search from the exact solves' answer stays at 1.255x
  // the contest's best from 43 s of 300; message passing's basin reaches
  // 1.050x by 56 s. Where the best keeps improving (the large instances),
  // the alternative would only halve its time.
  double staleBefore = std::max(2.0, options.seconds / 20);
  int64_t stale = 0, round = 0;
  while (!proven() && best.feasible && timeLeft() && n > 0 &&
         (options.patience == 0 || stale++ < options.patience) &&
         (options.staleSeconds <= 0 ||
          elapsed() - improvedAt < options.staleSeconds)) {
    bool fromAlternative = alternative && alternative->cost > best.cost &&
                           elapsed() - improvedAt > staleBefore &&
                           round++ % 2 == 1;
    setChoice(fromAlternative ? alternative->choice : best.choice);
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
    // Half the regions are solved anew with the rest fixed (exactly where
    // small enough), half perturbed at random and searched locally.
    if (!isReduced && rng() % 2) {
      if (solveRegion(region, std::min(1.0, options.seconds - elapsed()))) {
        if (fromAlternative)
          offerAlternative();
        if (offer("neighbourhood solve"))
          stale = 0;
      }
      continue;
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
    if (fromAlternative)
      offerAlternative();
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
  if (shared) {
    shared->stop = true;
    boundThread.join();
    best.lowerBound = shared->bound;
  }
  if (best.optimal)
    best.lowerBound = best.cost;
  best.seconds = elapsed();
  return best;
}

Solution solve(const ShardingProblem &problem, const SolverOptions &options) {
  std::optional<Presolved> presolved = withoutStrategiesThatCannotFit(problem);
  if (!presolved)
    return Search(problem, options).run();
  // Every choice that fits is one of the smaller problem's, at the same
  // cost: its answer, bound and proof hold here.
  Solution solution = Search(presolved->problem, options).run();
  for (size_t i = 0; i < solution.choice.size(); ++i)
    solution.choice[i] = presolved->kept[i][solution.choice[i]];
  return solution;
}

} // namespace tessel::autoshard
