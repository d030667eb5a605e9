//===- TreeProgram.cpp - Constructing a first choice ----------------------===//

#include "passes/autoshard/Search.h"

namespace tessel::autoshard {

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

} // namespace tessel::autoshard
