// Pooling kernels. Every kernel makes one pass over its planes; work is split over (image, channel)
// planes, and forward passes also over output rows so that a small batch still fills the threads.
// Backward kernels own whole planes of gx, so their accumulation never races and is deterministic.
// The common shapes 2x2/2 and 3x3/2 pad 1 have vectorized fast paths for their interior windows.
#include "pool2d.h"

#include "kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace strided::pool {
namespace {

// One pooling window: clipped to the real input, plus its size counting padding (but not the overhang
// past the padding that ceil_mode may add), which is avg pooling's divisor with count_include_pad.
struct Window {
  int64_t h0, h1, w0, w1, size_with_pad;
};

inline Window window(const PoolShape& s, int64_t oh, int64_t ow) {
  const int64_t hs = oh * s.stride_h - s.pad_h, ws = ow * s.stride_w - s.pad_w;
  const int64_t he = std::min(hs + s.kernel_h, s.H + s.pad_h), we = std::min(ws + s.kernel_w, s.W + s.pad_w);
  return {std::max<int64_t>(hs, 0), std::min(he, s.H), std::max<int64_t>(ws, 0), std::min(we, s.W),
          (he - hs) * (we - ws)};
}

// Offset in the plane of the window's first maximum in row-major order; the first NaN wins outright.
template <typename T>
inline int64_t argmax(const PoolShape& s, const T* xp, const Window& win) {
  int64_t best = win.h0 * s.W + win.w0;
  T bv = xp[best];
  if (std::isnan(bv)) return best;
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      const T v = xp[ih * s.W + iw];
      if (std::isnan(v)) return ih * s.W + iw;
      if (v > bv) { bv = v; best = ih * s.W + iw; }
    }
  }
  return best;
}

inline int64_t divisor(const Window& win, bool count_include_pad) {
  return count_include_pad ? win.size_with_pad : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// Copies a finished gx plane (built in a cache-resident scratch plane) to memory with non-temporal
// stores: gx is written once and not read back, so this saves the read-for-ownership of every line
// (a third of a backward pass's memory traffic). The caller fences once at the end.
template <typename T>
void stream_copy(T* dst, const T* src, int64_t n) {
#if defined(__SSE2__)
  constexpr int64_t L = 16 / int64_t(sizeof(T));
  int64_t i = 0;
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15); ++i) dst[i] = src[i];
  for (; i + L <= n; i += L) {
    if constexpr (sizeof(T) == 4)
      _mm_stream_ps(reinterpret_cast<float*>(dst + i), _mm_loadu_ps(reinterpret_cast<const float*>(src + i)));
    else
      _mm_stream_pd(reinterpret_cast<double*>(dst + i), _mm_loadu_pd(reinterpret_cast<const double*>(src + i)));
  }
  for (; i < n; ++i) dst[i] = src[i];
#else
  std::memcpy(dst, src, size_t(n) * sizeof(T));
#endif
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// ---------------------------------------------------------------- fast paths
// The two shapes every CNN uses, 2x2 stride 2 and 3x3 stride 2 pad 1, run as one streaming pass over
// each plane whose inner loops the compiler vectorizes (stride-2 loads become shuffles). Only windows
// fully inside the input take the fast loop; the border ones (padding, ceil_mode's partial windows) go
// through the general code above, so the semantics stay in one place.

enum class Fast { None, K2S2, K3S2P1 };

inline Fast fast_kind(const PoolShape& s) {
  if (s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0)
    return Fast::K2S2;
  if (s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 1 && s.pad_w == 1)
    return Fast::K3S2P1;
  return Fast::None;
}

// The row kernels' name for the shape (pool_rows.h).
inline int kind(Fast f) { return f == Fast::K2S2 ? 0 : 1; }

// Output rows/columns [lo, hi) whose windows lie fully inside the input.
struct Interior {
  int64_t oh0, oh1, ow0, ow1;
};

inline Interior interior(const PoolShape& s, Fast f) {
  if (f == Fast::K2S2) return {0, std::min(s.OH, s.H / 2), 0, std::min(s.OW, s.W / 2)};
  // 3x3/2 pad 1: window of o covers 2o-1 .. 2o+1.
  const int64_t oh1 = std::min(s.OH, (s.H - 2) / 2 + 1), ow1 = std::min(s.OW, (s.W - 2) / 2 + 1);
  return {1, std::max<int64_t>(oh1, 1), 1, std::max<int64_t>(ow1, 1)};
}

}  // namespace

// Output row 0 of 3x3/2 pad 1 reads padding row -1: the fast row kernels get a row of -inf there. For
// the forward value that is exact (a -inf never beats a real value, NaN still wins, and an all -inf
// window is -inf either way); backward checks that the argmax did not land in it.
template <typename T>
struct RowSet {
  const T* rows[3];
  bool top_padded;
};

