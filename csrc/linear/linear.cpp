// The GEMM behind strided.nn.Linear (linear.h). Every pass is this one routine with other strides:
//   forward          y  (N x out) = x (N x in) * W^T        + b
//   backward-input   gx (N x in)  = gy (N x out) * W
//   backward-weight  gW (out x in) = gy^T (out x N) * x
#include "linear/linear.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/common.h"
#include "kern/gemm_util.h"

namespace strided::linear {
namespace {

template <typename T>
void gemm_simple(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B,
                 int64_t b_rs, int64_t b_cs, const T* bias, T* C) {
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const DenormalGuard ftz;  // as gemm_packed: one denormal rule for every path
    T* c = C + m * N;
    for (int64_t n = 0; n < N; ++n) c[n] = bias ? bias[n] : T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T a = A[m * a_rs + k * a_cs];
      for (int64_t n = 0; n < N; ++n) c[n] += a * B[k * b_rs + n * b_cs];
    }
  }
}

// A is packed once (all threads share it); tasks are (column tile, block of rows), column tiles first
// and row blocks only when the tiles cannot feed the threads (a layer with few outputs). Each task packs
// its B tile per contraction block: kc x NT, sized to stay in L2.
template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B,
                 int64_t b_rs, int64_t b_cs, const T* bias, T* C) {
  const auto& kt = kern::table<T>();
  const int64_t MR = kt.mr, NR = kt.nr, KC = kc_block(kt), Mp = round_up(M, MR);
  if (K == 0) {  // an empty contraction: C is the bias alone (the microkernel needs kc >= 1)
    return gemm_simple(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, bias, C);
  }
  T* Ap = workspace<T>(kPackedWeights, Mp * K);
  pack_a(A, a_rs, a_cs, M, K, KC, MR, Ap);

  const int64_t threads = omp_get_max_threads();
  int64_t NT = std::min(round_up(N, NR), std::max(NR, (int64_t(256) * 1024 / int64_t(sizeof(T)) / KC) / NR * NR));
  while (ceil_div(N, NT) < 2 * threads && NT > NR) NT = round_up(NT / 2, NR);
  const int64_t ntiles = ceil_div(N, NT);
  const int64_t mblocks = ntiles >= threads ? 1 : std::min(Mp / MR, ceil_div(threads, ntiles));
  const int64_t msize = round_up(ceil_div(Mp, mblocks), MR), tasks = ntiles * ceil_div(Mp, msize);
  reserve<T>({{kTile, KC * round_up(NT, NR)}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Bp = workspace<T>(kTile, KC * round_up(NT, NR));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n0 = t % ntiles * NT, m0 = t / ntiles * msize;
      const int64_t nl = std::min(NT, N - n0), ml = std::min(msize, M - m0);
      if (ml <= 0) continue;
      T* Ct = C + m0 * N + n0;
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kl = std::min(KC, K - k0);
        // Panel p holds columns n0 + p*NR .. +NR as kl rows of NR; lanes past N are zero. The loops run
        // along B's unit stride: a column walk down rows 16 KiB apart would hit one L1 set.
        for (int64_t j0 = 0; j0 < nl; j0 += NR) {
          T* d = Bp + (j0 / NR) * kl * NR;
          const int64_t jl = std::min(NR, nl - j0);
          const T* b = B + k0 * b_rs + (n0 + j0) * b_cs;
          if (b_cs == 1) {
            for (int64_t k = 0; k < kl; ++k) {
              std::copy(b + k * b_rs, b + k * b_rs + jl, d + k * NR);
              std::fill(d + k * NR + jl, d + (k + 1) * NR, T(0));
            }
          } else {
            for (int64_t j = 0; j < jl; ++j)
              for (int64_t k = 0; k < kl; ++k) d[k * NR + j] = b[j * b_cs + k * b_rs];
            for (int64_t j = jl; j < NR; ++j)
              for (int64_t k = 0; k < kl; ++k) d[k * NR + j] = T(0);
          }
        }
        kt.gemm(ml, nl, kl, Ap + k0 * Mp + (m0 / MR) * kl * MR, Bp, Ct, N, k0 > 0);
      }
      if (bias)
        for (int64_t i = 0; i < ml; ++i) {
          T* c = Ct + i * N;
#pragma omp simd
          for (int64_t j = 0; j < nl; ++j) c[j] += bias[n0 + j];
        }
    }
  }
}

}  // namespace

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs, const T* B, int64_t b_rs,
          int64_t b_cs, const T* bias, T* C, bool simple) {
  if (M == 0 || N == 0) return;
  if (simple) return gemm_simple(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, bias, C);
  gemm_packed(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, bias, C);
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t,
                          int64_t, const float*, float*, bool);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, int64_t, const double*, int64_t,
                           int64_t, const double*, double*, bool);

}  // namespace strided::linear
