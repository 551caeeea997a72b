// The SIMD microkernels of conv2d's Direct algorithm (kern::Table::direct_forward, direct_backward_weight);
// conv2d/direct.cpp prepares their bands. Included by kern/table_impl.h inside an anonymous namespace, so
// each ISA file compiles its own copy with its own flags; uses kern/vec.h and STRIDED_ACC / STRIDED_VBYTES.
// ---------------------------------------------------------------- direct convolution
constexpr int kDirectMaxNV = 8;  // widest direct-forward block, in vectors (Table::max_nv)
// Output rows of the forward rows kernel (Table::direct_rows): 8 rows of 2 vectors are 16 accumulators;
// with 16 registers (AVX2) 6 rows.
constexpr int kDirectRows = STRIDED_ACC / 2 < 8 ? STRIDED_ACC / 2 : 8;
// direct_bwdw_rows' R*R accumulators, R gy rows and the input vector must fit the registers (32 with
// AVX-512, else 16): 5 x 5 only with 32. Where they do not, the caller must know it (Table::bwdw_rows_max_r),
// as it shapes the band for the kernel that runs (rows of the image, or flat for the tap-by-tap kernel).
constexpr int kBwdwRowsMaxR = 5 * 5 + 5 + 1 <= (STRIDED_VBYTES == 64 ? 32 : 16) ? 5 : 3;

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
// columns, which that row's earlier blocks (written after it) overwrite. SQ = R: a square kernel at unit
// column dilation, whose taps sit at offsets 0..R-1 (compile-time constants, as the row loop is; the
// offsets from memory and the per-row padding checks left too few registers for 12 accumulators on AVX2,
// which spilled). Edge: some of the NR + R - 1 input rows lie in the zero padding (only there the rows
// are checked, to skip them).
template <typename T, int R, int NR, int NVD, int SQ, bool Edge>
void direct_forward_rows_of(const DirectArgs<T>& a, int64_t oh) {
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
        if (Edge && (oh + i < a.row_lo || oh + i >= a.row_hi)) continue;  // zero padding
        const T* row = base + i * a.row_stride;
        // The same weight feeds input rows i..i+R-1: loaded afresh per row, or the compiler keeps all R*S
        // broadcasts live and spills the accumulators (AVX2: 9 + 12 > 16).
        const T* wr = wc;
        reload_through(wr);
#pragma GCC unroll 8
        for (int64_t q = 0; q < (SQ ? SQ : a.S); ++q) {
          V<T> x[NVD];
#pragma GCC unroll 4
          for (int v = 0; v < NVD; ++v) x[v] = load(row + (SQ ? q : a.tap_off[q]) + v * L);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            if (i - r < 0 || i - r >= NR) continue;
            const V<T> wv = bcast(wr[r * (SQ ? SQ : a.S) + q]);
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

template <typename T, int R, int NR, int NVD, int SQ>
void direct_forward_rows(const DirectArgs<T>& a, int64_t oh) {
  if (oh < a.row_lo || oh + NR + R - 1 > a.row_hi) return direct_forward_rows_of<T, R, NR, NVD, SQ, true>(a, oh);
  direct_forward_rows_of<T, R, NR, NVD, SQ, false>(a, oh);
}

// The row-block kernel for R = 3 or 5, square at unit column dilation (S = R, taps at 0..R-1) or not, and
// rows of one vector or more.
template <typename T, int NR, bool Square>
auto direct_rows_of(int64_t R, bool wide) {
  constexpr int S3 = Square ? 3 : 0, S5 = Square ? 5 : 0;
  return R == 3 ? (wide ? direct_forward_rows<T, 3, NR, 2, S3> : direct_forward_rows<T, 3, NR, 1, S3>)
                : (wide ? direct_forward_rows<T, 5, NR, 2, S5> : direct_forward_rows<T, 5, NR, 1, S5>);
}
template <typename T, int NR>
auto direct_rows_kernel(const DirectArgs<T>& a, bool wide) {
  const bool square = a.S == a.R && a.tap_off[a.S - 1] == a.S - 1;  // tap q at q*dil_w: dil_w = 1
  return square ? direct_rows_of<T, NR, true>(a.R, wide) : direct_rows_of<T, NR, false>(a.R, wide);
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
    if (direct_rows_apply(a.R, a.stride_h, a.dil_h)) {  // blocks of NR rows, then one of 4 (28 = 4 x 6 + 4)
      constexpr int NR = kDirectRows;
      for (const auto run = direct_rows_kernel<T, NR>(a, need > 1); oh + NR <= a.nrows; oh += NR) run(a, oh);
      if (oh + 4 <= a.nrows) {
        direct_rows_kernel<T, 4>(a, need > 1)(a, oh);
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
// load QB (with KB = 1, two vectors stay in flight per tap to hide the FMA latency). The input loads are
// unaligned (tap q at +q): loaded once into a register, not once per FMA, they left the loop FMA-bound
// where 5 taps with KB = 1 were bound by the loads (brain_c1: 12 loads, 4 of them split across lines,
// per 10 FMAs). The horizontal sums happen once per band.
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
          V<T> x = load(row + a.tap_off[q0 + t] + ow + p * L);
          if constexpr (KB > 1) in_register<T>(x);
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

// Output channels per pass: as many as the registers hold next to QB taps (QB * KB accumulators, KB gy
// vectors and the input vector in STRIDED_ACC + 4 registers: on AVX2 5 taps take 2 channels).
template <typename T, int QB>
void direct_bwdw_row(const DirectArgs<T>& a, int64_t k0, int64_t kn, const T* inc, int64_t c, int64_t r,
                     int64_t q0) {
  constexpr int fit = (STRIDED_ACC + 3) / (QB + 1), KMAX = fit >= 4 ? 4 : (fit >= 2 ? 2 : 1);
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
  if (!a.exact && direct_bwdw_rows_apply(a.R, a.S, a.stride_h, a.dil_h, a.kb, kBwdwRowsMaxR)) {
    if (a.R == 3) return direct_bwdw_rows<T, 3>(a);
    if constexpr (kBwdwRowsMaxR >= 5) return direct_bwdw_rows<T, 5>(a);
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
