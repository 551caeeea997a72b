// 2-D convolution kernels: forward, backward_input, backward_weight, backward_bias, and the dispatcher.
//
// Simple kernels loop over every output element and its window (parallel over whole rows of work, never
// racing). Im2col kernels split the output pixels of one image and group into tiles sized so a tile's
// column matrix (C/g*R*S x tile) stays in L2; each task gathers its tile and runs a small GEMM whose inner
// loop runs along the pixels, so the compiler vectorizes it. Gemm and Direct (further down) are the fast
// ones, built on the run-time-selected SIMD microkernels of kernels.h. No algorithm unrolls the whole
// batch: workspaces are per thread, bounded by a tile, and reused across calls (thread_local).
#include "conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "gemm_util.h"
#include "kernels.h"

namespace strided::conv {
namespace {

// ---------------------------------------------------------------- simple kernels

template <typename T>
void forward_simple(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;
      T* yk = y + (n * s.K + k) * s.OH * s.OW;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          T acc = b ? b[k] : T(0);
          for (int64_t c = 0; c < Cg; ++c) {
            const T* xc = x + (n * s.C + c0 + c) * s.H * s.W;
            const T* wc = w + (k * Cg + c) * s.R * s.S;
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t q = 0; q < s.S; ++q) {
                const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += wc[r * s.S + q] * xc[ih * s.W + iw];
              }
            }
          }
          yk[oh * s.OW + ow] = acc;
        }
      }
    }
  }
}

// Gather: each input pixel sums the outputs whose window covers it.
template <typename T>
void backward_input_simple(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t c = 0; c < s.C; ++c) {
      const int64_t g = c / Cg, cl = c % Cg;
      T* gxc = gx + (n * s.C + c) * s.H * s.W;
      for (int64_t ih = 0; ih < s.H; ++ih) {
        for (int64_t iw = 0; iw < s.W; ++iw) {
          T acc = 0;
          for (int64_t r = 0; r < s.R; ++r) {
            const int64_t th = ih + s.pad_top - r * s.dil_h;
            if (th < 0 || th % s.stride_h) continue;
            const int64_t oh = th / s.stride_h;
            if (oh >= s.OH) continue;
            for (int64_t q = 0; q < s.S; ++q) {
              const int64_t tw = iw + s.pad_left - q * s.dil_w;
              if (tw < 0 || tw % s.stride_w) continue;
              const int64_t ow = tw / s.stride_w;
              if (ow >= s.OW) continue;
              for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
                acc += w[((k * Cg + cl) * s.R + r) * s.S + q] * gy[((n * s.K + k) * s.OH + oh) * s.OW + ow];
            }
          }
          gxc[ih * s.W + iw] = acc;
        }
      }
    }
  }
}

template <typename T>
void backward_weight_simple(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < s.K; ++k) {
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t cin = (k / Kg) * Cg + c;
      for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t q = 0; q < s.S; ++q) {
          T acc = 0;
          for (int64_t n = 0; n < s.N; ++n) {
            const T* xc = x + (n * s.C + cin) * s.H * s.W;
            const T* gyk = gy + (n * s.K + k) * s.OH * s.OW;
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
                if (iw >= 0 && iw < s.W) acc += gyk[oh * s.OW + ow] * xc[ih * s.W + iw];
              }
            }
          }
          gw[((k * Cg + c) * s.R + r) * s.S + q] = acc;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- im2col kernels

// Pixels per tile: the column matrix rows x tile should fill about 256 KiB (L2-resident).
template <typename T>
int64_t pixel_tile(int64_t rows, int64_t pixels) {
  const int64_t fit = (int64_t(256) * 1024 / int64_t(sizeof(T))) / std::max<int64_t>(rows, 1);
  const int64_t tile = std::clamp<int64_t>(fit / 16 * 16, 16, 512);
  return std::min(tile, pixels);
}

// col[(c*R + r)*S + q][j] = padded input under tap (r, q) of output pixel p0 + j, for the Cg channels at xg.
template <typename T>
void im2col_tile(const ConvShape& s, const T* xg, int64_t p0, int64_t np, T* col, int64_t ld) {
  const int64_t Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c) {
    const T* xc = xg + c * s.H * s.W;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t q = 0; q < s.S; ++q) {
        T* dst = col + ((c * s.R + r) * s.S + q) * ld;
        int64_t oh = p0 / s.OW, ow = p0 % s.OW;
        for (int64_t j = 0; j < np; ++j) {
          const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
          const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
          dst[j] = (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) ? xc[ih * s.W + iw] : T(0);
          if (++ow == s.OW) { ow = 0; ++oh; }
        }
      }
    }
  }
}

// The inverse for one channel: gxc[ih][iw] += colc[r*S + q][j] over the taps that read it.
template <typename T>
void col2im_channel(const ConvShape& s, const T* colc, int64_t ld, int64_t p0, int64_t np, T* gxc) {
  for (int64_t r = 0; r < s.R; ++r) {
    for (int64_t q = 0; q < s.S; ++q) {
      const T* src = colc + (r * s.S + q) * ld;
      int64_t oh = p0 / s.OW, ow = p0 % s.OW;
      for (int64_t j = 0; j < np; ++j) {
        const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
        const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
        if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) gxc[ih * s.W + iw] += src[j];
        if (++ow == s.OW) { ow = 0; ++oh; }
      }
    }
  }
}

// C[m][j] = sum_k A[m][k] * B[k][j] for j < np (A: M x Kd, lda; B: Kd x np, ldb; C: ldc). Four rows of C
// share each load of B; the j loop is the vectorized one.
template <typename T>
void gemm_nn(int64_t M, int64_t Kd, int64_t np, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
             int64_t ldc) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    T* c0 = C + m * ldc; T* c1 = c0 + ldc; T* c2 = c1 + ldc; T* c3 = c2 + ldc;
    std::fill(c0, c0 + np, T(0)); std::fill(c1, c1 + np, T(0));
    std::fill(c2, c2 + np, T(0)); std::fill(c3, c3 + np, T(0));
    const T* a = A + m * lda;
    for (int64_t k = 0; k < Kd; ++k) {
      const T a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k];
      const T* b = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < np; ++j) {
        c0[j] += a0 * b[j]; c1[j] += a1 * b[j]; c2[j] += a2 * b[j]; c3[j] += a3 * b[j];
      }
    }
  }
  for (; m < M; ++m) {
    T* c0 = C + m * ldc;
    std::fill(c0, c0 + np, T(0));
    for (int64_t k = 0; k < Kd; ++k) {
      const T a0 = A[m * lda + k];
      const T* b = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < np; ++j) c0[j] += a0 * b[j];
    }
  }
}

