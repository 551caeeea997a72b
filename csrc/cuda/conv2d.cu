// CUDA conv2d kernels: the GPU twins of csrc/conv2d/, templated on float/double and compiled at run
// time by NVRTC (strided/ops/conv2d/cuda.py instantiates them through CuPy's name_expressions).
//
// Every kernel takes contiguous NCHW arrays and the geometry of strided.ops.conv2d.args.ConvArgs as 64-bit
// scalars (CONV_GEOMETRY below, in that order). No atomics anywhere: every output element is written by
// exactly one thread, which sums its terms in a fixed order, so results are bitwise reproducible.
//
//   conv2d_forward_tiled          implicit GEMM per group: Y[k][p] = sum_q W[k][q] * col[q][p] with
//                                 q = (c, r, s) and p = (n, oh, ow); 64x64 output tiles, the W and col
//                                 tiles staged through shared memory (col gathered on the fly).
//   conv2d_forward_direct         one thread per output element (depthwise / tiny channel counts).
//   conv2d_backward_input         gather: each input pixel sums the outputs whose window covers it; the
//                                 weights of its channel are staged through shared memory in chunks.
//   conv2d_backward_weight_tiled  GEMM gW[k][q] = sum_p gY[k][p] * col[q][p], the sum over p split into
//                                 a fixed number of chunks (planned from the shape alone) whose partial
//                                 tiles conv2d_sum_splits adds in chunk order.
//   conv2d_backward_weight_direct one block per weight, a fixed-order shared-memory tree reduction.
//   conv2d_backward_bias          one block per output channel, the same reduction.
//   conv2d_im2col                 the column matrix, for the optional cuBLAS path (cupy.matmul).
#include "common.cuh"

using strided_cuda::i64;

#define CONV_GEOMETRY                                                                                  \
  i64 N, i64 C, i64 H, i64 W, i64 K, i64 R, i64 S, i64 OH, i64 OW, i64 stride_h, i64 stride_w,         \
      i64 pad_top, i64 pad_left, i64 dil_h, i64 dil_w, i64 groups

