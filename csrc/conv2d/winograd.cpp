// conv2d's Winograd algorithm, F(2x2, 3x3) (Lavin and Gray, 2015): the three passes of 3x3 layers at unit
// stride and dilation, one group (backward-input as the flipped forward; backward-weight below). Each 2x2
// block of outputs comes from the 4x4 input tile under it as y = A^T [(G g G^T) . (B^T d B)] A: 16 products
// per input and output channel where the direct sum takes 36, and a few adds around them. Summed over the
// input channels, each of the 16 products is a GEMM (tiles x C by C x K), run on ChannelsLast's micro-tile
// (kern::Table::pixel_tile): the input is copied channels-last and zero-padded, a task's tiles are
// transformed into 16 rows each (wino_input), contracted over the channels with the transformed weights
// (packed once per call), and each tile's 16 products of a block of output channels turned into its 2x2
// outputs (wino_output), staged as pixel x channel rows and transposed into y's planes. The transforms
// scale by 1/2 and add: the sums differ from the direct ones in rounding only.
#include "conv2d/internal.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace strided::conv {
namespace {

constexpr int64_t kXi = 16;  // products per tile
// A task's transformed tiles and their products (16 rows each of the channels, and of a block of output
// channels) within this many bytes, so that they stay in L2 beside a block of the weights.
constexpr int64_t kTaskBytes = int64_t(160) << 10;
constexpr int64_t kMaxTaskTiles = 96;
// Backward-weight's tasks read and write their slices of X (16*C*Kp) once per task, so they take as many
// tiles as this holds (96 for up to 512 channels in float32): with forward's L2-sized tasks the copies of
// X moved more than the products computed (interleaved on the Zen 3 at 2 threads, 96 tiles against about
// 30 for 64 channels and 18 for 128: 1.3-1.6x).
constexpr int64_t kGradTaskBytes = int64_t(8) << 20;
constexpr int64_t kMaxBlock = 64;  // the widest block of output channels (pixel_nb) of any ISA

struct Tile {
  int64_t img, th, tw;  // image, tile row and column
};

struct Tiles {
  int64_t TH, TW, Hp, Wp, cs;  // tile rows and columns; the padded copy, pixel stride cs
  // Tile q of a run of images (image q / (TH*TW), then row-major), and its top-left pixel in its image's copy.
  Tile at(int64_t q) const { return {q / (TH * TW), q % (TH * TW) / TW, q % TW}; }
  int64_t corner(const Tile& t) const { return (2 * t.th * Wp + 2 * t.tw) * cs; }
};

Tiles tiles_of(const ConvShape& s, int64_t elem) {
  const int64_t TH = ceil_div(s.OH, 2), TW = ceil_div(s.OW, 2);
  return {TH, TW, 2 * TH + 2, 2 * TW + 2, pixel_stride(s.C, elem)};
}

// U[kb][xi][c][j] = (G g G^T)[xi] of the kernel from input channel c to output channel k0 + j of the
// forward problem, for the block of nb output channels from k0 (kv of them, in rows of nw = kv rounded up to
// vl, zeros past kv); blocks nb*16*C apart. G's rows: (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1).
// Backward-input's forward problem (flipped_shape) takes w[c][k] flipped in both axes for its kernel from k
// to c, read here in place. Per (block, input channel) the block's 3x3 kernels are transposed to 9 rows of
// kv (SIMD blocks) and the rows of U computed across them (a scalar transform per kernel, with 16 stores
// C*nw apart, took longer than a small batch's whole pass).
template <typename T>
const T* transform_weights(const ConvShape& s, bool backward, const T* w, int64_t nb, const kern::Table<T>& kt) {
  const int64_t C = s.C, K = s.K, kblocks = ceil_div(K, nb);
  T* U = workspace<T>(kPackedWeights, kblocks * kXi * C * nb);
#pragma omp parallel if (K * C * 9 >= kParallelPrep)
  {
    T g[9 * kMaxBlock];
#pragma omp for schedule(static)
    for (int64_t t = 0; t < kblocks * C; ++t) {
      const int64_t kb = t / C, c = t % C, k0 = kb * nb, kv = std::min(nb, K - k0), nw = round_up(kv, kt.vl);
      if (backward) kt.transpose(kv, 9, w + (c * K + k0) * 9, 9, g, nb);  // g[tap][k], flipped: tap 8 - (r*3 + q)
      else kt.transpose(kv, 9, w + (k0 * C + c) * 9, C * 9, g, nb);  // g[r*3 + q][k]
      const int f = backward ? 8 : 0, sign = backward ? -1 : 1;  // kernel tap (r, q) at row f + sign*(r*3 + q)
      T* d = U + kb * kXi * C * nb + c * nw;
      const int64_t xs = C * nw;  // between the rows of xi and xi + 1
#pragma omp simd
      for (int64_t k = 0; k < kv; ++k) {
        T t[4][3];  // G g: G along the kernel's rows
        for (int q = 0; q < 3; ++q) {
          const T a = g[(f + sign * q) * nb + k], b = g[(f + sign * (3 + q)) * nb + k];
          const T e = g[(f + sign * (6 + q)) * nb + k];
          t[0][q] = a, t[1][q] = T(0.5) * (a + b + e), t[2][q] = T(0.5) * (a - b + e), t[3][q] = e;
        }
        for (int i = 0; i < 4; ++i) {  // then along its columns
          T* o = d + 4 * i * xs + k;
          o[0] = t[i][0];
          o[xs] = T(0.5) * (t[i][0] + t[i][1] + t[i][2]);
          o[2 * xs] = T(0.5) * (t[i][0] - t[i][1] + t[i][2]);
          o[3 * xs] = t[i][2];
        }
      }
      for (int64_t xi = 0; xi < kXi; ++xi) std::fill(d + xi * xs + kv, d + xi * xs + nw, T(0));
    }
  }
  return U;
}

// The forward problem s (backward: the flipped one, w read as transform_weights says). Tasks are runs of
// tiles from anywhere in a chunk of images (Tiles::at), each taking all output channels: its tiles are
// transformed once, and the weights (16*C*K) stream past them block by block.
template <typename T>
void run(const ConvShape& s, const T* x, bool backward, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const Tiles tl = tiles_of(s, sizeof(T));
  const int64_t C = s.C, K = s.K, P = s.OH * s.OW, MP = kt.pixel_mp, NB = kt.pixel_nb, cs = tl.cs;
  const int64_t kblocks = ceil_div(K, NB), plane_tiles = tl.TH * tl.TW, img = tl.Hp * tl.Wp * cs;
  if (NB > kMaxBlock) throw std::logic_error("winograd: pixel_nb past kMaxBlock");
  const T* U = transform_weights(s, backward, w, NB, kt);
  const int64_t fit = kTaskBytes / int64_t(sizeof(T)) / (kXi * (cs + NB)) / MP * MP;
  const int64_t tt = std::clamp<int64_t>(fit, MP, kMaxTaskTiles);
  std::vector<kern::PixelTap> taps;
  for (int64_t c0 = 0; c0 < C; c0 += kChannelRun) taps.push_back({c0, std::min(kChannelRun, C - c0)});
  const int64_t chunk = std::clamp<int64_t>(kScratchBytes / int64_t(sizeof(T)) / img, 1, s.N);
  T* xc = workspace<T>(kChannelsLast, chunk * img);
  reserve<T>({{kTile, kXi * tt * (cs + NB)}, {kTile2, 4 * tt * NB}});
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
    const int64_t nc = std::min(chunk, s.N - n0), tasks = ceil_div(nc * plane_tiles, tt);
#pragma omp parallel
    {
      DenormalGuard ftz;
      T* v = workspace<T>(kTile, kXi * tt * (cs + NB));
      T* m = v + kXi * tt * cs;
      T* stage = workspace<T>(kTile2, 4 * tt * NB);  // output rows 0 and 1 of the tiles, 2*tt pixels each
      const T* px[kMaxTaskTiles];
      T* pc[kMaxTaskTiles];
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nc; ++i)
        to_channels_last(x + (n0 + i) * C * s.H * s.W, C, s.H, s.W, s.pad_top, s.pad_left, tl.Hp, tl.Wp, cs,
                         xc + i * img, kt);
      const int64_t dyn = dynamic_chunk(tasks);
#pragma omp for schedule(dynamic, dyn)
      for (int64_t t = 0; t < tasks; ++t) {
        const int64_t j0 = t * tt, nt = std::min(tt, nc * plane_tiles - j0);
        for (int64_t j = 0; j < nt; ++j) {
          const Tile u = tl.at(j0 + j);
          kt.wino_input(xc + u.img * img + tl.corner(u), cs, tl.Wp * cs, C, v + j * cs, tt * cs);
        }
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          const int64_t k0 = kb * NB, kv = std::min(NB, K - k0), nw = round_up(kv, kt.vl);
          for (int64_t xi = 0; xi < kXi; ++xi) {
            for (int64_t j = 0; j < nt; ++j) px[j] = v + (xi * tt + j) * cs, pc[j] = m + (xi * tt + j) * NB;
            const T* B = U + kb * kXi * C * NB + xi * C * nw;
            for (int64_t j = 0; j < nt; j += MP)
              kt.pixel_tile(taps.data(), int64_t(taps.size()), px + j, int(std::min(MP, nt - j)), B, nullptr,
                            int(kv), pc + j);
          }
          for (int64_t j = 0; j < nt; ++j) {
            T* o[4] = {stage + 2 * j * NB, stage + (2 * j + 1) * NB, stage + (2 * tt + 2 * j) * NB,
                       stage + (2 * tt + 2 * j + 1) * NB};
            kt.wino_output(m + j * NB, tt * NB, kv, b ? b + k0 : nullptr, o);
          }
          for (int64_t j = 0; j < nt;) {  // each run of tiles along a tile row into its two output rows
            const Tile u = tl.at(j0 + j);
            const int64_t len = std::min(nt - j, tl.TW - u.tw), ow = 2 * u.tw, cols = std::min(2 * len, s.OW - ow);
            for (int64_t a = 0; a < 2 && 2 * u.th + a < s.OH; ++a)
              kt.transpose(cols, kv, stage + (2 * a * tt + 2 * j) * NB, NB,
                           y + ((n0 + u.img) * K + k0) * P + (2 * u.th + a) * s.OW + ow, P);
            j += len;
          }
        }
      }
    }
  }
}

}  // namespace

