// Fused optimizer updates (optim.h). No -ffp-contract=fast here: an FMA would round differently from
// the NumPy rule this mirrors.
#include "optim/optim.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"

namespace strided::optim {

// Branch-free body (weight decay enters through factors that are exact identities when unused: p * 1,
// and a select of g), so the loop vectorizes; amsgrad is a template parameter for the same reason.
template <typename T, bool Amsgrad>
[[gnu::always_inline]] inline void adam_range(int64_t begin, int64_t end, T* p, const T* g, T* m, T* v, T* vmax,
                                              const AdamHyper& h) {
  const T b1 = T(h.beta1), b2 = T(h.beta2), c1 = T(1 - h.beta1), c2 = T(1 - h.beta2), eps = T(h.eps);
  const T wd = T(h.weight_decay), shrink = h.decoupled ? T(1 - h.lr * h.weight_decay) : T(1);
  const bool coupled = h.weight_decay != 0 && !h.decoupled;
  const T root_bc2 = T(std::sqrt(1 - std::pow(h.beta2, double(h.step))));
  const T step_size = T(h.lr / (1 - std::pow(h.beta1, double(h.step))));
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const T pi = p[i] * shrink, gc = g[i] + wd * pi;
    const T gi = coupled ? gc : g[i];
    const T mi = m[i] * b1 + c1 * gi;
    T vi = v[i] * b2 + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    if constexpr (Amsgrad) {
      const T vm = vmax[i];
      vi = (vm < vi) | (vi != vi) ? vi : vm;  // np.maximum: a NaN wins (| not ||: no branch)
      vmax[i] = vi;
    }
    p[i] = pi - step_size * (mi / (std::sqrt(vi) / root_bc2 + eps));
  }
}

// The same loop for AVX2 when the CPU has it (STRIDED_CPU_CAPABILITY can lower that): twice the lanes of
// the baseline's, and the update is bound by its divisions and square roots, whose units are as wide as the
// vectors (1.9x on Zen 3). No FMA (target avx2 alone, no contraction in this file): the baseline's bits.
// Elsewhere than x86 there is no such target, and cpu_capability() is Default.
#if defined(__x86_64__) || defined(__i386__)
#define STRIDED_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define STRIDED_TARGET_AVX2
#endif
template <typename T, bool Amsgrad>
STRIDED_TARGET_AVX2 void adam_range_avx2(int64_t begin, int64_t end, T* p, const T* g, T* m, T* v, T* vmax,
                                         const AdamHyper& h) {
  adam_range<T, Amsgrad>(begin, end, p, g, m, v, vmax, h);
}

template <typename T>
void adam_update(int64_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamHyper& h) {
  const bool avx2 = cpu_capability() >= Capability::AVX2;
  // Threads only pay off on large parameters (waking them costs more than updating 64k elements). The
  // split is by hand: GCC does not vectorize this body under `omp parallel for simd` (4x slower).
#pragma omp parallel if (n > (int64_t(1) << 16))
  {
    const int64_t nt = omp_get_num_threads(), chunk = (n + nt - 1) / nt;
    const int64_t begin = std::min(n, omp_get_thread_num() * chunk), end = std::min(n, begin + chunk);
    if (vmax) (avx2 ? adam_range_avx2<T, true> : adam_range<T, true>)(begin, end, p, g, m, v, vmax, h);
    else (avx2 ? adam_range_avx2<T, false> : adam_range<T, false>)(begin, end, p, g, m, v, nullptr, h);
  }
}

template void adam_update<float>(int64_t, float*, const float*, float*, float*, float*, const AdamHyper&);
template void adam_update<double>(int64_t, double*, const double*, double*, double*, double*, const AdamHyper&);

}  // namespace strided::optim
