// Geometry structs shared by every CPU kernel, and the C++ copy of the output-size rule.
// The Python side (python/strided/ops/<family>/args.py) validates and normalizes arguments; kernels trust them.
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace strided {

// (N - F + pads) / stride + 1 with F the dilated kernel extent; ceil_mode drops a last window that would
// start in the end padding (as PyTorch). Mirrors strided/ops/_size.py out_size; tests check that both agree.
inline int64_t out_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                        int64_t dilation, bool ceil_mode) {
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
