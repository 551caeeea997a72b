// conv2d's ChannelsLast algorithm: forward and backward-input, for layers with many channels (the bodies of
// ResNets and VGGs), where the direct kernel's blocks reuse each input load for a few output channels only
// and the Gemm algorithm's im2col gathers copy short rows (4-16 pixels on ResNet-18's later stages). The
// input (x, or gy for backward-input) is copied once per call into a zero-padded channels-last array, and
// the micro-tile (kern::Table::pixel_tile, conv2d/pixels_simd.h) reads it in place: pixel_mp output pixels
// from anywhere in the batch (each one a pointer into the copy, so a 4x4 plane fills whole tiles) by
// pixel_nb output channels, with the whole contraction in registers and one store. No gathers and no
// partial sums; the weights are packed once per call in the tile's order.
//
// Backward-input is a sum over taps too, with gy as the input: gx pixel o (along each axis) takes tap r
// where o + pad - r*dil is a multiple of the stride, from gy pixel (o + pad - r*dil) / stride. At unit
// stride every pixel takes every tap (the flipped forward); at stride s the pixels fall into s x s phases
// (o mod s along each axis), each a unit-step sum over its own taps (a 3x3 stride-2 layer's phases take
// 1, 2, 2 and 4 taps): no zeros inserted and no col2im.
#include "conv2d/internal.h"

#include <algorithm>
#include <vector>