namespace strided_cuda {

// Shared-memory row lengths of the GEMM tiles (+1 breaks the bank conflicts of the transposed stores).
constexpr int kLdA = kTileM + 1;
constexpr int kLdB = kTileN + 1;

// acc[i][j] += sum over k in [k_begin, k_end) of A(m0 + ty + 16 i, k) * B(k, n0 + tx + 16 j), with
// out-of-range rows/columns/k read as zero; the sum runs in increasing k (deterministic). Every thread of
// the block must call it (it synchronizes).
//
// The loaders hoist index arithmetic out of the inner loops: each thread stages the same A-tile column kk
// (k = k0 + kk) for four rows, and the same B-tile column n for four k, so
//   a.at_k(k) -> ctx once per k-step, then a.load(ctx, m) per row;
//   b.column(n) -> ctx once per thread, then b.load(ctx, k) per k.
template <typename T, typename LoadA, typename LoadB>
STRIDED_DEVICE void gemm_tile(i64 M, i64 Ncols, i64 k_begin, i64 k_end, i64 m0, i64 n0, const LoadA& a_loader,
                              const LoadB& b_loader, T (&acc)[kMicro][kMicro]) {
  static_assert(kThreads % kTileK == 0 && kThreads % kTileN == 0, "fixed staging columns per thread");
  T* As = reinterpret_cast<T*>(shared_bytes());  // [kTileK][kLdA]
  T* Bs = As + kTileK * kLdA;                     // [kTileK][kLdB]
  const int tid = (int)threadIdx.x;
  const int tx = tid % (kTileN / kMicro), ty = tid / (kTileN / kMicro);
  const int a_kk = tid % kTileK, a_row = tid / kTileK;  // A rows a_row + j * (kThreads / kTileK)
  const int b_n = tid % kTileN, b_kk = tid / kTileN;    // B rows b_kk + j * (kThreads / kTileN)
  const bool b_ok = n0 + b_n < Ncols;
  const auto b_ctx = b_loader.column(b_ok ? n0 + b_n : 0);
  for (i64 k0 = k_begin; k0 < k_end; k0 += kTileK) {
    const bool a_ok = k0 + a_kk < k_end;
    const auto a_ctx = a_loader.at_k(a_ok ? k0 + a_kk : k_begin);
#pragma unroll
    for (int j = 0; j < kTileK * kTileM / kThreads; ++j) {
      const int m = a_row + j * (kThreads / kTileK);
      As[a_kk * kLdA + m] = (a_ok && m0 + m < M) ? a_loader.load(a_ctx, m0 + m) : T(0);
    }
#pragma unroll
    for (int j = 0; j < kTileK * kTileN / kThreads; ++j) {
      const int kk = b_kk + j * (kThreads / kTileN);
      Bs[kk * kLdB + b_n] = (b_ok && k0 + kk < k_end) ? b_loader.load(b_ctx, k0 + kk) : T(0);
    }
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < kTileK; ++kk) {
      T a[kMicro], b[kMicro];
#pragma unroll
      for (int i = 0; i < kMicro; ++i) a[i] = As[kk * kLdA + ty + (kTileM / kMicro) * i];
#pragma unroll
      for (int j = 0; j < kMicro; ++j) b[j] = Bs[kk * kLdB + tx + (kTileN / kMicro) * j];
#pragma unroll
      for (int i = 0; i < kMicro; ++i)
#pragma unroll
        for (int j = 0; j < kMicro; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
}

// The input value under tap (r, s) = rs of output pixel (oh, ow) = ohw of image n, channel c; 0 in padding.
template <typename T>
STRIDED_DEVICE T tap_value(const T* x, i64 n, i64 c, i64 rs, i64 ohw, i64 C, i64 H, i64 W, i64 S, i64 OW,
                           i64 stride_h, i64 stride_w, i64 pad_top, i64 pad_left, i64 dil_h, i64 dil_w) {
  const i64 r = rs / S, s = rs % S, oh = ohw / OW, ow = ohw % OW;
  const i64 ih = oh * stride_h - pad_top + r * dil_h, iw = ow * stride_w - pad_left + s * dil_w;
  return (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((n * C + c) * H + ih) * W + iw] : T(0);
}

// The geometry the GEMM loaders need, with the 32-bit quantities as int (q = (c, r, s) < C/groups*R*S and
// a pixel within an image, both below 2^31: strided/ops/conv2d/cuda.py checks) so their divisions are cheap.
struct Geometry {
  i64 C, H, W, K, P;  // P = OH * OW
  int R, S, RS, OW, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
};

STRIDED_DEVICE Geometry make_geometry(i64 C, i64 H, i64 W, i64 K, i64 R, i64 S, i64 OH, i64 OW, i64 stride_h,
                                      i64 stride_w, i64 pad_top, i64 pad_left, i64 dil_h, i64 dil_w) {
  Geometry g;
  g.C = C; g.H = H; g.W = W; g.K = K; g.P = OH * OW;
  g.R = (int)R; g.S = (int)S; g.RS = (int)(R * S); g.OW = (int)OW;
  g.stride_h = (int)stride_h; g.stride_w = (int)stride_w; g.pad_top = (int)pad_top; g.pad_left = (int)pad_left;
  g.dil_h = (int)dil_h; g.dil_w = (int)dil_w;
  return g;
}

// Forward A = the group's weights W[m][q] (rows of Kred = C/groups*R*S).
template <typename T>
struct ForwardWeights {
  const T* wg;
  i64 Kred;
  STRIDED_DEVICE i64 at_k(i64 q) const { return q; }
  STRIDED_DEVICE T load(i64 q, i64 m) const { return wg[m * Kred + q]; }
};

// Forward B = the column matrix col[q][p]: column p = (n, oh, ow) fixed per thread.
template <typename T>
struct ForwardColumns {
  const T* xg;  // x at (image 0, first channel of the group)
  Geometry g;
  struct Ctx {
    i64 base;  // offset of (n, first channel of the group)
    int ih0, iw0;
  };
  STRIDED_DEVICE Ctx column(i64 p) const {
    const i64 n = p / g.P;
    const int pp = (int)(p - n * g.P), oh = pp / g.OW, ow = pp - oh * g.OW;
    Ctx c;
    c.base = n * g.C * g.H * g.W;
    c.ih0 = oh * g.stride_h - g.pad_top;
    c.iw0 = ow * g.stride_w - g.pad_left;
    return c;
  }
  STRIDED_DEVICE T load(const Ctx& ctx, i64 q) const {
    const int qi = (int)q, c = qi / g.RS, rs = qi - c * g.RS, r = rs / g.S, s = rs - r * g.S;
    const i64 ih = ctx.ih0 + r * g.dil_h, iw = ctx.iw0 + s * g.dil_w;
    return (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? xg[ctx.base + (c * g.H + ih) * g.W + iw] : T(0);
  }
};

// Weight-gradient A = gY[m][p] of the group: row k = m, reduction index p = (n, oh, ow).
template <typename T>
struct WeightGradOutputs {
  const T* gyg;  // gy at (image 0, first channel of the group)
  Geometry g;
  STRIDED_DEVICE i64 at_k(i64 p) const {
    const i64 n = p / g.P;
    return n * g.K * g.P + (p - n * g.P);
  }
  STRIDED_DEVICE T load(i64 offset, i64 m) const { return gyg[offset + m * g.P]; }
};

// Weight-gradient B = col^T[p][q]: column q = (c, r, s) fixed per thread.
template <typename T>
struct WeightGradColumns {
  const T* xg;
  Geometry g;
  struct Ctx {
    i64 coff;
    int roff, soff;
  };
  STRIDED_DEVICE Ctx column(i64 q) const {
    const int qi = (int)q, c = qi / g.RS, rs = qi - c * g.RS, r = rs / g.S, s = rs - r * g.S;
    Ctx ctx;
    ctx.coff = c * g.H * g.W;
    ctx.roff = r * g.dil_h - g.pad_top;
    ctx.soff = s * g.dil_w - g.pad_left;
    return ctx;
  }
  STRIDED_DEVICE T load(const Ctx& ctx, i64 p) const {
    const i64 n = p / g.P;
    const int pp = (int)(p - n * g.P), oh = pp / g.OW, ow = pp - oh * g.OW;
    const i64 ih = (i64)oh * g.stride_h + ctx.roff, iw = (i64)ow * g.stride_w + ctx.soff;
    return (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? xg[n * g.C * g.H * g.W + ctx.coff + ih * g.W + iw]
                                                        : T(0);
  }
};

}  // namespace strided_cuda

// grid (ceil(N*OH*OW / kTileN), ceil(K/groups / kTileM), groups), kThreads threads,
// shared (kTileK * (kLdA + kLdB)) * sizeof(T).
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kThreads)
    conv2d_forward_tiled(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                         T* __restrict__ y, CONV_GEOMETRY) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, Kg = K / groups, RS = R * S, Kred = Cg * RS, P = OH * OW, NP = N * P;
  const i64 g = blockIdx.z, m0 = (i64)blockIdx.y * kTileM, n0 = (i64)blockIdx.x * kTileN;
  const Geometry geo = make_geometry(C, H, W, K, R, S, OH, OW, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w);
  const ForwardWeights<T> load_w{w + g * Kg * Kred, Kred};
  const ForwardColumns<T> load_col{x + g * Cg * H * W, geo};
  T acc[kMicro][kMicro];
  for (int i = 0; i < kMicro; ++i)
    for (int j = 0; j < kMicro; ++j) acc[i][j] = T(0);
  gemm_tile<T>(Kg, NP, 0, Kred, m0, n0, load_w, load_col, acc);
  const int tx = (int)threadIdx.x % (kTileN / kMicro), ty = (int)threadIdx.x / (kTileN / kMicro);
  for (int i = 0; i < kMicro; ++i) {
    const i64 m = m0 + ty + (kTileM / kMicro) * i;
    if (m >= Kg) continue;
    const i64 k = g * Kg + m;
    const T bias = b ? b[k] : T(0);
    for (int j = 0; j < kMicro; ++j) {
      const i64 p = n0 + tx + (kTileN / kMicro) * j;
      if (p < NP) y[((p / P) * K + k) * P + p % P] = acc[i][j] + bias;
    }
  }
}

// grid-stride over N*K*OH*OW outputs, kBlock threads, no shared memory.
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kBlock)
    conv2d_forward_direct(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                          T* __restrict__ y, CONV_GEOMETRY) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, Kg = K / groups, total = N * K * OH * OW;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 ow = e % OW, oh = e / OW % OH, k = e / (OW * OH) % K, n = e / (OW * OH * K);
    const i64 c0 = (k / Kg) * Cg;
    T acc = b ? b[k] : T(0);
    for (i64 c = 0; c < Cg; ++c) {
      const T* xc = x + (n * C + c0 + c) * H * W;
      const T* wc = w + (k * Cg + c) * R * S;
      for (i64 r = 0; r < R; ++r) {
        const i64 ih = oh * stride_h - pad_top + r * dil_h;
        if (ih < 0 || ih >= H) continue;
        for (i64 s = 0; s < S; ++s) {
          const i64 iw = ow * stride_w - pad_left + s * dil_w;
          if (iw >= 0 && iw < W) acc += wc[r * S + s] * xc[ih * W + iw];
        }
      }
    }
    y[e] = acc;
  }
}

