// conv2d's Gemm algorithm: implicit GEMM on the run-time-selected SIMD microkernel (kern::Table::gemm):
// im2col tiles packed straight into its panels (forward), GEMM + col2im (backward-input, or the flipped
// forward at unit stride), and channels-last GEMMs over bands of rows (backward-weight). No pass unrolls
// the whole batch: workspaces are per thread, bounded by a tile, and reused across calls.
#include "conv2d/internal.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace strided::conv {
namespace {

// A run of tile pixels j .. j+len that lie in one output row (oh, columns ow ..) of image img (counted
// from the tile's first) and one panel: number pn, from its element pj (j = pn * panel + pj).
struct Seg {
  int64_t oh, ow, len, img, pn, pj;
};

// Splits pixels [p0, p0 + np) at output-row ends and at multiples of `panel` (in tile index j). Pixels
// past the plane's last (p0 + np > OH*OW: a tile of several small images) continue in the next images.
inline void make_segments(const ConvShape& s, int64_t p0, int64_t np, int64_t panel, std::vector<Seg>& segs) {
  segs.clear();
  const int64_t P = s.OH * s.OW;
  int64_t j = 0;
  while (j < np) {
    const int64_t p = (p0 + j) % P, oh = p / s.OW, ow = p % s.OW;
    const int64_t pn = j / panel, pj = j - pn * panel, len = std::min({s.OW - ow, np - j, panel - pj});
    segs.push_back({oh, ow, len, (p0 + j) / P, pn, pj});
    j += len;
  }
}

// One segment's part of an im2col row for one tap (r, q): len pixels to panel pn, column pj, of which
// those in [lo, hi) come from element src + t * stride_w of the channel plane (of the tile's first image),
// the rest are zeros (the tap in the padding). The same for every channel: a tile plans each tap once.
struct Copy {
  int64_t pn, pj, src, lo, hi, len;
};

// The segments' copies for every tap: plans[r * S + q] (images img_stride apart in x).
inline void plan_taps(const ConvShape& s, int64_t img_stride, const std::vector<Seg>& segs,
                      std::vector<std::vector<Copy>>& plans) {
  plans.resize(size_t(s.R * s.S));
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t q = 0; q < s.S; ++q) {
      std::vector<Copy>& plan = plans[size_t(r * s.S + q)];
      plan.clear();
      for (const Seg& g : segs) {
        const int64_t ih = g.oh * s.stride_h - s.pad_top + r * s.dil_h;
        const int64_t iw0 = g.ow * s.stride_w - s.pad_left + q * s.dil_w;
        int64_t lo = 0, hi = 0;
        if (ih >= 0 && ih < s.H) valid_range(iw0, s.stride_w, s.W, g.len, lo, hi);
        // src only where something is read: ih and iw0 may lie far outside the plane otherwise
        plan.push_back({g.pn, g.pj, hi > lo ? g.img * img_stride + ih * s.W + iw0 : 0, lo, hi, g.len});
      }
    }
}

// Gathers an im2col row of channel plane xc by its tap's plan: pixel j to dst + pn * panel_stride + pj.
// Planned per channel, the segments' bounds (a division each at a stride) were a sixth of a 1x1 stride-2
// layer's forward (ResNet-18's shortcuts, 4-pixel rows).
template <typename T>
void gather_row(const T* xc, int64_t stride_w, const std::vector<Copy>& plan, T* dst, int64_t panel_stride) {
  for (const Copy& c : plan) {
    T* d = dst + c.pn * panel_stride + c.pj;
    for (int64_t t = 0; t < c.lo; ++t) d[t] = T(0);
    if (stride_w == 1) {
      if (c.hi > c.lo) std::memcpy(d + c.lo, xc + c.src + c.lo, size_t(c.hi - c.lo) * sizeof(T));
    } else {
      for (int64_t t = c.lo; t < c.hi; ++t) d[t] = xc[c.src + t * stride_w];
    }
    for (int64_t t = c.hi; t < c.len; ++t) d[t] = T(0);
  }
}

