// Interpolation kernels. Each axis is mapped once into a table (output index -> source indices and
// weights, PyTorch's formulas in PyTorch's arithmetic: a nearest index can flip on the last bit of
// dst * scale). Forward passes split the output rows over the threads. Backward passes gather: each
// thread owns whole gx rows and walks the output rows that read them, in ascending order, so the sums
// are race-free, deterministic and added in PyTorch's order (its CPU backward scatters in output order).
#include "interp/interp.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <omp.h>

#include "core/common.h"

namespace strided::interp {
namespace {

// One axis of the mapping: output o reads input i0[o] with weight l0[o] and i1[o] with l1[o] (nearest
// uses i0 alone).
template <typename T>
struct Axis {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

// PyTorch's nearest_idx: a copy when the sizes agree, a shift when the output is twice the input, else
// floor(dst * s) in float with s = 1/scale or in/out, clamped to the last input.
template <typename T>
Axis<T> nearest_axis(int64_t in, int64_t out, double scale) {
  Axis<T> a;
  const float s = scale > 0. ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i;
    if (out == in) i = o;
    else if (out == 2 * in) i = o >> 1;
    else i = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * s)), in - 1);
    a.i0.push_back(i);
  }
  return a;
}

// PyTorch's compute_source_index_and_lambda in the input's precision (float for float): align_corners
// maps the corner pixels' centres onto each other, otherwise pixel centres are scaled and clamped at 0.
template <typename T>
Axis<T> linear_axis(int64_t in, int64_t out, bool align_corners, double scale) {
  Axis<T> a;
  T ratio;
  if (align_corners) ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else ratio = scale > 0. ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) {
      a.i0.push_back(o);
      a.i1.push_back(o);
      a.l0.push_back(T(1));
      a.l1.push_back(T(0));
      continue;
    }
    // PyTorch's CPU build fuses this multiply-add (one rounding): so does std::fma.
    T src = align_corners ? ratio * static_cast<T>(o) : std::fma(ratio, static_cast<T>(o) + T(0.5), T(-0.5));
    if (src < T(0)) src = T(0);
    // PyTorch floors through floorf: a double coordinate is rounded to float first.
    const int64_t i = std::min(static_cast<int64_t>(std::floor(static_cast<float>(src))), in - 1);
    const T l1 = std::min(std::max(src - static_cast<T>(i), T(0)), T(1));
    a.i0.push_back(i);
    a.i1.push_back(i < in - 1 ? i + 1 : i);
    a.l0.push_back(T(1) - l1);
    a.l1.push_back(l1);
  }
  return a;
}

// For each input row, the output rows that read it, ascending, with which of their two taps do (bit 0:
// i0, bit 1: i1), as CSR: readers of row i are [start[i], start[i + 1]).
struct Readers {
  std::vector<int64_t> start, out;
  std::vector<int> taps;
};

template <typename T>
Readers readers(const Axis<T>& a, int64_t in, bool two_taps) {
  Readers r;
  r.start.assign(size_t(in) + 1, 0);
  const int64_t n = int64_t(a.i0.size());
  auto each = [&](auto&& visit) {
    for (int64_t o = 0; o < n; ++o) {
      const bool both = two_taps && a.i1[o] != a.i0[o];
      visit(a.i0[o], o, (two_taps && !both) ? 3 : 1);
      if (both) visit(a.i1[o], o, 2);
    }
  };
  each([&](int64_t i, int64_t, int) { ++r.start[size_t(i) + 1]; });
  for (int64_t i = 0; i < in; ++i) r.start[size_t(i) + 1] += r.start[size_t(i)];
  r.out.resize(size_t(r.start[size_t(in)]));
  r.taps.resize(r.out.size());
  std::vector<int64_t> fill(r.start.begin(), r.start.end() - 1);
  each([&](int64_t i, int64_t o, int taps) {
    r.out[size_t(fill[size_t(i)])] = o;
    r.taps[size_t(fill[size_t(i)]++)] = taps;
  });
  return r;
}

// body(row, plane, i) for each of the `rows` rows of `width` elements of every plane of out, split over the
// threads by whole rows; zero first fills the row with zeros (a backward pass's accumulator).
template <typename T, typename Body>
void each_row(int64_t planes, int64_t rows, int64_t width, T* out, bool zero_first, const Body& body) {
  const int64_t total = planes * rows;
#pragma omp parallel
  {
    DenormalGuard denormals;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < total; ++r) {
      T* row = out + r * width;
      if (zero_first) std::fill(row, row + width, T(0));
      body(row, r / rows, r % rows);
    }
  }
}