template <typename T>
void forward_im2col(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, rows = Cg * s.R * s.S;
  const int64_t tile = pixel_tile<T>(rows, P), ntiles = (P + tile - 1) / tile;
  const int64_t tasks = s.N * G * ntiles;
#pragma omp parallel
  {
    std::vector<T> col(rows * tile);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / (G * ntiles), g = t / ntiles % G, p0 = t % ntiles * tile;
      const int64_t np = std::min(tile, P - p0);
      im2col_tile(s, x + (n * s.C + g * Cg) * s.H * s.W, p0, np, col.data(), tile);
      T* yt = y + (n * s.K + g * Kg) * P + p0;
      gemm_nn(Kg, rows, np, w + g * Kg * rows, rows, col.data(), tile, yt, P);
      if (b) {
        for (int64_t k = 0; k < Kg; ++k) {
          const T bk = b[g * Kg + k];
#pragma omp simd
          for (int64_t j = 0; j < np; ++j) yt[k * P + j] += bk;
        }
      }
    }
  }
}

// Tasks are (image, input channel): each owns its slice of gx, so col2im never races.
template <typename T>
void backward_input_im2col(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S;
  const int64_t tile = pixel_tile<T>(RS + Kg, P);
  const int64_t tasks = s.N * s.C;
#pragma omp parallel
  {
    std::vector<T> col(RS * tile), wt(RS * Kg);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / s.C, c = t % s.C, g = c / Cg, cl = c % Cg;
      for (int64_t k = 0; k < Kg; ++k)  // wt = this channel's taps, transposed: RS x Kg
        for (int64_t rs = 0; rs < RS; ++rs) wt[rs * Kg + k] = w[((g * Kg + k) * Cg + cl) * RS + rs];
      T* gxc = gx + (n * s.C + c) * s.H * s.W;
      std::fill(gxc, gxc + s.H * s.W, T(0));
      const T* gyg = gy + (n * s.K + g * Kg) * P;
      for (int64_t p0 = 0; p0 < P; p0 += tile) {
        const int64_t np = std::min(tile, P - p0);
        gemm_nn(RS, Kg, np, wt.data(), Kg, gyg + p0, P, col.data(), tile);
        col2im_channel(s, col.data(), tile, p0, np, gxc);
      }
    }
  }
}

// Per-thread partial sums of gw, reduced at the end (no atomics, deterministic for a fixed thread count).
template <typename T>
void backward_weight_im2col(const ConvShape& s, const T* gy, const T* x, T* gw) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, rows = Cg * s.R * s.S;
  const int64_t tile = pixel_tile<T>(rows, P), ntiles = (P + tile - 1) / tile;
  const int64_t tasks = s.N * G * ntiles, len = s.K * rows;
  std::vector<T> partial;
#pragma omp parallel
  {
#pragma omp single
    partial.assign(size_t(omp_get_num_threads()) * size_t(len), T(0));
    T* mine = partial.data() + omp_get_thread_num() * len;
    std::vector<T> col(rows * tile);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / (G * ntiles), g = t / ntiles % G, p0 = t % ntiles * tile;
      const int64_t np = std::min(tile, P - p0);
      im2col_tile(s, x + (n * s.C + g * Cg) * s.H * s.W, p0, np, col.data(), tile);
      const T* gyt = gy + (n * s.K + g * Kg) * P + p0;
      for (int64_t k = 0; k < Kg; ++k) {
        T* gwk = mine + (g * Kg + k) * rows;
        const T* gyk = gyt + k * P;
        for (int64_t row = 0; row < rows; ++row) {
          const T* cr = col.data() + row * tile;
          T acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t j = 0; j < np; ++j) acc += gyk[j] * cr[j];
          gwk[row] += acc;
        }
      }
    }
    const int64_t threads = omp_get_num_threads();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < len; ++i) {
      T acc = 0;
      for (int64_t th = 0; th < threads; ++th) acc += partial[th * len + i];
      gw[i] = acc;
    }
  }
}

// ---------------------------------------------------------------- shared helpers of Gemm and Direct

// A run of tile pixels j .. j+len that lie in one output row (oh, columns ow ..) and one panel.
struct Seg {
  int64_t oh, ow, len, j;
};

// Splits pixels [p0, p0 + np) at output-row ends and at multiples of `panel` (in tile index j).
inline void make_segments(const ConvShape& s, int64_t p0, int64_t np, int64_t panel, std::vector<Seg>& segs) {
  segs.clear();
  int64_t j = 0;
  while (j < np) {
    const int64_t p = p0 + j, oh = p / s.OW, ow = p % s.OW;
    const int64_t len = std::min({s.OW - ow, np - j, panel - j % panel});
    segs.push_back({oh, ow, len, j});
    j += len;
  }
}

// The first and one-past-last t with 0 <= i0 + t*step < n, clipped to [0, len].
inline void valid_range(int64_t i0, int64_t step, int64_t n, int64_t len, int64_t& lo, int64_t& hi) {
  lo = i0 >= 0 ? 0 : ceil_div(-i0, step);
  hi = i0 >= n ? 0 : ceil_div(n - i0, step);
  lo = std::min(lo, len);
  hi = std::clamp(hi, lo, len);
}

// Gathers im2col row (r, q) of channel plane xc for the segments: pixel j goes to
// dst + (j / panel) * panel_stride + (j % panel) * pstride (a zero where the tap falls in the padding).
template <typename T>
void gather_row(const ConvShape& s, const T* xc, int64_t r, int64_t q, const std::vector<Seg>& segs, T* dst,
                int64_t panel, int64_t panel_stride, int64_t pstride) {
  for (const Seg& g : segs) {
    T* d = dst + (g.j / panel) * panel_stride + (g.j % panel) * pstride;
    const int64_t ih = g.oh * s.stride_h - s.pad_top + r * s.dil_h;
    int64_t lo = g.len, hi = g.len;
    const int64_t iw0 = g.ow * s.stride_w - s.pad_left + q * s.dil_w;
    if (ih >= 0 && ih < s.H) valid_range(iw0, s.stride_w, s.W, g.len, lo, hi);
    else lo = hi = 0;
    for (int64_t t = 0; t < lo; ++t) d[t * pstride] = T(0);
    const T* src = xc + ih * s.W + iw0;
    if (pstride == 1 && s.stride_w == 1) {
      if (hi > lo) std::memcpy(d + lo, src + lo, size_t(hi - lo) * sizeof(T));
    } else {
      for (int64_t t = lo; t < hi; ++t) d[t * pstride] = src[t * s.stride_w];
    }
    for (int64_t t = hi; t < g.len; ++t) d[t * pstride] = T(0);
  }
}

