// The generic microkernels, written once with GCC vector extensions and compiled once per ISA:
// kernels_<isa>.cpp defines the vector width and register budget, then includes this file, whose
// per-file compile flags (-mavx512f... / -mavx2 -mfma / none) decide the instructions.
//
// Expected macros: STRIDED_VBYTES (vector bytes), STRIDED_MR (GEMM rows per micro-tile),
// STRIDED_ACC (accumulator registers the direct kernel may use), STRIDED_ISA_NAME (string),
// STRIDED_TABLE_F32 / STRIDED_TABLE_F64 (the names of the two table functions to define).
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // pool_rows.h: max pooling's mask compares (AVX-512); stream_copy's stores
#endif

#include <algorithm>
#include <cstring>
#include <iterator>  // std::size
#include <type_traits>
#include <utility>

#include "kernels.h"

namespace strided::kern {
namespace {

template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float V __attribute__((vector_size(STRIDED_VBYTES)));
  typedef int32_t I __attribute__((vector_size(STRIDED_VBYTES)));
};
template <>
struct VecOf<double> {
  typedef double V __attribute__((vector_size(STRIDED_VBYTES)));
  typedef int64_t I __attribute__((vector_size(STRIDED_VBYTES)));
};

template <typename T>
using V = typename VecOf<T>::V;
template <typename T>
constexpr int VL = STRIDED_VBYTES / sizeof(T);

// Unaligned loads and stores (memcpy of a constant size compiles to one vector move).
template <typename T>
inline V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void store(T* p, V<T> v) { std::memcpy(p, &v, sizeof(v)); }
// s - 0 (not 0 + s, which is not an identity for s = -0) folds away, leaving one broadcast.
template <typename T>
inline V<T> bcast(T s) { return s - V<T>{}; }
template <typename T>
inline T hsum(V<T> v) {
  T s = 0;
  for (int i = 0; i < VL<T>; ++i) s += v[i];
  return s;
}
// v with lanes >= n zeroed (a select, so a NaN or Inf in a dropped lane cannot leak through 0 * x).
template <typename T>
inline V<T> keep_first(V<T> v, int n) {
  typename VecOf<T>::I lane;
  for (int i = 0; i < VL<T>; ++i) lane[i] = i;
  return lane < n ? v : V<T>{};
}

// ---------------------------------------------------------------- GEMM micro-tile
// MR x (NV vectors) accumulators live in registers for the whole kc loop: per k, NV vector loads of B
// and MR broadcasts of A feed MR*NV FMAs, so the loop is bound by FMA throughput, not by loads.
constexpr int MR = STRIDED_MR;
constexpr int NV = 2;

// MT <= MR rows and NT <= NV vectors are computed (the panels keep their MR / NR strides): the short
// last rows of M (K = 64 = 5*12 + 4) and a last pixel panel of <= one vector (196 = 6*32 + 4) run a
// smaller tile instead of wasting most of a full one.
template <typename T, int MT = MR, int NT = NV>
void micro_tile(int64_t kc, const T* A, const T* B, T* C, int64_t ldc, bool accumulate, int mvalid,
                int nvalid) {
  constexpr int L = VL<T>, NR = NV * L;
  V<T> c[MT][NT];
#pragma GCC unroll 32
  for (int i = 0; i < MT; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) c[i][v] = V<T>{};
  for (int64_t k = 0; k < kc; ++k) {
    V<T> b[NT];
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) b[v] = load(B + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MT; ++i) {
      const V<T> a = bcast(A[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) c[i][v] += a * b[v];
    }
    A += MR;
    B += NR;
  }
  if (mvalid == MT && nvalid == NT * L) {
#pragma GCC unroll 32
    for (int i = 0; i < MT; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) {
        T* p = C + i * ldc + v * L;
        store(p, accumulate ? c[i][v] + load(p) : c[i][v]);
      }
    return;
  }
  alignas(64) T tmp[MT][NT * L];
  for (int i = 0; i < MT; ++i)
    for (int v = 0; v < NT; ++v) store(&tmp[i][v * L], c[i][v]);
  for (int i = 0; i < mvalid; ++i)
    for (int j = 0; j < nvalid; ++j) C[i * ldc + j] = accumulate ? C[i * ldc + j] + tmp[i][j] : tmp[i][j];
}

template <typename T, int NT>
inline void micro_rows(int64_t kc, const T* A, const T* B, T* C, int64_t ldc, bool accumulate, int mv, int nv) {
  if (mv > 2 * MR / 3) micro_tile<T, MR, NT>(kc, A, B, C, ldc, accumulate, mv, nv);
  else if (mv > MR / 3) micro_tile<T, 2 * MR / 3, NT>(kc, A, B, C, ldc, accumulate, mv, nv);
  else micro_tile<T, MR / 3, NT>(kc, A, B, C, ldc, accumulate, mv, nv);
}

// B micro-panel (kc x NR) outer, A panels inner: the B panel stays in L1 while A streams from L2.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t kc, const T* Ap, const T* Bp, T* C, int64_t ldc, bool accumulate) {
  constexpr int NR = NV * VL<T>;
  for (int64_t j = 0; j < N; j += NR) {
    const T* B = Bp + (j / NR) * kc * NR;
    const int nv = int(N - j < NR ? N - j : NR);
    for (int64_t i = 0; i < M; i += MR) {
      const int mv = int(M - i < MR ? M - i : MR);
      const T* A = Ap + (i / MR) * kc * MR;
      if (nv > VL<T>) micro_rows<T, NV>(kc, A, B, C + i * ldc + j, ldc, accumulate, mv, nv);
      else micro_rows<T, 1>(kc, A, B, C + i * ldc + j, ldc, accumulate, mv, nv);
    }
  }
}

