//===- Gemm.cpp - The host kernels' one matrix multiply -------------------===//

#include "runtime/kernels/Gemm.h"

#include "Eigen/Core"
#include "oneapi/dnnl/dnnl.h"
#include "runtime/kernels/OpenMp.h"

namespace tessel::kernels {
namespace {

/// C = beta * C for the m x n block (what a GEMM with k == 0 computes).
template <typename T>
void scale(T *c, int64_t m, int64_t n, int64_t ldc, T beta) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

} // namespace

void gemm(const MatrixRef<float> &a, const MatrixRef<float> &b, float *c,
          int64_t m, int64_t n, int64_t k, int64_t ldc, float beta) {
  if (m == 0 || n == 0)
    return;
  if (k == 0)
    return scale(c, m, n, ldc, beta);
  SingleOpenMpThread single;
  // Shapes and leading dimensions were checked by the caller against the
  // buffers; oneDNN fails only on invalid arguments, which are none here.
  dnnl_sgemm(a.transposed ? 'T' : 'N', b.transposed ? 'T' : 'N', m, n, k, 1.0f,
             a.data, a.ld, b.data, b.ld, beta, c, ldc);
}

void gemm(const MatrixRef<double> &a, const MatrixRef<double> &b, double *c,
          int64_t m, int64_t n, int64_t k, int64_t ldc, double beta) {
  if (m == 0 || n == 0)
    return;
  if (k == 0)
    return scale(c, m, n, ldc, beta);
  using Stride = Eigen::OuterStride<>;
  using RowMajor =
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Map<RowMajor, 0, Stride> result(c, m, n, Stride(ldc));
  auto multiply = [&](const auto &lhs) {
    auto product = [&](const auto &rhs) {
      if (beta == 0.0)
        result.noalias() = lhs * rhs;
      else
        result = beta * result + lhs * rhs;
    };
    if (b.transposed)
      product(
          Eigen::Map<const ColMajor, 0, Stride>(b.data, k, n, Stride(b.ld)));
    else
      product(
          Eigen::Map<const RowMajor, 0, Stride>(b.data, k, n, Stride(b.ld)));
  };
  // A transposed row-major m x k matrix is a column-major one.
  if (a.transposed)
    multiply(Eigen::Map<const ColMajor, 0, Stride>(a.data, m, k, Stride(a.ld)));
  else
    multiply(Eigen::Map<const RowMajor, 0, Stride>(a.data, m, k, Stride(a.ld)));
}

} // namespace tessel::kernels