// The inverse of gather_row with pixel stride 1 and no panels: gxc[tap of pixel j] += src[j].
template <typename T>
void scatter_row(const ConvShape& s, T* gxc, int64_t r, int64_t q, const std::vector<Seg>& segs, const T* src) {
  for (const Seg& g : segs) {
    const int64_t ih = g.oh * s.stride_h - s.pad_top + r * s.dil_h;
    if (ih < 0 || ih >= s.H) continue;
    int64_t lo, hi;
    const int64_t iw0 = g.ow * s.stride_w - s.pad_left + q * s.dil_w;
    valid_range(iw0, s.stride_w, s.W, g.len, lo, hi);
    T* d = gxc + ih * s.W + iw0;
    const T* sj = src + g.j;
    if (s.stride_w == 1) {
#pragma omp simd
      for (int64_t t = lo; t < hi; ++t) d[t] += sj[t];
    } else {
      for (int64_t t = lo; t < hi; ++t) d[t * s.stride_w] += sj[t];
    }
  }
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

// ---------------------------------------------------------------- Gemm: implicit GEMM

// y tile = W_g (Kg x Cg*R*S) * columns (Cg*R*S x pixels). Tasks are (image, group, pixel tile, block of
// output channels): pixel tiles first, and output-channel blocks only when images x tiles cannot feed the
// threads (N = 1 with a small image). Per thread: one packed B tile of kc x NT.
template <typename T>
void forward_gemm(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S, rows = Cg * RS;
  const int64_t MR = kt.mr, NR = kt.nr, KC = kc_block(kt), Mp = round_up(Kg, MR);
  if (s.N == 0) return;
  T* Ap = workspace<T>(kPackedWeights, G * Mp * rows);
  for (int64_t g = 0; g < G; ++g) pack_a(w + g * Kg * rows, rows, 1, Kg, rows, KC, MR, Ap + g * Mp * rows);

  const int64_t threads = omp_get_max_threads();
  int64_t NT = std::min(round_up(P, NR), std::max(NR, (int64_t(256) * 1024 / int64_t(sizeof(T)) / KC) / NR * NR));
  while (s.N * G * ceil_div(P, NT) < 2 * threads && NT > NR) NT = round_up(NT / 2, NR);
  const int64_t ptiles = ceil_div(P, NT);
  int64_t mblocks = 1;
  if (s.N * G * ptiles < threads) mblocks = std::min(Mp / MR, ceil_div(threads, s.N * G * ptiles));
  const int64_t msize = round_up(ceil_div(Mp, mblocks), MR);
  mblocks = ceil_div(Mp, msize);
  const int64_t tasks = s.N * G * ptiles * mblocks;
  // A 1x1 layer (flattened: one output row per plane) has the channel planes themselves as columns.
  const bool plain = s.R == 1 && s.S == 1 && s.H == 1 && s.OH == 1 && s.OW == s.W && s.stride_w == 1 &&
                     s.pad_left == 0;
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Bp = workspace<T>(kTile, KC * round_up(NT, NR));
    thread_local std::vector<Seg> segs;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t mb = t % mblocks, pt = t / mblocks % ptiles, g = t / (mblocks * ptiles) % G;
      const int64_t n = t / (mblocks * ptiles * G);
      const int64_t p0 = pt * NT, np = std::min(NT, P - p0), m0 = mb * msize;
      const int64_t mlen = std::min(msize, Kg - m0);
      if (mlen <= 0) continue;
      make_segments(s, p0, np, NR, segs);
      const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
      T* yt = y + (n * s.K + g * Kg + m0) * P + p0;
      for (int64_t k0 = 0; k0 < rows; k0 += KC) {
        const int64_t kl = std::min(KC, rows - k0);
        if (plain) {
          kt.pack_panels(kl, np, xg + k0 * P + p0, P, Bp);
        } else {
          if (np % NR) std::fill(Bp + (np / NR) * kl * NR, Bp + (np / NR + 1) * kl * NR, T(0));
          for (int64_t kk = 0; kk < kl; ++kk) {
            const int64_t row = k0 + kk, c = row / RS, r = row % RS / s.S, q = row % s.S;
            gather_row(s, xg + c * s.H * s.W, r, q, segs, Bp + kk * NR, NR, kl * NR, 1);
          }
        }
        kt.gemm(mlen, np, kl, Ap + g * Mp * rows + k0 * Mp + (m0 / MR) * kl * MR, Bp, yt, P, k0 > 0);
      }
      if (b) {
        for (int64_t k = 0; k < mlen; ++k) {
          const T bk = b[g * Kg + m0 + k];
          T* yk = yt + k * P;
#pragma omp simd
          for (int64_t j = 0; j < np; ++j) yk[j] += bk;
        }
      }
    }
  }
}

