// Pooling kernels. Every kernel makes one pass over its planes; work is split over (image, channel)
// planes, and forward passes also over output rows so that a small batch still fills the threads.
// Backward kernels own whole planes of gx, so their accumulation never races and is deterministic.
#include "pool2d.h"

#include <algorithm>
#include <cmath>

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

}  // namespace

template <typename T>
void max_forward(const PoolShape& s, const T* x, T* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* xp = x + p * s.H * s.W;
      T* yr = y + (p * s.OH + oh) * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) yr[ow] = xp[argmax(s, xp, window(s, oh, ow))];
    }
  }
}

template <typename T>
void max_backward(const PoolShape& s, const T* gy, const T* x, T* gx) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    const T* xp = x + p * s.H * s.W;
    const T* gyp = gy + p * s.OH * s.OW;
    T* gxp = gx + p * s.H * s.W;
    std::fill(gxp, gxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) gxp[argmax(s, xp, window(s, oh, ow))] += gyp[oh * s.OW + ow];
  }
}

template <typename T>
void avg_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const T* xp = x + p * s.H * s.W;
      T* yr = y + (p * s.OH + oh) * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
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
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    const T* gyp = gy + p * s.OH * s.OW;
    T* gxp = gx + p * s.H * s.W;
    std::fill(gxp, gxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Window win = window(s, oh, ow);
        const T g = gyp[oh * s.OW + ow] / T(divisor(win, count_include_pad));
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) gxp[ih * s.W + iw] += g;
      }
    }
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
