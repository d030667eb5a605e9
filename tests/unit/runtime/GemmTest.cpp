//===- GemmTest.cpp - The host kernels' GEMM against a plain loop ---------===//

#include "runtime/kernels/Gemm.h"

#include <omp.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tessel::kernels {
namespace {

struct Shape {
  int64_t m, n, k;
  bool aTransposed, bTransposed;
  int64_t pad; // Extra columns in every leading dimension.
  double beta;
};

/// Checks gemm on `shape` against a double-precision loop.
template <typename T> void check(const Shape &s) {
  std::mt19937 random(static_cast<unsigned>(s.m * 131 + s.n * 17 + s.k));
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  int64_t aRows = s.aTransposed ? s.k : s.m, aCols = s.aTransposed ? s.m : s.k;
  int64_t bRows = s.bTransposed ? s.n : s.k, bCols = s.bTransposed ? s.k : s.n;
  int64_t lda = aCols + s.pad, ldb = bCols + s.pad, ldc = s.n + s.pad;
  std::vector<T> a(aRows * lda), b(bRows * ldb), c(s.m * ldc);
  for (T &v : a)
    v = uniform(random);
  for (T &v : b)
    v = uniform(random);
  for (T &v : c)
    v = uniform(random);
  std::vector<T> before = c;
  gemm(MatrixRef<T>{a.data(), s.aTransposed, lda},
       MatrixRef<T>{b.data(), s.bTransposed, ldb}, c.data(), s.m, s.n, s.k, ldc,
       static_cast<T>(s.beta));
  double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      if (j >= s.n) { // Padding is never written.
        ASSERT_EQ(c[i * ldc + j], before[i * ldc + j]);
        continue;
      }
      double expected = s.beta * before[i * ldc + j];
      for (int64_t l = 0; l < s.k; ++l)
        expected += double(s.aTransposed ? a[l * lda + i] : a[i * lda + l]) *
                    double(s.bTransposed ? b[j * ldb + l] : b[l * ldb + j]);
      ASSERT_NEAR(c[i * ldc + j], expected,
                  tolerance * (1.0 + std::sqrt(double(s.k))))
          << "m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i << ","
          << j;
    }
}

const Shape kShapes[] = {
    {1, 1, 1, false, false, 0, 0.0},    {7, 5, 3, true, false, 2, 0.0},
    {5, 7, 9, false, true, 1, 0.0},     {33, 65, 17, true, true, 3, 0.0},
    {64, 64, 64, false, false, 0, 1.0}, {17, 130, 257, false, true, 0, 0.5},
    {3, 4, 0, false, false, 1, 0.0},    {3, 4, 0, true, true, 0, 2.0},
    {0, 4, 5, false, false, 0, 0.0},    {129, 3, 200, true, false, 5, 0.0},
};

TEST(GemmTest, FloatMatchesLoop) {
  for (const Shape &shape : kShapes)
    check<float>(shape);
}

TEST(GemmTest, DoubleMatchesLoop) {
  for (const Shape &shape : kShapes)
    check<double>(shape);
}

TEST(GemmTest, LeavesTheCallersOpenMpSettingAlone) {
  omp_set_num_threads(3);
  check<float>({16, 16, 16, false, false, 0, 0.0});
  EXPECT_EQ(omp_get_max_threads(), 3);
}

TEST(GemmTest, ConcurrentCallsFromManyThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (const Shape &shape : kShapes)
        check<float>(shape);
    });
  for (std::thread &thread : threads)
    thread.join();
}

} // namespace
} // namespace tessel::kernels
