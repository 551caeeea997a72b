// CUDA pooling kernels: the GPU twins of csrc/pool2d.cpp, templated on float/double.
//
// Every kernel is elementwise over a grid-stride 1-D index space (kBlock threads per block) and takes the
// geometry of strided.ops.pool2d.args.PoolArgs as 64-bit scalars (POOL_GEOMETRY). Backward kernels gather: each
// input element visits the windows that cover it, in row-major output order, so there are no atomics and
// the sums are deterministic (and in the same order as the C++ kernels).
//
// Semantics (as strided.reference): a window is clipped to the real input; max pooling never picks
// padding, takes the first maximum in row-major window order and lets the first NaN win; avg pooling with
// count_include_pad divides by the window size counting padding but not the overhang past the padding
// that ceil_mode may add.
#include "common.cuh"

using strided_cuda::i64;

#define POOL_GEOMETRY                                                                                  \
  i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 kernel_h, i64 kernel_w, i64 stride_h, i64 stride_w,   \
      i64 pad_h, i64 pad_w

namespace strided_cuda {

struct PoolWindow {
  i64 h0, h1, w0, w1, size_with_pad;
};

STRIDED_DEVICE PoolWindow pool_window(i64 oh, i64 ow, i64 H, i64 W, i64 kernel_h, i64 kernel_w, i64 stride_h,
                                      i64 stride_w, i64 pad_h, i64 pad_w) {
  const i64 hs = oh * stride_h - pad_h, ws = ow * stride_w - pad_w;
  const i64 he = imin(hs + kernel_h, H + pad_h), we = imin(ws + kernel_w, W + pad_w);
  PoolWindow win;
  win.h0 = imax(hs, 0);
  win.h1 = imin(he, H);
  win.w0 = imax(ws, 0);
  win.w1 = imin(we, W);
  win.size_with_pad = (he - hs) * (we - ws);
  return win;
}

// Offset in the plane of the window's first maximum in row-major order; the first NaN wins outright.
template <typename T>
STRIDED_DEVICE i64 pool_argmax(const T* xp, i64 W, const PoolWindow& win) {
  i64 best = win.h0 * W + win.w0;
  T bv = xp[best];
  if (is_nan(bv)) return best;
  for (i64 ih = win.h0; ih < win.h1; ++ih) {
    for (i64 iw = win.w0; iw < win.w1; ++iw) {
      const T v = xp[ih * W + iw];
      if (is_nan(v)) return ih * W + iw;
      if (v > bv) {
        bv = v;
        best = ih * W + iw;
      }
    }
  }
  return best;
}

STRIDED_DEVICE i64 pool_divisor(const PoolWindow& win, int count_include_pad) {
  return count_include_pad ? win.size_with_pad : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// The output rows (or columns) whose windows cover input row i: [first, last], possibly empty.
STRIDED_DEVICE void covering(i64 i, i64 kernel, i64 stride, i64 pad, i64 out, i64& first, i64& last) {
  first = imax(floor_div(i + pad - kernel, stride) + 1, 0);
  last = imin((i + pad) / stride, out - 1);
}

}  // namespace strided_cuda

template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, POOL_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    const T* xp = x + plane * H * W;
    y[e] = xp[pool_argmax(xp, W, pool_window(oh, ow, H, W, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w))];
  }
}

template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gx, POOL_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * H * W;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 iw = e % W, ih = e / W % H, plane = e / (W * H);
    const T* xp = x + plane * H * W;
    const T* gyp = gy + plane * OH * OW;
    i64 oh0, oh1, ow0, ow1;
    covering(ih, kernel_h, stride_h, pad_h, OH, oh0, oh1);
    covering(iw, kernel_w, stride_w, pad_w, OW, ow0, ow1);
    T acc = T(0);
    for (i64 oh = oh0; oh <= oh1; ++oh)
      for (i64 ow = ow0; ow <= ow1; ++ow) {
        const PoolWindow win = pool_window(oh, ow, H, W, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
        if (pool_argmax(xp, W, win) == ih * W + iw) acc += gyp[oh * OW + ow];
      }
    gx[e] = acc;
  }
}

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, POOL_GEOMETRY, int count_include_pad) {
  using namespace strided_cuda;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    const T* xp = x + plane * H * W;
    const PoolWindow win = pool_window(oh, ow, H, W, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    T acc = T(0);
    for (i64 ih = win.h0; ih < win.h1; ++ih)
      for (i64 iw = win.w0; iw < win.w1; ++iw) acc += xp[ih * W + iw];
    y[e] = acc / T(pool_divisor(win, count_include_pad));
  }
}

template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx, POOL_GEOMETRY, int count_include_pad) {
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
        const PoolWindow win = pool_window(oh, ow, H, W, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
        acc += gyp[oh * OW + ow] / T(pool_divisor(win, count_include_pad));
      }
    gx[e] = acc;
  }
}

#undef POOL_GEOMETRY
