// Pooling kernels. Every kernel makes one pass over its planes; work is split over (image, channel)
// planes, and forward passes also over blocks of output rows so that a small batch still fills the
// threads. Backward kernels own whole planes of gx, so their accumulation never races and is
// deterministic; their per-thread scratch is bounded by kScratchBytes (kern/gemm_util.h) and their planes
// leave through plane_writer.h. The windows inside the input's columns, of any shape, run in the
// vectorized kernels of pool_rows.h; those overhanging the left or right edge take the general code here,
// which defines the semantics (but for average pooling's backward over overlapping windows, whose kernel
// sums them too, given their divisors).
#include "pool2d/pool2d.h"

#include "kern/gemm_util.h"
#include "kern/kernels.h"
#include "pool2d/plane_writer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <omp.h>

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

// Offset in the plane of the window's pick, PyTorch's: in row-major order a later element is taken if
// greater or if it is NaN, so equal maxima go to the first and NaNs to the last. In two passes: the
// maximum (a chain of one max instruction per element) and whether a NaN is there, then the last NaN or
// the first element not below the maximum, a select per element that depends on nothing before it. One
// pass with the pick's select chained from element to element took a sixth of a 3x3/2 max-pool's
// forward in its border windows (one in 56 windows).
template <typename T>
inline int64_t argmax(const PoolShape& s, const T* xp, const Window& win) {
  T m = xp[win.h0 * s.W + win.w0];
  bool nan = false;
  for (int64_t ih = win.h0; ih < win.h1; ++ih)
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      const T v = xp[ih * s.W + iw];
      m = v > m ? v : m;
      nan |= v != v;
    }
  int64_t best = 0;
  if (nan) {
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw)
        if (xp[ih * s.W + iw] != xp[ih * s.W + iw]) best = ih * s.W + iw;
    return best;
  }
  for (int64_t ih = win.h1 - 1; ih >= win.h0; --ih)  // backwards: the last taken is the first maximum
    for (int64_t iw = win.w1 - 1; iw >= win.w0; --iw)
      if (!(xp[ih * s.W + iw] < m)) best = ih * s.W + iw;
  return best;
}

inline int64_t divisor(const Window& win, bool count_include_pad) {
  return count_include_pad ? win.size_with_pad : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// What the vectorized kernels take: output columns [ow0, ow1), whose windows lie inside the input's
// columns, on every output row, with per row the input rows its windows cover and their avg divisor.
// fast is false where no window is interior, the column stride has no kernel, or the offsets of a
// window row from the window's start (window rows x W, 32-bit for float) could overflow.
template <typename T>
struct Interior {
  bool fast;
  int64_t ow0, ow1;
  std::vector<int64_t> h0, h1;
  std::vector<T> div;
  std::vector<T> edge_div;  // avg backward over overlapping windows: per row, the divisors outside [ow0, ow1)

  Interior(const PoolShape& s, bool count_include_pad) {
    ow0 = (s.pad_w + s.stride_w - 1) / s.stride_w;
    ow1 = s.W + s.pad_w < s.kernel_w ? 0 : std::min(s.OW, (s.W + s.pad_w - s.kernel_w) / s.stride_w + 1);
    const int64_t reach = bounded_mad(s.kernel_h + 1, s.W, 0);
    fast = ow1 > ow0 && s.stride_w <= kern::kPoolMaxStride && reach >= 0 &&
           (sizeof(T) == 8 || reach <= std::numeric_limits<int32_t>::max());
    if (!fast) return;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Window win = window(s, oh, ow0);
      h0.push_back(win.h0);
      h1.push_back(win.h1);
      div.push_back(T(divisor(win, count_include_pad)));
    }
  }

  kern::PoolArgs<T> args(const PoolShape& s, void* scratch) const {
    return {s.H,        s.W,       s.OH,      s.OW,      s.kernel_h, s.stride_h, s.kernel_w,
            s.stride_w, ow0 * s.stride_w - s.pad_w, ow1 - ow0, ow0, h0.data(), h1.data(), div.data(),
            edge_div.data(), scratch};
  }

  // Elements of T of one thread's scratch for the backward kernels (the workspace kPartial).
  int64_t scratch_size(const PoolShape& s) const {
    return fast ? ceil_div(kern::pool_scratch_bytes(s.OH, s.OW, s.W, s.kernel_w), int64_t(sizeof(T))) : 0;
  }

  // Calls f(ow) for each output column of a row that the kernels leave to the general code.
  template <typename F>
  void border(const PoolShape& s, F&& f) const {
    for (int64_t ow = 0; ow < (fast ? ow0 : s.OW); ++ow) f(ow);
    for (int64_t ow = fast ? ow1 : s.OW; ow < s.OW; ++ow) f(ow);
  }
};