template <typename T>
inline bool fast_rows(const PoolShape& s, Fast f, const Interior& in, const T* xp, int64_t oh, const T* neg_inf,
                      RowSet<T>& rs) {
  if (f == Fast::None || in.ow1 <= in.ow0) return false;
  const int64_t off = f == Fast::K2S2 ? 0 : 1, kh = f == Fast::K2S2 ? 2 : 3;
  rs.top_padded = false;
  if (oh >= in.oh0 && oh < in.oh1) {
    for (int64_t r = 0; r < kh; ++r) rs.rows[r] = xp + (2 * oh - off + r) * s.W - off;
    return true;
  }
  if (f == Fast::K3S2P1 && oh == 0 && s.H >= 2) {
    rs.rows[0] = neg_inf;
    rs.rows[1] = xp - 1;
    rs.rows[2] = xp + s.W - 1;
    rs.top_padded = true;
    return true;
  }
  return false;
}

template <typename T>
void max_forward(const PoolShape& s, const T* x, T* y) {
  const Fast f = fast_kind(s);
  const Interior in = f == Fast::None ? Interior{0, 0, 0, 0} : interior(s, f);
  const std::vector<T> neg_inf(size_t(s.W + 2), -std::numeric_limits<T>::infinity());
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* xp = x + p * s.H * s.W;
      T* yr = y + (p * s.OH + oh) * s.OW;
      RowSet<T> rs;
      const bool fast = fast_rows(s, f, in, xp, oh, neg_inf.data(), rs);
      if (fast) kern::table<T>().pool_max_row(kind(f), rs.rows, in.ow0, in.ow1, yr);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        if (fast && ow >= in.ow0 && ow < in.ow1) continue;
        yr[ow] = xp[argmax(s, xp, window(s, oh, ow))];
      }
    }
  }
}

// Each task owns whole planes of gx, built in a cache-resident scratch plane (zeroed, then every output
// adds its gradient at its window's argmax) and streamed out once.
template <typename T>
void max_backward(const PoolShape& s, const T* gy, const T* x, T* gx) {
  const Fast f = fast_kind(s);
  const Interior in = f == Fast::None ? Interior{0, 0, 0, 0} : interior(s, f);
  const int64_t kw = f == Fast::K2S2 ? 2 : 3, off = f == Fast::K2S2 ? 0 : 1;
  int64_t tap[9];  // window-relative index -> offset from the window's top-left input element
  for (int64_t i = 0; i < 9; ++i) tap[i] = (i / kw) * s.W + i % kw;
  const std::vector<T> neg_inf(size_t(s.W + 2), -std::numeric_limits<T>::infinity());
#pragma omp parallel
  {
    std::vector<int32_t> idx(size_t(std::max<int64_t>(s.OW, 1)));
    std::vector<T> plane(size_t(s.H * s.W));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < s.N * s.C; ++p) {
      const T* xp = x + p * s.H * s.W;
      const T* gyp = gy + p * s.OH * s.OW;
      T* gxp = plane.data();
      std::fill(gxp, gxp + s.H * s.W, T(0));
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        RowSet<T> rs;
        const bool fast = fast_rows(s, f, in, xp, oh, neg_inf.data(), rs);
        if (fast) {
          kern::table<T>().pool_argmax_row(kind(f), rs.rows, in.ow0, in.ow1, idx.data());
          const int64_t base = (2 * oh - off) * s.W - off;
          const T* g = gyp + oh * s.OW;
          const int32_t* id = idx.data() - in.ow0;  // id[ow]
          if (rs.top_padded) {
            for (int64_t ow = in.ow0; ow < in.ow1; ++ow) {
              const int32_t i = id[ow];
              if (i < 3)  // a -inf window: the reference's first real element
                gxp[argmax(s, xp, window(s, oh, ow))] += g[ow];
              else
                gxp[base + tap[i] + 2 * ow] += g[ow];
            }
          } else if (f == Fast::K2S2) {  // disjoint windows: one-hot writes, vectorized
            T *d0 = gxp + base, *d1 = d0 + s.W;
#pragma omp simd
            for (int64_t ow = in.ow0; ow < in.ow1; ++ow) {
              const int32_t i = id[ow];
              const T v = g[ow];
              d0[2 * ow] = i == 0 ? v : T(0);
              d0[2 * ow + 1] = i == 1 ? v : T(0);
              d1[2 * ow] = i == 2 ? v : T(0);
              d1[2 * ow + 1] = i == 3 ? v : T(0);
            }
          } else {  // 3x3/2: column 2ow+1 of each row is shared by windows ow and ow+1
            for (int64_t r = 0; r < 3; ++r) {
              T* d = gxp + base + r * s.W;  // d[c] is column c - 1
              const int32_t L = int32_t(3 * r), M = L + 1, R = L + 2;
              d[2 * in.ow0] += id[in.ow0] == L ? g[in.ow0] : T(0);
#pragma omp simd
              for (int64_t ow = in.ow0; ow < in.ow1 - 1; ++ow) {
                const T g0 = g[ow], g1 = g[ow + 1], z = T(0);  // loaded unconditionally: branch-free
                const int32_t i0 = id[ow], i1 = id[ow + 1];
                const T mid = i0 == M ? g0 : z, right = i0 == R ? g0 : z, left = i1 == L ? g1 : z;
                d[2 * ow + 1] += mid;
                d[2 * ow + 2] += right + left;
              }
              const int64_t e = in.ow1 - 1;
              d[2 * e + 1] += id[e] == M ? g[e] : T(0);
              d[2 * e + 2] += id[e] == R ? g[e] : T(0);
            }
          }
        }
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          if (fast && ow >= in.ow0 && ow < in.ow1) continue;
          gxp[argmax(s, xp, window(s, oh, ow))] += gyp[oh * s.OW + ow];
        }
      }
      stream_copy(gx + p * s.H * s.W, gxp, s.H * s.W);
    }
    stream_fence();
  }
}