// Backward-input for any stride: columns = W_g^T (Cg*R*S x Kg) * gy tile (Kg x pixels), then col2im.
// Tasks are (image, group, block of input channels) and own their slice of gx, so col2im never races;
// channel blocks appear only when images x groups cannot feed the threads. Per thread: a packed gy tile
// (kc x NT) and a column tile (block rows x NT, about 256 KiB).
template <typename T>
void backward_input_col2im(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S, rows = Cg * RS;
  const int64_t MR = kt.mr, NR = kt.nr, KC = kc_block(kt);
  if (s.N == 0) return;
  const int64_t threads = omp_get_max_threads();
  const int64_t cblocks = std::clamp<int64_t>(ceil_div(2 * threads, s.N * G), 1, Cg);
  const int64_t cb = ceil_div(Cg, cblocks), Mpb = round_up(cb * RS, MR);
  // W_g^T per channel block: A[m = (c, r, q)][k] = w[g*Kg + k][c0*RS + m].
  T* Ap = workspace<T>(kPackedWeights, G * cblocks * Mpb * Kg);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t bi = 0; bi < cblocks; ++bi) {
      const int64_t c0 = bi * cb, cl = std::max<int64_t>(0, std::min(cb, Cg - c0));
      pack_a(w + g * Kg * rows + c0 * RS, 1, rows, cl * RS, Kg, KC, MR, Ap + (g * cblocks + bi) * Mpb * Kg);
    }
  const int64_t NT = std::clamp(round_up(int64_t(64) * 1024 / std::max<int64_t>(cb * RS, 1), NR), NR,
                                round_up(P, NR));
  const int64_t tasks = s.N * G * cblocks;
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Bp = workspace<T>(kTile, std::min(KC, Kg) * NT);
    T* col = workspace<T>(kTile2, cb * RS * NT);
    thread_local std::vector<Seg> segs;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t bi = t % cblocks, g = t / cblocks % G, n = t / (cblocks * G);
      const int64_t c0 = bi * cb, cl = std::min(cb, Cg - c0);
      if (cl <= 0) continue;
      T* gxb = gx + (n * s.C + g * Cg + c0) * s.H * s.W;
      std::fill(gxb, gxb + cl * s.H * s.W, T(0));
      const T* gyg = gy + (n * s.K + g * Kg) * P;
      const T* Ab = Ap + (g * cblocks + bi) * Mpb * Kg;
      for (int64_t p0 = 0; p0 < P; p0 += NT) {
        const int64_t np = std::min(NT, P - p0);
        for (int64_t k0 = 0; k0 < Kg; k0 += KC) {
          const int64_t kl = std::min(KC, Kg - k0);
          kt.pack_panels(kl, np, gyg + k0 * P + p0, P, Bp);  // gy rows k0.. as NR-pixel panels
          kt.gemm(cl * RS, np, kl, Ab + k0 * Mpb, Bp, col, NT, k0 > 0);
        }
        make_segments(s, p0, np, NT, segs);
        for (int64_t m = 0; m < cl * RS; ++m)
          scatter_row(s, gxb + (m / RS) * s.H * s.W, m % RS / s.S, m % s.S, segs, col + m * NT);
      }
    }
  }
}

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

// Backward-weight as channels-last GEMMs. Per task (image, group, band of output rows) the input band is
// transposed to Xt[row][col][c] (zero-padded) and gy to Gt[pixel][k] (k padded to whole vectors). Then for each
// kernel row r, gw_r[(q, c)][k] = sum_pixels Xt[oh*sh + r*dh][ow*sw + q*dw][c] * Gt[oh][ow][k]: with
// dil_w = 1 the S*Cg values (q, c) of one pixel are contiguous in Xt, so the whole kernel row is one GEMM
// whose operands are read in place, the pixel loop innermost with the accumulators in registers. The
// transposes cost Cg*rows*Wp + OW*nb*Kp per band, 1/(R*S) of an im2col. Each thread sums into its own
// gw copy laid out [g][r][q][c][k]; the copies are added (and transposed) at the end: no atomics.
// Per thread: that copy (G*R*S*Cg*Kp) + the band tiles (bounded to about 1 MiB).
template <typename T>
void backward_weight_gemm(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S;
  const int64_t MR = kt.mr, Kp = round_up(Kg, kt.vl);  // gemm_rows takes columns in whole vectors
  const int64_t Wp = s.W + s.pad_left + s.pad_right, sh = s.stride_h, sw = s.stride_w;
  const int64_t plen = G * RS * Cg * Kp + s.K, len = s.K * Cg * RS;  // the gw copy, then gb's
  // Pixel stride of Xt: Cg, except that a 1x1 kernel (no (q, c) run to keep contiguous) gets one cache
  // line more when Cg*sizeof(T) is a multiple of 256 bytes, so successive pixels do not share L1 sets.
  const int64_t Cs = s.S == 1 && (Cg * int64_t(sizeof(T))) % 256 == 0 ? Cg + 64 / int64_t(sizeof(T)) : Cg;
  if (s.N == 0) {
    std::fill(gw, gw + len, T(0));
    if (gb) std::fill(gb, gb + s.K, T(0));
    return;
  }
  const int64_t threads = omp_get_max_threads();
  // Band height: whole images when the batch feeds the threads, and tiles of at most ~128K elements.
  int64_t nb = s.OH;
  if (s.N * G < 2 * threads) nb = ceil_div(s.OH, ceil_div(2 * threads, s.N * G));
  const int64_t cap = int64_t(128) * 1024;
  nb = std::max<int64_t>(1, std::min({nb, cap / std::max<int64_t>(1, sh * Wp * Cs), cap / (s.OW * Kp)}));
  const int64_t nbands = ceil_div(s.OH, nb), in_rows = (nb - 1) * sh + (s.R - 1) * s.dil_h + 1;
  const int64_t tasks = s.N * G * nbands;
  const int64_t chunk = std::max<int64_t>(1, 256 / s.OW);  // output rows per pass: B chunk stays in L1
  std::vector<T*> parts;
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* mine = workspace<T>(kPartial, plen);
    std::fill(mine, mine + plen, T(0));
#pragma omp single
    parts.assign(size_t(omp_get_num_threads()), nullptr);
    parts[size_t(omp_get_thread_num())] = mine;
    T* Xt = workspace<T>(kTile, in_rows * Wp * Cs + MR + s.S * Cs);
    T* Gt = workspace<T>(kTile2, nb * s.OW * Kp);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t bi = t % nbands, g = t / nbands % G, n = t / (nbands * G);
      const int64_t oh0 = bi * nb, rows = std::min(nb, s.OH - oh0);
      const int64_t used = (rows - 1) * sh + (s.R - 1) * s.dil_h + 1;
      const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
      std::fill(Xt, Xt + used * Wp * Cs + MR + s.S * Cs, T(0));
      for (int64_t lr = 0; lr < used; ++lr) {
        const int64_t ih = oh0 * sh + lr - s.pad_top;
        if (ih < 0 || ih >= s.H) continue;
        kt.transpose(Cg, s.W, xg + ih * s.W, s.H * s.W, Xt + (lr * Wp + s.pad_left) * Cs, Cs);
      }
      const T* gyg = gy + (n * s.K + g * Kg) * P + oh0 * s.OW;
      const int64_t np = rows * s.OW;
      kt.transpose(Kg, np, gyg, P, Gt, Kp);
      if (Kp > Kg)
        for (int64_t p = 0; p < np; ++p) std::fill(Gt + p * Kp + Kg, Gt + (p + 1) * Kp, T(0));
      for (int64_t k = 0; k < Kg; ++k) {
        const T* src = gyg + k * P;
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t p = 0; p < np; ++p) sum += src[p];
        mine[plen - s.K + g * Kg + k] += sum;
      }
      T* pg = mine + g * RS * Cg * Kp;
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t rl = std::min(chunk, rows - r0);
        for (int64_t r = 0; r < s.R; ++r) {
          const T* A = Xt + ((r0 * sh + r * s.dil_h) * Wp) * Cs;
          const T* B = Gt + r0 * s.OW * Kp;
          if (s.dil_w == 1) {
            kt.gemm_rows(s.S * Cg, Kp, rl, s.OW, A, sw * Cs, sh * Wp * Cs, B, Kp, s.OW * Kp,
                         pg + r * s.S * Cg * Kp, Kp);
          } else {
            for (int64_t q = 0; q < s.S; ++q)
              kt.gemm_rows(Cg, Kp, rl, s.OW, A + q * s.dil_w * Cs, sw * Cs, sh * Wp * Cs, B, Kp, s.OW * Kp,
                           pg + (r * s.S + q) * Cg * Kp, Kp);
          }
        }
      }
    }
    const int64_t nt = int64_t(parts.size());
