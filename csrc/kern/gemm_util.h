// The pieces of a packed GEMM that conv2d/ and linear/ share: per-thread workspaces, the
// contraction block size, and the packing of A into the microkernel's panels (kern::Table::gemm).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <new>
#include <utility>

#include "kern/kernels.h"

namespace strided {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// The bound of every kernel's per-thread scratch, besides buffers the size of the weights (packed
// weights, a backward-weight pass's partial gradient): the dispatchers send a geometry to an algorithm
// only when its tiles fit (conv2d/dispatch.cpp, pool2d/pool2d.cpp), so stride, dilation, padding, plane
// size and batch never grow it. Normal layers need a few MiB at most.
constexpr int64_t kScratchBytes = int64_t(64) << 20;

// Per-thread scratch, 64-byte aligned, grown on demand and kept for the next call (OpenMP reuses its
// threads, so after the first call of a shape no kernel allocates). Slots keep concurrent uses apart.
// Throws std::bad_alloc when the memory is not there: a kernel calls reserve() before its parallel region
// so that the throwing happens outside it (an exception cannot leave an OpenMP region).
enum Slot {
  kPackedWeights = 0,
  kFlippedWeights = 1,
  kTile = 2,
  kTile2 = 3,
  kPartial = 4,
  kChannelsLast = 5,  // conv2d ChannelsLast's copy of the input, held by the calling thread
  kSlots = 6
};

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
    b.n = 0;
    const int64_t bytes = n > (INT64_MAX - 64) / int64_t(sizeof(T)) ? -1 : round_up(n * int64_t(sizeof(T)), 64);
    b.p = bytes < 0 ? nullptr : static_cast<T*>(std::aligned_alloc(64, size_t(bytes)));
    if (!b.p) throw std::bad_alloc();
    b.n = n;
  }
  return b.p;
}

// Grows every thread's workspaces to these sizes (slot, elements) before a parallel region, rethrowing an
// allocation failure here; inside the region workspace() then finds them (the calling thread's team keeps
// its OS threads from one region to the next). What the team already holds is remembered per calling
// thread, so a call whose sizes fit starts no extra region.
template <typename T>
void reserve(std::initializer_list<std::pair<Slot, int64_t>> sizes) {
  thread_local int64_t held[kSlots] = {};
  thread_local int team = 0;
  const int threads = omp_get_max_threads();
  bool fits = team == threads;
  for (auto [slot, n] : sizes) fits = fits && n <= held[slot];
  if (fits) return;
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    try {
      for (auto [slot, n] : sizes) workspace<T>(slot, n);
    } catch (...) {
#pragma omp critical(strided_reserve)
      error = std::current_exception();
    }
  }
  if (team != threads) std::fill(held, held + kSlots, int64_t(0));
  team = threads;
  if (error) {
    std::fill(held, held + kSlots, int64_t(0));  // some threads may hold less: check again next time
    std::rethrow_exception(error);
  }
  for (auto [slot, n] : sizes) held[slot] = std::max(held[slot], n);
}

// Contraction block: a B micro-panel (kc x nr) of 16 KiB stays in L1 while the A panels stream from L2.
template <typename T>
int64_t kc_block(const kern::Table<T>& kt) { return std::max<int64_t>(64, 16384 / (kt.nr * int64_t(sizeof(T)))); }

// Weights at least this big (elements) are prepared (packed, flipped) by all threads: serial, packing a
// 512-channel 3x3 layer's 2.4M took 8% of its forward at one thread, and more at two.
constexpr int64_t kParallelPrep = int64_t(1) << 16;

// A (M x Kd, row stride lda) packed for kern gemm: contraction blocks of kc, each ceil(M/mr) panels of
// kc x mr; rows past M are zero. Block kc0 starts at kc0 * Mp. Each panel is written in order, its mr
// rows read side by side.
template <typename T>
void pack_a(const T* A, int64_t lda, int64_t colstride, int64_t M, int64_t Kd, int64_t kc, int64_t mr, T* Ap) {
  const int64_t Mp = round_up(M, mr), panels = Mp / mr, blocks = ceil_div(Kd, kc);
#pragma omp parallel for schedule(static) if (Mp * Kd >= kParallelPrep)
  for (int64_t t = 0; t < blocks * panels; ++t) {
    const int64_t k0 = t / panels * kc, m0 = t % panels * mr, kl = std::min(kc, Kd - k0);
    const int64_t mv = std::min(mr, M - m0);
    T* d = Ap + k0 * Mp + m0 * kl;
    for (int64_t k = 0; k < kl; ++k, d += mr) {
      const T* a = A + m0 * lda + (k0 + k) * colstride;
      for (int64_t i = 0; i < mv; ++i) d[i] = a[i * lda];
      for (int64_t i = mv; i < mr; ++i) d[i] = T(0);
    }
  }
}

}  // namespace strided
