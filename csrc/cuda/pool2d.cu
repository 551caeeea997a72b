// CUDA pooling kernels: the GPU twins of csrc/pool2d/ (pool2d.cpp, general.cpp, unpool.cpp), templated on
// float/double.
//
// Every kernel is elementwise over a grid-stride 1-D index space (kBlock threads per block) and takes the
// geometry of strided.ops.pool2d.args.PoolArgs as 64-bit scalars (POOL_GEOMETRY). Backward kernels gather: each
// input element visits the windows that cover it, in row-major output order, so there are no atomics and
// the sums are deterministic (and in the same order as the C++ kernels).
//
// Semantics (as strided.reference, PyTorch's): a window is clipped to the real input (a dilated one to its
// real taps); max pooling never picks padding and, in row-major window order, takes a later element if
// it is greater or NaN (equal maxima: the first; NaNs: the last), its indices the flat position of the
// pick in the H*W input plane; avg pooling with count_include_pad divides by the window size counting
// padding but not the overhang past the padding that ceil_mode may add, and a nonzero divisor_override
// replaces every divisor. Max unpooling scatters each input to its index in a zeroed plane (an index
// given twice: either input wins, as PyTorch's CUDA kernel); its backward gathers. Indices arrive
// checked to lie in their planes (strided/ops/pool2d/cuda.py); one outside would be skipped.
#include "common.cuh"

using strided_cuda::i64;

#define POOL_GEOMETRY                                                                                  \
  i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 kernel_h, i64 kernel_w, i64 stride_h, i64 stride_w,   \
      i64 pad_h, i64 pad_w, i64 dil_h, i64 dil_w
#define POOL_WINDOW_ARGS H, W, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w

namespace strided_cuda {

// A window's real taps: rows h0, h0 + dil_h, ... below h1, columns likewise; and (avg pooling, never
// dilated) its size counting padding.
struct PoolWindow {
  i64 h0, h1, w0, w1, size_with_pad;
};

STRIDED_DEVICE i64 first_tap(i64 start, i64 step) { return start >= 0 ? start : (start % step + step) % step; }

STRIDED_DEVICE PoolWindow pool_window(i64 oh, i64 ow, i64 H, i64 W, i64 kernel_h, i64 kernel_w, i64 stride_h,
                                      i64 stride_w, i64 pad_h, i64 pad_w, i64 dil_h, i64 dil_w) {
  const i64 hs = oh * stride_h - pad_h, ws = ow * stride_w - pad_w;
  const i64 he = hs + dil_h * (kernel_h - 1) + 1, we = ws + dil_w * (kernel_w - 1) + 1;
  PoolWindow win;
  win.h0 = first_tap(hs, dil_h);
  win.h1 = imin(he, H);
  win.w0 = first_tap(ws, dil_w);
  win.w1 = imin(we, W);
  win.size_with_pad = (imin(he, H + pad_h) - hs) * (imin(we, W + pad_w) - ws);
  return win;
}

// Offset in the plane of the window's pick (see the top of the file).
template <typename T>
STRIDED_DEVICE i64 pool_argmax(const T* xp, i64 W, const PoolWindow& win, i64 dil_h, i64 dil_w) {
  i64 best = win.h0 * W + win.w0;
  T bv = xp[best];
  for (i64 ih = win.h0; ih < win.h1; ih += dil_h) {
    for (i64 iw = win.w0; iw < win.w1; iw += dil_w) {
      const T v = xp[ih * W + iw];
      if (v > bv || is_nan(v)) {
        bv = v;
        best = ih * W + iw;
      }
    }
  }
  return best;
}

STRIDED_DEVICE i64 pool_divisor(const PoolWindow& win, int count_include_pad, i64 divisor_override) {
  if (divisor_override != 0) return divisor_override;
  return count_include_pad ? win.size_with_pad : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// The output rows (or columns) whose windows, extent wide, cover input row i: [first, last], possibly empty.
STRIDED_DEVICE void covering(i64 i, i64 extent, i64 stride, i64 pad, i64 out, i64& first, i64& last) {
  first = imax(floor_div(i + pad - extent, stride) + 1, 0);
  last = imin((i + pad) / stride, out - 1);
}

// Each gx element of a max-pooling backward: the sum of gy over the windows that cover it and picked it,
// picked(plane, oh, ow, at) telling whether window (oh, ow) of the plane picked offset `at`.
template <typename T, typename Picked>
STRIDED_DEVICE void max_gather(const T* gy, T* gx, i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 kernel_h,
                               i64 kernel_w, i64 stride_h, i64 stride_w, i64 pad_h, i64 pad_w, i64 dil_h,
                               i64 dil_w, Picked picked) {
  const i64 total = N * C * H * W;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 iw = e % W, ih = e / W % H, plane = e / (W * H);
    const T* gyp = gy + plane * OH * OW;
    i64 oh0, oh1, ow0, ow1;
    covering(ih, dil_h * (kernel_h - 1) + 1, stride_h, pad_h, OH, oh0, oh1);
    covering(iw, dil_w * (kernel_w - 1) + 1, stride_w, pad_w, OW, ow0, ow1);
    T acc = T(0);
    for (i64 oh = oh0; oh <= oh1; ++oh)
      for (i64 ow = ow0; ow <= ow1; ++ow)
        if (picked(plane, oh, ow, ih * W + iw)) acc += gyp[oh * OW + ow];
    gx[e] = acc;
  }
}

}  // namespace strided_cuda