#pragma omp for schedule(static)
    for (int64_t row = 0; row < G * RS * Cg; ++row) {  // row = (g*RS + rq)*Cg + c: Kp partial sums
      const int64_t c = row % Cg, rq = row / Cg % RS, g = row / (Cg * RS);
      T* out = gw + (g * Kg * Cg + c) * RS + rq;  // gw[((g*Kg + k)*Cg + c)*RS + rq]
      for (int64_t k = 0; k < Kg; ++k) {
        T acc = 0;
        for (int64_t th = 0; th < nt; ++th) acc += parts[size_t(th)][row * Kp + k];
        out[k * Cg * RS] = acc;
      }
    }
    if (gb) reduce_partials(parts, s.K, gb, plen - s.K);
  }
}

// ---------------------------------------------------------------- Direct

// Output-channel blocks of a group: sizes the direct microkernel is compiled for, largest first.
inline void k_blocks(int64_t Kg, std::vector<std::pair<int64_t, int64_t>>& blocks) {
  blocks.clear();
  static const int64_t sizes[] = {12, 8, 6, 4, 3, 2, 1};
  for (int64_t k0 = 0; k0 < Kg;) {
    int64_t kb = 1;
    for (int64_t z : sizes)
      if (z <= Kg - k0) { kb = z; break; }
    blocks.push_back({k0, kb});
    k0 += kb;
  }
}

// Geometry of the prepared input band shared by the direct passes (see kern::DirectArgs).
struct Band {
  int64_t nb, nbands, in_rows, Wq, row_stride, chan_stride;
  bool flat;      // rows stored back to back (in phase planes if strided): see make_band
  int64_t lead;   // flat, stride 1: zero columns before each channel's first row (its left padding)
  int64_t plane;  // flat, strided: elements per phase plane
  int64_t tap_off[64];
  std::vector<int64_t> row_off;
  std::vector<int64_t> phase_lo, phase_hi;  // per column phase pw, the entries u under the input (fill_band)
};

// The offsets of the taps and kernel rows into a prepared band, and the entries of each column phase that
// lie under the input.
inline void set_taps(const ConvShape& s, Band& b) {
  const bool unit = s.stride_h == 1 && s.stride_w == 1, phases = b.flat && !unit;
  for (int64_t q = 0; q < s.S; ++q) {
    const int64_t col = q * s.dil_w;
    b.tap_off[q] = b.flat && unit ? col - s.pad_left
                                  : col % s.stride_w * (phases ? b.plane : b.Wq) + col / s.stride_w;
  }
  const int64_t sw = s.stride_w, uend = phases ? b.Wq : ((s.OW - 1) * sw + (s.S - 1) * s.dil_w) / sw + 1;
  b.phase_lo.resize(size_t(sw));
  b.phase_hi.resize(size_t(sw));
  for (int64_t pw = 0; pw < sw; ++pw)  // u with 0 <= u*sw + pw - pad_left < W
    valid_range(pw - s.pad_left, sw, s.W, uend, b.phase_lo[size_t(pw)], b.phase_hi[size_t(pw)]);
  b.row_off.resize(size_t(s.R));
  for (int64_t r = 0; r < s.R; ++r) {
    const int64_t row = r * s.dil_h;
    b.row_off[size_t(r)] = phases ? row % s.stride_h * s.stride_w * b.plane + row / s.stride_h * b.Wq
                                  : row * b.row_stride;
  }
}

