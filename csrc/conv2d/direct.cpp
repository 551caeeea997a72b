// conv2d's Direct algorithm: SIMD direct convolution (conv2d/direct_simd.h, through kern::Table) for
// few input channels (C = 1, 3), depthwise groups and small images. Here: the prepared input bands the
// microkernels read (Band, make_band, fill_band) and the tasks over them.
#include "conv2d/internal.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace strided::conv {
namespace {

// Output-channel blocks of a group: sizes the direct microkernel is compiled for, largest first.
inline void k_blocks(int64_t Kg, std::vector<std::pair<int64_t, int64_t>>& blocks, int64_t max_kb) {
  blocks.clear();
  static const int64_t sizes[] = {12, 8, 6, 4, 3, 2, 1};
  for (int64_t k0 = 0; k0 < Kg;) {
    int64_t kb = 1;
    for (int64_t z : sizes)
      if (z <= Kg - k0 && z <= max_kb) { kb = z; break; }
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
// min_tasks: how many (image, group, band) tasks the bands should make at least. row_block: the output
// rows the kernel computes at once (the forward rows kernel's): a band holds a multiple of them, at least
// one block even past the L2 target, or the rows left over run row by row, one FMA per input load
// (brain_c1's backward-input in float64 had bands of 2 output rows).
template <typename T>
Band make_band(const ConvShape& s, const kern::Table<T>& kt, int64_t tasks_per_band, int64_t min_tasks,
               double flat_gain, int64_t elems_per_out_row = 0, int64_t row_block = 1) {
  Band b{};
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
  b.nbands = std::clamp<int64_t>(ceil_div(min_tasks, std::max<int64_t>(tasks_per_band, 1)), 1, s.OH);
  b.nb = ceil_div(s.OH, b.nbands);
  // The band is swept once per output-channel block: keep it within ~256 KiB so the sweeps hit L2
  // (a few halo rows more to copy is cheap next to C/g*K*R*S FMAs per input element).
  const int64_t fit_rows = int64_t(256) * 1024 / int64_t(sizeof(T)) / std::max<int64_t>(1, s.Cg() * b.row_stride);
  const int64_t fit_nb = (fit_rows - (s.R - 1) * s.dil_h - 1) / s.stride_h + 1;
  int64_t nb = std::min(b.nb, fit_nb);
  if (nb < s.OH) nb = std::max(nb / row_block * row_block, std::min(b.nb, row_block));
  b.nb = std::max<int64_t>(1, nb);
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

// A task reads its band only when it starts, and the bands of consecutive tasks lie one after the other
// in x (and gy): on short planes (depthwise 28x28: 3 KiB) the hardware prefetchers ramp up anew on every
// one. Asking for the next task's first bytes before computing this one overlaps the two (depthwise
// backward-weight, 16x128x28x28: 1.15x by median at 2 threads; the forward pass measured no change, so
// only backward-weight asks). Only for bands of whole planes: the next task's then start where this
// one's end.
constexpr int64_t kPrefetchBytes = 32 << 10;
template <typename T>
void prefetch_next(const Band& band, int64_t t, int64_t tasks, const T* end, int64_t len) {
  if (band.nbands != 1 || t + 1 >= tasks) return;
  const char* p = reinterpret_cast<const char*>(end);
  const int64_t bytes = std::min<int64_t>(len * int64_t(sizeof(T)), kPrefetchBytes);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i);
}

}  // namespace

// Every band layout make_band may choose, with one output row per band or the forward rows kernel's block
// (it takes more rows only while the band stays within 256 KiB and the gy rows within 1 MiB): the largest
// of them, plus the flat forward's output rows (12 per row) and backward-weight's gy rows (Kg per row).
double direct_scratch_bytes(const ConvShape& s) {
  const auto& kt = kern::table<float>();  // float's vectors have the most lanes
  const double lanes = double(kt.max_nv) * kt.vl, sh = double(s.stride_h), sw = double(s.stride_w);
  const double eh = double(s.dil_h) * double(s.R - 1) + 1, ew = double(s.dil_w) * double(s.S - 1) + 1;
  const double pl = double(std::max<int64_t>(s.pad_left, 0)), pr = double(std::max<int64_t>(s.pad_right, 0));
  const double Wq = double(s.OW) + lanes + (ew - 1) / sw + 1, overrun = lanes + ew;
  const double Wp = std::max(double(s.W) + pl + pr, std::ceil((double(s.W) + pl + pr) / sw)) + 16;
  const double rows = direct_rows_forward(s) ? kt.direct_rows : 1;
  const double chan = std::max({(eh + rows - 1) * sw * Wq, eh * Wp + overrun,
                                sh * sw * (std::ceil(eh / sh) * Wp + overrun)});
  const double row = std::max(Wq, Wp) + lanes;
  return 8 * (double(s.Cg()) * chan + 12 * row + double(s.Kg()) * row) + (int64_t(2) << 20);
}

// Tasks are (image, group, band of output rows); bands appear only when images x groups cannot feed
// the threads, so N = 1 still splits over rows. Per thread: one prepared band, Cg x in_rows x sw*Wq.
template <typename T>
void forward_direct(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, P = s.OH * s.OW;
  if (s.N == 0) return;
  std::vector<std::pair<int64_t, int64_t>> blocks;
  k_blocks(Kg, blocks, kt.direct_kb);
  T* wp = workspace<T>(kPackedWeights, s.K * CRS);  // per block: [c][r][q][k in block]
  const int64_t nblocks = int64_t(blocks.size());
#pragma omp parallel for schedule(static) if (s.K * CRS >= kParallelPrep)
  for (int64_t gb = 0; gb < G * nblocks; ++gb) {
    const int64_t g = gb / nblocks;
    const auto [k0, kb] = blocks[size_t(gb % nblocks)];
    for (int64_t i = 0; i < CRS; ++i)
      for (int64_t t = 0; t < kb; ++t) wp[(g * Kg + k0) * CRS + i * kb + t] = w[(g * Kg + k0 + t) * CRS + i];
  }
  // One output channel a group: a flat band also lets the blocks grow past a short row (to max_nv vectors).
  const bool widen = Kg == 1 && ceil_div(s.OW, kt.vl) < kt.max_nv;
  const bool rows = direct_rows_forward(s);  // never flat then
  Band band = make_band(s, kt, s.N * G, 4 * int64_t(omp_get_max_threads()), rows ? 1.0 : widen ? 0.0 : 0.01, 0,
                        rows ? kt.direct_rows : 1);
  const int64_t tasks = s.N * G * band.nbands, V = band.nb * band.Wq;
  reserve<T>({{kTile, Cg * band.chan_stride}, {kTile2, band.flat ? 12 * V : 0}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* buf = band_buffer<T>(s, band);
    T* tmp = band.flat ? workspace<T>(kTile2, 12 * V) : nullptr;
    const int64_t chunk = dynamic_chunk(tasks);
#pragma omp for schedule(dynamic, chunk)
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

// Unit stride only (dispatch.cpp sends a larger one to Gemm's col2im): the flipped forward problem.
template <typename T>
void backward_input_direct(const ConvShape& s, const T* gy, const T* w, T* gx) {
  backward_input_flipped(s, gy, w, gx, forward_direct<T>);
}

namespace {

// backward_weight_direct on the given bands; exact: see DirectArgs::exact.
template <typename T>
void backward_weight_bands(const ConvShape& s, const Band& band, bool exact, const T* gy, const T* x, T* gw,
                           T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, P = s.OH * s.OW;
  const int64_t len = s.K * CRS, OWp = round_up(s.OW, kt.vl);  // partials: gw, then gb (K more)
  // gy of one band row by row (OWp apart) or, flat, as one row (Wq apart), zero past the valid columns
  const int64_t grow = band.flat ? band.Wq : OWp, gstride = round_up(band.nb * grow, kt.vl);
  const int64_t tasks = s.N * G * band.nbands;
  const Partials<T> parts = chunk_partials<T>(tasks, len + s.K);
  reserve<T>({{kTile, Cg * band.chan_stride}, {kTile2, Kg * gstride}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* buf = band_buffer<T>(s, band);
    T* gpad = workspace<T>(kTile2, Kg * gstride);
    std::fill(gpad, gpad + Kg * gstride, T(0));  // the columns past OW stay zero: copy_rows skips them
    chunked_sums<T>(tasks, parts, [&](int64_t t, T* mine) {
      const int64_t bi = t % band.nbands, g = t / band.nbands % G, n = t / (band.nbands * G);
      const int64_t oh0 = bi * band.nb, nrows = std::min(band.nb, s.OH - oh0);
      kern::DirectArgs<T> a = load_band(kt, s, band, x, n, g, oh0, nrows, buf);
      a.nrows = band.flat ? 1 : nrows;
      a.OW = band.flat ? nrows * grow : s.OW;
      a.kb = Kg;
      a.exact = exact;
      const T* gyb = gy + (n * s.K + g * Kg) * P + oh0 * s.OW;
      for (int64_t k = 0; k < Kg; ++k) {
        T* d = gpad + k * gstride;
        kt.copy_rows(nrows, s.OW, gyb + k * P, s.OW, d, grow, mine + len + g * Kg + k);
        if (band.flat)  // a shorter last band: clear what a longer one left in its last vector
          for (int64_t j = nrows * grow; j < round_up(nrows * grow, kt.vl); ++j) d[j] = T(0);
      }
      prefetch_next(band, t, tasks, x + (n * G + g + 1) * Cg * s.H * s.W, Cg * s.H * s.W);
      prefetch_next(band, t, tasks, gyb + Kg * P, Kg * P);
      a.gy = gpad;
      a.gy_kstride = gstride;
      a.gy_row = grow;
      a.gw = mine + g * Kg * CRS;
      kt.direct_backward_weight(a);
    });
    reduce_partials(parts, len, gw);
    if (gb) reduce_partials(parts, s.K, gb, len);
  }
}

}  // namespace

// Tasks as forward_direct's, but at least kChunks of them whatever the thread count (the bands decide the
// order of the sums); each run of tasks (chunked_sums) sums into its own gw copy (K x Cg*R*S), and the
// copies are added at the end, so the result does not depend on the thread count. A flat band (see
// make_band) makes the band one long row here too: gy is copied to rows Wq apart with zeros under the
// junk columns, so the kernel's sums over a row run through whole vectors (28-wide depthwise rows: 51
// vectors per plane instead of 28 full ones and 28 masked tails).
template <typename T>
void backward_weight_direct(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t OWp = round_up(s.OW, kt.vl), len = s.K * s.Cg() * s.R * s.S;
  const bool rows = kern::direct_bwdw_rows_apply(s.R, s.S, s.stride_h, s.dil_h, s.Kg(), kt.bwdw_rows_max_r);
  const int64_t per_row = s.Kg() * (OWp + s.S * s.dil_w);
  const Band band = make_band(s, kt, s.N * s.groups, kChunks, rows ? 1.0 : 0.0, per_row);
  backward_weight_bands(s, band, false, gy, x, gw, gb);
  // Two fast paths multiply zeros by inputs that no output reads: a flat band's junk columns (gy zero,
  // the input whatever lies there) and the rows kernel's gy rows outside the band (zero registers
  // against the band's halo rows). An inf or NaN input there gives 0 * inf = NaN in gw where the
  // reference has a finite value or inf. Only then (a NaN in gw: K*C/g*R*S values to scan) the call is
  // redone exactly: row-by-row bands and the tap-by-tap kernel, whose lanes past OW are masked. The NaNs
  // that belong to the result come back from that run too.
  if ((band.flat || rows) && std::any_of(gw, gw + len, [](T v) { return v != v; }))
    backward_weight_bands(s, make_band(s, kt, s.N * s.groups, kChunks, 1.0, per_row), true, gy, x, gw, gb);
}

STRIDED_CONV_INSTANTIATE(direct, float)
STRIDED_CONV_INSTANTIATE(direct, double)

}  // namespace strided::conv
