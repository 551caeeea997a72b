// CUDA interpolation kernels: the GPU twins of csrc/interp/interp.cpp ('nearest' and 'bilinear' as
// torch.nn.functional.interpolate), templated on float/double.
//
// Every kernel is elementwise over a grid-stride 1-D index space (kBlock threads per block) and takes the
// geometry of strided.ops.interp.args.InterpArgs (INTERP_GEOMETRY; scale 0 means "from the sizes"). The
// coordinate mapping is PyTorch's CPU one in the same precision (nearest in float, bilinear in T). Backward
// kernels gather: each input element finds the outputs that read it by binary search (the source index
// never decreases along an axis) and adds their contributions in output order, as the C++ kernels and
// PyTorch's scatter do: no atomics, deterministic sums.
#include "common.cuh"

using strided_cuda::i64;

#define INTERP_GEOMETRY \
  i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, int align_corners, double scale_h, double scale_w

namespace strided_cuda {

// PyTorch's nearest_idx: a copy when the sizes agree, a shift when the output is twice the input, else
// floor(dst * s) in float with s = 1/scale or in/out, clamped to the last input.
STRIDED_DEVICE i64 nearest_source(i64 o, i64 in, i64 out, double scale) {
  if (out == in) return o;
  if (out == 2 * in) return o >> 1;
  const float s = scale > 0. ? (float)(1.0 / scale) : (float)in / (float)out;
  return imin((i64)((float)o * s), in - 1);  // o * s >= 0: truncation is the floor
}

// a * b + c rounded once: the device's fma, or the compiler's builtin in the emulator (no headers).
#ifndef STRIDED_EMULATED
STRIDED_DEVICE float fused_multiply_add(float a, float b, float c) { return fmaf(a, b, c); }
STRIDED_DEVICE double fused_multiply_add(double a, double b, double c) { return fma(a, b, c); }
#else
inline float fused_multiply_add(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline double fused_multiply_add(double a, double b, double c) { return __builtin_fma(a, b, c); }
#endif

// Output o reads input i0 with weight l0 and i1 with l1 (PyTorch's compute_source_index_and_lambda).
template <typename T>
struct Taps {
  i64 i0, i1;
  T l0, l1;
};

template <typename T>
STRIDED_DEVICE Taps<T> linear_source(i64 o, i64 in, i64 out, int align_corners, double scale) {
  Taps<T> t;
  if (out == in) {
    t.i0 = t.i1 = o;
    t.l0 = T(1);
    t.l1 = T(0);
    return t;
  }
  T ratio;
  if (align_corners) ratio = out > 1 ? (T)(in - 1) / (T)(out - 1) : T(0);
  else ratio = scale > 0. ? (T)(1.0 / scale) : (T)in / (T)out;
  // One rounding, as PyTorch's CPU build (its compiler fuses this multiply-add).
  T src = align_corners ? ratio * (T)o : fused_multiply_add(ratio, (T)o + T(0.5), T(-0.5));
  if (src < T(0)) src = T(0);
  // src >= 0: truncation is the floor; through float, as PyTorch's floorf.
  t.i0 = imin((i64)(float)src, in - 1);
  T l1 = src - (T)t.i0;
  l1 = l1 < T(0) ? T(0) : (l1 > T(1) ? T(1) : l1);
  t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
  t.l1 = l1;
  t.l0 = T(1) - l1;
  return t;
}

// An axis's mapping as a function of the output index: its (first) source index, never decreasing.
struct NearestAxis {
  i64 in, out;
  double scale;
  STRIDED_DEVICE i64 operator()(i64 o) const { return nearest_source(o, in, out, scale); }
};

template <typename T>
struct LinearAxis {
  i64 in, out;
  int align_corners;
  double scale;
  STRIDED_DEVICE i64 operator()(i64 o) const { return linear_source<T>(o, in, out, align_corners, scale).i0; }
};

// The first output index whose source index is at least `target`, or axis.out (binary search).
template <typename Axis>
STRIDED_DEVICE i64 first_reading(const Axis& axis, i64 target) {
  i64 lo = 0, hi = axis.out;
  while (lo < hi) {
    const i64 mid = (lo + hi) / 2;
    if (axis(mid) >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace strided_cuda

template <typename T>
__global__ void upsample_nearest2d_forward(const T* __restrict__ x, T* __restrict__ y, INTERP_GEOMETRY) {
  using namespace strided_cuda;
  (void)align_corners;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    y[e] = x[(plane * H + nearest_source(oh, H, OH, scale_h)) * W + nearest_source(ow, W, OW, scale_w)];
  }
}

template <typename T>
__global__ void upsample_nearest2d_backward(const T* __restrict__ gy, T* __restrict__ gx, INTERP_GEOMETRY) {
  using namespace strided_cuda;
  (void)align_corners;
  const i64 total = N * C * H * W;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 iw = e % W, ih = e / W % H, plane = e / (W * H);
    const T* gyp = gy + plane * OH * OW;
    const NearestAxis rows = {H, OH, scale_h}, cols = {W, OW, scale_w};
    const i64 oh1 = first_reading(rows, ih + 1), ow0 = first_reading(cols, iw), ow1 = first_reading(cols, iw + 1);
    T acc = T(0);
    for (i64 oh = first_reading(rows, ih); oh < oh1; ++oh)
      for (i64 ow = ow0; ow < ow1; ++ow) acc += gyp[oh * OW + ow];
    gx[e] = acc;
  }
}

template <typename T>
__global__ void upsample_bilinear2d_forward(const T* __restrict__ x, T* __restrict__ y, INTERP_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, plane = e / (OW * OH);
    const Taps<T> h = linear_source<T>(oh, H, OH, align_corners, scale_h);
    const Taps<T> w = linear_source<T>(ow, W, OW, align_corners, scale_w);
    const T* x0 = x + (plane * H + h.i0) * W;
    const T* x1 = x + (plane * H + h.i1) * W;
    y[e] = h.l0 * (w.l0 * x0[w.i0] + w.l1 * x0[w.i1]) + h.l1 * (w.l0 * x1[w.i0] + w.l1 * x1[w.i1]);
  }
}

template <typename T>
__global__ void upsample_bilinear2d_backward(const T* __restrict__ gy, T* __restrict__ gx, INTERP_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * H * W;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 iw = e % W, ih = e / W % H, plane = e / (W * H);
    const T* gyp = gy + plane * OH * OW;
    // Outputs whose first tap is at i - 1 or i read i through one of their two taps.
    const LinearAxis<T> rows = {H, OH, align_corners, scale_h}, cols = {W, OW, align_corners, scale_w};
    const i64 oh1 = first_reading(rows, ih + 1), ow0 = first_reading(cols, iw - 1), ow1 = first_reading(cols, iw + 1);
    T acc = T(0);
    for (i64 oh = first_reading(rows, ih - 1); oh < oh1; ++oh) {
      const Taps<T> h = linear_source<T>(oh, H, OH, align_corners, scale_h);
      for (i64 ow = ow0; ow < ow1; ++ow) {
        const Taps<T> w = linear_source<T>(ow, W, OW, align_corners, scale_w);
        const T g = gyp[oh * OW + ow];
        // PyTorch's order per output: row tap 0 then 1, each with column tap 0 then 1.
        for (int a = 0; a < 2; ++a) {
          if ((a ? h.i1 : h.i0) != ih) continue;
          const T hl = a ? h.l1 : h.l0;
          if (w.i0 == iw) acc += hl * w.l0 * g;
          if (w.i1 == iw) acc += hl * w.l1 * g;
        }
      }
    }
    gx[e] = acc;
  }
}

#undef INTERP_GEOMETRY
