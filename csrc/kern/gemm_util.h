// The pieces of a packed GEMM that conv2d/ and linear/ share: per-thread workspaces, the
// contraction block size, and the packing of A into the microkernel's panels (kern::Table::gemm).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "kern/kernels.h"

namespace strided {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Per-thread scratch, 64-byte aligned, grown on demand and kept for the next call (OpenMP reuses its
// threads, so after the first call of a shape no kernel allocates). Slots keep concurrent uses apart.
enum Slot { kPackedWeights = 0, kFlippedWeights = 1, kTile = 2, kTile2 = 3, kPartial = 4, kSlots = 5 };

template <typename T>
T* workspace(Slot slot, int64_t n) {
  struct Buf {
    T* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[kSlots];
  Buf& b = bufs[slot];
  if (b.n < n) {
    std::free(b.p);
    b.p = static_cast<T*>(std::aligned_alloc(64, size_t(round_up(n * int64_t(sizeof(T)), 64))));
    if (!b.p) std::abort();  // inside an OpenMP region an exception could not propagate
    b.n = n;
  }
  return b.p;
}

// Contraction block: a B micro-panel (kc x nr) of 16 KiB stays in L1 while the A panels stream from L2.
template <typename T>
int64_t kc_block(const kern::Table<T>& kt) { return std::max<int64_t>(64, 16384 / (kt.nr * int64_t(sizeof(T)))); }

// A (M x Kd, row stride lda) packed for kern gemm: contraction blocks of kc, each ceil(M/mr) panels of
// kc x mr; rows past M are zero. Block kc0 starts at kc0 * Mp.
template <typename T>
void pack_a(const T* A, int64_t lda, int64_t colstride, int64_t M, int64_t Kd, int64_t kc, int64_t mr, T* Ap) {
  const int64_t Mp = round_up(M, mr);
  for (int64_t k0 = 0; k0 < Kd; k0 += kc) {
    const int64_t kl = std::min(kc, Kd - k0);
    for (int64_t m0 = 0; m0 < Mp; m0 += mr) {
      T* d = Ap + k0 * Mp + (m0 / mr) * kl * mr;
      for (int64_t i = 0; i < mr; ++i) {
        const int64_t m = m0 + i;
        if (m < M)
          for (int64_t k = 0; k < kl; ++k) d[k * mr + i] = A[m * lda + (k0 + k) * colstride];
        else
          for (int64_t k = 0; k < kl; ++k) d[k * mr + i] = T(0);
      }
    }
  }
}

}  // namespace strided
