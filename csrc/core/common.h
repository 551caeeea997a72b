// Geometry structs shared by every CPU kernel, and the C++ copy of the output-size rule.
// The Python side (python/strided/ops/<family>/args.py) validates and normalizes arguments; kernels trust them.
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace strided {

// The bound of every geometry value and derived extent (strided.ops._size.LIMIT): with each value, padded
// input size and dilated kernel extent within 2**62, every index a kernel forms (a multiple of a stride
// plus a tap offset minus a padding) stays inside int64.
constexpr int64_t kGeometryLimit = int64_t(1) << 62;

// a * b + c when each step fits in [0, kGeometryLimit], else -1 (no signed overflow on any input).
inline int64_t bounded_mad(int64_t a, int64_t b, int64_t c) {
  int64_t p = 0, r = 0;
  if (a < 0 || b < 0 || c < 0 || __builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(p, c, &r) ||
      r > kGeometryLimit)
    return -1;
  return r;
}

// Whether one axis keeps the bound: every value, the padded size and the dilated kernel extent.
inline bool axis_fits(int64_t size, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                      int64_t dilation) {
  return size >= 0 && kernel >= 1 && stride >= 1 && dilation >= 1 && bounded_mad(1, size, pad_begin) >= 0 &&
         bounded_mad(1, size + pad_begin, pad_end) >= 0 && bounded_mad(dilation, kernel - 1, 1) >= 0 &&
         stride <= kGeometryLimit;
}

// (N - F + pads) / stride + 1 with F the dilated kernel extent; ceil_mode drops a last window that would
// start in the end padding (as PyTorch). Mirrors strided/ops/_size.py out_size; tests check that both agree.
// Arguments beyond the bound (axis_fits) give -1, never an overflow.
inline int64_t out_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                        int64_t dilation, bool ceil_mode) {
  if (!axis_fits(size, kernel, stride, pad_begin, pad_end, dilation)) return -1;
  const int64_t span = size + pad_begin + pad_end - (dilation * (kernel - 1) + 1);
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= size + pad_begin) --out;
  return out;
}

// Field order matches strided.ops.conv2d.args.ConvArgs.
struct ConvShape {
  int64_t N, C, H, W, K, R, S, OH, OW;
  int64_t stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right, dil_h, dil_w, groups;
  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
};

// Field order matches strided.ops.pool2d.args.PoolArgs.
struct PoolShape {
  int64_t N, C, H, W, OH, OW, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool ceil_mode;
  int64_t dil_h = 1, dil_w = 1;  // max pooling only; the SIMD kernels take 1 (pool2d/general.cpp the rest)
};

// Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) while a kernel thread runs, then
// restore the caller's mode: a denormal operand can slow an FMA by 100x, and gradients of deep nets
// drift into that range. The rule is per op: every conv2d and linear algorithm runs under it (so they
// agree on denormal inputs); pooling, ReLU and the optimizer, which only compare, copy or update
// elementwise, keep IEEE denormals. Each OpenMP thread has its own MXCSR, so every parallel region sets it.
struct DenormalGuard {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = _mm_getcsr();
  DenormalGuard() { _mm_setcsr(saved | 0x8040u); }
  ~DenormalGuard() { _mm_setcsr(saved); }
#endif
};

}  // namespace strided