// Output rows per forward task: whole planes, or blocks of rows when there are too few planes to give
// every thread a few tasks.
inline int64_t task_rows(const PoolShape& s) {
  const int64_t planes = s.N * s.C, want = 4 * int64_t(omp_get_max_threads());
  if (planes == 0 || planes >= want) return std::max<int64_t>(s.OH, 1);
  return std::max<int64_t>(1, s.OH * planes / want);
}

template <typename T>
inline T window_sum(const PoolShape& s, const T* xp, const Window& win) {
  T acc = 0;
  for (int64_t ih = win.h0; ih < win.h1; ++ih)
    for (int64_t iw = win.w0; iw < win.w1; ++iw) acc += xp[ih * s.W + iw];
  return acc;
}

// A forward pass: tasks are (plane, block of output rows); kernel(a, p, oh0, oh1) computes the interior
// windows of plane p's block and border(p, oh, ow) each border window's output.
template <typename T, typename Kernel, typename Border>
void forward_tasks(const PoolShape& s, const Interior<T>& in, Kernel kernel, Border border) {
  const int64_t rows = task_rows(s), blocks = (s.OH + rows - 1) / rows;
  const kern::PoolArgs<T> a = in.args(s, nullptr);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < s.N * s.C * blocks; ++t) {
    const int64_t p = t / blocks, oh0 = t % blocks * rows, oh1 = std::min(s.OH, oh0 + rows);
    if (in.fast) kernel(a, p, oh0, oh1);
    for (int64_t oh = oh0; oh < oh1; ++oh) in.border(s, [&](int64_t ow) { border(p, oh, ow); });
  }
}

// How a backward kernel writes a gx plane: it adds into zeros; it stores every element of the rows its
// windows cover, from the first interior window's column to the last one's end (the rest zeroed); or it
// stores the whole plane, border windows included (Interior::edge_div), leaving nothing to `add`.
enum class Writes { adds, span, plane };

// Each task owns whole planes of gx, built in a cache-resident scratch plane (`kernel` writes the interior
// windows' gradients as `writes` says, then `add(p, gxp, oh, ow)` adds each border window's) and copied
// out once. Planes whose two scratch copies and the kernels' scratch would pass the bound (kScratchBytes)
// are written straight into gx: by a whole-plane kernel if its own scratch fits, else by `add` alone
// (slower, but nothing per thread grows with the plane).
template <typename T, typename Kernel, typename Add>
void backward_tasks(const PoolShape& s, const Interior<T>& in, Writes writes, Kernel kernel, Add add, T* gx) {
  const int64_t planes = s.N * s.C, size = s.H * s.W, scratch_size = in.scratch_size(s);
  const double kernel_bytes = double(scratch_size) * sizeof(T);
  const bool whole = in.fast && writes == Writes::plane;
  const bool buffered = PlaneWriter<T>::scratch_bytes(size) + kernel_bytes <= double(kScratchBytes);
  if (!buffered && !(whole && kernel_bytes <= double(kScratchBytes))) {
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      T* gxp = gx + p * size;
      std::fill(gxp, gxp + size, T(0));
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) add(p, gxp, oh, ow);
    }
    return;
  }
  reserve<T>({{kTile, buffered ? size : 0}, {kTile2, buffered ? size : 0}, {kPartial, scratch_size}});
  // A span-storing kernel's rows and columns (its windows' span, ncol wide from column c0) need no zeros.
  const bool rest = in.fast && writes == Writes::span;
  const int64_t ncol = rest ? in.args(s, nullptr).span() : 0;
  std::vector<char> covered(rest ? size_t(s.H) : 0);
  for (size_t oh = 0; rest && oh < in.h0.size(); ++oh)
    std::fill(covered.begin() + in.h0[oh], covered.begin() + in.h1[oh], 1);
  const auto& k = kern::table<T>();
#pragma omp parallel
  {
    T* scratch = workspace<T>(kPartial, scratch_size);
    std::fill(scratch, scratch + scratch_size, T(0));
    const kern::PoolArgs<T> a = in.args(s, scratch);
    if (!buffered) {
#pragma omp for schedule(static)
      for (int64_t p = 0; p < planes; ++p) kernel(a, p, gx + p * size);
    } else {
      PlaneWriter<T> out(size, PlaneWriter<T>::streams(planes, size), k);
#pragma omp for schedule(static)
      for (int64_t p = 0; p < planes; ++p) {
        T* gxp = out.begin(gx + p * size, !rest && !whole);
        if (rest)
          for (int64_t h = 0; h < s.H; ++h) {
            T* row = gxp + h * s.W;
            if (!covered[size_t(h)]) {
              std::fill(row, row + s.W, T(0));
              continue;
            }
            std::fill(row, row + a.c0, T(0));
            std::fill(row + a.c0 + ncol, row + s.W, T(0));
          }
        if (in.fast) kernel(a, p, gxp);
        if (!whole)
          for (int64_t oh = 0; oh < s.OH; ++oh) in.border(s, [&](int64_t ow) { add(p, gxp, oh, ow); });
        out.done();
      }
      out.finish();
    }
  }
}

}  // namespace