// The inverse of gather_row by the same plan: gxc[tap of pixel j] += src[pn * panel_stride + pj] (zeros
// skipped).
template <typename T>
void scatter_row(T* gxc, int64_t stride_w, const std::vector<Copy>& plan, const T* src, int64_t panel_stride) {
  for (const Copy& c : plan) {
    if (c.hi <= c.lo) continue;
    T* d = gxc + c.src;
    const T* sj = src + c.pn * panel_stride + c.pj;
    if (stride_w == 1) {
#pragma omp simd
      for (int64_t t = c.lo; t < c.hi; ++t) d[t] += sj[t];
    } else {
      for (int64_t t = c.lo; t < c.hi; ++t) d[t * stride_w] += sj[t];
    }
  }
}

}  // namespace

// y tile = W_g (Kg x Cg*R*S) * columns (Cg*R*S x pixels). Tasks are (images, group, pixel tile, block of
// output channels): pixel tiles first, and output-channel blocks only when images x tiles cannot feed the
// threads (N = 1 with a small image). Small planes are tiled ni images at a time (a 4x4 plane alone fills
// half an AVX-512 panel of 32 columns: 46 against 67 GF/s for the same layer on 8x8 planes); such a tile's
// output is staged in Ct and copied to each image's planes. Per thread: one packed B tile of kc x NT (and
// Ct).
template <typename T>
void forward_gemm(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S, rows = Cg * RS;
  const int64_t MR = kt.mr, NR = kt.nr, KC = kc_block(kt), Mp = round_up(Kg, MR);
  if (s.N == 0) return;
  T* Ap = workspace<T>(kPackedWeights, G * Mp * rows);
  for (int64_t g = 0; g < G; ++g) pack_a(w + g * Kg * rows, rows, 1, Kg, rows, KC, MR, Ap + g * Mp * rows);

  // A 1x1 layer (flattened: one output row per plane) has the channel planes themselves as columns.
  const bool plain = s.R == 1 && s.S == 1 && s.H == 1 && s.OH == 1 && s.OW == s.W && s.stride_w == 1 &&
                     s.pad_left == 0;
  const int64_t ni = plain || P >= 4 * NR ? 1 : std::min(s.N, 4 * NR / P), sets = ceil_div(s.N, ni);
  const int64_t threads = omp_get_max_threads();
  int64_t NT = std::min(round_up(ni * P, NR), std::max(NR, (int64_t(256) * 1024 / int64_t(sizeof(T)) / KC) / NR * NR));
  while (sets * G * ceil_div(ni * P, NT) < 2 * threads && NT > NR) NT = round_up(NT / 2, NR);
  const int64_t ptiles = ceil_div(ni * P, NT);
  int64_t mblocks = 1;
  if (sets * G * ptiles < threads) mblocks = std::min(Mp / MR, ceil_div(threads, sets * G * ptiles));
  const int64_t msize = round_up(ceil_div(Mp, mblocks), MR);
  mblocks = ceil_div(Mp, msize);
  const int64_t tasks = sets * G * ptiles * mblocks;
  reserve<T>({{kTile, KC * round_up(NT, NR)}, {kTile2, ni > 1 ? msize * NT : 0}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Bp = workspace<T>(kTile, KC * round_up(NT, NR));
    T* Ct = ni > 1 ? workspace<T>(kTile2, msize * NT) : nullptr;
    thread_local std::vector<Seg> segs;
    thread_local std::vector<std::vector<Copy>> plans;  // per tap
    const int64_t chunk = dynamic_chunk(tasks);
#pragma omp for schedule(dynamic, chunk)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t mb = t % mblocks, pt = t / mblocks % ptiles, g = t / (mblocks * ptiles) % G;
      const int64_t n0 = t / (mblocks * ptiles * G) * ni, pixels = std::min(ni, s.N - n0) * P;
      const int64_t p0 = pt * NT, np = std::min(NT, pixels - p0), m0 = mb * msize;
      const int64_t mlen = std::min(msize, Kg - m0);
      if (mlen <= 0 || np <= 0) continue;
      make_segments(s, p0, np, NR, segs);
      if (!plain) plan_taps(s, s.C * s.H * s.W, segs, plans);
      const T* xg = x + (n0 * s.C + g * Cg) * s.H * s.W;
      T* yt = ni > 1 ? Ct : y + (n0 * s.K + g * Kg + m0) * P + p0;
      const int64_t ldc = ni > 1 ? NT : P;
      for (int64_t k0 = 0; k0 < rows; k0 += KC) {
        const int64_t kl = std::min(KC, rows - k0);
        if (plain) {
          kt.pack_panels(kl, np, xg + k0 * P + p0, P, Bp);
        } else {
          if (np % NR) std::fill(Bp + (np / NR) * kl * NR, Bp + (np / NR + 1) * kl * NR, T(0));
          for (int64_t kk = 0; kk < kl; ++kk) {  // row k0 + kk: channel (k0 + kk) / RS, tap (k0 + kk) % RS
            const int64_t row = k0 + kk;
            gather_row(xg + row / RS * s.H * s.W, s.stride_w, plans[size_t(row % RS)], Bp + kk * NR, kl * NR);
          }
        }
        kt.gemm(mlen, np, kl, Ap + g * Mp * rows + k0 * Mp + (m0 / MR) * kl * MR, Bp, yt, ldc, k0 > 0);
      }
      // Each output channel's pixels: one run (a plane's tile), or one per image (a tile of images).
      for (int64_t k = 0; k < mlen; ++k) {
        const T bk = b ? b[g * Kg + m0 + k] : T(0);
        for (int64_t j = 0; j < np;) {
          const int64_t img = (p0 + j) / P, p = (p0 + j) % P, run = std::min(np - j, P - p);
          T* yk = y + ((n0 + img) * s.K + g * Kg + m0 + k) * P + p;
          const T* src = ni > 1 ? Ct + k * NT + j : yk;
          if (b) {
#pragma omp simd
            for (int64_t i = 0; i < run; ++i) yk[i] = src[i] + bk;
          } else if (ni > 1) {
            std::copy(src, src + run, yk);
          }
          j += run;
        }
      }
    }
  }
}