// Vector moves for the whole panels, element copies and zeros for a last partial one: a memcpy call per
// 32-element panel row was most of the packing time of a 1x1 layer.
template <typename T>
void pack_panels(int64_t kc, int64_t n, const T* src, int64_t ld, T* dst) {
  constexpr int L = VL<T>, NR = NV * L;
  for (int64_t j0 = 0; j0 < n; j0 += NR, dst += kc * NR) {
    const int64_t m = n - j0 < NR ? n - j0 : NR;
    for (int64_t k = 0; k < kc; ++k) {
      const T* s = src + k * ld + j0;
      T* d = dst + k * NR;
      if (m == NR) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) store(d + v * L, load(s + v * L));
      } else {
        for (int64_t j = 0; j < m; ++j) d[j] = s[j];
        for (int64_t j = m; j < NR; ++j) d[j] = T(0);
      }
    }
  }
}

// C[i][j] += sum_{row < rows, t < len} A[row*a_row + t*a_step + i] * B[row*b_row + t*b_step + j] for
// i < M (A may be read up to MR-1 elements past row M-1), j < N (a multiple of VL). The backward-weight
// GEMM over channels-last tiles: the contraction runs over the pixels of several output rows while the
// accumulators stay in registers, and A, B are read in place (no packing: their layout already puts
// MR consecutive channels / NR consecutive output channels at each pixel).
// NT <= NV vectors of columns: a last column block of one vector (K/g = 16, 48) runs a narrower tile
// instead of doubling its work with padding.
template <typename T, int NT>
void gemm_rows_tile(int64_t rows, int64_t len, const T* A, int64_t a_step, int64_t a_row, const T* B,
                    int64_t b_step, int64_t b_row, T* C, int64_t ldc, int mvalid) {
  constexpr int L = VL<T>;
  V<T> c[MR][NT];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) c[i][v] = V<T>{};
  for (int64_t row = 0; row < rows; ++row) {
    const T* a = A + row * a_row;
    const T* b = B + row * b_row;
    for (int64_t t = 0; t < len; ++t) {
      V<T> bv[NT];
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) bv[v] = load(b + v * L);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const V<T> av = bcast(a[i]);
#pragma GCC unroll 4
        for (int v = 0; v < NT; ++v) c[i][v] += av * bv[v];
      }
      a += a_step;
      b += b_step;
    }
  }
  for (int i = 0; i < mvalid; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) {
      T* p = C + i * ldc + v * L;
      store(p, c[i][v] + load(p));
    }
}

template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t rows, int64_t len, const T* A, int64_t a_step, int64_t a_row,
               const T* B, int64_t b_step, int64_t b_row, T* C, int64_t ldc) {
  static_assert(NV == 2, "the column blocks below are NV and one vector wide");
  constexpr int NR = NV * VL<T>;
  for (int64_t j = 0; j < N; j += NR)
    for (int64_t i = 0; i < M; i += MR) {
      const int mvalid = int(M - i < MR ? M - i : MR);
      if (N - j >= NR)
        gemm_rows_tile<T, NV>(rows, len, A + i, a_step, a_row, B + j, b_step, b_row, C + i * ldc + j, ldc, mvalid);
      else
        gemm_rows_tile<T, 1>(rows, len, A + i, a_step, a_row, B + j, b_step, b_row, C + i * ldc + j, ldc, mvalid);
    }
}