template <typename T>
void avg_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  const Fast f = fast_kind(s);
  const Interior in = f == Fast::None ? Interior{0, 0, 0, 0} : interior(s, f);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* xp = x + p * s.H * s.W;
      T* yr = y + (p * s.OH + oh) * s.OW;
      const bool fast = oh >= in.oh0 && oh < in.oh1;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        if (fast && ow == in.ow0 && in.ow1 > in.ow0) {  // full windows: both divisors are k*k
          kern::table<T>().pool_avg_row(kind(f), xp, s.W, oh, in.ow0, in.ow1, yr);
          ow = in.ow1 - 1;
          continue;
        }
        const Window win = window(s, oh, ow);
        T acc = 0;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) acc += xp[ih * s.W + iw];
        yr[ow] = acc / T(divisor(win, count_include_pad));
      }
    }
  }
}

template <typename T>
void avg_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad) {
  const Fast f = fast_kind(s);
  const Interior in = f == Fast::None ? Interior{0, 0, 0, 0} : interior(s, f);
#pragma omp parallel
  {
    std::vector<T> h(size_t(s.W + 2));  // one output row's gradient spread over its input columns
    std::vector<T> plane(size_t(s.H * s.W));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < s.N * s.C; ++p) {
      const T* gyp = gy + p * s.OH * s.OW;
      T* gxp = plane.data();
      std::fill(gxp, gxp + s.H * s.W, T(0));
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        const bool fast = oh >= in.oh0 && oh < in.oh1 && in.ow1 > in.ow0;
        if (fast && f == Fast::K2S2) {
          const T* g = gyp + oh * s.OW;
          T *d0 = gxp + 2 * oh * s.W, *d1 = d0 + s.W;
#pragma omp simd
          for (int64_t ow = in.ow0; ow < in.ow1; ++ow) {
            const T v = g[ow] / T(4);
            d0[2 * ow] += v; d0[2 * ow + 1] += v; d1[2 * ow] += v; d1[2 * ow + 1] += v;
          }
        } else if (fast) {  // 3x3/2: column 2j gets g[j], column 2j+1 gets g[j] + g[j+1]
          const T* g = gyp + oh * s.OW;
          const int64_t a = in.ow0, e = in.ow1, c0 = 2 * a - 1, c1 = 2 * e;
          h[size_t(c0)] = g[a] / T(9);
#pragma omp simd
          for (int64_t j = a; j < e - 1; ++j) {
            h[size_t(2 * j)] = g[j] / T(9);
            h[size_t(2 * j + 1)] = g[j] / T(9) + g[j + 1] / T(9);
          }
          h[size_t(2 * e - 2)] = g[e - 1] / T(9);
          h[size_t(2 * e - 1)] = g[e - 1] / T(9);
          for (int64_t r = 0; r < 3; ++r) {
            T* d = gxp + (2 * oh - 1 + r) * s.W;
            const T* hp = h.data();
#pragma omp simd
            for (int64_t c = c0; c < c1; ++c) d[c] += hp[c];
          }
        }
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          if (fast && ow >= in.ow0 && ow < in.ow1) continue;
          const Window win = window(s, oh, ow);
          const T g = gyp[oh * s.OW + ow] / T(divisor(win, count_include_pad));
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) gxp[ih * s.W + iw] += g;
        }
      }
      stream_copy(gx + p * s.H * s.W, gxp, s.H * s.W);
    }
    stream_fence();
  }
}

#define STRIDED_INSTANTIATE(T)                                                  \
  template void max_forward<T>(const PoolShape&, const T*, T*);                 \
  template void max_backward<T>(const PoolShape&, const T*, const T*, T*);      \
  template void avg_forward<T>(const PoolShape&, const T*, T*, bool);           \
  template void avg_backward<T>(const PoolShape&, const T*, T*, bool);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::pool