namespace {

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
  // Pixels per column tile, sized for all Cg channels (not the block's cb, which follows the thread
  // count): the tiles set the order in which col2im adds into gx, which must not depend on it.
  const int64_t NT = std::clamp(round_up(int64_t(64) * 1024 / std::max<int64_t>(Cg * RS, 1), NR), NR,
                                round_up(P, NR));
  const int64_t tasks = s.N * G * cblocks;
  reserve<T>({{kTile, std::min(KC, Kg) * NT}, {kTile2, cb * RS * NT}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Bp = workspace<T>(kTile, std::min(KC, Kg) * NT);
    T* col = workspace<T>(kTile2, cb * RS * NT);
    thread_local std::vector<Seg> segs;
    thread_local std::vector<std::vector<Copy>> plans;  // per tap
    const int64_t chunk = dynamic_chunk(tasks);
#pragma omp for schedule(dynamic, chunk)
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
        plan_taps(s, 0, segs, plans);  // a tile of one image: no image stride
        for (int64_t m = 0; m < cl * RS; ++m)
          scatter_row(gxb + (m / RS) * s.H * s.W, s.stride_w, plans[size_t(m % RS)], col + m * NT, NT);
      }
    }
  }
}

}  // namespace

// Unit stride runs the flipped forward GEMM, unless col2im_pays (see dispatch.cpp).
template <typename T>
void backward_input_gemm(const ConvShape& s, const T* gy, const T* w, T* gx) {
  if (s.stride_h > 1 || s.stride_w > 1 || col2im_pays(s)) return backward_input_col2im(s, gy, w, gx);
  backward_input_flipped(s, gy, w, gx, forward_gemm<T>);
}

// The transposed input band (in_rows x Wp x Cs plus slack) and gy band (rows x OW x Kb) with one output row,
// and the 1 MiB tiles of ~128K elements that more rows may take.
double gemm_backward_weight_scratch_bytes(const ConvShape& s) {
  const double eh = double(s.dil_h) * double(s.R - 1) + 1, Cs = double(s.Cg()) + 16, Kp = double(s.Kg()) + 16;
  const double Wp = double(s.W) + double(s.pad_left) + double(s.pad_right);
  return 8 * (eh * Wp * Cs + 64 + double(s.S) * Cs + double(s.OW) * Kp) + (int64_t(2) << 20);
}

constexpr int64_t kCB = 16;  // input channels per block of backward_weight_gemm's final sums