// Gather. grid: N*C*ceil(H*W / blockDim.x) blocks (one (image, channel) plane per run of blocks),
// blockDim.x threads (a multiple of 32, at most kBlock); k_chunk output channels' weights of the plane's
// channel are staged in shared memory at a time (shared k_chunk*R*S*sizeof(T)); k_chunk = 0 reads the
// weights from global memory instead (kernels too large for shared memory).
// (No __launch_bounds__: with it ptxas caps the fp64 variant at 64 registers and spills.)
template <typename T>
__global__ void conv2d_backward_input(const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx,
                                      CONV_GEOMETRY, i64 k_chunk) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, Kg = K / groups, RS = R * S, HW = H * W, P = OH * OW;
  const i64 tiles = (HW + blockDim.x - 1) / blockDim.x;
  const i64 plane = blockIdx.x / tiles, pix = (i64)(blockIdx.x % tiles) * blockDim.x + threadIdx.x;
  const i64 n = plane / C, c = plane % C, g = c / Cg, cl = c % Cg;
  const bool active = pix < HW;
  const i64 ih = active ? pix / W : 0, iw = active ? pix % W : 0;
  T* ws = reinterpret_cast<T*>(shared_bytes());
  const T* gyg = gy + (n * K + g * Kg) * P;
  T acc = T(0);
  const i64 step = k_chunk > 0 ? k_chunk : Kg;
  for (i64 k0 = 0; k0 < Kg; k0 += step) {
    const i64 kn = imin(step, Kg - k0);
    const T* wsrc;
    i64 wstride;  // distance between consecutive output channels' taps in wsrc
    if (k_chunk > 0) {
      __syncthreads();  // the previous chunk is no longer read
      for (i64 i = threadIdx.x; i < kn * RS; i += blockDim.x)
        ws[i] = w[((g * Kg + k0 + i / RS) * Cg + cl) * RS + i % RS];
      __syncthreads();
      wsrc = ws;
      wstride = RS;
    } else {
      wsrc = w + ((g * Kg + k0) * Cg + cl) * RS;
      wstride = Cg * RS;
    }
    if (!active) continue;
    for (i64 r = 0; r < R; ++r) {
      const i64 th = ih + pad_top - r * dil_h;
      if (th < 0 || th % stride_h) continue;
      const i64 oh = th / stride_h;
      if (oh >= OH) continue;
      for (i64 s = 0; s < S; ++s) {
        const i64 tw = iw + pad_left - s * dil_w;
        if (tw < 0 || tw % stride_w) continue;
        const i64 ow = tw / stride_w;
        if (ow >= OW) continue;
        const T* gyp = gyg + k0 * P + oh * OW + ow;
        const T* wp = wsrc + r * S + s;
        for (i64 kk = 0; kk < kn; ++kk) acc += wp[kk * wstride] * gyp[kk * P];
      }
    }
  }
  if (active) gx[plane * HW + pix] = acc;
}