// ---------------------------------------------------------------- transpose
// A VL x VL block transposed in registers: log2(VL) stages, each swapping the off-diagonal h x h blocks
// of every pair of rows h apart with two-source shuffles. A scalar transpose stores one element per
// instruction, strided: it was a third of backward-weight for a 1x1 layer.
template <typename T, int h>
inline void swap_blocks(V<T>& a, V<T>& b) {
  typedef typename VecOf<T>::I I;
  I lo, hi;  // lane i of the new a: a[i] or b[i - h]; of the new b: a[i + h] or b[i]
  for (int i = 0; i < VL<T>; ++i) {
    lo[i] = i & h ? VL<T> + i - h : i;
    hi[i] = i & h ? VL<T> + i : i + h;
  }
  const V<T> na = __builtin_shuffle(a, b, lo);
  b = __builtin_shuffle(a, b, hi);
  a = na;
}

template <typename T, int h = VL<T> / 2>
inline void transpose_block(V<T>* v) {
#pragma GCC unroll 16
  for (int a = 0; a < VL<T>; ++a)
    if (!(a & h)) swap_blocks<T, h>(v[a], v[a + h]);
  if constexpr (h > 1) transpose_block<T, h / 2>(v);
}

template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd) {
  constexpr int L = VL<T>;
  int64_t i = 0;
  for (; i + L <= rows; i += L) {
    int64_t j = 0;
    for (; j + L <= cols; j += L) {
      V<T> v[L];
#pragma GCC unroll 16
      for (int a = 0; a < L; ++a) v[a] = load(src + (i + a) * lds + j);
      transpose_block<T>(v);
#pragma GCC unroll 16
      for (int b = 0; b < L; ++b) store(dst + (j + b) * ldd + i, v[b]);
    }
    for (; j < cols; ++j)
      for (int a = 0; a < L; ++a) dst[j * ldd + i + a] = src[(i + a) * lds + j];
  }
  for (; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// Two vectors of the row give one of each phase (constant shuffles); a scalar strided copy was most of
// the band preparation of a stride-2 layer.
template <typename T>
void deinterleave2(const T* src, int64_t n, T* even, T* odd) {
  constexpr int L = VL<T>;
  typename VecOf<T>::I ev, od;
  for (int i = 0; i < L; ++i) {
    ev[i] = 2 * i;
    od[i] = 2 * i + 1;
  }
  int64_t m = 0;
  for (; 2 * m + 2 * L <= n; m += L) {
    const V<T> a = load(src + 2 * m), b = load(src + 2 * m + L);
    store(even + m, __builtin_shuffle(a, b, ev));
    store(odd + m, __builtin_shuffle(a, b, od));
  }
  for (; 2 * m < n; ++m) {
    even[m] = src[2 * m];
    if (2 * m + 1 < n) odd[m] = src[2 * m + 1];
  }
}

// Rows of at least one vector end on a vector that overlaps the one before it (a copy may write an
// element twice), so a 28-wide row is two moves; the baseline build's loops (scalar tails, a horizontal
// sum and a memset call per row) were 30% of a depthwise forward pass and 20% of LeNet's first
// backward-weight.
template <typename T>
void copy_rows(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd, T* sum) {
  constexpr int L = VL<T>;
  typename VecOf<T>::I lane;
  for (int i = 0; i < L; ++i) lane[i] = i;
  const int64_t last = cols - L;  // the last vector's lanes below L - cols % L were summed already
  const auto fresh = lane >= int(cols % L ? L - cols % L : 0);
  V<T> acc{}, tail{};
  T s = 0;
  for (int64_t i = 0; i < rows; ++i, src += lds, dst += ldd) {
    if (cols < L) {
      for (int64_t j = 0; j < cols; ++j) s += dst[j] = src[j];
      continue;
    }
    for (int64_t j = 0; j < last; j += L) {
      const V<T> v = load(src + j);
      store(dst + j, v);
      acc += v;
    }
    const V<T> v = load(src + last);
    store(dst + last, v);
    tail += fresh ? v : V<T>{};
  }
  if (sum) *sum += s + hsum<T>(acc + tail);
}

// ---------------------------------------------------------------- direct convolution
constexpr int kDirectMaxNV = 8;  // widest direct-forward block, in vectors (Table::max_nv)

// Stores NVD vectors of output row oh from column ow0 (of a block ending by ow_hi) into the plane at out. A
// block past the row's end stores whole vectors too while they end inside the call's rows: the lanes past
// the row fall on the next row's first columns, which its blocks overwrite later.
template <typename T, int NVD>
inline void store_block(const DirectArgs<T>& a, const V<T>* acc, T* out, int64_t oh, int64_t ow0, int64_t ow_hi) {
  constexpr int L = VL<T>, W = NVD * L;
  out += oh * a.OW + ow0;
  if (ow0 + W <= ow_hi || (ow_hi == a.OW && oh * a.OW + ow0 + W <= a.nrows * a.OW)) {
#pragma GCC unroll 8
    for (int v = 0; v < NVD; ++v) store(out + v * L, acc[v]);
  } else {
    alignas(64) T tmp[W];
    for (int v = 0; v < NVD; ++v) store(tmp + v * L, acc[v]);
    for (int64_t j = 0; j < ow_hi - ow0; ++j) out[j] = tmp[j];
  }
}
// For few input channels (C = 1, 3) or depthwise groups an im2col column has too few rows to amortize
// its gather. Instead each output vector (VL consecutive ow) accumulates in registers for KB output
// channels at once: per tap, NVD input vectors are loaded once and reused by KB broadcast weights.
// Output columns [ow_lo, ow_hi) of row oh, in blocks of NVD vectors.
template <typename T, int KB, int NVD>
void direct_forward_block(const DirectArgs<T>& a, int64_t oh, int64_t ow_lo, int64_t ow_hi) {
  constexpr int L = VL<T>, W = NVD * L;
  // Kernel rows [r0, r1) read input rows; the others fall in zero padding and contribute nothing
  // (backward-input runs this on gy padded by R-1: for LeNet's conv2 that skips 2 taps in 7).
  const int64_t top = oh * a.stride_h;
  int64_t r0 = 0, r1 = a.R;
  while (r0 < r1 && top + r0 * a.dil_h < a.row_lo) ++r0;
  while (r1 > r0 && top + (r1 - 1) * a.dil_h >= a.row_hi) --r1;
  for (int64_t ow0 = ow_lo; ow0 < ow_hi; ow0 += W) {
    V<T> acc[KB][NVD];
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k) {
      const V<T> b0 = bcast(a.bias ? a.bias[k] : T(0));
#pragma GCC unroll 8
      for (int v = 0; v < NVD; ++v) acc[k][v] = b0;
    }
    for (int64_t c = 0; c < a.Cg; ++c) {
      const T* wk = a.wp + (c * a.R + r0) * a.S * KB;
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = a.in + c * a.chan_stride + top * a.row_stride + a.row_off[r] + ow0;
        for (int64_t q = 0; q < a.S; ++q) {
          const T* p = row + a.tap_off[q];
          V<T> x[NVD];
#pragma GCC unroll 8
          for (int v = 0; v < NVD; ++v) x[v] = load(p + v * L);
#pragma GCC unroll 16
          for (int k = 0; k < KB; ++k) {
            const V<T> wv = bcast(wk[k]);
#pragma GCC unroll 8
            for (int v = 0; v < NVD; ++v) acc[k][v] += wv * x[v];
          }
          wk += KB;
        }
      }
    }
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k) store_block<T, NVD>(a, acc[k], a.out + k * a.out_kstride, oh, ow0, ow_hi);
  }
}

