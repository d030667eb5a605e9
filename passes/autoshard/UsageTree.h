//===- UsageTree.h - Memory over time, for the solver -----------*- C++ -*-===//
//
// A segment tree over the (compressed) time steps of a ShardingProblem:
// adding a node's bytes over its live range and asking for the peak are
// both logarithmic, so a move of the local search is priced in log time.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_PASSES_AUTOSHARD_USAGETREE_H
#define TESSEL_PASSES_AUTOSHARD_USAGETREE_H

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace tessel::autoshard {

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

} // namespace tessel::autoshard

#endif // TESSEL_PASSES_AUTOSHARD_USAGETREE_H