namespace strided::conv {
namespace {

// Output pixels per task and phase, a multiple of every ISA's pixel_mp (6), and the most phases a task's
// run is sized for (a stride-2 layer's four).
constexpr int64_t kTaskPixels = 132, kMaxPhases = 4;
// Packed weights small enough to stay in a core's L2 (2 MiB on the machines measured) beside the tiles.
constexpr int64_t kWeightsInL2 = int64_t(1) << 20;

// The pixels of a phase along one axis: outputs o0 + i*out_step for i < n, whose input pixel in the copy is
// i*in_step + off[t] for tap t (kernel index k[t]).
struct Axis {
  int64_t o0, n;
  std::vector<int64_t> k, off;
};

// One call's problem: the input copied (C channels of H x W, at (top, left) of an Hp x Wp channels-last
// array, zeros around it), the output planes (K of OH x OW), channels per group in and out, and the phases
// (every row axis with every column axis).
struct Plan {
  bool backward;
  int64_t C, H, W, K, OH, OW, ci, co;
  int64_t top, left, Hp, Wp, cs;
  int64_t in_h, in_w, out_h, out_w;  // steps of a phase's pixels in the copy and in the output
  std::vector<Axis> rows, cols;
  bool covered;  // every output pixel is in a phase (a stride beyond the window leaves some to zeros)
  int64_t img() const { return Hp * Wp * cs; }
};

// Forward along one axis: one phase, output o reads input o*stride + k*dil of the padded copy.
Axis forward_axis(int64_t out, int64_t dil, int64_t taps) {
  Axis a{0, out, {}, {}};
  for (int64_t k = 0; k < taps; ++k) a.k.push_back(k), a.off.push_back(k * dil);
  return a;
}

// Backward-input along one axis (gy of `in` pixels, gx of `out`): the phases o0 that some tap reaches,
// offsets shifted by the zero padding `top` the copy needs before gy, and the copy's length `len`.
std::vector<Axis> backward_axes(int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t dil,
                                int64_t taps, int64_t& top, int64_t& len) {
  std::vector<Axis> axes;
  // Last tap first, so that a phase's offsets ascend as the forward's do: the tile then walks each run's
  // rows and pixels upwards in memory (1.08x on vgg_3x3_64's backward-input at 1 thread on the Zen 3).
  for (int64_t k = taps - 1; k >= 0; --k) {
    const int64_t o0 = ((k * dil - pad) % stride + stride) % stride;
    if (o0 >= out) continue;
    auto a = std::find_if(axes.begin(), axes.end(), [&](const Axis& x) { return x.o0 == o0; });
    if (a == axes.end()) a = axes.insert(axes.end(), Axis{o0, ceil_div(out - o0, stride), {}, {}});
    a->k.push_back(k);
    a->off.push_back((o0 + pad - k * dil) / stride);  // exact; gy pixel i + off
  }
  top = 0;
  for (const Axis& a : axes)
    for (int64_t e : a.off) top = std::max(top, -e);
  len = in + top;
  for (Axis& a : axes)
    for (int64_t& e : a.off) e += top, len = std::max(len, a.n + e);
  return axes;
}

Plan make_plan(const ConvShape& s, bool backward, int64_t elem) {
  Plan p{};
  p.backward = backward;
  if (!backward) {
    p.C = s.C, p.H = s.H, p.W = s.W, p.K = s.K, p.OH = s.OH, p.OW = s.OW, p.ci = s.Cg(), p.co = s.Kg();
    p.top = s.pad_top, p.left = s.pad_left, p.Hp = s.H + s.pad_top + s.pad_bottom;
    p.Wp = s.W + s.pad_left + s.pad_right;
    p.in_h = s.stride_h, p.in_w = s.stride_w, p.out_h = p.out_w = 1;
    p.rows = {forward_axis(s.OH, s.dil_h, s.R)};
    p.cols = {forward_axis(s.OW, s.dil_w, s.S)};
    p.covered = true;
    p.cs = pixel_stride(p.C, elem);
    return p;
  }
  p.C = s.K, p.H = s.OH, p.W = s.OW, p.K = s.C, p.OH = s.H, p.OW = s.W, p.ci = s.Kg(), p.co = s.Cg();
  p.rows = backward_axes(s.H, s.OH, s.stride_h, s.pad_top, s.dil_h, s.R, p.top, p.Hp);
  p.cols = backward_axes(s.W, s.OW, s.stride_w, s.pad_left, s.dil_w, s.S, p.left, p.Wp);
  p.in_h = p.in_w = 1, p.out_h = s.stride_h, p.out_w = s.stride_w;
  p.cs = pixel_stride(p.C, elem);
  p.covered = int64_t(p.rows.size()) == std::min(s.stride_h, s.H) &&
              int64_t(p.cols.size()) == std::min(s.stride_w, s.W);
  return p;
}

// A phase as the tasks see it: its axes, its taps as runs of the copy (per run of channels, per tap), and
// where its weights start in a group's packed block.
struct Phase {
  const Axis *h, *w;
  std::vector<kern::PixelTap> taps;
  int64_t ntaps, first_tap;
};

std::vector<Phase> phases(const Plan& p) {
  std::vector<Phase> out;
  int64_t first = 0;
  for (const Axis& h : p.rows)
    for (const Axis& w : p.cols) {
      Phase f{&h, &w, {}, int64_t(h.k.size() * w.k.size()), first};
      for (int64_t c0 = 0; c0 < p.ci; c0 += kChannelRun)
        for (int64_t dh : h.off)
          for (int64_t dw : w.off)
            f.taps.push_back({(dh * p.Wp + dw) * p.cs + c0, std::min(kChannelRun, p.ci - c0)});
      first += f.ntaps;
      out.push_back(std::move(f));
    }
  return out;
}

// The weights per group, phase and block of nb output channels in the order the tile reads them: per run
// of channels, per tap of the phase, per channel, the block's output channels, nb of them or, in a
// group's last block, its channels rounded up to vl (zero past co). A phase's blocks take Kp = co rounded
// up to vl columns in all (ci*ntaps rows each); a group's phases, `group` elements (all taps x ci x Kp);
// then the bias, Kp per group. Forward reads w's (k, c, r, q) as (output, input); backward-input as
// (input, output): gy's channel k meets gx's c through w[k][c][r][q].
template <typename T>
T* pack_weights(const Plan& p, const std::vector<Phase>& ph, const ConvShape& s, const T* w, const T* b,
                int64_t nb, int64_t Kp, int64_t group) {
  const int64_t ci = p.ci, co = p.co, RS = s.R * s.S, kblocks = ceil_div(co, nb), G = s.groups;
  const int64_t step = p.backward ? RS : ci * RS;  // between output channels in w
  T* wp = workspace<T>(kPackedWeights, G * group + G * Kp);
  const auto& kt = kern::table<T>();
#pragma omp parallel for schedule(static) if (G * group >= kParallelPrep)
  for (int64_t t = 0; t < G * kblocks; ++t) {
    const int64_t g = t / kblocks, k0 = t % kblocks * nb;
    const int64_t kv = std::min(nb, co - k0), nw = std::min(nb, Kp - k0);  // channels, columns
    if (kv < nw)
      for (const Phase& f : ph) {
        T* d = wp + g * group + f.first_tap * ci * Kp + k0 * ci * f.ntaps;
        for (int64_t row = 0; row < ci * f.ntaps; ++row) std::fill(d + row * nw + kv, d + (row + 1) * nw, T(0));
      }
    // Per input channel, the block's kv x RS weights (each k's taps contiguous in w) are transposed by
    // SIMD tiles into `taps` (RS rows of kv), whose rows are then the phases' rows, one per tap: w is read
    // once for all phases. A scalar gather of each row's k, step apart in w, was a tenth of r18_3x3_512's
    // forward and backward-input.
    std::vector<T> taps(size_t(RS * kv));
    for (int64_t c = 0; c < ci; ++c) {
      const int64_t c0 = c / kChannelRun * kChannelRun, len = std::min(kChannelRun, ci - c0);
      const T* wc = w + g * co * ci * RS + (p.backward ? (c * co + k0) * RS : (k0 * ci + c) * RS);
      kt.transpose(kv, RS, wc, step, taps.data(), kv);
      for (const Phase& f : ph) {
        const int64_t nq = int64_t(f.w->k.size());
        T* d = wp + g * group + f.first_tap * ci * Kp + k0 * ci * f.ntaps + (c0 * f.ntaps + c - c0) * nw;
        for (int64_t t = 0; t < f.ntaps; ++t) {
          const T* src = taps.data() + (f.h->k[size_t(t / nq)] * s.S + f.w->k[size_t(t % nq)]) * kv;
          T* row = d + t * len * nw;
          for (int64_t k = 0; k < kv; ++k) row[k] = src[k];
        }
      }
    }
  }
  T* bias = wp + G * group;
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k = 0; k < Kp; ++k) bias[g * Kp + k] = b && k < co ? b[g * co + k] : T(0);
  return wp;
}

// Tasks per chunk of images: (group, block of output channels) outer, so a thread's run of tasks keeps
// one block's packed weights in L2, and runs of output pixels (in image, row, column order) inner (or the
// other way round for a strided forward with small weights, below). A run
// is kTaskPixels per phase (up to 4 phases): its pixels are staged as pixel x channel rows (kTile), phase
// by phase in tiles of pixel_mp (each pixel with its own input and stage pointers), and transposed into
// y's planes; so a strided backward-input writes gx as a forward pass writes y.
template <typename T>
void run(const ConvShape& s, bool backward, const T* x, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const Plan p = make_plan(s, backward, sizeof(T));
  const std::vector<Phase> ph = phases(p);
  const int64_t G = s.groups, ci = p.ci, co = p.co, P = p.OH * p.OW, MP = kt.pixel_mp, NB = kt.pixel_nb;
  if (ph.empty()) {  // a stride beyond the window and the image: no tap reaches any pixel of gx
    std::fill(y, y + s.N * p.K * P, T(0));
    return;
  }
  const int64_t kblocks = ceil_div(co, NB), Kp = round_up(co, kt.vl);
  const int64_t group = (ph.back().first_tap + ph.back().ntaps) * ci * Kp;
  const T* wp = pack_weights(p, ph, s, w, b, NB, Kp, group);
  const T* bias = b ? wp + G * group : nullptr;
  const int64_t tp = kTaskPixels * std::min<int64_t>(int64_t(ph.size()), kMaxPhases);
  // Which operand a thread's consecutive tasks keep: a block's weights, or, for a strided forward whose
  // weights fit in L2, a run of pixels across all blocks: such a pass reads stride^2 input pixels per
  // output pixel, and each block was a pass over the whole copy from memory (eight on AVX2 at 128 output
  // channels). Interleaved A/B, 2 threads: down_3x3s2 and r18_down_128 forward 1.09x / 1.13x on AVX2,
  // 1.03x / 1.08x on AVX-512; at unit stride it read 0.90-1.01x (res_3x3_128, r18_3x3_128, vgg_3x3_64).
  const bool runs_outer =
      (p.in_h > 1 || p.in_w > 1) && double(G * group) * double(sizeof(T)) <= double(kWeightsInL2);
  // Images per chunk: as many copies as the scratch bound holds (the dispatcher checks that one does).
  const int64_t img = p.img(), chunk = std::clamp<int64_t>(kScratchBytes / int64_t(sizeof(T)) / img, 1, s.N);
  T* xc = workspace<T>(kChannelsLast, chunk * img);
  reserve<T>({{kTile, tp * NB}});
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
    const int64_t nc = std::min(chunk, s.N - n0), runs = ceil_div(nc * P, tp);
#pragma omp parallel
    {
      DenormalGuard ftz;
      T* stage = workspace<T>(kTile, tp * NB);
      const T* px[kTaskPixels * kMaxPhases];
      T* pc[kTaskPixels * kMaxPhases];
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nc; ++i)
        to_channels_last(x + (n0 + i) * p.C * p.H * p.W, p.C, p.H, p.W, p.top, p.left, p.Hp, p.Wp, p.cs,
                         xc + i * img, kt);
      const int64_t chunk = dynamic_chunk(G * kblocks * runs);
#pragma omp for schedule(dynamic, chunk)
      for (int64_t t = 0; t < G * kblocks * runs; ++t) {
        const int64_t gk = runs_outer ? t % (G * kblocks) : t / runs;
        const int64_t ri = runs_outer ? t / (G * kblocks) : t % runs;  // which run of pixels
        const int64_t g = gk / kblocks, kb = gk % kblocks, j0 = ri * tp;
        const int64_t np = std::min(tp, nc * P - j0), kv = std::min(NB, co - kb * NB);
        if (!p.covered) std::fill(stage, stage + np * NB, T(0));
        for (const Phase& f : ph) {
          int64_t m = 0;  // the run's pixels in this phase: row segments, every out_w-th column
          for (int64_t j = 0; j < np;) {
            const int64_t i = (j0 + j) / P, q = (j0 + j) % P, oh = q / p.OW, ow = q % p.OW;
            const int64_t seg = std::min(np - j, p.OW - ow), dh = oh - f.h->o0;
            if (dh >= 0 && dh % p.out_h == 0) {
              const int64_t o0 = f.w->o0, first = ow <= o0 ? o0 : o0 + ceil_div(ow - o0, p.out_w) * p.out_w;
              const T* row = xc + i * img + (dh / p.out_h * p.in_h * p.Wp) * p.cs + g * ci;
              for (int64_t col = first; col < ow + seg; col += p.out_w, ++m) {
                px[m] = row + (col - o0) / p.out_w * p.in_w * p.cs;
                pc[m] = stage + (j + col - ow) * NB;
              }
            }
            j += seg;
          }
          const T* B = wp + g * group + f.first_tap * ci * Kp + kb * NB * ci * f.ntaps;
          for (int64_t j = 0; j < m; j += MP)
            kt.pixel_tile(f.taps.data(), int64_t(f.taps.size()), px + j, int(std::min(MP, m - j)), B,
                          bias ? bias + g * Kp + kb * NB : nullptr, int(kv), pc + j);
        }
        for (int64_t j = 0; j < np;) {  // each image's run of pixels into its planes
          const int64_t i = (j0 + j) / P, q = (j0 + j) % P, run = std::min(np - j, P - q);
          kt.transpose(run, kv, stage + j * NB, NB, y + ((n0 + i) * p.K + g * co + kb * NB) * P + q, P);
          j += run;
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void forward_channels_last(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  run(s, false, x, w, b, y);
}

template <typename T>
void backward_input_channels_last(const ConvShape& s, const T* gy, const T* w, T* gx) {
  run(s, true, gy, w, static_cast<const T*>(nullptr), gx);
}

double channels_last_scratch_bytes(const ConvShape& s, Pass pass) {
  const Plan p = make_plan(s, pass == Pass::BackwardInput, 8);
  return double(p.Hp) * double(p.Wp) * double(p.cs) * 8;
}

template void forward_channels_last<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void forward_channels_last<double>(const ConvShape&, const double*, const double*, const double*,
                                            double*);
template void backward_input_channels_last<float>(const ConvShape&, const float*, const float*, float*);
template void backward_input_channels_last<double>(const ConvShape&, const double*, const double*, double*);

}  // namespace strided::conv