// flat_gain: how much more of its lanes a flat band must fill than rows padded to whole vectors, for the
// band to go flat (forward: +1%, as its outputs then take a copy, or ties where flat widens the blocks;
// backward-weight: ties too, as flat saves it a masked tail per row; 1, never, where the kernels work
// on several rows at once: kern::direct_rows_apply, kern::direct_bwdw_rows_apply).
template <typename T>
Band make_band(const ConvShape& s, const kern::Table<T>& kt, int64_t tasks_per_band, double flat_gain,
               int64_t elems_per_out_row = 0) {
  Band b{};
  const int64_t threads = omp_get_max_threads();
  // Slack past the last output: a block of max_nv vectors may run over OW, and tap offsets add to it.
  const int64_t nv = std::min<int64_t>(kt.max_nv, ceil_div(s.OW, kt.vl));
  b.Wq = s.OW + nv * kt.vl + (s.S - 1) * s.dil_w / s.stride_w + 1;
  // Flat: with stride 1 the input rows run back to back, Wp = W + gap apart, and output rows are computed
  // Wp wide (junk past OW), so vectors span row ends; better when OW is just past a vector multiple
  // (28 = 1.75 x 16 lanes). The gap of zeros between two rows is the right padding of one and the left
  // padding of the next, so it is max(pad_left, pad_right) wide, not their sum: a 3x3 "same" layer on
  // 28-wide rows computes 29 outputs per row, not 30.
  // With a stride the band is split into stride_h x stride_w phase planes (input row % stride_h, padded
  // column % stride_w), each a stride-1 image of rows Wp = ceil((pad_left + W + pad_right) / stride_w)
  // wide, so output rows again run back to back: 28 of 29 outputs per row are real for a 3x3 stride-2
  // layer on 56-wide rows, against 28 of 32 lanes row by row.
  const bool unit = s.stride_h == 1 && s.stride_w == 1;
  const int64_t gap = std::max<int64_t>({s.pad_left, s.pad_right, 0});
  const int64_t Wp = unit ? s.W + gap : ceil_div(s.pad_left + s.W + s.pad_right, s.stride_w);
  b.flat = Wp >= s.OW && double(s.OW) / double(Wp) >= double(s.OW) / double(round_up(s.OW, kt.vl)) + flat_gain;
  if (b.flat) {
    b.Wq = Wp;
    if (unit) b.lead = round_up(std::max<int64_t>(s.pad_left, 0), 16);
  }
  b.row_stride = s.stride_w * b.Wq;
  b.nbands = std::clamp<int64_t>(ceil_div(4 * threads, std::max<int64_t>(tasks_per_band, 1)), 1, s.OH);
  b.nb = ceil_div(s.OH, b.nbands);
  // The band is swept once per output-channel block: keep it within ~256 KiB so the sweeps hit L2
  // (a few halo rows more to copy is cheap next to C/g*K*R*S FMAs per input element).
  const int64_t fit_rows = int64_t(256) * 1024 / int64_t(sizeof(T)) / std::max<int64_t>(1, s.Cg() * b.row_stride);
  const int64_t fit_nb = (fit_rows - (s.R - 1) * s.dil_h - 1) / s.stride_h + 1;
  b.nb = std::max<int64_t>(1, std::min(b.nb, fit_nb));
  if (elems_per_out_row > 0)  // per-band copies of other operands (backward-weight: gy rows), <= 1 MiB
    b.nb = std::max<int64_t>(1, std::min(b.nb, int64_t(1024) * 1024 / int64_t(sizeof(T)) / elems_per_out_row));
  b.nbands = ceil_div(s.OH, b.nb);
  b.in_rows = (b.nb - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1;
  b.chan_stride = b.in_rows * b.row_stride;
  const int64_t overrun = int64_t(kt.max_nv) * kt.vl + (s.S - 1) * s.dil_w + 1;  // the last block's
  if (b.flat && unit) b.chan_stride += b.lead + overrun;
  if (b.flat && !unit) {
    b.plane = ceil_div(b.in_rows, s.stride_h) * b.Wq + overrun;
    b.chan_stride = s.stride_h * s.stride_w * b.plane;
  }
  set_taps(s, b);
  return b;
}

inline bool direct_supported(const ConvShape& s) { return s.S <= 64; }

// One thread's band buffer, zeroed once per call: the columns left and right of the input (padding)
// and the slack past them are never written by fill_band, so they stay zero across the tasks.
template <typename T>
T* band_buffer(const ConvShape& s, const Band& b) {
  const int64_t n = s.Cg() * b.chan_stride;
  T* buf = workspace<T>(kTile, n);
  std::fill(buf, buf + n, T(0));
  return buf;
}

// Writes the band's input columns: the ones under the input (copied) or, on rows in the top or bottom
// padding, zeros; the rest of a row is zero from band_buffer. Unit column stride (flat or row by row):
// input column iw of band row lr goes to column origin + iw, one 2-D copy per channel. Otherwise the band
// is stored row by row (column phases side by side, Wq apart) or in phase planes (see make_band): padded
// column u * stride_w + pw of band row lr goes to entry u of phase pw.
template <typename T>
void fill_band(const kern::Table<T>& kt, const ConvShape& s, const Band& b, const T* xg, int64_t oh0,
               int64_t nrows, T* buf) {
  const int64_t sh = s.stride_h, sw = s.stride_w, used = (nrows - 1) * sh + (s.R - 1) * s.dil_h + 1;
  const bool phases = b.plane > 0;
  const int64_t* lo = b.phase_lo.data();
  const int64_t* hi = b.phase_hi.data();
  const int64_t pl = s.pad_left;
  if (sw == 1 && !phases) {
    const int64_t origin = b.flat ? b.lead : pl, iw0 = b.flat ? 0 : lo[0] - pl, iw1 = b.flat ? s.W : hi[0] - pl;
    const int64_t top = oh0 * sh - s.pad_top, in0 = std::clamp<int64_t>(-top, 0, used);
    const int64_t in1 = std::clamp<int64_t>(s.H - top, in0, used);  // band rows [in0, in1) are input rows
    for (int64_t c = 0; c < s.Cg(); ++c) {
      T* dp = buf + c * b.chan_stride + origin + iw0;
      for (int64_t lr = 0; lr < used; ++lr)
        if (lr < in0 || lr >= in1) std::fill(dp + lr * b.row_stride, dp + lr * b.row_stride + (iw1 - iw0), T(0));
      kt.copy_rows(in1 - in0, iw1 - iw0, xg + (c * s.H + top + in0) * s.W + iw0, s.W, dp + in0 * b.row_stride,
                   b.row_stride, nullptr);
    }
    return;
  }
  const int64_t pstride = phases ? b.plane : b.Wq;  // from one column phase to the next
  const bool split2 = sw == 2 && pl >= 0;  // input column iw to entry (iw + pad_left) / 2
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t lr = 0; lr < used; ++lr) {
      const int64_t ih = oh0 * sh + lr - s.pad_top;
      T* row = buf + c * b.chan_stride + (phases ? lr % sh * sw * b.plane + lr / sh * b.Wq : lr * b.row_stride);
      if (ih < 0 || ih >= s.H) {
        for (int64_t pw = 0; pw < sw; ++pw) std::fill(row + pw * pstride + lo[pw], row + pw * pstride + hi[pw], T(0));
        continue;
      }
      const T* src = xg + (c * s.H + ih) * s.W;
      if (split2) {
        kt.deinterleave2(src, s.W, row + pl % 2 * pstride + pl / 2, row + (pl + 1) % 2 * pstride + (pl + 1) / 2);
        continue;
      }
      for (int64_t pw = 0; pw < sw; ++pw) {
        T* dp = row + pw * pstride;
        const T* sp = src + pw - pl;
        for (int64_t u = lo[pw]; u < hi[pw]; ++u) dp[u] = sp[u * sw];
      }
    }
}