// One output channel (depthwise; backward-input of one input channel a group) at unit row stride and
// dilation: NR output rows at once, so each input vector loaded feeds the up to R rows that read it, where
// the row-by-row block gives one FMA per load. Rows oh..oh+NR-1, all columns in blocks of NVD
// vectors, last block first: a block past a row's end stores whole vectors onto the next row's first
// columns, which that row's earlier blocks (written after it) overwrite.
template <typename T, int R, int NR, int NVD>
void direct_forward_rows(const DirectArgs<T>& a, int64_t oh) {
  constexpr int L = VL<T>, W = NVD * L;
  for (int64_t bi = (a.OW + W - 1) / W - 1; bi >= 0; --bi) {
    const int64_t ow0 = bi * W;
    V<T> acc[NR][NVD];
    const V<T> b0 = bcast(a.bias ? a.bias[0] : T(0));
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j)
#pragma GCC unroll 4
      for (int v = 0; v < NVD; ++v) acc[j][v] = b0;
    for (int64_t c = 0; c < a.Cg; ++c) {
      const T* wc = a.wp + c * R * a.S;
      const T* base = a.in + c * a.chan_stride + oh * a.row_stride + ow0;
#pragma GCC unroll 16
      for (int i = 0; i < NR + R - 1; ++i) {  // input row oh + i feeds output rows oh + i - r
        if (oh + i < a.row_lo || oh + i >= a.row_hi) continue;  // zero padding
        const T* row = base + i * a.row_stride;
        for (int64_t q = 0; q < a.S; ++q) {
          V<T> x[NVD];
#pragma GCC unroll 4
          for (int v = 0; v < NVD; ++v) x[v] = load(row + a.tap_off[q] + v * L);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            if (i - r < 0 || i - r >= NR) continue;
            const V<T> wv = bcast(wc[r * a.S + q]);
#pragma GCC unroll 4
            for (int v = 0; v < NVD; ++v) acc[i - r][v] += wv * x[v];
          }
        }
      }
    }
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) store_block<T, NVD>(a, acc[j], a.out, oh + j, ow0, a.OW);
  }
}