template <typename T>
void max_forward(const PoolShape& s, const T* x, T* y, int64_t* indices) {
  if (s.N * s.C == 0) return;  // before anything sized by the planes (N = 0 with huge H and W)
  const Interior<T> in(s, false);
  const int64_t size = s.H * s.W, osize = s.OH * s.OW;
  forward_tasks(
      s, in,
      [&](const kern::PoolArgs<T>& a, int64_t p, int64_t oh0, int64_t oh1) {
        const int64_t o = p * osize + in.ow0;
        kern::table<T>().pool_max(a, oh0, oh1, x + p * size, y + o, indices ? indices + o : nullptr);
      },
      [&](int64_t p, int64_t oh, int64_t ow) {
        const T* xp = x + p * size;
        const int64_t at = argmax(s, xp, window(s, oh, ow)), o = p * osize + oh * s.OW + ow;
        y[o] = xp[at];
        if (indices) indices[o] = at;
      });
}

template <typename T>
void max_backward(const PoolShape& s, const T* gy, const T* x, T* gx) {
  if (s.N * s.C == 0) return;  // before anything sized by the planes (N = 0 with huge H and W)
  const Interior<T> in(s, false);
  const int64_t size = s.H * s.W, osize = s.OH * s.OW;
  backward_tasks(
      s, in, kern::pool_windows_tile(s.kernel_h, s.stride_h, s.kernel_w, s.stride_w) ? Writes::span : Writes::adds,
      [&](const kern::PoolArgs<T>& a, int64_t p, T* gxp) {
        kern::table<T>().pool_max_backward(a, x + p * size, gy + p * osize + in.ow0, gxp);
      },
      [&](int64_t p, T* gxp, int64_t oh, int64_t ow) {
        gxp[argmax(s, x + p * size, window(s, oh, ow))] += gy[p * osize + oh * s.OW + ow];
      },
      gx);
}

template <typename T>
void avg_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  if (s.N * s.C == 0) return;  // before anything sized by the planes (N = 0 with huge H and W)
  const Interior<T> in(s, count_include_pad);
  const int64_t size = s.H * s.W, osize = s.OH * s.OW;
  forward_tasks(
      s, in,
      [&](const kern::PoolArgs<T>& a, int64_t p, int64_t oh0, int64_t oh1) {
        kern::table<T>().pool_avg(a, oh0, oh1, x + p * size, y + p * osize + in.ow0);
      },
      [&](int64_t p, int64_t oh, int64_t ow) {
        const Window win = window(s, oh, ow);
        y[p * osize + oh * s.OW + ow] = window_sum(s, x + p * size, win) / T(divisor(win, count_include_pad));
      });
}

template <typename T>
void avg_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad) {
  if (s.N * s.C == 0) return;  // before anything sized by the planes (N = 0 with huge H and W)
  Interior<T> in(s, count_include_pad);
  const int64_t size = s.H * s.W, osize = s.OH * s.OW;
  // Windows that tile the plane: the kernel stores their span; overlapping ones: it writes every element
  // of the plane, given the border windows' divisors.
  const bool tile = kern::pool_windows_tile(s.kernel_h, s.stride_h, s.kernel_w, s.stride_w);
  for (int64_t oh = 0; in.fast && !tile && oh < s.OH; ++oh)
    in.border(s, [&](int64_t ow) { in.edge_div.push_back(T(divisor(window(s, oh, ow), count_include_pad))); });
  const auto& k = kern::table<T>();
  backward_tasks(
      s, in, tile ? Writes::span : Writes::plane,
      [&](const kern::PoolArgs<T>& a, int64_t p, T* gxp) {
        if (tile) k.pool_avg_backward(a, gy + p * osize + in.ow0, gxp);
        else k.pool_avg_backward_plane(a, gy + p * osize, gxp);
      },
      [&](int64_t p, T* gxp, int64_t oh, int64_t ow) {
        const Window win = window(s, oh, ow);
        const T g = gy[p * osize + oh * s.OW + ow] / T(divisor(win, count_include_pad));
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) gxp[ih * s.W + iw] += g;
      },
      gx);
}

#define STRIDED_INSTANTIATE(T)                                                  \
  template void max_forward<T>(const PoolShape&, const T*, T*, int64_t*);       \
  template void max_backward<T>(const PoolShape&, const T*, const T*, T*);      \
  template void avg_forward<T>(const PoolShape&, const T*, T*, bool);           \
  template void avg_backward<T>(const PoolShape&, const T*, T*, bool);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::pool