bool winograd_runs(const ConvShape& s) {
  const auto pad_ok = [](int64_t p) { return p >= 0 && p <= 2; };
  if (s.R != 3 || s.S != 3 || s.stride_h != 1 || s.stride_w != 1 || s.dil_h != 1 || s.dil_w != 1 ||
      s.groups != 1 || !pad_ok(s.pad_top) || !pad_ok(s.pad_bottom) || !pad_ok(s.pad_left) ||
      !pad_ok(s.pad_right) || s.OH < 1 || s.OW < 1)
    return false;
  const Tiles t = tiles_of(s, 8);  // one image's copy, and a task's smallest tiles (6 by 16 rows)
  return double(t.Hp) * double(t.Wp) * double(t.cs) * 8 <= double(kScratchBytes) &&
         6 * kXi * (double(t.cs) + 2 * kMaxBlock) * 8 <= double(kScratchBytes);
}

// Backward-weight copies the whole batch's x and gy channels-last, and its tasks take at least 6 tiles of
// 16 rows of both.
bool winograd_backward_weight_runs(const ConvShape& s) {
  if (!winograd_runs(s)) return false;
  const Tiles t = tiles_of(s, 8);
  const double kb = double(pixel_stride(s.K + 8, 8)), gy_copy = 4 * double(t.TH) * double(t.TW) * kb;
  return double(s.N) * (double(t.Hp) * double(t.Wp) * double(t.cs) + gy_copy) * 8 <= double(kScratchBytes) &&
         6 * kXi * (double(t.cs) + kb) * 8 <= double(kScratchBytes);
}