namespace {

// gy's Kg channel rows of np pixels (row stride P) to channels-last gt[p][k] (pixel stride ld), k padded
// with zeros to Kp.
template <typename T>
void transpose_gy(const kern::Table<T>& kt, int64_t Kg, int64_t Kp, int64_t ld, int64_t np, const T* gy,
                  int64_t P, T* gt) {
  kt.transpose(Kg, np, gy, P, gt, ld);
  if (Kp > Kg)
    for (int64_t p = 0; p < np; ++p) std::fill(gt + p * ld + Kg, gt + p * ld + Kp, T(0));
}

// Whether row lr of an input band under `rows` output rows is read by a kernel row: with a stride beyond
// the kernel's reach (ResNet-18's 1x1 stride-2 shortcuts) every other row is not, and transposing those
// was a sixth of the pass.
inline bool band_row_read(const ConvShape& s, int64_t lr, int64_t rows) {
  for (int64_t r = 0; r < s.R; ++r) {
    const int64_t d = lr - r * s.dil_h;
    if (d >= 0 && d % s.stride_h == 0 && d / s.stride_h < rows) return true;
  }
  return false;
}

// The input tile's pixel under each output pixel (img, row r0 + i, column) of a pass, in gy's order: the
// GEMM's pixel loop then runs over rows and images in one go (ResNet-18's 4x4 planes made 4-pixel loops).
// Each offset is a real pixel's, inside the tile (a huge stride's step times the row length may not be).
template <typename T>
void pixel_pointers(const ConvShape& s, const T* Xt, int64_t imgs, int64_t img_pitch, int64_t r0,
                    int64_t rows, int64_t Wp, int64_t Cs, std::vector<const T*>& pa) {
  pa.clear();
  for (int64_t i = 0; i < imgs; ++i)
    for (int64_t oh = r0; oh < r0 + rows; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow)
        pa.push_back(Xt + i * img_pitch + (oh * s.stride_h * Wp + ow * s.stride_w) * Cs);
}

}  // namespace