// Runs body(k, o) for the readers k of input row i, o their output row, in ascending output order.
template <typename Body>
void each_reader(const Readers& rd, int64_t i, const Body& body) {
  for (int64_t k = rd.start[size_t(i)]; k < rd.start[size_t(i) + 1]; ++k) body(size_t(k), rd.out[size_t(k)]);
}

}  // namespace

template <typename T>
void nearest_forward(const InterpShape& s, const T* x, T* y) {
  const Axis<T> rows = nearest_axis<T>(s.H, s.OH, s.scale_h), cols = nearest_axis<T>(s.W, s.OW, s.scale_w);
  each_row(s.N * s.C, s.OH, s.OW, y, false, [&](T* yr, int64_t plane, int64_t oh) {
    const T* xr = x + (plane * s.H + rows.i0[size_t(oh)]) * s.W;
    for (int64_t ow = 0; ow < s.OW; ++ow) yr[ow] = xr[cols.i0[size_t(ow)]];
  });
}

template <typename T>
void nearest_backward(const InterpShape& s, const T* gy, T* gx) {
  const Axis<T> rows = nearest_axis<T>(s.H, s.OH, s.scale_h), cols = nearest_axis<T>(s.W, s.OW, s.scale_w);
  const Readers rd = readers(rows, s.H, false);
  each_row(s.N * s.C, s.H, s.W, gx, true, [&](T* gxr, int64_t plane, int64_t ih) {
    each_reader(rd, ih, [&](size_t, int64_t oh) {
      const T* gyr = gy + (plane * s.OH + oh) * s.OW;
      for (int64_t ow = 0; ow < s.OW; ++ow) gxr[cols.i0[size_t(ow)]] += gyr[ow];
    });
  });
}

template <typename T>
void bilinear_forward(const InterpShape& s, const T* x, T* y) {
  const Axis<T> rows = linear_axis<T>(s.H, s.OH, s.align_corners, s.scale_h);
  const Axis<T> cols = linear_axis<T>(s.W, s.OW, s.align_corners, s.scale_w);
  each_row(s.N * s.C, s.OH, s.OW, y, false, [&](T* yr, int64_t plane, int64_t oh) {
    const T* x0 = x + (plane * s.H + rows.i0[size_t(oh)]) * s.W;
    const T* x1 = x + (plane * s.H + rows.i1[size_t(oh)]) * s.W;
    const T h0 = rows.l0[size_t(oh)], h1 = rows.l1[size_t(oh)];
    for (int64_t ow = 0; ow < s.OW; ++ow) {
      const int64_t c0 = cols.i0[size_t(ow)], c1 = cols.i1[size_t(ow)];
      const T w0 = cols.l0[size_t(ow)], w1 = cols.l1[size_t(ow)];
      yr[ow] = h0 * (w0 * x0[c0] + w1 * x0[c1]) + h1 * (w0 * x1[c0] + w1 * x1[c1]);
    }
  });
}

template <typename T>
void bilinear_backward(const InterpShape& s, const T* gy, T* gx) {
  const Axis<T> rows = linear_axis<T>(s.H, s.OH, s.align_corners, s.scale_h);
  const Axis<T> cols = linear_axis<T>(s.W, s.OW, s.align_corners, s.scale_w);
  const Readers rd = readers(rows, s.H, true);
  each_row(s.N * s.C, s.H, s.W, gx, true, [&](T* gxr, int64_t plane, int64_t ih) {
    each_reader(rd, ih, [&](size_t k, int64_t oh) {
      const int taps = rd.taps[k];
      const T* gyr = gy + (plane * s.OH + oh) * s.OW;
      // Per output, PyTorch adds its four products in tap order (row tap, then column tap).
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t c0 = cols.i0[size_t(ow)], c1 = cols.i1[size_t(ow)];
        const T g = gyr[ow];
        for (int a = 0; a < 2; ++a) {
          if (!(taps >> a & 1)) continue;
          const T h = a ? rows.l1[size_t(oh)] : rows.l0[size_t(oh)];
          gxr[c0] += h * cols.l0[size_t(ow)] * g;
          gxr[c1] += h * cols.l1[size_t(ow)] * g;
        }
      }
    });
  });
}

#define STRIDED_INSTANTIATE(T)                                          \
  template void nearest_forward<T>(const InterpShape&, const T*, T*);  \
  template void nearest_backward<T>(const InterpShape&, const T*, T*); \
  template void bilinear_forward<T>(const InterpShape&, const T*, T*); \
  template void bilinear_backward<T>(const InterpShape&, const T*, T*);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::interp