// Fills the band of image n, group g, output rows [oh0, oh0 + nrows), and returns the kernel arguments
// that describe it; each pass sets the rest.
template <typename T>
kern::DirectArgs<T> load_band(const kern::Table<T>& kt, const ConvShape& s, const Band& band, const T* x,
                              int64_t n, int64_t g, int64_t oh0, int64_t nrows, T* buf) {
  const T* xg = x + (n * s.C + g * s.Cg()) * s.H * s.W;
  fill_band(kt, s, band, xg, oh0, nrows, buf);
  kern::DirectArgs<T> a{};
  a.in = buf + band.lead; a.Cg = s.Cg(); a.chan_stride = band.chan_stride; a.row_stride = band.row_stride;
  a.R = s.R; a.S = s.S; a.dil_h = s.dil_h; a.stride_h = s.stride_h; a.tap_off = band.tap_off;
  a.row_off = band.row_off.data();
  a.row_lo = std::max<int64_t>(0, s.pad_top - oh0 * s.stride_h);  // band row lr holds input row
  a.row_hi = s.pad_top - oh0 * s.stride_h + s.H;                   // oh0*stride_h + lr - pad_top
  return a;
}

// Tasks are (image, group, band of output rows); bands appear only when images x groups cannot feed
// the threads, so N = 1 still splits over rows. Per thread: one prepared band, Cg x in_rows x sw*Wq.
template <typename T>
void forward_direct(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, P = s.OH * s.OW;
  if (s.N == 0) return;
  std::vector<std::pair<int64_t, int64_t>> blocks;
  k_blocks(Kg, blocks);
  T* wp = workspace<T>(kPackedWeights, s.K * CRS);  // per block: [c][r][q][k in block]
  for (int64_t g = 0; g < G; ++g)
    for (auto [k0, kb] : blocks)
      for (int64_t i = 0; i < CRS; ++i)
        for (int64_t t = 0; t < kb; ++t) wp[(g * Kg + k0) * CRS + i * kb + t] = w[(g * Kg + k0 + t) * CRS + i];
  // One output channel a group: a flat band also lets the blocks grow past a short row (to max_nv vectors).
  const bool widen = Kg == 1 && ceil_div(s.OW, kt.vl) < kt.max_nv;
  const bool rows = Kg == 1 && kern::direct_rows_apply(s.R, s.stride_h, s.dil_h);  // never flat then
  Band band = make_band(s, kt, s.N * G, rows ? 1.0 : widen ? 0.0 : 0.01);
  const int64_t tasks = s.N * G * band.nbands, V = band.nb * band.Wq;
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* buf = band_buffer<T>(s, band);
    T* tmp = band.flat ? workspace<T>(kTile2, 12 * V) : nullptr;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t bi = t % band.nbands, g = t / band.nbands % G, n = t / (band.nbands * G);
      const int64_t oh0 = bi * band.nb, nrows = std::min(band.nb, s.OH - oh0);
      const kern::DirectArgs<T> banded = load_band(kt, s, band, x, n, g, oh0, nrows, buf);
      for (auto [k0, kb] : blocks) {
        kern::DirectArgs<T> a = banded;
        a.nrows = nrows; a.OW = s.OW; a.kb = kb;
        a.wp = wp + (g * Kg + k0) * CRS;
        a.bias = b ? b + g * Kg + k0 : nullptr;
        a.out = y + (n * s.K + g * Kg + k0) * P + oh0 * s.OW;
        a.out_kstride = P;
        if (band.flat) {  // one virtual row of nrows * Wp outputs into tmp, then the valid OW of each row
          a.nrows = 1;
          a.OW = nrows * band.Wq;
          a.row_lo = 0;  // a virtual row runs across band rows: no row is skipped
          a.row_hi = band.in_rows;
          a.out = tmp;
          a.out_kstride = V;
          kt.direct_forward(a);
          T* yk = y + (n * s.K + g * Kg + k0) * P + oh0 * s.OW;
          for (int64_t k = 0; k < kb; ++k) kt.copy_rows(nrows, s.OW, tmp + k * V, band.Wq, yk + k * P, s.OW, nullptr);
        } else {
          kt.direct_forward(a);
        }
      }
    }
  }
}

// Same tasks as forward_direct; each thread sums into its own gw copy (K x Cg*R*S), added at the end. A
// flat band (see make_band) makes the band one long row here too: gy is copied to rows Wq apart with zeros
// under the junk columns, so the kernel's sums over a row run through whole vectors (28-wide depthwise
// rows: 51 vectors per plane instead of 28 full ones and 28 masked tails).
template <typename T>
void backward_weight_direct(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, P = s.OH * s.OW;
  const int64_t len = s.K * CRS, OWp = round_up(s.OW, kt.vl);  // partials: gw, then gb (K more)
  const bool rows = kern::direct_bwdw_rows_apply(s.R, s.S, s.stride_h, s.dil_h, Kg);  // never flat then
  Band band = make_band(s, kt, s.N * G, rows ? 1.0 : 0.0, Kg * (OWp + s.S * s.dil_w));
  // gy of one band row by row (OWp apart) or, flat, as one row (Wq apart), zero past the valid columns
  const int64_t grow = band.flat ? band.Wq : OWp, gstride = round_up(band.nb * grow, kt.vl);
  const int64_t tasks = s.N * G * band.nbands;
  std::vector<T*> parts;
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* mine = workspace<T>(kPartial, len + s.K);
    std::fill(mine, mine + len + s.K, T(0));
#pragma omp single
    parts.assign(size_t(omp_get_num_threads()), nullptr);
    parts[size_t(omp_get_thread_num())] = mine;
    T* buf = band_buffer<T>(s, band);
    T* gpad = workspace<T>(kTile2, Kg * gstride);
    std::fill(gpad, gpad + Kg * gstride, T(0));  // the columns past OW stay zero: copy_rows skips them
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t bi = t % band.nbands, g = t / band.nbands % G, n = t / (band.nbands * G);
      const int64_t oh0 = bi * band.nb, nrows = std::min(band.nb, s.OH - oh0);
      kern::DirectArgs<T> a = load_band(kt, s, band, x, n, g, oh0, nrows, buf);
      a.nrows = band.flat ? 1 : nrows;
      a.OW = band.flat ? nrows * grow : s.OW;
      a.kb = Kg;
      const T* gyb = gy + (n * s.K + g * Kg) * P + oh0 * s.OW;
      for (int64_t k = 0; k < Kg; ++k) {
        T* d = gpad + k * gstride;
        kt.copy_rows(nrows, s.OW, gyb + k * P, s.OW, d, grow, mine + len + g * Kg + k);
        if (band.flat)  // a shorter last band: clear what a longer one left in its last vector
          for (int64_t j = nrows * grow; j < round_up(nrows * grow, kt.vl); ++j) d[j] = T(0);
      }
      a.gy = gpad;
      a.gy_kstride = gstride;
      a.gy_row = grow;
      a.gw = mine + g * Kg * CRS;
      kt.direct_backward_weight(a);
    }
    reduce_partials(parts, len, gw);
    if (gb) reduce_partials(parts, s.K, gb, len);
  }
}

}  // namespace

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

