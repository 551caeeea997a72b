// conv2d's dispatcher (conv2d.h): for each pass an ordered list of implementations, as oneDNN's
// cpu_convolution_list and XNNPACK do, and the public entry points, which run the one the list picks.
// Adding an algorithm is adding its Algo and name (conv2d.h, algo_name) and its entries here.
#include <algorithm>

#include "conv2d/internal.h"

namespace strided::conv {
namespace {

// A 1x1 convolution with stride 1 and no padding treats each plane as one long row: the same
// arithmetic, with one im2col segment per tile instead of one per output row.
inline ConvShape flatten_pointwise(const ConvShape& s) {
  if (s.R != 1 || s.S != 1 || s.stride_h != 1 || s.stride_w != 1 || s.pad_top || s.pad_bottom || s.pad_left ||
      s.pad_right)
    return s;
  ConvShape f = s;
  f.W = f.OW = s.H * s.W;
  f.H = f.OH = 1;
  return f;
}

// ---------------------------------------------------------------- the rule Auto follows
//
// Forward and backward-input of a 3x3 layer at unit stride and dilation, one group and padding 0-2 (its
// flipped problem for backward-input) take Winograd F(2x2, 3x3) first, with 16 or more channels in and
// out, 64 or more 2x2 tiles in the batch, and at least 80% of the tiles' outputs inside the image (an odd
// plane pads its last row and column of tiles: 49 of 64 on a 7x7 plane). Measured on the Zen 3 (AVX2)
// at 2 threads, interleaved, against what Auto took before (ChannelsLast, or the direct kernel at 16-32
// channels): 1.5-1.8x on 64-256 channels at 8x8 to 56x56 (vgg_3x3_64, res_3x3_128, ResNet-18's stages),
// 1.2-1.4x on 512 channels at 4x4, 1.3-1.7x at 16-32 channels, 1.4-1.6x with one or two images of 64
// tiles or more; 0.7x on 2 images of 7x7 (32 tiles), 0.7x on 4 images of 4x4 (16 tiles), 0.9-1.1x on
// 512 channels at 7x7. Its transformed weights (16*C*K) stream past every task's tiles, so a batch of few
// tiles pays for them as a whole pass, and past 16 MiB of them (kWinogradMaxWeightBytes: float64 at 384 or
// more channels in and out) they cost more than the multiplies saved: float64 against ChannelsLast, forced
// each way at 2 threads (2026-12-02, AVX2): 0.55-0.93x at 512x512 on 4x4 to 14x14 planes, 0.52-1.13x at
// 384x384, but 1.16-1.63x at 128x128 and 256x256 (8 MiB); float32 at 512x512 (16 MiB) 0.76-1.40x.
// Backward-weight takes it by the same rule with 64 to 256 channels in and out (64x64 to 256x256):
// 1.25-1.6x the channels-last GEMM there (fp64 1.4x), 0.8-0.9x at 16-32 channels, about 1.05x at 512x512,
// whose runs' 8 copies of the 16 transformed gradients would take 134 MB.
//
// Otherwise, forward: ChannelsLast for a real window (R*S > 1) with 64 or more channels in and out per group - the
// body of ResNets and VGGs, at every plane size and stride - because its tiles take pixels from anywhere
// in the batch and contract in place, with no gathers (measured in 2026-11 at 2 threads, interleaved:
// 1.0-1.35x the direct kernel on 28x28 to 56x56 planes, 1.0-1.4x the GEMM on ResNet-18's 16x16 to 4x4
// stages and stride-2 downsamples on AVX2 and AVX-512 - one 0.95x - and 0.8-1.15x on the portable path;
// with 16-32 channels it is 0.7-0.9x the direct kernel on AVX-512, and 0.5x the GEMM on 1x1 layers).
// Otherwise the direct kernel wherever it keeps its vectors full: few input or output channels per group
// (the first layer of a net, depthwise: im2col columns too short to amortize their gather, a GEMM tile
// mostly padding), and any layer with a real window on rows at least 6 wide, because it accumulates the
// whole C/g*R*S reduction in registers and reads shifted input rows instead of packing columns (measured
// on AVX-512: 1.2-2.5x the GEMM at widths 6-14, e.g. LeNet's 10x10; the GEMM wins at 4-5). 1x1 layers
// and tiny images run the implicit GEMM, which flattens all pixels.
// Backward-input takes ChannelsLast by the same rule at any stride: a stride-s layer's gx pixels fall into
// s x s phases, each a sum over its own taps (measured at 2 threads, interleaved, against the GEMM plus
// col2im on down_3x3s2 and ResNet-18's three downsamples: AVX-512 1.06-1.26x, AVX2 1.00-1.12x, portable
// 0.99-1.09x). Otherwise, with stride 1 it is a forward convolution of gy (see flipped_shape) and follows
// the same rule for that shape; with a larger stride it is a GEMM plus col2im, and so it is for one input
// channel per group and K/g >= 16 (col2im_pays): the flipped direct kernel would then have one output
// channel, one FMA per input load, while the GEMM contracts over K/g (measured at 2 threads: 0.61x the direct
// time on brain_c1 in float32, 0.54x in float64, 0.7-0.8x at K = 16-64; 1.2x at K = 8, and 1.1-1.8x for
// 3-8 channels) - unless the flipped kernel is 3x3 or 5x5 at unit dilation, where the rows kernel feeds each
// input load to R output rows: then the direct kernel up to K/g = 64 (measured 2026-12-01 on AVX2, direct
// against GEMM plus col2im, 1 thread: K = 16 (5x5) 2.26x, 32 (brain_c1; 3x3 on 28x28) 1.30x, 64 (3x3)
// 1.03x, 128 (5x5) 0.89x; float64 1.60x, 1.11x, 0.98x, 1.06x, 0.89x; 2 threads 1.93x down to 0.95x at 128).
// Backward-weight runs the channels-last GEMM (backward_weight_gemm) when its tile is
// mostly real work, S*C/g >= the ISA's bwdw_gemm_rows (12, one AVX-512 micro-tile; 9, a 3-channel 3x3
// stem, on AVX2) and K/g >= 16 columns, and the direct kernel otherwise (C = 1 layers, depthwise).
constexpr int64_t kDirectMinWidth = 6, kBwdWeightMinCols = 16, kDirectRowsMaxK = 64;
constexpr int64_t kWinogradMinChannels = 16, kWinogradMinTiles = 64;
constexpr int64_t kWinogradGradMinChannels = 64, kWinogradGradMaxWeights = 256 * 256;
constexpr double kWinogradMaxWeightBytes = 16 << 20;
constexpr int64_t kChannelsLastMinChannels = 64;

bool any(const ConvShape&) { return true; }
bool never(const ConvShape&) { return false; }
bool unit_stride(const ConvShape& s) { return s.stride_h == 1 && s.stride_w == 1; }
// The direct kernels' tap table holds 64 columns (Band::tap_off in direct.cpp), and their band grows with
// the stride, dilation and row length: they run only where it fits the scratch bound (a huge stride or
// dilation goes to the GEMM, whose tiles do not grow with them).
bool direct_fits(const ConvShape& s) { return s.S <= 64 && direct_scratch_bytes(s) <= double(kScratchBytes); }
// Backward-input runs the direct kernel on the flipped forward problem, which exists at unit stride.
bool direct_fits_flipped(const ConvShape& s) { return unit_stride(s) && direct_fits(flipped_shape(s)); }
// The channels-last backward-weight GEMM transposes whole (padded) input rows; where they do not fit the
// scratch bound, the pixel-tiled Im2col runs (Auto takes it then: it comes before Simple).
bool gemm_backward_weight_fits(const ConvShape& s) {
  return gemm_backward_weight_scratch_bytes(s) <= double(kScratchBytes);
}

// ChannelsLast copies one image at a time at least.
bool channels_last_fits(const ConvShape& s) {
  return channels_last_scratch_bytes(s, Pass::Forward) <= double(kScratchBytes);
}
bool channels_last_backward_fits(const ConvShape& s) {
  return channels_last_scratch_bytes(s, Pass::BackwardInput) <= double(kScratchBytes);
}
bool many_channels(const ConvShape& s) {
  return s.R * s.S > 1 && s.Cg() >= kChannelsLastMinChannels && s.Kg() >= kChannelsLastMinChannels;
}
bool channels_last_forward_pays(const ConvShape& s) { return many_channels(s) && channels_last_fits(s); }
bool channels_last_backward_input_pays(const ConvShape& s) {
  return many_channels(s) && channels_last_backward_fits(s);
}
template <typename T>
bool winograd_forward_pays(const ConvShape& s) {
  if (!winograd_runs(s) || s.C < kWinogradMinChannels || s.K < kWinogradMinChannels) return false;
  if (16 * double(s.C) * double(s.K) * sizeof(T) > kWinogradMaxWeightBytes) return false;
  const int64_t th = ceil_div(s.OH, 2), tw = ceil_div(s.OW, 2);
  return s.N * th * tw >= kWinogradMinTiles && 5 * s.OH * s.OW >= 4 * (4 * th * tw);
}
template <typename T>
bool winograd_backward_weight_pays(const ConvShape& s) {
  return winograd_backward_weight_runs(s) && winograd_forward_pays<T>(s) && s.C >= kWinogradGradMinChannels &&
         s.K >= kWinogradGradMinChannels && s.C * s.K <= kWinogradGradMaxWeights;
}
bool winograd_runs_flipped(const ConvShape& s) { return unit_stride(s) && winograd_runs(flipped_shape(s)); }
template <typename T>
bool winograd_backward_input_pays(const ConvShape& s) {
  return winograd_runs_flipped(s) && winograd_forward_pays<T>(flipped_shape(s));
}
bool direct_forward_pays(const ConvShape& f) {
  const bool few_channels = f.Cg() <= 4 || f.Kg() <= 4;
  return direct_fits(f) && (few_channels || (f.R * f.S > 1 && f.OW >= kDirectMinWidth));
}
bool direct_backward_input_pays(const ConvShape& s) {
  const ConvShape f = flipped_shape(s);
  const bool rows = direct_rows_forward(f) && s.Kg() <= kDirectRowsMaxK;
  return unit_stride(s) && (!col2im_pays(s) || rows) && direct_forward_pays(f);
}
// The channels-last GEMM tile: S*C/g rows by K/g columns.
bool direct_backward_weight_pays(const ConvShape& s) {
  return direct_fits(s) &&
         !(s.S * s.Cg() >= kern::table<float>().bwdw_gemm_rows && s.Kg() >= kBwdWeightMinCols);
}

template <typename T>
using ForwardFn = void (*)(const ConvShape&, const T*, const T*, const T*, T*);
template <typename T>
using BackwardInputFn = void (*)(const ConvShape&, const T*, const T*, T*);
template <typename T>
using BackwardWeightFn = void (*)(const ConvShape&, const T*, const T*, T*, T*);

// One implementation of a pass for elements of type T: `runs` says it has a kernel for the shape, `pays`
// that Auto should take it (Auto takes the first entry whose `pays` holds).
template <typename T, template <typename> class Fn>
struct Impl {
  Algo algo;
  bool (*runs)(const ConvShape&);
  bool (*pays)(const ConvShape&);
  Fn<T> kernel;
};

// Each list: Winograd first (its rule is the narrowest; a forced Winograd that does not run the shape falls
// to the next entry), ChannelsLast where it has a kernel (it pays before Direct; a forced ChannelsLast that
// does not fit falls to Direct), Direct (so that a forced Direct without a kernel for the shape falls to
// Gemm), Gemm (every shape but backward-weight's beyond the scratch bound: what Auto takes when neither
// pays), Im2col (forced only, but for those backward-weight shapes), and Simple last: it runs everything,
// the fallback and the oracle. Backward-weight has no ChannelsLast entry: forced, it runs what Auto picks.
// A list per element type T: Winograd's rule counts its transformed weights' bytes.
template <typename T>
const Impl<T, ForwardFn> kForward[] = {
    {Algo::Winograd, winograd_runs, winograd_forward_pays<T>, forward_winograd<T>},
    {Algo::ChannelsLast, channels_last_fits, channels_last_forward_pays, forward_channels_last<T>},
    {Algo::Direct, direct_fits, direct_forward_pays, forward_direct<T>},
    {Algo::Gemm, any, any, forward_gemm<T>},
    {Algo::Im2col, any, never, forward_im2col<T>},
    {Algo::Simple, any, any, forward_simple<T>},
};
template <typename T>
const Impl<T, BackwardInputFn> kBackwardInput[] = {
    {Algo::Winograd, winograd_runs_flipped, winograd_backward_input_pays<T>, backward_input_winograd<T>},
    {Algo::ChannelsLast, channels_last_backward_fits, channels_last_backward_input_pays,
     backward_input_channels_last<T>},
    {Algo::Direct, direct_fits_flipped, direct_backward_input_pays, backward_input_direct<T>},
    {Algo::Gemm, any, any, backward_input_gemm<T>},
    {Algo::Im2col, any, never, backward_input_im2col<T>},
    {Algo::Simple, any, any, backward_input_simple<T>},
};
template <typename T>
const Impl<T, BackwardWeightFn> kBackwardWeight[] = {
    {Algo::Winograd, winograd_backward_weight_runs, winograd_backward_weight_pays<T>, backward_weight_winograd<T>},
    {Algo::Direct, direct_fits, direct_backward_weight_pays, backward_weight_direct<T>},
    {Algo::Gemm, gemm_backward_weight_fits, gemm_backward_weight_fits, backward_weight_gemm<T>},
    {Algo::Im2col, any, any, backward_weight_im2col<T>},
    {Algo::Simple, any, any, backward_weight_simple<T>},
};

// A forced algorithm takes its entry if that runs the shape, else the next entry that does. Auto, which
// no entry has, takes the first entry that pays; so does an id no entry has (the Python side only passes
// listed names). The last entry runs and pays for every shape, so both searches end.
template <class Entry, size_t n>
const Entry& pick(const Entry (&list)[n], const ConvShape& s, Algo algo) {
  size_t i = 0;
  while (i < n && list[i].algo != algo) ++i;
  if (i == n) {
    for (i = 0; !list[i].pays(s);) ++i;
    return list[i];
  }
  while (!list[i].runs(s)) ++i;
  return list[i];
}

}  // namespace

template <typename T>
Algo resolve(const ConvShape& shape, Pass pass, Algo algo) {
  const ConvShape s = flatten_pointwise(shape);
  switch (pass) {
    case Pass::BackwardInput: return pick(kBackwardInput<T>, s, algo).algo;
    case Pass::BackwardWeight: return pick(kBackwardWeight<T>, s, algo).algo;
    default: return pick(kForward<T>, s, algo).algo;
  }
}

const char* algo_name(Algo a) {
  switch (a) {
    case Algo::Simple: return "simple";
    case Algo::Im2col: return "im2col";
    case Algo::Gemm: return "gemm";
    case Algo::Direct: return "direct";
    case Algo::ChannelsLast: return "channels_last";
    case Algo::Winograd: return "winograd";
    default: return "auto";
  }
}

// An empty batch returns before any kernel sizes a workspace by the planes (N = 0 with huge H and W).
template <typename T>
void forward(const ConvShape& shape, const T* x, const T* w, const T* b, T* y, Algo algo) {
  if (shape.N == 0) return;
  const ConvShape s = flatten_pointwise(shape);
  pick(kForward<T>, s, algo).kernel(s, x, w, b, y);
}

template <typename T>
void backward_input(const ConvShape& shape, const T* gy, const T* w, T* gx, Algo algo) {
  if (shape.N == 0) return;
  const ConvShape s = flatten_pointwise(shape);
  pick(kBackwardInput<T>, s, algo).kernel(s, gy, w, gx);
}

// Direct and Gemm sum gb while they copy gy into their tiles (one pass over gy instead of two: for a
// C = 1 layer, whose gy is far larger than x, that pass was a quarter of the backward); Simple and Im2col
// stay the plain loops and call backward_bias.
template <typename T>
void backward_weight(const ConvShape& shape, const T* gy, const T* x, T* gw, T* gb, Algo algo) {
  if (shape.N == 0) {
    std::fill(gw, gw + shape.K * shape.Cg() * shape.R * shape.S, T(0));
    if (gb) std::fill(gb, gb + shape.K, T(0));
    return;
  }
  const ConvShape s = flatten_pointwise(shape);
  pick(kBackwardWeight<T>, s, algo).kernel(s, gy, x, gw, gb);
}

template <typename T>
void backward_bias(const ConvShape& s, const T* gy, T* gb) {
  const int64_t P = s.OH * s.OW;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < s.K; ++k) {
    const DenormalGuard ftz;  // as the passes that sum gb themselves
    T acc = 0;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* g = gy + (n * s.K + k) * P;
#pragma omp simd reduction(+ : acc)
      for (int64_t p = 0; p < P; ++p) acc += g[p];
    }
    gb[k] = acc;
  }
}

#define STRIDED_INSTANTIATE(T)                                                                   \
  template void forward<T>(const ConvShape&, const T*, const T*, const T*, T*, Algo);            \
  template void backward_input<T>(const ConvShape&, const T*, const T*, T*, Algo);               \
  template void backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*, Algo);          \
  template void backward_bias<T>(const ConvShape&, const T*, T*);                                \
  template Algo resolve<T>(const ConvShape&, Pass, Algo);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::conv
