//===- Reduction.cpp - Eliminating degree-1 and -2 nodes ------------------===//

#include "passes/autoshard/Search.h"

namespace tessel::autoshard {

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

} // namespace tessel::autoshard