// ---------------------------------------------------------------- the dispatcher
//
// Forward: the direct kernel wherever it keeps its vectors full: few input or output channels per group
// (the first layer of a net, depthwise: im2col columns too short to amortize their gather, a GEMM tile
// mostly padding), and any layer with a real window (R*S > 1) on rows at least 6 wide, because it
// accumulates the whole C/g*R*S reduction in registers and reads shifted input rows instead of packing
// columns (measured on AVX-512: 1.2-2.5x the GEMM at widths 6-14, e.g. LeNet's 10x10 and ResNet's 7x7;
// the GEMM wins at 4-5). 1x1 layers and tiny images run the implicit GEMM, which flattens all pixels.
// Backward-input with stride 1 is a forward convolution of gy (see flipped_shape) and follows the same
// rule for that shape; with a larger stride it is a GEMM plus col2im, and so it is for one input channel
// per group and K/g >= 16 (col2im_pays): the flipped direct kernel would then have one output channel,
// one FMA per input load, while the GEMM contracts over K/g (measured at 2 threads: 0.61x the direct
// time on brain_c1 in float32, 0.54x in float64, 0.7-0.8x at K = 16-64; 1.2x at K = 8, and 1.1-1.8x for
// 3-8 channels). Backward-weight runs the channels-last GEMM (backward_weight_gemm) when its tile is
// mostly real work, S*C/g >= 12 rows (one AVX-512 micro-tile) and K/g >= 16 columns, and the direct
// kernel otherwise (C = 1 layers, depthwise).
constexpr int64_t kDirectMinWidth = 6, kBwdWeightMinRows = 12, kBwdWeightMinCols = 16, kCol2imMinK = 16;

inline bool col2im_pays(const ConvShape& s) { return s.Cg() == 1 && s.Kg() >= kCol2imMinK; }

Algo choose(const ConvShape& shape, Pass pass) {
  const ConvShape s = flatten_pointwise(shape);
  if (pass == Pass::BackwardInput && (s.stride_h > 1 || s.stride_w > 1 || col2im_pays(s))) return Algo::Gemm;
  const ConvShape f = pass == Pass::BackwardInput ? flipped_shape(s) : s;
  if (!direct_supported(f)) return Algo::Gemm;
  const bool few_channels = f.Cg() <= 4 || f.Kg() <= 4;
  if (pass == Pass::BackwardWeight)  // the channels-last GEMM tile: S*C/g rows by K/g columns
    return f.S * f.Cg() >= kBwdWeightMinRows && f.Kg() >= kBwdWeightMinCols ? Algo::Gemm : Algo::Direct;
  return few_channels || (f.R * f.S > 1 && f.OW >= kDirectMinWidth) ? Algo::Direct : Algo::Gemm;
}

Algo resolve(const ConvShape& s, Pass pass, Algo algo) {
  if (algo == Algo::Auto) return choose(s, pass);
  if (algo == Algo::Direct) {
    if (pass == Pass::BackwardInput && (s.stride_h > 1 || s.stride_w > 1)) return Algo::Gemm;
    if (!direct_supported(pass == Pass::BackwardInput ? flipped_shape(s) : s)) return Algo::Gemm;
  }
  return algo;
}

const char* algo_name(Algo a) {
  switch (a) {
    case Algo::Simple: return "simple";
    case Algo::Im2col: return "im2col";
    case Algo::Gemm: return "gemm";
    case Algo::Direct: return "direct";
    default: return "auto";
  }
}

template <typename T>
void forward(const ConvShape& shape, const T* x, const T* w, const T* b, T* y, Algo algo) {
  const ConvShape s = flatten_pointwise(shape);
  switch (resolve(s, Pass::Forward, algo)) {
    case Algo::Simple: return forward_simple(s, x, w, b, y);
    case Algo::Im2col: return forward_im2col(s, x, w, b, y);
    case Algo::Direct: return forward_direct(s, x, w, b, y);
    default: return forward_gemm(s, x, w, b, y);
  }
}

template <typename T>
void backward_input(const ConvShape& shape, const T* gy, const T* w, T* gx, Algo algo) {
  const ConvShape s = flatten_pointwise(shape);
  const Algo a = resolve(s, Pass::BackwardInput, algo);
  if (a == Algo::Simple) return backward_input_simple(s, gy, w, gx);
  if (a == Algo::Im2col) return backward_input_im2col(s, gy, w, gx);
  if (s.stride_h > 1 || s.stride_w > 1 || (a == Algo::Gemm && col2im_pays(s)))
    return backward_input_col2im(s, gy, w, gx);
  const ConvShape f = flipped_shape(s);
  const T* wf = flipped_weights(s, w);
  if (a == Algo::Direct) forward_direct(f, gy, wf, static_cast<const T*>(nullptr), gx);
  else forward_gemm(f, gy, wf, static_cast<const T*>(nullptr), gx);
}

// Direct and Gemm sum gb while they copy gy into their tiles (one pass over gy instead of two: for a
// C = 1 layer, whose gy is far larger than x, that pass was a quarter of the backward); Simple and Im2col
// stay the plain loops and call backward_bias.
template <typename T>
void backward_weight(const ConvShape& shape, const T* gy, const T* x, T* gw, T* gb, Algo algo) {
  const ConvShape s = flatten_pointwise(shape);
  switch (resolve(s, Pass::BackwardWeight, algo)) {
    case Algo::Simple: backward_weight_simple(s, gy, x, gw); break;
    case Algo::Im2col: backward_weight_im2col(s, gy, x, gw); break;
    case Algo::Direct: return backward_weight_direct(s, gy, x, gw, gb);
    default: return backward_weight_gemm(s, gy, x, gw, gb);
  }
  if (gb) backward_bias(s, gy, gb);
}

template <typename T>
void backward_bias(const ConvShape& s, const T* gy, T* gb) {
  const int64_t P = s.OH * s.OW;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < s.K; ++k) {
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
  template void backward_bias<T>(const ConvShape&, const T*, T*);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::conv
