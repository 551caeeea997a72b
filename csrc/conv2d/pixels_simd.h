// The SIMD micro-tile of conv2d's ChannelsLast algorithm (kern::Table::pixel_tile); conv2d/channels_last.cpp
// prepares its channels-last input and packed weights. Included by kern/table_impl.h inside an anonymous
// namespace, so each ISA file compiles its own copy with its own flags; uses kern/vec.h and STRIDED_ACC.
// ---------------------------------------------------------------- channels-last pixel tiles
// kPixelMP output pixels x NT vectors of output channels accumulate in registers over the whole
// contraction: per input channel of each tap, NT weight vectors (a row of B) are loaded once and reused by
// kPixelMP broadcast inputs, read in place (px[i][off + c]: each pixel's channels are contiguous).
constexpr int kPixelMP = 6;
constexpr int kPixelNV = STRIDED_ACC / kPixelMP;  // 4 vectors on AVX-512, 2 on AVX2 and the portable path
// Taps' runs ahead whose input lines the tile prefetches. On a Zen 3 (32 KiB L1d, 512 KiB L2) the tile waited
// on those lines: r18_3x3_128 forward at 45-55% of the FMA peak, and 3x slower at times; prefetching 2 or 4
// runs ahead read 1.2-1.6x on the 128-channel layers, 1.0-1.3x elsewhere, in interleaved A/B.
constexpr int64_t kPrefetchTaps = 4;
// Cache lines of a run of channels (at most 16 of them, channels_last.cpp's kChannelRun): a float run is one
// line, a double run two (prefetching only the first left float64 at 0.3-0.45 of the float32 rate).
template <typename T>
constexpr int kRunLines = sizeof(T) == 8 ? 2 : 1;

template <typename T, int NT>
void pixel_tile_nt(const PixelTap* taps, int64_t ntaps, const T* const* px, int m, const T* B, const T* bias,
                   int n, T* const* pc) {
  constexpr int L = VL<T>;
  const T* p[kPixelMP];
  for (int i = 0; i < kPixelMP; ++i) p[i] = px[i < m ? i : m - 1];  // a short tile repeats its last pixel
  V<T> c[kPixelMP][NT];
#pragma GCC unroll 8
  for (int i = 0; i < kPixelMP; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) c[i][v] = bias ? load(bias + v * L) : V<T>{};
  for (int64_t t = 0; t < ntaps; ++t) {
    // Each tap's run is a new line (two in double) of every pixel (the pixels sit far apart, so the hardware
    // prefetchers miss them): fetch them kPrefetchTaps runs ahead, a few hundred cycles before they are read.
    if (t + kPrefetchTaps < ntaps) {
      const int64_t ahead = taps[t + kPrefetchTaps].off;
#pragma GCC unroll 8
      for (int i = 0; i < kPixelMP; ++i)
#pragma GCC unroll 2
        for (int l = 0; l < kRunLines<T>; ++l) __builtin_prefetch(p[i] + ahead + l * 64 / int(sizeof(T)));
    }
    for (int64_t k = taps[t].off, end = k + taps[t].len; k < end; ++k, B += NT * L) {
      V<T> b[NT];
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) b[v] = load(B + v * L);
#pragma GCC unroll 8
      for (int i = 0; i < kPixelMP; ++i) {
        const V<T> a = bcast(p[i][k]);
#pragma GCC unroll 4
        for (int v = 0; v < NT; ++v) c[i][v] += a * b[v];
      }
    }
  }
  if (n == NT * L) {
    for (int i = 0; i < m; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) store(pc[i] + v * L, c[i][v]);
    return;
  }
  alignas(64) T tmp[NT * L];
  for (int i = 0; i < m; ++i) {
    for (int v = 0; v < NT; ++v) store(tmp + v * L, c[i][v]);
    for (int j = 0; j < n; ++j) pc[i][j] = tmp[j];
  }
}

// The narrowest tile that covers n columns (B's rows are that many vectors wide): a last block of 16
// channels (K = 80 on AVX-512) runs one vector, not four.
template <typename T, int NT = kPixelNV>
void pixel_tile(const PixelTap* taps, int64_t ntaps, const T* const* px, int m, const T* B, const T* bias, int n,
                T* const* pc) {
  if constexpr (NT > 1) {
    if (n <= (NT - 1) * VL<T>) return pixel_tile<T, NT - 1>(taps, ntaps, px, m, B, bias, n, pc);
  }
  pixel_tile_nt<T, NT>(taps, ntaps, px, m, B, bias, n, pc);
}
