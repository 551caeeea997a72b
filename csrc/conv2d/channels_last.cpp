// conv2d's ChannelsLast algorithm: forward, and backward-input at unit stride as the flipped forward, for
// layers with many channels (the bodies of ResNets and VGGs), where the direct kernel's blocks reuse each
// input load for a few output channels only and the Gemm algorithm's im2col gathers copy short rows (4-16
// pixels on ResNet-18's later stages). Here x is copied once per call into a zero-padded channels-last
// array, and the micro-tile (kern::Table::pixel_tile, conv2d/pixels_simd.h) reads it in place: pixel_mp
// output pixels from anywhere in the batch (each one a pointer into the copy, so a 4x4 plane fills whole
// tiles) by pixel_nb output channels, with the whole Cg*R*S contraction in registers and one store. No
// gathers and no partial sums; the weights are packed once per call in the tile's order.
#include "conv2d/internal.h"

#include <algorithm>
#include <vector>

namespace strided::conv {
namespace {

// Channels per run of the contraction: a tile visits every tap of a run of channels before the next run,
// so the input lines it reads (pixel_mp pixels x R*S taps, a line of 16 floats each) stay in L1.
constexpr int64_t kChannelRun = 16;
// Output pixels per task, a multiple of every ISA's pixel_mp (6): staged as pixel x channel rows (kTile)
// and transposed into y's planes.
constexpr int64_t kTaskPixels = 132;

// The channels-last copy of one image: Hp rows of Wp pixels of C channels, shifted by the top and left
// padding (a negative padding, which the flipped backward-input has for pad > dil*(R-1), crops).
struct Layout {
  int64_t Hp, Wp, img;
};
inline Layout layout(const ConvShape& s) {
  const int64_t Hp = s.H + s.pad_top + s.pad_bottom, Wp = s.W + s.pad_left + s.pad_right;
  return {Hp, Wp, Hp * Wp * s.C};
}

template <typename T>
void to_channels_last(const ConvShape& s, const Layout& l, const T* x, T* d, const kern::Table<T>& kt) {
  const int64_t iw_lo = std::max<int64_t>(0, -s.pad_left), iw_hi = std::min(s.W, l.Wp - s.pad_left);
  const int64_t w0 = iw_lo + s.pad_left, w1 = iw_hi + s.pad_left;  // where [iw_lo, iw_hi) lands
  for (int64_t hp = 0; hp < l.Hp; ++hp) {
    T* row = d + hp * l.Wp * s.C;
    const int64_t ih = hp - s.pad_top;
    if (ih < 0 || ih >= s.H || iw_hi <= iw_lo) {
      std::fill(row, row + l.Wp * s.C, T(0));
      continue;
    }
    std::fill(row, row + w0 * s.C, T(0));
    std::fill(row + w1 * s.C, row + l.Wp * s.C, T(0));
    kt.transpose(s.C, iw_hi - iw_lo, x + ih * s.W + iw_lo, s.H * s.W, row + w0 * s.C, s.C);
  }
}

// The weights per group and block of nb output channels in the order the tile reads them: per run of
// channels, per tap (r, q), per channel, the block's output channels, nb of them or, in a group's last
// block, its channels rounded up to vl (zero past Kg). A group's blocks take Kp = Kg rounded up to vl
// columns in all (Cg*R*S rows each); then the bias, Kp per group. w is the layer's (K x Cg x R x S), or
// with `flipped` the original layer's of a flipped backward-input problem s: s's weight (k, c, r, q) is
// w[g*Cg + c][k][R-1-r][S-1-q] (flipped_weights' transpose, read in place). Tasks are (group, block).
template <typename T>
T* pack_weights(const ConvShape& s, const T* w, const T* b, bool flipped, int64_t nb, int64_t vl) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, Kp = round_up(Kg, vl), kblocks = ceil_div(Kg, nb);
  const int64_t G = s.groups, rows = Cg * RS;
  T* wp = workspace<T>(kPackedWeights, G * Kp * (rows + 1));
#pragma omp parallel for schedule(static) if (G * Kp * rows >= kParallelPrep)
  for (int64_t gk = 0; gk < G * kblocks; ++gk) {
    const int64_t g = gk / kblocks, k0 = gk % kblocks * nb;
    const int64_t kv = std::min(nb, Kg - k0), nw = std::min(nb, Kp - k0);  // channels, columns
    T* d = wp + (g * Kp + k0) * rows;
    if (kv < nw)
      for (int64_t row = 0; row < rows; ++row) std::fill(d + row * nw + kv, d + (row + 1) * nw, T(0));
    // Row by row of the block, its columns k in order (one k's rows of a run lie R*S*nw elements apart:
    // written k by k, every store was a cache conflict).
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t c0 = c / kChannelRun * kChannelRun, len = std::min(kChannelRun, Cg - c0);
      for (int64_t t = 0; t < RS; ++t) {
        T* row = d + (c0 * RS + t * len + c - c0) * nw;
        if (!flipped) {
          const T* src = w + (g * Kg + k0) * rows + c * RS + t;
          for (int64_t k = 0; k < kv; ++k) row[k] = src[k * rows];
        } else {
          const T* src = w + ((g * Cg + c) * Kg + k0) * RS + RS - 1 - t;
          for (int64_t k = 0; k < kv; ++k) row[k] = src[k * RS];
        }
      }
    }
  }
  T* bias = wp + G * Kp * rows;
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k = 0; k < Kp; ++k) bias[g * Kp + k] = b && k < Kg ? b[g * Kg + k] : T(0);
  return wp;
}

