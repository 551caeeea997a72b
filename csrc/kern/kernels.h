// The SIMD microkernels behind the fast conv, pooling and linear kernels, and the run-time table that
// picks an ISA.
//
// One generic source (table_impl.h and the *_simd.h headers it includes, GCC vector extensions) is
// compiled three times with different per-file flags (CMakeLists.txt): kernels_avx512.cpp,
// kernels_avx2.cpp and kernels_default.cpp (the portable baseline). Each defines a Table per dtype;
// table<T>() returns the one matching strided::cpu_capability(), so what users build never assumes the
// build machine's CPU.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/cpu_features.h"

namespace strided::kern {

// Arguments of the direct kernels. `in` is a prepared input band: Cg channels, each `rows` padded input
// rows, each row split by column phase (col % stride_w) into stride_w sub-rows of Wq elements, so the
// columns that one output vector reads under tap q are contiguous: in + tap_off[q] + ow.
template <typename T>
struct DirectArgs {
  const T* in;
  int64_t Cg, chan_stride, row_stride;  // row_stride = stride_w * Wq
  int64_t R, S, dil_h, stride_h;
  const int64_t* tap_off;               // S offsets: phase * Wq + (q * dil_w) / stride_w
  const int64_t* row_off;               // R offsets of kernel row r: r * dil_h * row_stride, or into a
                                        // row-phase plane (see conv2d/direct.cpp make_band)
  int64_t nrows, OW;                    // output rows of this band, output width
  int64_t row_lo, row_hi;               // band rows [lo, hi) hold input; the rest is zero padding (skipped)
  int64_t kb;                           // output channels handled by this call
  // forward: out[k * out_kstride + oh * OW + ow] = bias[k] + sum_{c,r,q} wp[((c*R + r)*S + q)*kb + k] * in(...)
  const T* wp;
  const T* bias;
  T* out;
  int64_t out_kstride;
  // backward-weight: gw[((k*Cg + c)*R + r)*S + q] += sum_{oh,ow} gy[k*gy_kstride + oh*gy_row + ow] * in(...),
  // gy rows zero-padded to a multiple of the vector length
  const T* gy;
  int64_t gy_kstride, gy_row;
  T* gw;
  bool exact;  // backward-weight: only the tap-by-tap kernel, which never multiplies a zero gy by an input
};

// The direct forward kernel computes 8 or 4 output rows at once for one output channel per call (kb = 1)
// when the band's rows are rows of the image (not flat) and this holds (conv2d/direct_simd.h).
inline bool direct_rows_apply(int64_t R, int64_t stride_h, int64_t dil_h) {
  return (R == 3 || R == 5) && stride_h == 1 && dil_h == 1;
}

// The direct backward-weight kernel runs all taps of square kernels with such rows, for up to 8 output
// channels a group (conv2d/direct_simd.h), up to R = max_r (Table::bwdw_rows_max_r: its R*R accumulators
// must fit the registers); more channels share each input load better tap by tap (brain_c1, K = 32: 0.98x
// the time in float32, 1.16x in float64 with all taps).
inline bool direct_bwdw_rows_apply(int64_t R, int64_t S, int64_t stride_h, int64_t dil_h, int64_t kb, int max_r) {
  return R == S && R <= max_r && kb <= 8 && direct_rows_apply(R, stride_h, dil_h);
}

// Column strides the pooling kernels are compiled for (one instance each).
constexpr int64_t kPoolMaxStride = 8;

// Windows that tile the plane (as tall and wide as their strides): the backward kernels store each gx
// element under them once rather than add.
inline bool pool_windows_tile(int64_t kh, int64_t sh, int64_t kw, int64_t sw) { return kh == sh && kw == sw; }

// One plane's interior pooling windows: the n output columns from ow0, whose windows start at input
// columns c0 + sw * (ow - ow0) and end inside the input.
template <typename T>
struct PoolArgs {
  int64_t H, W, OH, OW;    // plane sizes
  int64_t kh, sh;          // window height, row stride
  int64_t kw, sw, c0, n;   // window width, column stride (<= kPoolMaxStride), first window's column, count
  int64_t ow0;             // the first interior window's output column
  const int64_t *h0, *h1;  // per output row: its windows' input rows [h0, h1), clipped to the input
  const T* div;            // avg: per output row, the divisor of its interior windows
  const T* edge_div;       // avg backward of a whole plane: per output row, those of the OW - n others
  void* scratch;           // backward, per thread, zeroed before its first use: pool_scratch_bytes

