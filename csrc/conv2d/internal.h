// What conv2d's algorithms share (not part of the family API, conv2d.h): each algorithm's kernels, one
// per pass, defined in simple.cpp, im2col.cpp, gemm.cpp and direct.cpp and listed by dispatch.cpp; and
// the helpers used by more than one of those files. Kernels take the shape as dispatch.cpp hands it over
// (a 1x1 unit-stride layer flattened to one row per plane).
#pragma once
#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv2d/conv2d.h"
#include "kern/gemm_util.h"

namespace strided::conv {

// The kernels of each algorithm. Backward-weight kernels also write gb when it is not null.
#define STRIDED_CONV_KERNELS(algo)                                                                  \
  template <typename T>                                                                             \
  void forward_##algo(const ConvShape& s, const T* x, const T* w, const T* b, T* y);                \
  template <typename T>                                                                             \
  void backward_input_##algo(const ConvShape& s, const T* gy, const T* w, T* gx);                   \
  template <typename T>                                                                             \
  void backward_weight_##algo(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb);
STRIDED_CONV_KERNELS(simple)
STRIDED_CONV_KERNELS(im2col)
STRIDED_CONV_KERNELS(gemm)
STRIDED_CONV_KERNELS(direct)
#undef STRIDED_CONV_KERNELS

// Upper bounds of the per-thread tiles (bytes, at 8-byte elements) of the direct kernels' band (forward and
// backward-weight, direct.cpp) and of the channels-last backward-weight GEMM (gemm.cpp), for the smallest
// band those kernels make (one output row). In double precision, so that no geometry overflows them: the
// dispatcher runs those kernels only where these fit in kScratchBytes (dispatch.cpp); they grow with the
// stride, dilation, padding and row length, which other algorithms' tiles do not.
double direct_scratch_bytes(const ConvShape& s);
double gemm_backward_weight_scratch_bytes(const ConvShape& s);

// Their float and double instances, at the end of each algorithm's file.
#define STRIDED_CONV_INSTANTIATE(algo, T)                                                           \
  template void forward_##algo<T>(const ConvShape&, const T*, const T*, const T*, T*);              \
  template void backward_input_##algo<T>(const ConvShape&, const T*, const T*, T*);                 \
  template void backward_weight_##algo<T>(const ConvShape&, const T*, const T*, T*, T*);

// The first and one-past-last t with 0 <= i0 + t*step < n, clipped to [0, len].
inline void valid_range(int64_t i0, int64_t step, int64_t n, int64_t len, int64_t& lo, int64_t& hi) {
  lo = i0 >= 0 ? 0 : ceil_div(-i0, step);
  hi = i0 >= n ? 0 : ceil_div(n - i0, step);
  lo = std::min(lo, len);
  hi = std::clamp(hi, lo, len);
}

// Backward-input with stride 1 is a forward convolution of gy (K channels) with the weights transposed
// per group (C outputs, K inputs), flipped in r and q, and padding dil*(R-1) - pad (negative = crop).
inline ConvShape flipped_shape(const ConvShape& s) {
  return ConvShape{s.N, s.K, s.OH, s.OW, s.C, s.R, s.S, s.H, s.W, 1, 1,
                   s.dil_h * (s.R - 1) - s.pad_top, s.dil_h * (s.R - 1) - s.pad_bottom,
                   s.dil_w * (s.S - 1) - s.pad_left, s.dil_w * (s.S - 1) - s.pad_right,
                   s.dil_h, s.dil_w, s.groups};
}

template <typename T>
const T* flipped_weights(const ConvShape& s, const T* w) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), R = s.R, S = s.S, RS = R * S;
  T* wf = workspace<T>(kFlippedWeights, s.K * Cg * RS);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < R; ++r)
          for (int64_t q = 0; q < S; ++q)
            wf[((g * Cg + c) * Kg + k) * RS + (R - 1 - r) * S + (S - 1 - q)] =
                w[((g * Kg + k) * Cg + c) * RS + r * S + q];
  return wf;
}

// Backward-input at unit stride run as `forward` (a forward kernel) on the flipped problem.
template <typename T, typename Forward>
void backward_input_flipped(const ConvShape& s, const T* gy, const T* w, T* gx, Forward forward) {
  forward(flipped_shape(s), gy, flipped_weights(s, w), static_cast<const T*>(nullptr), gx);
}

// Backward-input for one input channel per group and K/g >= 16 runs the GEMM with col2im even at unit
// stride (see the rule in dispatch.cpp): the flipped direct kernel would then have one output channel.
constexpr int64_t kCol2imMinK = 16;
inline bool col2im_pays(const ConvShape& s) { return s.Cg() == 1 && s.Kg() >= kCol2imMinK; }

// Sums elements [from, from + len) of the threads' partial results into out (every thread calls it inside
// the parallel region).
template <typename T>
void reduce_partials(std::vector<T*>& parts, int64_t len, T* out, int64_t from = 0) {
  const int64_t threads = int64_t(parts.size());
#pragma omp for schedule(static)
  for (int64_t i = 0; i < len; ++i) {
    T acc = 0;
    for (int64_t th = 0; th < threads; ++th) acc += parts[th][from + i];
    out[i] = acc;
  }
}

}  // namespace strided::conv
