// Fully connected layers, y = x W^T + b, x (N x in), W (out x in): forward and the two gradients, each
// one GEMM on the packed SIMD microkernel of kern/kernels.h, or (simple = true) plain loops: the twin the
// tests hold the fast path to. They run on strided's OpenMP threads rather than NumPy's BLAS
// pool: two pools that spin-wait for work on the same two cores halved the speed of a training step.
#pragma once
#include <cstdint>

namespace strided::linear {

// C (M x N, row-major) = A (M x K) * B (K x N), A[m][k] = A[m*a_rs + k*a_cs], B[k][n] = B[k*b_rs + n*b_cs];
// then C[m][n] += bias[n] when bias is not null.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
          int64_t b_cs, const T* bias, T* C, bool simple);

}  // namespace strided::linear
