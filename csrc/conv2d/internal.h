// What conv2d's algorithms share (not part of the family API, conv2d.h): each algorithm's kernels, one
// per pass, defined in simple.cpp, im2col.cpp, gemm.cpp, direct.cpp, channels_last.cpp and winograd.cpp
// and listed by dispatch.cpp; and the helpers used by more than one of those files. Kernels take the shape
// as dispatch.cpp hands it over (a 1x1 unit-stride layer flattened to one row per plane).
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
// ChannelsLast has no backward-weight kernel (the Gemm one already reads channels-last tiles).
template <typename T>
void forward_channels_last(const ConvShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void backward_input_channels_last(const ConvShape& s, const T* gy, const T* w, T* gx);
// Winograd, the three passes of 3x3 layers at unit stride and dilation, one group, padding 0-2
// (winograd_runs; backward-weight also within the bound of its copies; winograd.cpp).
template <typename T>
void forward_winograd(const ConvShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void backward_input_winograd(const ConvShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void backward_weight_winograd(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb);
bool winograd_runs(const ConvShape& s);
bool winograd_backward_weight_runs(const ConvShape& s);

// Upper bounds of the per-thread tiles (bytes, at 8-byte elements) of the direct kernels' band (forward and
// backward-weight, direct.cpp) and of the channels-last backward-weight GEMM (gemm.cpp), for the smallest
// band those kernels make (one output row). In double precision, so that no geometry overflows them: the
// dispatcher runs those kernels only where these fit in kScratchBytes (dispatch.cpp); they grow with the
// stride, dilation, padding and row length, which other algorithms' tiles do not.
double direct_scratch_bytes(const ConvShape& s);
double gemm_backward_weight_scratch_bytes(const ConvShape& s);
// ChannelsLast's copy of one input image of the pass (x, or gy for backward-input; channels_last.cpp),
// shared by the threads; a call copies as many images at a time as kScratchBytes holds.
double channels_last_scratch_bytes(const ConvShape& s, Pass pass);

// Their float and double instances, at the end of each algorithm's file.
#define STRIDED_CONV_INSTANTIATE(algo, T)                                                           \
  template void forward_##algo<T>(const ConvShape&, const T*, const T*, const T*, T*);              \
  template void backward_input_##algo<T>(const ConvShape&, const T*, const T*, T*);                 \
  template void backward_weight_##algo<T>(const ConvShape&, const T*, const T*, T*, T*);

// Pixel stride of a channels-last copy of n channels of elem bytes: one cache line more when a pixel is a
// multiple of 256 bytes, so that successive pixels do not share L1 sets (a tile reads the same channel of
// several pixels together).
inline int64_t pixel_stride(int64_t n, int64_t elem) { return (n * elem) % 256 == 0 ? n + 64 / elem : n; }

// Channels per run of a channels-last contraction (kern::Table::pixel_tile): a tile visits every tap of a
// run of channels before the next run, so the input lines it reads (pixel_mp pixels x taps, a line of 16
// floats each) stay in L1.
constexpr int64_t kChannelRun = 16;

// The C planes of H x W at x copied channels-last (pixel stride cs) into the Hp x Wp array d at row top and
// column left, zeros around them: the input of ChannelsLast's and Winograd's tiles.
template <typename T>
void to_channels_last(const T* x, int64_t C, int64_t H, int64_t W, int64_t top, int64_t left, int64_t Hp,
                      int64_t Wp, int64_t cs, T* d, const kern::Table<T>& kt) {
  for (int64_t hp = 0; hp < Hp; ++hp) {
    T* row = d + hp * Wp * cs;
    const int64_t ih = hp - top;
    if (ih < 0 || ih >= H) {
      std::fill(row, row + Wp * cs, T(0));
      continue;
    }
    std::fill(row, row + left * cs, T(0));
    std::fill(row + (left + W) * cs, row + Wp * cs, T(0));
    kt.transpose(C, W, x + ih * W, H * W, row + left * cs, cs);
  }
}

// The first and one-past-last t with 0 <= i0 + t*step < n, clipped to [0, len].
// Step 1 divides by nothing: the GEMM's gathers call this per row segment (4 pixels on a 4x4 plane), where
// the divisions were a third of their time.
inline void valid_range(int64_t i0, int64_t step, int64_t n, int64_t len, int64_t& lo, int64_t& hi) {
  lo = i0 >= 0 ? 0 : step == 1 ? -i0 : ceil_div(-i0, step);
  hi = i0 >= n ? 0 : step == 1 ? n - i0 : ceil_div(n - i0, step);
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
#pragma omp parallel for schedule(static) if (s.K * Cg * RS >= kParallelPrep)
  for (int64_t gc = 0; gc < s.groups * Cg; ++gc)  // (group, input channel): a run of wf written in order
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t q = 0; q < S; ++q)
          wf[(gc * Kg + k) * RS + (R - 1 - r) * S + (S - 1 - q)] =
              w[((gc / Cg * Kg + k) * Cg + gc % Cg) * RS + r * S + q];
  return wf;
}

// The direct forward takes its rows kernel (kern::direct_rows_apply) for one output channel a group: depthwise
// layers, and the flipped problem of a backward-input with one input channel a group.
inline bool direct_rows_forward(const ConvShape& f) {
  return f.Kg() == 1 && kern::direct_rows_apply(f.R, f.stride_h, f.dil_h);
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

// Tasks per chunk of a schedule(dynamic, chunk) loop over a pass's independent tasks: an eighth of a
// thread's share, taken as threads come free, so a core slowed by another process (or a slower core) no
// longer holds the others at the barrier, while a chunk keeps a thread on consecutive tasks (one block's
// weights, neighbouring rows). Each task writes its own outputs: the bits do not depend on who runs it.
// Call inside the parallel region.
inline int64_t dynamic_chunk(int64_t tasks) {
  return std::max<int64_t>(1, tasks / (8 * int64_t(omp_get_num_threads())));
}

// Sums that do not depend on the thread count (backward-weight's gw and gb): the tasks are cut into at
// most kChunks runs of consecutive tasks, a split that depends on the task count alone; each run sums into
// its own partial in task order, and reduce_partials adds the partials in run order, so the result is
// bitwise the same for any strided.set_num_threads. The runs go to the threads as they come free: a thread
// slowed by another process (or a run with more work) no longer holds the others at the barrier. The price:
// up to kChunks partials of len in memory (Partials, which the calling thread holds) and at most kChunks
// threads on a call's tasks.
constexpr int64_t kChunks = 8;

// The runs' partials, len elements apart in one buffer.
template <typename T>
struct Partials {
  T* data;
  int64_t runs, len;
  T* run(int64_t r) const { return data + r * len; }
  // out[i] = element from + i of every run, i < n, summed in run order (one thread's share of a reduction).
  void sum(int64_t from, int64_t n, T* out) const {
    std::fill(out, out + n, T(0));
    for (int64_t r = 0; r < runs; ++r) {
      const T* src = run(r) + from;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] += src[i];
    }
  }
};

// The calling thread takes them before the parallel region (workspace throws there, not inside it).
template <typename T>
Partials<T> chunk_partials(int64_t tasks, int64_t len) {
  const int64_t runs = std::min(kChunks, tasks);
  return {workspace<T>(kPartial, runs * len), runs, len};
}

// Every thread of the parallel region calls it; task(t, partial) adds task t's sums to partial. Ends with a
// barrier: the partials are complete when it returns.
template <typename T, typename Task>
void chunked_sums(int64_t tasks, const Partials<T>& parts, Task&& task) {
#pragma omp for schedule(dynamic, 1)
  for (int64_t r = 0; r < parts.runs; ++r) {
    T* part = parts.run(r);
    std::fill(part, part + parts.len, T(0));
    for (int64_t t = r * tasks / parts.runs; t < (r + 1) * tasks / parts.runs; ++t) task(t, part);
  }
}

// Sums elements [from, from + len) of the partials, in run order, into out (every thread calls it inside
// the parallel region).
template <typename T>
void reduce_partials(const Partials<T>& parts, int64_t len, T* out, int64_t from = 0) {
  constexpr int64_t block = 1024;  // elements a thread sums at once, each run's read as one stream
#pragma omp for schedule(static)
  for (int64_t i = 0; i < len; i += block) parts.sum(from + i, std::min(block, len - i), out + i);
}

}  // namespace strided::conv
