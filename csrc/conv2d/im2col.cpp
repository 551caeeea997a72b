// conv2d's Im2col algorithm, the portable twin of Gemm (forced, or by Auto for a backward-weight whose
// padded rows the channels-last GEMM cannot hold within the scratch bound, see dispatch.cpp): the output
// pixels of one image and group are split into tiles sized so a tile's column matrix (C/g*R*S x tile)
// stays in L2; each task gathers its tile and runs a small GEMM whose inner loop runs along the pixels, so
// the compiler vectorizes it. Workspaces are per thread and bounded by a tile.
#include "conv2d/internal.h"

#include <algorithm>
#include <vector>

namespace strided::conv {
namespace {

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

}  // namespace

template <typename T>
void forward_im2col(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, rows = Cg * s.R * s.S;
  const int64_t tile = pixel_tile<T>(rows, P), ntiles = (P + tile - 1) / tile;
  const int64_t tasks = s.N * G * ntiles;
  reserve<T>({{kTile, rows * tile}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* col = workspace<T>(kTile, rows * tile);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / (G * ntiles), g = t / ntiles % G, p0 = t % ntiles * tile;
      const int64_t np = std::min(tile, P - p0);
      im2col_tile(s, x + (n * s.C + g * Cg) * s.H * s.W, p0, np, col, tile);
      T* yt = y + (n * s.K + g * Kg) * P + p0;
      gemm_nn(Kg, rows, np, w + g * Kg * rows, rows, col, tile, yt, P);
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
  reserve<T>({{kTile, RS * tile}, {kTile2, RS * Kg}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* col = workspace<T>(kTile, RS * tile);
    T* wt = workspace<T>(kTile2, RS * Kg);
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
        gemm_nn(RS, Kg, np, wt, Kg, gyg + p0, P, col, tile);
        col2im_channel(s, col, tile, p0, np, gxc);
      }
    }
  }
}

// Partial sums of gw per run of tasks (chunked_sums), reduced at the end: no atomics, and the same bits
// for any thread count.
template <typename T>
void backward_weight_im2col(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, rows = Cg * s.R * s.S;
  const int64_t tile = pixel_tile<T>(rows, P), ntiles = (P + tile - 1) / tile;
  const int64_t tasks = s.N * G * ntiles, len = s.K * rows;
  const Partials<T> parts = chunk_partials<T>(tasks, len);
  reserve<T>({{kTile, rows * tile}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* col = workspace<T>(kTile, rows * tile);
    chunked_sums<T>(tasks, parts, [&](int64_t t, T* mine) {
      const int64_t n = t / (G * ntiles), g = t / ntiles % G, p0 = t % ntiles * tile;
      const int64_t np = std::min(tile, P - p0);
      im2col_tile(s, x + (n * s.C + g * Cg) * s.H * s.W, p0, np, col, tile);
      const T* gyt = gy + (n * s.K + g * Kg) * P + p0;
      for (int64_t k = 0; k < Kg; ++k) {
        T* gwk = mine + (g * Kg + k) * rows;
        const T* gyk = gyt + k * P;
        for (int64_t row = 0; row < rows; ++row) {
          const T* cr = col + row * tile;
          T acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t j = 0; j < np; ++j) acc += gyk[j] * cr[j];
          gwk[row] += acc;
        }
      }
    });
    reduce_partials(parts, len, gw);
  }
  if (gb) backward_bias(s, gy, gb);
}

STRIDED_CONV_INSTANTIATE(im2col, float)
STRIDED_CONV_INSTANTIATE(im2col, double)

}  // namespace strided::conv