// grid (ceil(Cg*R*S / kTileN), ceil(K/groups / kTileM), groups * splits), kThreads threads, shared as
// conv2d_forward_tiled. Split z / groups sums p = (n, oh, ow) over [split * chunk, (split + 1) * chunk)
// (chunk a multiple of kTileK) into out + split * K*Cg*R*S; with one split, out is gw itself.
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kThreads)
    conv2d_backward_weight_tiled(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ out,
                                 CONV_GEOMETRY, i64 chunk) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, Kg = K / groups, RS = R * S, Kred = Cg * RS, P = OH * OW, NP = N * P;
  const i64 g = blockIdx.z % groups, split = blockIdx.z / groups;
  const i64 m0 = (i64)blockIdx.y * kTileM, n0 = (i64)blockIdx.x * kTileN;
  const i64 p_begin = imin(split * chunk, NP), p_end = imin(p_begin + chunk, NP);
  const Geometry geo = make_geometry(C, H, W, K, R, S, OH, OW, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w);
  const WeightGradOutputs<T> load_gy{gy + g * Kg * P, geo};
  const WeightGradColumns<T> load_col_t{x + g * Cg * H * W, geo};
  T acc[kMicro][kMicro];
  for (int i = 0; i < kMicro; ++i)
    for (int j = 0; j < kMicro; ++j) acc[i][j] = T(0);
  gemm_tile<T>(Kg, Kred, p_begin, p_end, m0, n0, load_gy, load_col_t, acc);
  const int tx = (int)threadIdx.x % (kTileN / kMicro), ty = (int)threadIdx.x / (kTileN / kMicro);
  T* outs = out + split * K * Kred;
  for (int i = 0; i < kMicro; ++i) {
    const i64 m = m0 + ty + (kTileM / kMicro) * i;
    if (m >= Kg) continue;
    for (int j = 0; j < kMicro; ++j) {
      const i64 q = n0 + tx + (kTileN / kMicro) * j;
      if (q < Kred) outs[(g * Kg + m) * Kred + q] = acc[i][j];
    }
  }
}

