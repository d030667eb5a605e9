//===- Gemm.h - The host kernels' one matrix multiply -----------*- C++ -*-===//
//
// Every host kernel that multiplies matrices (dot_general, convolution)
// calls these, so the library underneath is chosen in one place: f32 on
// oneDNN's JIT GEMM (it picks AVX2 or AVX-512 kernels from the CPU itself,
// whatever OPENBLAS_CORETYPE says), f64 on Eigen. docs/design/runtime.md
// records the measurements behind the choice.
//
// Each call runs on the calling thread only: kernels split work across the
// ThreadPool themselves (a library's own threads would fight the pool's).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_GEMM_H
#define TESSEL_RUNTIME_KERNELS_GEMM_H

#include <cstdint>

namespace tessel::kernels {

/// A row-major matrix operand: element (i, j) at data[i * ld + j], or at
/// data[j * ld + i] when transposed.
template <typename T> struct MatrixRef {
  const T *data;
  bool transposed;
  int64_t ld;
};

/// C = A x B + beta * C for an m x k A, a k x n B and an m x n C with
/// leading dimension ldc, on the calling thread. Any of m, n, k may be 0.
void gemm(const MatrixRef<float> &a, const MatrixRef<float> &b, float *c,
          int64_t m, int64_t n, int64_t k, int64_t ldc, float beta = 0.0f);
void gemm(const MatrixRef<double> &a, const MatrixRef<double> &b, double *c,
          int64_t m, int64_t n, int64_t k, int64_t ldc, double beta = 0.0);

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_GEMM_H