// The row-block kernel for R = 3 or 5 and rows of one vector or more.
template <typename T, int NR>
auto direct_rows_kernel(int64_t R, bool wide) {
  return R == 3 ? (wide ? direct_forward_rows<T, 3, NR, 2> : direct_forward_rows<T, 3, NR, 1>)
                : (wide ? direct_forward_rows<T, 5, NR, 2> : direct_forward_rows<T, 5, NR, 1>);
}

// The block widths, in vectors, that direct_forward_kb instantiates (those within its register budget).
constexpr int kDirectWidths[] = {1, 2, 3, 4, 6, 8};
constexpr int direct_width_at_least(int nv) {
  for (int w : kDirectWidths)
    if (w >= nv) return w;
  return kDirectMaxNV;
}

// Blocks of nvd vectors (an entry of kDirectWidths within budget) over output columns [ow_lo, ow_hi).
template <typename T, int KB, int budget, int I = 0>
void direct_forward_width(const DirectArgs<T>& a, int nvd, int64_t oh, int64_t ow_lo, int64_t ow_hi) {
  if constexpr (I + 1 < int(std::size(kDirectWidths)) && kDirectWidths[I + 1] <= budget)
    if (nvd > kDirectWidths[I]) return direct_forward_width<T, KB, budget, I + 1>(a, nvd, oh, ow_lo, ow_hi);
  direct_forward_block<T, KB, kDirectWidths[I]>(a, oh, ow_lo, ow_hi);
}

template <typename T, int KB>
void direct_forward_kb(const DirectArgs<T>& a) {
  // As many vectors per block as the register budget allows, but no wider than the row needs. One
  // output channel (depthwise) gets up to kDirectMaxNV: its FMAs take the input from memory, and each
  // accumulator is a chain of C/g*R*S dependent FMAs, so it needs more chains in flight than 4 to keep
  // both FMA pipes busy (4-cycle latency).
  constexpr int cap = KB == 1 ? kDirectMaxNV : 4;
  constexpr int budget = STRIDED_ACC / KB < 1 ? 1 : (STRIDED_ACC / KB > cap ? cap : STRIDED_ACC / KB);
  static_assert(direct_width_at_least(budget) == budget, "the budget must be an instantiated width");
  constexpr int L = VL<T>;
  const int64_t need = (a.OW + L - 1) / L;
  const int nvd = direct_width_at_least(int(need < budget ? need : budget));  // budget is a listed width
  // The last, partial block runs only the vectors it needs: a flat row of 14 x 30 outputs is 13 blocks
  // of 2 vectors and 4 outputs, which a full-width block would compute 32 of.
  const int64_t full = a.OW / (nvd * L) * (nvd * L);
  const int tail = direct_width_at_least(int((a.OW - full + L - 1) / L));
  int64_t oh = 0;
  if constexpr (KB == 1)
    if (direct_rows_apply(a.R, a.stride_h, a.dil_h)) {  // blocks of 8 rows, then one of 4 (28 = 3 x 8 + 4)
      for (const auto run = direct_rows_kernel<T, 8>(a.R, need > 1); oh + 8 <= a.nrows; oh += 8) run(a, oh);
      if (oh + 4 <= a.nrows) {
        direct_rows_kernel<T, 4>(a.R, need > 1)(a, oh);
        oh += 4;
      }
    }
  for (; oh < a.nrows; ++oh) {
    if (full > 0) direct_forward_width<T, KB, budget>(a, nvd, oh, 0, full);
    if (full < a.OW) direct_forward_width<T, KB, budget>(a, tail, oh, full, a.OW);
  }
}