// Tasks per chunk of images: (group, block of output channels) outer, so a thread's run of tasks keeps
// one block's packed weights in L2, and runs of kTaskPixels output pixels inner.
template <typename T>
void run(const ConvShape& s, const T* x, const T* w, const T* b, bool flipped, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S;
  const int64_t MP = kt.pixel_mp, NB = kt.pixel_nb, kblocks = ceil_div(Kg, NB), Kp = round_up(Kg, kt.vl);
  const Layout l = layout(s);
  const T* wp = pack_weights(s, w, b, flipped, NB, kt.vl);
  const T* bias = b ? wp + G * Kp * Cg * RS : nullptr;
  std::vector<kern::PixelTap> taps;
  for (int64_t c0 = 0; c0 < Cg; c0 += kChannelRun)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t q = 0; q < s.S; ++q)
        taps.push_back({(r * s.dil_h * l.Wp + q * s.dil_w) * s.C + c0, std::min(kChannelRun, Cg - c0)});
  // Images per chunk: as many copies as the scratch bound holds (the dispatcher checks that one does).
  const int64_t chunk = std::clamp<int64_t>(kScratchBytes / int64_t(sizeof(T)) / l.img, 1, s.N);
  T* xc = workspace<T>(kChannelsLast, chunk * l.img);
  reserve<T>({{kTile, kTaskPixels * NB}});
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
    const int64_t nc = std::min(chunk, s.N - n0), pixels = nc * P, runs = ceil_div(pixels, kTaskPixels);
#pragma omp parallel
    {
      DenormalGuard ftz;
      T* stage = workspace<T>(kTile, kTaskPixels * NB);
      const T* px[kTaskPixels];
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nc; ++i) to_channels_last(s, l, x + (n0 + i) * s.C * s.H * s.W, xc + i * l.img, kt);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < G * kblocks * runs; ++t) {
        const int64_t gk = t / runs, g = gk / kblocks, kb = gk % kblocks, j0 = t % runs * kTaskPixels;
        const int64_t np = std::min(kTaskPixels, pixels - j0), kv = std::min(NB, Kg - kb * NB);
        for (int64_t j = 0; j < np; ++j) {
          const int64_t i = (j0 + j) / P, p = (j0 + j) % P, oh = p / s.OW, ow = p % s.OW;
          px[j] = xc + i * l.img + (oh * s.stride_h * l.Wp + ow * s.stride_w) * s.C + g * Cg;
        }
        for (int64_t j = 0; j < np; j += MP)
          kt.pixel_tile(taps.data(), int64_t(taps.size()), px + j, int(std::min(MP, np - j)),
                        wp + (g * Kp + kb * NB) * Cg * RS, bias ? bias + g * Kp + kb * NB : nullptr, int(kv),
                        stage + j * NB, NB);
        for (int64_t j = 0; j < np;) {  // each image's run of pixels into its planes
          const int64_t i = (j0 + j) / P, p = (j0 + j) % P, run = std::min(np - j, P - p);
          kt.transpose(run, kv, stage + j * NB, NB, y + ((n0 + i) * s.K + g * Kg + kb * NB) * P + p, P);
          j += run;
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void forward_channels_last(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  run(s, x, w, b, false, y);
}

// The flipped forward (see flipped_shape), its weights packed straight from w.
template <typename T>
void backward_input_channels_last(const ConvShape& s, const T* gy, const T* w, T* gx) {
  run(flipped_shape(s), gy, w, static_cast<const T*>(nullptr), true, gx);
}

double channels_last_scratch_bytes(const ConvShape& s) {
  return double(s.H + s.pad_top + s.pad_bottom) * double(s.W + s.pad_left + s.pad_right) * double(s.C) * 8;
}

template void forward_channels_last<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void forward_channels_last<double>(const ConvShape&, const double*, const double*, const double*,
                                            double*);
template void backward_input_channels_last<float>(const ConvShape&, const float*, const float*, float*);
template void backward_input_channels_last<double>(const ConvShape&, const double*, const double*, double*);

}  // namespace strided::conv
