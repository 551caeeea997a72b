// The GEMM microkernels of kern::Table (gemm, pack_panels, gemm_pixels): register-blocked micro-tiles
// behind conv2d's Gemm algorithm and linear. Included by kern/table_impl.h inside an anonymous namespace,
// compiled once per ISA; uses kern/vec.h.
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

// C[i][j] += sum_{p < np} pa[p][a_off + i] * B[p * ldb + j] for i < M (A may be read up to MR-1 elements
// past row M-1), j < N (a multiple of VL). The backward-weight GEMM over channels-last tiles: the
// contraction runs over the output pixels (of several rows and images, one pointer each into the input
// tile, the tap's offset added) while the accumulators stay in registers, and A, B are read in place (no
// packing: their layout already puts MR consecutive channels / NR consecutive output channels at each
// pixel).
// MT <= MR rows and NT <= NV vectors of columns: a last row block (Cg = 128 = 21*6 + 2) or column block of
// one vector (K/g = 16, 48) runs a smaller tile instead of doubling its work with padding.
template <typename T, int MT, int NT>
void gemm_pixels_tile(int64_t np, const T* const* pa, int64_t a_off, const T* B, int64_t ldb, T* C,
                      int64_t ldc, int mvalid) {
  constexpr int L = VL<T>;
  V<T> c[MT][NT];
#pragma GCC unroll 32
  for (int i = 0; i < MT; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) c[i][v] = V<T>{};
  for (int64_t p = 0; p < np; ++p, B += ldb) {
    const T* a = pa[p] + a_off;
    // One address register for the MR broadcasts: without this barrier GCC keeps a_off + i in a register
    // per i and spills them (0.93x the strided loops on AVX-512).
    asm("" : "+r"(a));
    V<T> bv[NT];
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) bv[v] = load(B + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MT; ++i) {
      const V<T> av = bcast(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NT; ++v) c[i][v] += av * bv[v];
    }
  }
  for (int i = 0; i < mvalid; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NT; ++v) {
      T* p = C + i * ldc + v * L;
      store(p, c[i][v] + load(p));
    }
}

template <typename T, int NT>
inline void gemm_pixels_rows(int64_t np, const T* const* pa, int64_t a_off, const T* B, int64_t ldb, T* C,
                             int64_t ldc, int mv) {
  if (mv > 2 * MR / 3) gemm_pixels_tile<T, MR, NT>(np, pa, a_off, B, ldb, C, ldc, mv);
  else if (mv > MR / 3) gemm_pixels_tile<T, 2 * MR / 3, NT>(np, pa, a_off, B, ldb, C, ldc, mv);
  else gemm_pixels_tile<T, MR / 3, NT>(np, pa, a_off, B, ldb, C, ldc, mv);
}

template <typename T>
void gemm_pixels(int64_t M, int64_t N, int64_t np, const T* const* pa, int64_t a_off, const T* B, int64_t ldb,
                 T* C, int64_t ldc) {
  static_assert(NV == 2, "the column blocks below are NV and one vector wide");
  constexpr int NR = NV * VL<T>;
  for (int64_t j = 0; j < N; j += NR)
    for (int64_t i = 0; i < M; i += MR) {
      const int mv = int(M - i < MR ? M - i : MR);
      if (N - j >= NR) gemm_pixels_rows<T, NV>(np, pa, a_off + i, B + j, ldb, C + i * ldc + j, ldc, mv);
      else gemm_pixels_rows<T, 1>(np, pa, a_off + i, B + j, ldb, C + i * ldc + j, ldc, mv);
    }
}