// indices may be null.
template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, i64* __restrict__ indices,
                                   POOL_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    const T* xp = x + plane * H * W;
    const i64 at = pool_argmax(xp, W, pool_window(oh, ow, POOL_WINDOW_ARGS), dil_h, dil_w);
    y[e] = xp[at];
    if (indices) indices[e] = at;
  }
}

template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gx,
                                    POOL_GEOMETRY) {
  using namespace strided_cuda;
  max_gather(gy, gx, N, C, H, W, OH, OW, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
             [&](i64 plane, i64 oh, i64 ow, i64 at) {
               return pool_argmax(x + plane * H * W, W, pool_window(oh, ow, POOL_WINDOW_ARGS), dil_h, dil_w) == at;
             });
}

// The backward through the forward's indices: x is not read.
template <typename T>
__global__ void max_pool2d_backward_indices(const T* __restrict__ gy, const i64* __restrict__ indices,
                                            T* __restrict__ gx, POOL_GEOMETRY) {
  using namespace strided_cuda;
  max_gather(gy, gx, N, C, H, W, OH, OW, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
             [&](i64 plane, i64 oh, i64 ow, i64 at) {
               return indices[(plane * OH + oh) * OW + ow] == at;
             });
}

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, POOL_GEOMETRY, int count_include_pad,
                                   i64 divisor_override) {
  using namespace strided_cuda;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    const T* xp = x + plane * H * W;
    const PoolWindow win = pool_window(oh, ow, POOL_WINDOW_ARGS);
    T acc = T(0);
    for (i64 ih = win.h0; ih < win.h1; ++ih)
      for (i64 iw = win.w0; iw < win.w1; ++iw) acc += xp[ih * W + iw];
    y[e] = acc / T(pool_divisor(win, count_include_pad, divisor_override));
  }
}

template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx, POOL_GEOMETRY, int count_include_pad,
                                    i64 divisor_override) {
  using namespace strided_cuda;
  const i64 total = N * C * H * W;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 iw = e % W, ih = e / W % H, plane = e / (W * H);
    const T* gyp = gy + plane * OH * OW;
    i64 oh0, oh1, ow0, ow1;
    covering(ih, kernel_h, stride_h, pad_h, OH, oh0, oh1);
    covering(iw, kernel_w, stride_w, pad_w, OW, ow0, ow1);
    T acc = T(0);
    for (i64 oh = oh0; oh <= oh1; ++oh)
      for (i64 ow = ow0; ow <= ow1; ++ow) {
        const PoolWindow win = pool_window(oh, ow, POOL_WINDOW_ARGS);
        acc += gyp[oh * OW + ow] / T(pool_divisor(win, count_include_pad, divisor_override));
      }
    gx[e] = acc;
  }
}

// planes of in_size inputs (x, indices), out_size outputs (y, zeroed by the caller).
template <typename T>
__global__ void max_unpool2d_forward(const T* __restrict__ x, const i64* __restrict__ indices, T* __restrict__ y,
                                     i64 planes, i64 in_size, i64 out_size) {
  using namespace strided_cuda;
  for (i64 e = first_index(); e < planes * in_size; e += index_step()) {
    const i64 at = indices[e];
    if (at >= 0 && at < out_size) y[e / in_size * out_size + at] = x[e];
  }
}

template <typename T>
__global__ void max_unpool2d_backward(const T* __restrict__ gy, const i64* __restrict__ indices, T* __restrict__ gx,
                                      i64 planes, i64 in_size, i64 out_size) {
  using namespace strided_cuda;
  for (i64 e = first_index(); e < planes * in_size; e += index_step()) {
    const i64 at = indices[e];
    gx[e] = at >= 0 && at < out_size ? gy[e / in_size * out_size + at] : T(0);
  }
}

#undef POOL_WINDOW_ARGS
#undef POOL_GEOMETRY