// a.kb must be one of 1, 2, 3, 4, 6, 8, 12 (the caller splits output channels into such blocks).
template <typename T>
void direct_forward(const DirectArgs<T>& a) {
  switch (a.kb) {
    case 1: return direct_forward_kb<T, 1>(a);
    case 2: return direct_forward_kb<T, 2>(a);
    case 3: return direct_forward_kb<T, 3>(a);
    case 4: return direct_forward_kb<T, 4>(a);
    case 6: return direct_forward_kb<T, 6>(a);
    case 8: return direct_forward_kb<T, 8>(a);
    default: return direct_forward_kb<T, 12>(a);
  }
}

// Backward-weight, direct: for KB output channels, one input channel and kernel row r, QB taps of that
// row accumulate in registers over the whole band; each input vector load feeds KB FMAs and each gy
// load QB (with KB = 1, two vectors stay in flight per tap to hide the FMA latency). The horizontal
// sums happen once per band.
template <typename T, int QB, int KB>
void direct_bwdw_taps(const DirectArgs<T>& a, const T* gyk, const T* inc, int64_t r, int64_t q0, T* gw0,
                      int64_t gw_kstride) {
  constexpr int L = VL<T>, NP = KB == 1 ? 2 : 1;
  V<T> acc[KB][QB][NP];
#pragma GCC unroll 8
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 8
    for (int t = 0; t < QB; ++t)
#pragma GCC unroll 2
      for (int p = 0; p < NP; ++p) acc[k][t][p] = V<T>{};
  const int64_t full = a.OW / L * L;
  for (int64_t oh = 0; oh < a.nrows; ++oh) {
    const T* g = gyk + oh * a.gy_row;
    const T* row = inc + oh * a.stride_h * a.row_stride + a.row_off[r];
    int64_t ow = 0;
    for (; ow + NP * L <= full; ow += NP * L) {
      V<T> gv[KB][NP];
#pragma GCC unroll 8
      for (int k = 0; k < KB; ++k)
#pragma GCC unroll 2
        for (int p = 0; p < NP; ++p) gv[k][p] = load(g + k * a.gy_kstride + ow + p * L);
#pragma GCC unroll 8
      for (int t = 0; t < QB; ++t)
#pragma GCC unroll 2
        for (int p = 0; p < NP; ++p) {
          const V<T> x = load(row + a.tap_off[q0 + t] + ow + p * L);
#pragma GCC unroll 8
          for (int k = 0; k < KB; ++k) acc[k][t][p] += gv[k][p] * x;
        }
    }
    for (; ow < full; ow += L) {
#pragma GCC unroll 8
      for (int t = 0; t < QB; ++t) {
        const V<T> x = load(row + a.tap_off[q0 + t] + ow);
#pragma GCC unroll 8
        for (int k = 0; k < KB; ++k) acc[k][t][0] += load(g + k * a.gy_kstride + ow) * x;
      }
    }
    if (ow < a.OW) {  // tail: gy is zero-padded; the input lanes past OW are masked (they may hold junk)
      const int n = int(a.OW - ow);
#pragma GCC unroll 8
      for (int t = 0; t < QB; ++t) {
        const V<T> x = keep_first<T>(load(row + a.tap_off[q0 + t] + ow), n);
#pragma GCC unroll 8
        for (int k = 0; k < KB; ++k) acc[k][t][0] += load(g + k * a.gy_kstride + ow) * x;
      }
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int t = 0; t < QB; ++t) {
      V<T> sum = acc[k][t][0];
      for (int p = 1; p < NP; ++p) sum += acc[k][t][p];
      gw0[k * gw_kstride + q0 + t] += hsum<T>(sum);
    }
}

// Output channels per pass: as many as the registers hold next to QB taps.
template <typename T, int QB>
void direct_bwdw_row(const DirectArgs<T>& a, int64_t k0, int64_t kn, const T* inc, int64_t c, int64_t r,
                     int64_t q0) {
  constexpr int KMAX = (STRIDED_ACC - 4) / QB >= 4 ? 4 : ((STRIDED_ACC - 4) / QB >= 2 ? 2 : 1);
  const int64_t kst = a.Cg * a.R * a.S;
  for (int64_t k = k0; k < k0 + kn;) {
    const T* gyk = a.gy + k * a.gy_kstride;
    T* gw0 = a.gw + ((k * a.Cg + c) * a.R + r) * a.S;
    const int64_t left = k0 + kn - k;
    if (KMAX >= 4 && left >= 4) {
      direct_bwdw_taps<T, QB, (KMAX >= 4 ? 4 : 1)>(a, gyk, inc, r, q0, gw0, kst);
      k += 4;
    } else if (KMAX >= 2 && left >= 2) {
      direct_bwdw_taps<T, QB, (KMAX >= 2 ? 2 : 1)>(a, gyk, inc, r, q0, gw0, kst);
      k += 2;
    } else {
      direct_bwdw_taps<T, QB, 1>(a, gyk, inc, r, q0, gw0, kst);
      k += 1;
    }
  }
}

// Backward-weight at unit row stride and dilation, square R x R kernels: all R*R taps of one (k, c) pair
// accumulate in registers over one-vector strips of the band's columns. Input row i meets gy rows i - r,
// r < R, which stay in registers as they slide down (slot i % R: the loop over i is unrolled by R), so
// each input vector loaded feeds R FMAs, where the per-tap kernel feeds KB <= 4 and reloads gy per tap.
template <typename T, int R>
void direct_bwdw_rows(const DirectArgs<T>& a) {
  constexpr int L = VL<T>;
  const int64_t used = a.nrows + R - 1;  // band rows read
  for (int64_t k = 0; k < a.kb; ++k)
    for (int64_t c = 0; c < a.Cg; ++c) {
      V<T> acc[R][R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int q = 0; q < R; ++q) acc[r][q] = V<T>{};
      for (int64_t col = 0; col < a.OW; col += L) {
        const T* g = a.gy + k * a.gy_kstride + col;
        const T* xc = a.in + c * a.chan_stride + col;
        V<T> gv[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) gv[r] = V<T>{};
        for (int64_t i0 = 0; i0 < used; i0 += R) {
#pragma GCC unroll 8
          for (int u = 0; u < R; ++u) {
            const int64_t i = i0 + u;
            gv[u] = i < a.nrows ? load(g + i * a.gy_row) : V<T>{};
            if (i >= used || i < a.row_lo || i >= a.row_hi) continue;  // past the band, or zero padding
            const T* xr = xc + i * a.row_stride;
#pragma GCC unroll 8
            for (int q = 0; q < R; ++q) {
              const V<T> x = load(xr + a.tap_off[q]);
#pragma GCC unroll 8
              for (int r = 0; r < R; ++r) acc[r][q] += gv[(u - r + R) % R] * x;
            }
          }
        }
      }
      T* gw = a.gw + (k * a.Cg + c) * R * R;
      for (int r = 0; r < R; ++r)
        for (int q = 0; q < R; ++q) gw[r * R + q] += hsum<T>(acc[r][q]);
    }
}

template <typename T>
void direct_backward_weight(const DirectArgs<T>& a) {
  // R*R accumulators, R gy rows and the input vector must fit the registers (32 with AVX-512, else 16)
  constexpr int regs = STRIDED_VBYTES == 64 ? 32 : 16;
  if (direct_bwdw_rows_apply(a.R, a.S, a.stride_h, a.dil_h, a.kb)) {
    if (a.R == 3) return direct_bwdw_rows<T, 3>(a);
    if constexpr (5 * 5 + 5 + 1 <= regs) return direct_bwdw_rows<T, 5>(a);
  }
  for (int64_t c = 0; c < a.Cg; ++c) {
    const T* inc = a.in + c * a.chan_stride;
    for (int64_t r = 0; r < a.R; ++r) {
      for (int64_t q0 = 0; q0 < a.S; q0 += 8) {
        switch (a.S - q0 < 8 ? a.S - q0 : 8) {
          case 1: direct_bwdw_row<T, 1>(a, 0, a.kb, inc, c, r, q0); break;
          case 2: direct_bwdw_row<T, 2>(a, 0, a.kb, inc, c, r, q0); break;
          case 3: direct_bwdw_row<T, 3>(a, 0, a.kb, inc, c, r, q0); break;
          case 4: direct_bwdw_row<T, 4>(a, 0, a.kb, inc, c, r, q0); break;
          case 5: direct_bwdw_row<T, 5>(a, 0, a.kb, inc, c, r, q0); break;
          case 6: direct_bwdw_row<T, 6>(a, 0, a.kb, inc, c, r, q0); break;
          case 7: direct_bwdw_row<T, 7>(a, 0, a.kb, inc, c, r, q0); break;
          default: direct_bwdw_row<T, 8>(a, 0, a.kb, inc, c, r, q0); break;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- non-temporal copy
// One store per vector: the 16-byte stores of a baseline build took 4 instructions per line, a quarter
// of an average-pooling backward pass.
template <typename T>
inline void stream_store(T* p, V<T> v) {
#if defined(__AVX512F__) && STRIDED_VBYTES == 64
  _mm512_stream_si512(reinterpret_cast<__m512i*>(p), reinterpret_cast<__m512i&>(v));
#elif defined(__AVX__) && STRIDED_VBYTES == 32
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), reinterpret_cast<__m256i&>(v));
#elif defined(__SSE2__) && STRIDED_VBYTES == 16
  _mm_stream_si128(reinterpret_cast<__m128i*>(p), reinterpret_cast<__m128i&>(v));
#else
  store(p, v);
#endif
}

template <typename T>
void stream_copy(T* dst, const T* src, int64_t n) {
  constexpr int L = VL<T>;
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % STRIDED_VBYTES; ++i) dst[i] = src[i];
  for (; i + L <= n; i += L) stream_store(dst + i, load(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}

// ---------------------------------------------------------------- FMA throughput probe
// 2*MR independent vector FMA chains (more than latency x throughput), no memory traffic.
template <typename T>
double fma_probe(double seconds) {
  constexpr int A = 2 * MR > 24 ? 24 : 2 * MR;
  V<T> acc[A];
  for (int i = 0; i < A; ++i) acc[i] = bcast(T(i) * T(1e-3));
  const V<T> m = bcast(T(0.999999)), d = bcast(T(1e-7));
  // clock_gettime, not <chrono>: no inline library template may be instantiated with this file's ISA
  // flags (the linker could pick that copy for portable code).
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  const double t0 = now();
  int64_t iters = 0;
  double elapsed = 0;
  do {
    for (int rep = 0; rep < 4096; ++rep) {
#pragma GCC unroll 32
      for (int i = 0; i < A; ++i) acc[i] = acc[i] * m + d;
    }
    iters += 4096;
    elapsed = now() - t0;
  } while (elapsed < seconds);
  T sink = 0;
  for (int i = 0; i < A; ++i) sink += hsum<T>(acc[i]);
  volatile T keep = sink;
  (void)keep;
  return double(iters) * A * VL<T> * 2 / elapsed * 1e-9;
}

#include "pool_rows.h"

template <typename T>
Table<T> make_table() {
  Table<T> t{};
  t.isa = STRIDED_ISA_NAME;
  t.vl = VL<T>;
  t.mr = MR;
  t.nr = NV * VL<T>;
  t.max_nv = kDirectMaxNV;
  t.gemm = &gemm<T>;
  t.gemm_rows = &gemm_rows<T>;
  t.pack_panels = &pack_panels<T>;
  t.deinterleave2 = &deinterleave2<T>;
  t.transpose = &transpose<T>;
  t.copy_rows = &copy_rows<T>;
  t.direct_forward = &direct_forward<T>;
  t.direct_backward_weight = &direct_backward_weight<T>;
  t.pool_max = &max_fast<T>;
  t.pool_max_backward = &max_backward_fast<T>;
  t.pool_avg = &avg_fast<T>;
  t.pool_avg_backward = &avg_backward_fast<T>;
  t.stream_copy = &stream_copy<T>;
  t.fma_probe = &fma_probe<T>;
  return t;
}

}  // namespace

const Table<float>& STRIDED_TABLE_F32() {
  static const Table<float> t = make_table<float>();
  return t;
}
const Table<double>& STRIDED_TABLE_F64() {
  static const Table<double> t = make_table<double>();
  return t;
}

}  // namespace strided::kern