// Backward-weight as channels-last GEMMs. Per task (images, group, band of output rows) the input band is
// transposed to Xt[img][row][col][c] (zero-padded) and gy to Gt[img][pixel][k] (k padded to whole
// vectors). Then for each kernel row r, gw_r[(q, c)][k] = sum_pixels Xt[oh*sh + r*dh][ow*sw + q*dw][c] *
// Gt[oh][ow][k]: with dil_w = 1 and Cg unpadded the S*Cg values (q, c) of one pixel are contiguous in Xt,
// so the whole kernel row is one GEMM (else one per tap) whose operands are read in place, the pixel loop
// innermost with the accumulators in registers. The transposes cost Cg*rows*Wp + OW*nb*Kp per band,
// 1/(R*S) of an im2col. Each run of tasks (chunked_sums) sums into its own gw copy laid out
// [g][r][q][c][k]; the copies are added (and transposed) at the end: no atomics, and the same bits for any
// thread count. Memory: up to kChunks such copies (G*R*S*Cg*Kp), and per thread the band tiles (bounded to
// about 1 MiB).
template <typename T>
void backward_weight_gemm(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), P = s.OH * s.OW, RS = s.R * s.S;
  const int64_t MR = kt.mr, Kp = round_up(Kg, kt.vl);  // gemm_pixels takes columns in whole vectors
  // Pixel stride of the gy copies: a tile reads one line of each of its ~128-256 pixels, and at a multiple of
  // 256 bytes those lines fell in a quarter of the L1 sets or fewer.
  const int64_t Kb = pixel_stride(Kp, sizeof(T));
  const int64_t Wp = s.W + s.pad_left + s.pad_right, sh = s.stride_h;
  const int64_t plen = G * RS * Cg * Kp + s.K, len = s.K * Cg * RS;  // the gw copy, then gb's
  // Pixel stride of Xt, padded off multiples of 256 bytes (pixel_stride): a pass's ~128 pixels 512 bytes
  // apart fell in 8 of the L1's 64 sets, and every row tile read them from L2 again (res_3x3_128 at 1 thread
  // 1.05x, vgg_3x3_64 and r18_3x3_128 1.02-1.06x, min of 15 interleaved). Padded, a kernel row's (q, c)
  // values are no longer one run: one GEMM per tap instead.
  const int64_t Cs = pixel_stride(Cg, sizeof(T));
  if (s.N == 0) {
    std::fill(gw, gw + len, T(0));
    if (gb) std::fill(gb, gb + s.K, T(0));
    return;
  }
  // Band height: whole images when the batch fills the runs, and tiles of at most ~128K elements. It
  // decides the order of the sums, so it must not depend on the thread count.
  int64_t nb = s.OH;
  if (s.N * G < kChunks) nb = ceil_div(s.OH, ceil_div(kChunks, s.N * G));
  const int64_t cap = int64_t(128) * 1024;
  // (divided by sh last: sh * Wp * Cs may not fit in int64 where Wp * Cs does, see gemm_bwd_weight_fits)
  nb = std::max<int64_t>(1, std::min({nb, cap / std::max<int64_t>(1, Wp * Cs) / sh, cap / (s.OW * Kb)}));
  const int64_t nbands = ceil_div(s.OH, nb), in_rows = (nb - 1) * sh + (s.R - 1) * s.dil_h + 1;
  // Output rows per pass, about 128 pixels: their B and A lines stay in a 32 KiB L1 together (Zen 3,
  // AVX2: 1.01-1.12x against 256 pixels at 1 thread, 0.99-1.08x at 2).
  const int64_t chunk = std::max<int64_t>(1, 128 / s.OW);
  // Small planes: a task takes ni whole images, so that each visit of a gw tile contracts over ~256
  // pixels (ResNet-18's 4x4 planes alone gave 16 FMAs per gw element loaded and stored: memory-bound), as
  // long as the batch still makes kChunks runs and the tiles stay within the same bound.
  int64_t ni = 1;
  if (nbands == 1 && s.OH <= chunk)
    ni = std::max<int64_t>(1, std::min({256 / P, s.N * G / kChunks, cap / (in_rows * Wp * Cs), cap / (P * Kb)}));
  const int64_t nimg_tasks = ceil_div(s.N, ni), tasks = nimg_tasks * G * nbands;
  const int64_t x_img = in_rows * Wp * Cs, g_img = nb * s.OW * Kb;  // the tiles' image pitches
  // Small planes under big weights (ResNet-18's 8x8 and 4x4 stages): the runs' gw copies would outweigh
  // the data they sum (8 copies of a 512-channel 3x3 layer's 9.4 MB against 2 MB of x and gy), and each
  // visit of a gw tile would contract over a few images only. Then the tasks split gw instead: (group,
  // block of cb input channels), each summing over all images, in image order, into its own slice of one
  // copy laid out [g][c][rq][k] (the same bits for any thread count again), from a gy transposed once for
  // all of them (Gs), and transposing its slice into gw as it ends.
  const double data = double(G * s.N) * (double(Cg * s.H * s.W) + double(P * Kp));
  const int64_t runs = std::min(kChunks, tasks);
  // Blocks of whole micro-tile rows (MR channels), as even as that allows (blocks of 72 channels and a last
  // of 8 left a thread idle for a ninth of a 512-channel pass); cb, the largest, is the tile's pixel pitch.
  const int64_t row_tiles = ceil_div(Cg, MR), cblocks = std::min(kChunks, row_tiles);
  const int64_t cb = std::min(Cg, ceil_div(row_tiles, cblocks) * MR);
  const int64_t img_rows = (s.OH - 1) * sh + (s.R - 1) * s.dil_h + 1;  // <= the padded height: fits
  const bool by_channels = s.OH <= chunk && double(img_rows) * double(Wp) * double(cb) <= double(cap) &&
                           double(runs) * double(plen) > data;
  const int64_t xc_img = by_channels ? img_rows * Wp * cb : 0;  // an image of cb channels in their tile
  // Images a pass: about 128 pixels, whose gy stripe (16 KB at AVX-512) stays in L1 beside the input tile
  // (interleaved A/B on the r18 8x8 and 4x4 layers: 1.00-1.09x against 256 pixels, 0.87-0.98x at 512).
  const int64_t nc = by_channels ? std::max<int64_t>(1, std::min(128 / P, cap / xc_img)) : 0;
  // By channel blocks: one gw copy and gy transposed; else the runs' gw copies (chunked_sums).
  T* shared = by_channels ? workspace<T>(kPartial, G * RS * Cg * Kp + G * s.N * P * Kb) : nullptr;
  const Partials<T> parts = by_channels ? Partials<T>{} : chunk_partials<T>(tasks, plen);
  // Xt also holds the runs' final sums of kCB input channels (at most Cg: a weight-sized buffer at worst);
  // by channel blocks each block transposes its own slice instead.
  const int64_t xt_len = by_channels ? nc * xc_img + MR + s.S * cb
                                     : std::max(ni * x_img + MR + s.S * Cs, std::min(kCB, Cg) * RS * Kp);
  reserve<T>({{kTile, xt_len}, {kTile2, by_channels ? 0 : ni * g_img}});
