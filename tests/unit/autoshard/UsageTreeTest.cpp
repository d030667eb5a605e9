//===- UsageTreeTest.cpp - The solver's memory over time ------------------===//

#include "passes/autoshard/UsageTree.h"

#include <random>

#include "gtest/gtest.h"

namespace tessel::autoshard {
namespace {

TEST(UsageTreeTest, RangesAddUpAndThePeakIsFound) {
  UsageTree tree;
  tree.reset(8);
  EXPECT_EQ(tree.max(), 0);
  tree.add(0, 4, 10); // Steps 0-3.
  tree.add(2, 8, 5);  // Steps 2-7.
  EXPECT_EQ(tree.max(), 15);
  EXPECT_EQ(tree.max(0, 2), 10);
  EXPECT_EQ(tree.max(4, 8), 5);
  int64_t peak = tree.argmax();
  EXPECT_TRUE(peak == 2 || peak == 3) << peak;
  tree.add(2, 4, -10); // A move frees memory at the peak.
  EXPECT_EQ(tree.max(), 10);
  EXPECT_EQ(tree.argmax(), 0);
  // Empty ranges and zero deltas change nothing.
  tree.add(5, 5, 100);
  tree.add(0, 8, 0);
  EXPECT_EQ(tree.max(), 10);
  EXPECT_EQ(tree.max(3, 3), 0);
}

TEST(UsageTreeTest, AgreesWithAnArrayOnRandomMoves) {
  std::mt19937_64 rng(3);
  for (int64_t size : {1, 2, 7, 64}) {
    UsageTree tree;
    tree.reset(size);
    std::vector<int64_t> usage(size, 0);
    for (int round = 0; round < 500; ++round) {
      int64_t lo = static_cast<int64_t>(rng() % size);
      int64_t hi = lo + 1 + static_cast<int64_t>(rng() % (size - lo));
      int64_t delta = static_cast<int64_t>(rng() % 200) - 100;
      tree.add(lo, hi, delta);
      for (int64_t t = lo; t < hi; ++t)
        usage[t] += delta;
      int64_t a = static_cast<int64_t>(rng() % size);
      int64_t b = a + 1 + static_cast<int64_t>(rng() % (size - a));
      ASSERT_EQ(tree.max(a, b),
                *std::max_element(usage.begin() + a, usage.begin() + b));
      ASSERT_EQ(tree.max(), *std::max_element(usage.begin(), usage.end()));
      ASSERT_EQ(usage[tree.argmax()], tree.max());
    }
  }
}

} // namespace
} // namespace tessel::autoshard