  // Input columns the interior windows cover, from c0.
  int64_t span() const { return sw * (n - 1) + kw; }
};

// Rows of the backward kernels (pool2d/pool_rows.h, pool_max_rows.h): max, one row of picks; avg, OH rows
// of gradients and their sum row, each with up to kw zeros on each side; of 8-byte elements at most.
inline int64_t pool_scratch_bytes(int64_t OH, int64_t OW, int64_t W, int64_t kw) {
  return 8 * (OH + 1) * (std::max(W, OW) + 2 * kw);
}

// One run of the ChannelsLast contraction (Table::pixel_tile): len channels from element off of each pixel's
// input (a tap's offset plus the run's first channel).
struct PixelTap {
  int64_t off, len;
};

template <typename T>
struct Table {
  const char* isa;
  int vl;      // elements per SIMD vector
  int mr, nr;  // GEMM micro-tile: mr rows of C (A broadcast) x nr columns (B loaded as vectors)
  int max_nv;     // widest output block of the direct kernel, in vectors (sizes its input slack)
  int direct_kb;  // most output channels per direct-kernel block (direct_forward's a.kb)
  int direct_rows;  // output rows the forward rows kernel computes at once (direct_rows_apply)
  int bwdw_rows_max_r;  // widest kernel the backward-weight rows kernel takes (direct_bwdw_rows_apply)
  // Backward-weight takes the channels-last GEMM over the direct kernel from this many tile rows (S*C/g)
  // on (conv2d/dispatch.cpp), measured per ISA.
  int bwdw_gemm_rows;
  // C[M x N] (row stride ldc) = (accumulate ? C : 0) + A * B over kc, A packed as ceil(M/mr) panels of
  // kc x mr, B as ceil(N/nr) panels of kc x nr (padding lanes of the panels may hold anything finite).
  void (*gemm)(int64_t M, int64_t N, int64_t kc, const T* Ap, const T* Bp, T* C, int64_t ldc, bool accumulate);
  // Packs the kc x n matrix at src (row stride ld) into B's panels for gemm: ceil(n/nr) panels of kc x nr,
  // zero past column n.
  void (*pack_panels)(int64_t kc, int64_t n, const T* src, int64_t ld, T* dst);
  // even[m] = src[2m] and odd[m] = src[2m + 1] for 2m (+ 1) < n: a row split into its column phases.
  void (*deinterleave2)(const T* src, int64_t n, T* even, T* odd);
  // C[i][j] += sum over p < np of pa[p][a_off + i] * B[p * ldb + j], i < M (A is read up to mr-1 elements
  // past), j < N (a multiple of vl); no packing.
  void (*gemm_pixels)(int64_t M, int64_t N, int64_t np, const T* const* pa, int64_t a_off, const T* B,
                      int64_t ldb, T* C, int64_t ldc);
  // dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: NCHW planes to channels-last tiles.
  void (*transpose)(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd);
  // dst[i * ldd + j] = src[i * lds + j] for i < rows, j < cols (the regions must not overlap); with sum,
  // *sum += the sum of the elements copied.
  void (*copy_rows)(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd, T* sum);
  void (*direct_forward)(const DirectArgs<T>& a);
  void (*direct_backward_weight)(const DirectArgs<T>& a);
  // The ChannelsLast micro-tile (conv2d/pixels_simd.h): pc[i][j] = bias[j] (0 without bias) + sum over
  // the taps' runs of px[i][off + c] * B[row * nw + j], rows counted over all runs, for i < m <= pixel_mp
  // pixels and j < n <= pixel_nb output channels; B and bias hold nw = n rounded up to vl columns.
  int pixel_mp, pixel_nb;
  void (*pixel_tile)(const PixelTap* taps, int64_t ntaps, const T* const* px, int m, const T* B, const T* bias,
                     int n, T* const* pc);
  // Winograd F(2x2, 3x3) (kern/winograd_simd.h): wino_input sets v[xi * vs + c] = (B^T d B)[xi] for the 4x4
  // input tile d[i][j] = d[i * rs + j * ps + c], c < n; wino_output sets y[2a + b][c] = bias[c] (0 without)
  // + (A^T m A)[a][b] for the 4x4 products m[xi] = m[xi * ms + c], c < n.
  void (*wino_input)(const T* d, int64_t ps, int64_t rs, int64_t n, T* v, int64_t vs);
  void (*wino_output)(const T* m, int64_t ms, int64_t n, const T* bias, T* const* y);
  // wino_grad sets v[xi * vs + c] = (A g A^T)[xi] for the 2x2 gradient tile g[a][b] = g[a * rs + b * ps + c].
  void (*wino_grad)(const T* g, int64_t ps, int64_t rs, int64_t n, T* v, int64_t vs);
  // Pooling over the interior windows of one plane (pool2d/pool_rows.h, pool_max_rows.h): x is the input
  // plane, y and gy the output (gradient) plane from column ow0, gx the input-gradient plane, zeroed: the
  // backward kernels leave the interior windows' gradients in it. pool_max's indices (null: none kept) is
  // laid out as y.
  void (*pool_max)(const PoolArgs<T>& p, int64_t oh0, int64_t oh1, const T* x, T* y, int64_t* indices);
  void (*pool_max_backward)(const PoolArgs<T>& p, const T* x, const T* gy, T* gx);
  void (*pool_avg)(const PoolArgs<T>& p, int64_t oh0, int64_t oh1, const T* x, T* y);
  void (*pool_avg_backward)(const PoolArgs<T>& p, const T* gy, T* gx);  // windows that tile the plane
  // Windows that overlap: every element of the gx plane, from the whole gy plane (p.edge_div).
  void (*pool_avg_backward_plane)(const PoolArgs<T>& p, const T* gy, T* gx);
  // dst[i] = src[i] for i < n with non-temporal stores of whole vectors where dst is aligned (the caller
  // fences): a finished plane leaves for memory without its lines being read for ownership first.
  void (*stream_copy)(T* dst, const T* src, int64_t n);
  // The normalization kernels' loops over one segment of n elements (norm/norm_simd.h): sums in double of
  // p, of (p - m)^2 and of g * (p - m); y = (x - m) * k + b; gx = k1 * gy - k2 * (x - m) - k3 in double.
  double (*norm_sum)(const T* p, int64_t n);
  double (*norm_sum_sq_dev)(const T* p, int64_t n, double m);
  double (*norm_sum_prod_dev)(const T* g, const T* p, int64_t n, double m);
  void (*norm_apply)(const T* x, int64_t n, T m, T k, T b, T* y);
  void (*norm_grad)(const T* gy, const T* x, int64_t n, double m, double k1, double k2, double k3, T* gx);
  // Sustained FMA throughput of this ISA on the calling thread (GFLOP/s) over about `seconds`.
  double (*fma_probe)(double seconds);
};

template <typename T>
const Table<T>& table_for(Capability c);
// The table for strided::cpu_capability().
template <typename T>
inline const Table<T>& table() { return table_for<T>(cpu_capability()); }

// Per-ISA tables, defined in kernels_<isa>.cpp.
const Table<float>& table_avx512_f32();
const Table<double>& table_avx512_f64();
const Table<float>& table_avx2_f32();
const Table<double>& table_avx2_f64();
const Table<float>& table_default_f32();
const Table<double>& table_default_f64();

}  // namespace strided::kern
