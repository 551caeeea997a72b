// The general pooling kernels (general.h): scalar loops over each window's taps, which the options here
// need (a dilated window's taps are not contiguous; indices are stored per output). Forward work is split
// over (plane, output row); a backward owns whole gx planes, so it adds into them without races, in
// output order, deterministically.
#include "pool2d/general.h"

#include "pool2d/plane_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace strided::pool {
namespace {

// A window's real taps: rows h0, h0 + dil_h, ... below h1, columns likewise. The Python side rejects a
// geometry with a window of none, so the first tap is real.
struct Taps {
  int64_t h0, h1, w0, w1;
};

inline int64_t first_tap(int64_t start, int64_t step) { return start >= 0 ? start : (start % step + step) % step; }

inline Taps taps(const PoolShape& s, int64_t oh, int64_t ow) {
  const int64_t hs = oh * s.stride_h - s.pad_h, ws = ow * s.stride_w - s.pad_w;
  return {first_tap(hs, s.dil_h), std::min(hs + s.dil_h * (s.kernel_h - 1) + 1, s.H), first_tap(ws, s.dil_w),
          std::min(ws + s.dil_w * (s.kernel_w - 1) + 1, s.W)};
}

// PyTorch's pick, offset in the plane: a later tap is taken if greater or if it is NaN, so equal maxima
// go to the first, NaNs to the last, and a window of -inf to its first tap.
template <typename T>
inline int64_t pick(const PoolShape& s, const T* xp, const Taps& t) {
  int64_t best = t.h0 * s.W + t.w0;
  T bv = -std::numeric_limits<T>::infinity();
  for (int64_t ih = t.h0; ih < t.h1; ih += s.dil_h)
    for (int64_t iw = t.w0; iw < t.w1; iw += s.dil_w) {
      const T v = xp[ih * s.W + iw];
      if (v > bv || std::isnan(v)) {
        bv = v;
        best = ih * s.W + iw;
      }
    }
  return best;
}

// Calls f(plane, oh) for every output row, in parallel.
template <typename F>
void for_rows(const PoolShape& s, F&& f) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p)
    for (int64_t oh = 0; oh < s.OH; ++oh) f(p, oh);
}

}  // namespace

template <typename T>
void max_forward_general(const PoolShape& s, const T* x, T* y, int64_t* indices) {
  for_rows(s, [&](int64_t p, int64_t oh) {
    const T* xp = x + p * s.H * s.W;
    const int64_t row = (p * s.OH + oh) * s.OW;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t at = pick(s, xp, taps(s, oh, ow));
      y[row + ow] = xp[at];
      if (indices) indices[row + ow] = at;
    }
  });
}

template <typename T>
void max_backward_general(const PoolShape& s, const T* gy, const T* x, T* gx) {
  const int64_t plane = s.H * s.W;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    T* gxp = gx + p * plane;
    const T* gyp = gy + p * s.OH * s.OW;
    std::fill(gxp, gxp + plane, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) gxp[pick(s, x + p * plane, taps(s, oh, ow))] += gyp[oh * s.OW + ow];
  }
}

// A streaming pass: gy and the indices are read once, in order; gx planes are written where they point.
// A gx too large for the caches is built plane by plane in scratch and streamed out (PlaneWriter): zeroing
// it in place read every line for ownership first, a third of the pass's memory traffic.
template <typename T>
bool max_backward_indices(const PoolShape& s, const T* gy, const int64_t* indices, T* gx) {
  const int64_t plane = s.H * s.W, outs = s.OH * s.OW, planes = s.N * s.C;
  const bool stream = PlaneWriter<T>::streams(planes, plane) && PlaneWriter<T>::scratch_bytes(plane) <= kScratchBytes;
  if (stream) reserve<T>({{kTile, plane}, {kTile2, plane}});
  bool bad = false;
#pragma omp parallel reduction(|| : bad)
  {
    std::optional<PlaneWriter<T>> out;
    if (stream) out.emplace(plane, true, kern::table<T>());
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      T* gxp = out ? out->begin(gx + p * plane, true) : gx + p * plane;
      if (!out) std::fill(gxp, gxp + plane, T(0));
      for (int64_t o = p * outs; o < (p + 1) * outs; ++o) {
        const int64_t at = indices[o];
        if (at < 0 || at >= plane) bad = true;
        else gxp[at] += gy[o];
      }
      if (out) out->done();
    }
    if (out) out->finish();
  }
  return !bad;
}

template <typename T>
void avg_forward_divisor(const PoolShape& s, const T* x, T* y, int64_t divisor) {
  for_rows(s, [&](int64_t p, int64_t oh) {
    const T* xp = x + p * s.H * s.W;
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const Taps t = taps(s, oh, ow);
      T acc = 0;
      for (int64_t ih = t.h0; ih < t.h1; ++ih)
        for (int64_t iw = t.w0; iw < t.w1; ++iw) acc += xp[ih * s.W + iw];
      y[(p * s.OH + oh) * s.OW + ow] = acc / T(divisor);
    }
  });
}

template <typename T>
void avg_backward_divisor(const PoolShape& s, const T* gy, T* gx, int64_t divisor) {
  const int64_t plane = s.H * s.W;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.N * s.C; ++p) {
    T* gxp = gx + p * plane;
    std::fill(gxp, gxp + plane, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Taps t = taps(s, oh, ow);
        const T g = gy[(p * s.OH + oh) * s.OW + ow] / T(divisor);
        for (int64_t ih = t.h0; ih < t.h1; ++ih)
          for (int64_t iw = t.w0; iw < t.w1; ++iw) gxp[ih * s.W + iw] += g;
      }
  }
}

#define STRIDED_INSTANTIATE(T)                                                              \
  template void max_forward_general<T>(const PoolShape&, const T*, T*, int64_t*);           \
  template void max_backward_general<T>(const PoolShape&, const T*, const T*, T*);          \
  template bool max_backward_indices<T>(const PoolShape&, const T*, const int64_t*, T*);    \
  template void avg_forward_divisor<T>(const PoolShape&, const T*, T*, int64_t);            \
  template void avg_backward_divisor<T>(const PoolShape&, const T*, T*, int64_t);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::pool
