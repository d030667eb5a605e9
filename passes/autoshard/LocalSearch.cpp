//===- LocalSearch.cpp - Moves, memory repair, relaxation -----------------===//

#include "passes/autoshard/Search.h"

namespace tessel::autoshard {

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

} // namespace tessel::autoshard