// gw[i] = sum over split s = 0, 1, ... of parts[s * len + i], in that order. Grid-stride, kBlock threads.
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kBlock)
    conv2d_sum_splits(const T* __restrict__ parts, T* __restrict__ gw, i64 len, i64 splits) {
  using namespace strided_cuda;
  for (i64 i = first_index(); i < len; i += index_step()) {
    T acc = parts[i];
    for (i64 s = 1; s < splits; ++s) acc += parts[s * len + i];
    gw[i] = acc;
  }
}

// One block (kBlock threads) per weight element (grid K*Cg*R*S); thread t sums p = t, t + kBlock, ...
// of N*OH*OW, then a fixed-order tree reduction. Shared kBlock * sizeof(T).
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kBlock)
    conv2d_backward_weight_direct(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gw,
                                  CONV_GEOMETRY) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, Kg = K / groups, P = OH * OW, NP = N * P;
  const i64 e = blockIdx.x, s = e % S, r = e / S % R, c = e / (S * R) % Cg, k = e / (S * R * Cg);
  const i64 cin = (k / Kg) * Cg + c;
  T acc = T(0);
  for (i64 p = threadIdx.x; p < NP; p += blockDim.x) {
    const i64 n = p / P, oh = p % P / OW, ow = p % OW;
    const i64 ih = oh * stride_h - pad_top + r * dil_h, iw = ow * stride_w - pad_left + s * dil_w;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
      acc += gy[(n * K + k) * P + p % P] * x[((n * C + cin) * H + ih) * W + iw];
  }
  acc = block_sum(acc, reinterpret_cast<T*>(shared_bytes()));
  if (threadIdx.x == 0) gw[e] = acc;
}

// One block (kBlock threads) per output channel (grid K): gb[k] = sum of gy[:, k]. Shared kBlock*sizeof(T).
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kBlock)
    conv2d_backward_bias(const T* __restrict__ gy, T* __restrict__ gb, i64 N, i64 K, i64 P) {
  using namespace strided_cuda;
  const i64 k = blockIdx.x, NP = N * P;
  T acc = T(0);
  for (i64 i = threadIdx.x; i < NP; i += blockDim.x) acc += gy[((i / P) * K + k) * P + i % P];
  acc = block_sum(acc, reinterpret_cast<T*>(shared_bytes()));
  if (threadIdx.x == 0) gb[k] = acc;
}

// col[g][q][p] (groups x Cg*R*S x N*OH*OW) for the cuBLAS path. Grid-stride, kBlock threads.
template <typename T>
__global__ void __launch_bounds__(strided_cuda::kBlock)
    conv2d_im2col(const T* __restrict__ x, T* __restrict__ col, CONV_GEOMETRY) {
  using namespace strided_cuda;
  const i64 Cg = C / groups, RS = R * S, Kred = Cg * RS, P = OH * OW, NP = N * P, total = groups * Kred * NP;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 p = e % NP, q = e / NP % Kred, g = e / (NP * Kred);
    col[e] = tap_value(x, p / P, g * Cg + q / RS, q % RS, p % P, C, H, W, S, OW, stride_h, stride_w, pad_top,
                       pad_left, dil_h, dil_w);
  }
}

#undef CONV_GEOMETRY