template <typename T>
void forward_winograd(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  run(s, x, false, w, b, y);
}

template <typename T>
void backward_input_winograd(const ConvShape& s, const T* gy, const T* w, T* gx) {
  run(flipped_shape(s), gy, true, w, static_cast<const T*>(nullptr), gx);
}

// Backward-weight: for each kernel (k, c), gw = G^T X G with X = the sum over tiles of (A gy A^T) . (B^T d B),
// the gradient of the 16 products (G's rows as in transform_weights; wino_grad, wino_input). Per ξ the sum
// over a task's tiles is a GEMM contracted over the tiles (kern::Table::gemm_pixels: C channels of the
// transformed input broadcast, Kp of gy's vectors), into the run's copy of X (chunked_sums: 16*C*Kp per run,
// the same bits for any thread count); the copies are added in run order and transformed into gw at the
// end. x and gy are copied channels-last whole (winograd_backward_weight_runs bounds the batch).
template <typename T>
void backward_weight_winograd(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const Tiles tl = tiles_of(s, sizeof(T));
  const int64_t C = s.C, K = s.K, Kp = round_up(K, kt.vl), Kb = pixel_stride(Kp, sizeof(T)), cs = tl.cs;
  const int64_t plane_tiles = tl.TH * tl.TW, img = tl.Hp * tl.Wp * cs, gimg = 4 * plane_tiles * Kb;
  const int64_t fit = kGradTaskBytes / int64_t(sizeof(T)) / (kXi * (cs + Kb)) / kt.pixel_mp * kt.pixel_mp;
  const int64_t tt = std::clamp<int64_t>(fit, kt.pixel_mp, kMaxTaskTiles), tasks = ceil_div(s.N * plane_tiles, tt);
  const int64_t tile_len = kXi * tt * (cs + Kb) + kt.mr;  // gemm_pixels reads up to mr - 1 past a row of V
  T* xc = workspace<T>(kChannelsLast, s.N * (img + gimg));
  T* gc = xc + s.N * img;
  const Partials<T> parts = chunk_partials<T>(tasks, kXi * C * Kp);
  reserve<T>({{kTile, tile_len}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* v = workspace<T>(kTile, tile_len);
    T* g = v + kXi * tt * cs + kt.mr;
    const T* pa[kMaxTaskTiles];
#pragma omp for schedule(static)
    for (int64_t i = 0; i < s.N; ++i) {
      to_channels_last(x + i * C * s.H * s.W, C, s.H, s.W, s.pad_top, s.pad_left, tl.Hp, tl.Wp, cs, xc + i * img,
                       kt);
      to_channels_last(gy + i * K * s.OH * s.OW, K, s.OH, s.OW, 0, 0, 2 * tl.TH, 2 * tl.TW, Kb, gc + i * gimg, kt);
    }
    for (int64_t row = 0; row < kXi * tt; ++row) std::fill(g + row * Kb + K, g + row * Kb + Kp, T(0));
    chunked_sums<T>(tasks, parts, [&](int64_t t, T* mine) {
      const int64_t j0 = t * tt, nt = std::min(tt, s.N * plane_tiles - j0);
      for (int64_t j = 0; j < nt; ++j) {
        const Tile u = tl.at(j0 + j);
        kt.wino_input(xc + u.img * img + tl.corner(u), cs, tl.Wp * cs, C, v + j * cs, tt * cs);
        kt.wino_grad(gc + u.img * gimg + (4 * u.th * tl.TW + 2 * u.tw) * Kb, Kb, 2 * tl.TW * Kb, K, g + j * Kb,
                     tt * Kb);
      }
      for (int64_t xi = 0; xi < kXi; ++xi) {
        for (int64_t j = 0; j < nt; ++j) pa[j] = v + (xi * tt + j) * cs;
        kt.gemm_pixels(C, Kp, nt, pa, 0, g + xi * tt * Kb, Kb, mine + xi * C * Kp, Kp);
      }
    });
    // Per input channel: its 16 rows of X summed over the runs (into the free tile), then G^T X G per k.
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t xi = 0; xi < kXi; ++xi) parts.sum((xi * C + c) * Kp, Kp, v + xi * Kp);
      const T* X = v;
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) {
        T u[4][3];  // X G, then G^T of that; G^T's rows: (1, 1/2, 1/2, 0), (0, 1/2, -1/2, 0), (0, 1/2, 1/2, 1)
        for (int i = 0; i < 4; ++i) {
          const T a = X[4 * i * Kp + k], b = X[(4 * i + 1) * Kp + k], e = X[(4 * i + 2) * Kp + k];
          const T f = X[(4 * i + 3) * Kp + k];
          u[i][0] = a + T(0.5) * (b + e), u[i][1] = T(0.5) * (b - e), u[i][2] = T(0.5) * (b + e) + f;
        }
        T* o = gw + (k * C + c) * 9;
        for (int q = 0; q < 3; ++q) {
          o[q] = u[0][q] + T(0.5) * (u[1][q] + u[2][q]);
          o[3 + q] = T(0.5) * (u[1][q] - u[2][q]);
          o[6 + q] = T(0.5) * (u[1][q] + u[2][q]) + u[3][q];
        }
      }
    }
  }
  if (gb) backward_bias(s, gy, gb);
}

template void forward_winograd<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void forward_winograd<double>(const ConvShape&, const double*, const double*, const double*, double*);
template void backward_input_winograd<float>(const ConvShape&, const float*, const float*, float*);
template void backward_input_winograd<double>(const ConvShape&, const double*, const double*, double*);
template void backward_weight_winograd<float>(const ConvShape&, const float*, const float*, float*, float*);
template void backward_weight_winograd<double>(const ConvShape&, const double*, const double*, double*, double*);

}  // namespace strided::conv
