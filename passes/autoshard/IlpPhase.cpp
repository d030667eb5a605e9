//===- IlpPhase.cpp - The exact ILP of small problems ---------------------===//

#include "passes/autoshard/Search.h"

namespace tessel::autoshard {

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

bool Search::solveRegion(const std::vector<int32_t> &region, double seconds) {
  std::vector<int32_t> local(problem.nodes.size(), -1);
  for (size_t k = 0; k < region.size(); ++k)
    local[region[k]] = static_cast<int32_t>(k);
  // Time is the compressed steps: a node lives at [first, second) of them.
  ShardingProblem sub;
  sub.name = "region";
  Cost now = 0;
  for (int32_t i : region) {
    ShardingProblem::Node node;
    node.start = span[i].first;
    node.end = span[i].second;
    node.usages = problem.nodes[i].usages;
    for (int32_t s = 0; s < strategies(i); ++s) {
      Cost cost = problem.nodes[i].costs[s];
      for (auto [e, isU] : adjacency[i]) {
        const MergedEdge &edge = edges[e];
        int32_t other = isU ? edge.v : edge.u;
        if (local[other] < 0)
          cost += isU ? edgeCost(e, s, choice[other])
                      : edgeCost(e, choice[other], s);
      }
      node.costs.push_back(
          static_cast<int64_t>(std::min<Cost>(cost, kForbidden)));
    }
    now += node.costs[choice[i]];
    sub.nodes.push_back(std::move(node));
  }
  // The edges inside the region, each once (from its u end): through the
  // region's adjacency, not every edge of the problem, as this runs for
  // every region.
  for (int32_t i : region)
    for (auto [e, isU] : adjacency[i]) {
      const MergedEdge &edge = edges[e];
      if (isU && local[edge.v] >= 0) {
        sub.edges.push_back({local[edge.u], local[edge.v], edge.costs});
        now += edgeCost(e, choice[edge.u], choice[edge.v]);
      }
    }
  if (memoryMatters) {
    // Between two consecutive starts or ends of the region's nodes, the
    // region holds the same set; the others' most over that stretch is one
    // fixed node.
    std::vector<int64_t> bounds;
    for (int32_t i : region)
      if (span[i].first < span[i].second) {
        bounds.push_back(span[i].first);
        bounds.push_back(span[i].second);
      }
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      int64_t lo = bounds[k], hi = bounds[k + 1];
      int64_t mine = 0;
      bool live = false;
      for (int32_t i : region)
        if (span[i].first <= lo && hi <= span[i].second) {
          mine += usage(i, choice[i]);
          live = true;
        }
      if (live)
        sub.nodes.push_back({{0}, {usageTree.max(lo, hi) - mine}, lo, hi});
    }
    sub.usageLimit = problem.usageLimit;
  }
  SolverOptions subOptions;
  subOptions.seconds = seconds;
  subOptions.ilp = options.ilp;
  subOptions.ilpVariableLimit = options.ilpVariableLimit;
  subOptions.seed = rng();
  subOptions.patience = 20;
  subOptions.lowerBound = false;
  Search nested(sub, subOptions);
  nested.isReduced = true;
  Solution answer = nested.run();
  if (!answer.feasible || answer.cost >= now)
    return false;
  for (size_t k = 0; k < region.size(); ++k)
    move(region[k], answer.choice[k]);
  return true;
}

} // namespace tessel::autoshard