#pragma omp parallel
  {
    DenormalGuard ftz;
    T* Xt = workspace<T>(kTile, xt_len);
    thread_local std::vector<const T*> pa;
    if (by_channels) {
      T* Gs = shared + G * RS * Cg * Kp;  // gy as [g][n][pixel][k]
#pragma omp for schedule(static)
      for (int64_t gn = 0; gn < G * s.N; ++gn)
        transpose_gy(kt, Kg, Kp, Kb, P, gy + (gn % s.N * s.K + gn / s.N * Kg) * P, P, Gs + gn * P * Kb);
      if (gb) {
#pragma omp for schedule(static)
        for (int64_t k = 0; k < s.K; ++k) {
          T sum = 0;
          for (int64_t n = 0; n < s.N; ++n) {
            const T* src = gy + (n * s.K + k) * P;
#pragma omp simd reduction(+ : sum)
            for (int64_t p = 0; p < P; ++p) sum += src[p];
          }
          gb[k] = sum;
        }
      }
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < G * cblocks; ++t) {
        const int64_t g = t / cblocks, bi = t % cblocks, c0 = bi * row_tiles / cblocks * MR;
        const int64_t cl = std::min(Cg, (bi + 1) * row_tiles / cblocks * MR) - c0;
        T* pg = shared + (g * Cg + c0) * RS * Kp;  // row (c, rq) of the block's slice at pg + (c*RS + rq)*Kp
        std::fill(pg, pg + cl * RS * Kp, T(0));
        for (int64_t n0 = 0; n0 < s.N; n0 += nc) {
          const int64_t imgs = std::min(nc, s.N - n0);
          std::fill(Xt, Xt + imgs * xc_img + MR + s.S * cb, T(0));
          for (int64_t i = 0; i < imgs; ++i)
            for (int64_t lr = 0; lr < img_rows; ++lr) {
              const int64_t ih = lr - s.pad_top;
              if (ih >= 0 && ih < s.H && band_row_read(s, lr, s.OH))
                kt.transpose(cl, s.W, x + ((n0 + i) * s.C + g * Cg + c0) * s.H * s.W + ih * s.W, s.H * s.W,
                             Xt + i * xc_img + (lr * Wp + s.pad_left) * cb, cb);
            }
          pixel_pointers(s, Xt, imgs, xc_img, 0, s.OH, Wp, cb, pa);
          for (int64_t r = 0; r < s.R; ++r)
            for (int64_t q = 0; q < s.S; ++q)
              kt.gemm_pixels(cl, Kp, imgs * P, pa.data(), (r * s.dil_h * Wp + q * s.dil_w) * cb,
                             Gs + (g * s.N + n0) * P * Kb, Kb, pg + (r * s.S + q) * Kp, RS * Kp);
        }
        // The block's cl*RS rows, still in L2, to gw[g*Kg + k][c0 + c][rq] (whole SIMD blocks).
        kt.transpose(cl * RS, Kg, pg, Kp, gw + g * Kg * Cg * RS + c0 * RS, Cg * RS);
      }
    } else {
      T* Gt = workspace<T>(kTile2, ni * g_img);
      chunked_sums<T>(tasks, parts, [&](int64_t t, T* mine) {
        const int64_t bi = t % nbands, g = t / nbands % G, n0 = t / (nbands * G) * ni;
        const int64_t imgs = std::min(ni, s.N - n0), oh0 = bi * nb, rows = std::min(nb, s.OH - oh0);
        const int64_t used = (rows - 1) * sh + (s.R - 1) * s.dil_h + 1, np = rows * s.OW;
        std::fill(Xt, Xt + (imgs - 1) * x_img + used * Wp * Cs + MR + s.S * Cs, T(0));
        for (int64_t i = 0; i < imgs; ++i) {
          const T* xg = x + ((n0 + i) * s.C + g * Cg) * s.H * s.W;
          for (int64_t lr = 0; lr < used; ++lr) {
            const int64_t ih = oh0 * sh + lr - s.pad_top;
            if (ih < 0 || ih >= s.H || !band_row_read(s, lr, rows)) continue;
            // Two rows ahead (the next one read at stride 2): a 32-column row is two lines of each of Cg
            // planes, too short a stream for the hardware prefetchers (r18_short_* 1.06-1.11x at 1 thread).
            if (ih + 2 < s.H)
              for (int64_t c = 0; c < Cg; ++c)
                for (int64_t j = 0; j < s.W; j += 64 / int64_t(sizeof(T)))
                  __builtin_prefetch(xg + (c * s.H + ih + 2) * s.W + j);
            kt.transpose(Cg, s.W, xg + ih * s.W, s.H * s.W, Xt + i * x_img + (lr * Wp + s.pad_left) * Cs, Cs);
          }
          const T* gyg = gy + ((n0 + i) * s.K + g * Kg) * P + oh0 * s.OW;
          transpose_gy(kt, Kg, Kp, Kb, np, gyg, P, Gt + i * g_img);
          for (int64_t k = 0; k < Kg; ++k) {
            const T* src = gyg + k * P;
            T sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int64_t p = 0; p < np; ++p) sum += src[p];
            mine[plen - s.K + g * Kg + k] += sum;
          }
        }
        T* pg = mine + g * RS * Cg * Kp;
        // Several images (imgs > 1) come only with all rows in one chunk: B's pixels are then contiguous too.
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
          const int64_t nr = std::min(chunk, rows - r0);
          pixel_pointers(s, Xt, imgs, x_img, r0, nr, Wp, Cs, pa);
          const T* B = Gt + r0 * s.OW * Kb;
          for (int64_t r = 0; r < s.R; ++r) {
            const int64_t a_off = r * s.dil_h * Wp * Cs, np = imgs * nr * s.OW;
            if (s.dil_w == 1 && Cs == Cg) {
              kt.gemm_pixels(s.S * Cg, Kp, np, pa.data(), a_off, B, Kb, pg + r * s.S * Cg * Kp, Kp);
            } else {
              for (int64_t q = 0; q < s.S; ++q)
                kt.gemm_pixels(Cg, Kp, np, pa.data(), a_off + q * s.dil_w * Cs, B, Kb,
                               pg + (r * s.S + q) * Cg * Kp, Kp);
            }
          }
        }
      });
      // The runs' copies summed in run order and transposed [g][rq][c][k] -> gw[g*Kg + k][c][rq], kCB
      // input channels at a time: the sums read each copy in whole rows of Kp, and kCB*RS rows (whole
      // vectors) are transposed as SIMD blocks (element by element, a 512-channel layer's writes were 18 KB
      // apart).
      const int64_t cblocks = ceil_div(Cg, kCB);
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < G * cblocks; ++blk) {
        const int64_t g = blk / cblocks, c0 = blk % cblocks * kCB, nc = std::min(kCB, Cg - c0);
        T* sum = Xt;  // the band tile is free now
        for (int64_t rq = 0; rq < RS; ++rq)
          for (int64_t c = 0; c < nc; ++c) parts.sum(((g * RS + rq) * Cg + c0 + c) * Kp, Kp, sum + (c * RS + rq) * Kp);
        kt.transpose(nc * RS, Kg, sum, Kp, gw + g * Kg * Cg * RS + c0 * RS, Cg * RS);  // gw[g*Kg + k][c][rq]
      }
      if (gb) reduce_partials(parts, s.K, gb, plen - s.K);
    }
  }
}

STRIDED_CONV_INSTANTIATE(gemm, float)
STRIDED_CONV_INSTANTIATE(gemm, double)

}  // namespace strided::conv
