// Max pooling's kernels for the interior windows: pool_rows.h's machinery (Lanes, sweep, the strided
// loads and tiled stores) applied to picks. Included after pool_rows.h by kern/table_impl.h, inside the
// same anonymous namespace, so each ISA file compiles its own copy.

// The reference's pick (pool2d.cpp's argmax(), PyTorch's): in row-major order a later element is taken
// if greater or if it is NaN, so equal maxima go to the first and NaNs to the last. max_pick meets a
// window's elements in that order; windows whose rows hold no NaN (NanRows) take the cheaper compare.
// The forward value is the pick itself; its index is kept on request.

// GCC 12's AVX-512 max intrinsics start from an undefined vector, over which it warns at every use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// cur = next where it is taken (next > cur, or next is NaN), and then (with Index) at = next_at. AVX-512:
// two compares into masks where the generic form costs four mask operations.
template <bool Index, typename L, typename IL>
inline void take(L& cur, IL& at, L next, IL next_at) {
#if defined(__AVX512F__)
  if constexpr (sizeof(L) == 64) {
    if constexpr (sizeof(cur[0]) == 4) {
      const __mmask16 t = _mm512_cmp_ps_mask(next, cur, _CMP_GT_OQ) | _mm512_cmp_ps_mask(next, next, _CMP_UNORD_Q);
      cur = _mm512_mask_mov_ps(cur, t, next);
      if constexpr (Index) at = IL(_mm512_mask_mov_epi32(__m512i(at), t, __m512i(next_at)));
    } else {
      const __mmask8 t = _mm512_cmp_pd_mask(next, cur, _CMP_GT_OQ) | _mm512_cmp_pd_mask(next, next, _CMP_UNORD_Q);
      cur = _mm512_mask_mov_pd(cur, t, next);
      if constexpr (Index) at = IL(_mm512_mask_mov_epi64(__m512i(at), t, __m512i(next_at)));
    }
    return;
  }
#endif
  const auto t = (next > cur) | (next != next);
  cur = t ? next : cur;
  if constexpr (Index) at = t ? next_at : at;
}

// a > b ? a : b (b where a is not greater or either is NaN), as one instruction where GCC would blend.
template <typename L>
inline L vmax(L a, L b) {
  [[maybe_unused]] constexpr bool f = sizeof(a[0]) == 4;
#if defined(__AVX512F__)
  if constexpr (sizeof(L) == 64 && f) return L(_mm512_max_ps(__m512(a), __m512(b)));
  if constexpr (sizeof(L) == 64 && !f) return L(_mm512_max_pd(__m512d(a), __m512d(b)));
#endif
#if defined(__AVX__)
  if constexpr (sizeof(L) == 32 && f) return L(_mm256_max_ps(__m256(a), __m256(b)));
  if constexpr (sizeof(L) == 32 && !f) return L(_mm256_max_pd(__m256d(a), __m256d(b)));
#endif
  return a > b ? a : b;
}
// take() for windows known to hold no NaN: one compare and a max. With Index, at = max(at, j where
// taken): the offsets j grow along the scan, so a max selects, and more cheaply than a blend.
template <bool Index, typename L, typename IL>
inline void take_num(L& cur, IL& at, L next, IL j) {
  if constexpr (std::is_arithmetic_v<L>) {
    if (next > cur) cur = next, at = j;
    return;
  } else {
#if defined(__AVX512F__)
    if constexpr (sizeof(L) == 64 && Index) {  // the mask's move where the generic form broadcasts under it
      if constexpr (sizeof(cur[0]) == 4)
        at = IL(_mm512_mask_mov_epi32(__m512i(at), _mm512_cmp_ps_mask(next, cur, _CMP_GT_OQ), __m512i(j)));
      else
        at = IL(_mm512_mask_mov_epi64(__m512i(at), _mm512_cmp_pd_mask(next, cur, _CMP_GT_OQ), __m512i(j)));
      cur = vmax(next, cur);
      return;
    }
#endif
    if constexpr (Index) {
      const IL t = j & IL(next > cur);
      at = at > t ? at : t;
    }
    cur = vmax(next, cur);
  }
}

// The picks of one output row for a step's vectors at outputs o[b]: m[b] the value and, with Index,
// at[b] its offset in the window (row * W + column). xr: the window's first input row. Num: the window
// rows hold no NaN.
template <int SW, int KW, bool Index, bool Num, typename Ln, typename T>
inline void max_scan(const T* xr, int64_t W, int64_t kh, int64_t p_kw, const int64_t* o, typename Ln::V* m,
                     typename Ln::I* at) {
  const int64_t kw = KW ? KW : p_kw;
  using L = typename Ln::V;
  using IL = typename Ln::I;
  using IE = IntOf<T>;
  constexpr int B = Ln::b;
  IL none[B];  // at without Index
  IL* a = Index ? at : none;
#pragma GCC unroll 4
  for (int b = 0; b < B; ++b) {
    m[b] = ldo<SW, L>(xr + SW * o[b]);
    a[b] = IL{};
  }
  for (int64_t h = 0; h < kh; ++h)
    for (int64_t k = h == 0; k < kw; ++k) {
      const IL j = IL{} + IE(h * W + k);
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b) {
        const L v = ldo<SW, L>(xr + h * W + SW * o[b] + k);
        if constexpr (Num) take_num<Index>(m[b], a[b], v, j);
        else take<Index>(m[b], a[b], v, j);
      }
    }
  for (int b = 0; b < B; ++b) {
    m[b] = in_order<SW, T>(m[b]);
    a[b] = in_order<SW, T>(a[b]);
  }
}

// A sweep step's outputs o[b] from i, their picks' values m[b] and offsets at[b] (with Index) in their
// windows; num: the windows' rows hold no NaN.
template <typename Ln>
struct Picks {
  int64_t o[Ln::b];
  typename Ln::V m[Ln::b];
  typename Ln::I at[Ln::b];
};
template <int SW, int KW, bool Index, typename Ln, typename T>
inline Picks<Ln> max_pick(Ln, bool num, const T* xr, const PoolArgs<T>& p, int64_t kh, int64_t i) {
  Picks<Ln> k;
  for (int b = 0; b < Ln::b; ++b) k.o[b] = Ln::at(i, b, p.n);
  if (num) max_scan<SW, KW, Index, true, Ln>(xr, p.W, kh, p.kw, k.o, k.m, k.at);
  else max_scan<SW, KW, Index, false, Ln>(xr, p.W, kh, p.kw, k.o, k.m, k.at);
  return k;
}

// The N picks at offsets a from the plane's element `base`, as PyTorch's int64 flat indices: in chunks of
// the ISA's vector width, since GCC builds a wider int64 vector's broadcast of base through the stack (a
// store-forwarding stall per step that took half the time on AVX2).
template <int N, typename IL>
inline void store_indices(int64_t* p, int64_t base, IL a) {
  if constexpr (N == 1) {
    *p = base + a;
  } else {
    using E = std::remove_cv_t<std::remove_reference_t<decltype(a[0])>>;
    constexpr int C = N < STRIDED_VBYTES / 8 ? N : STRIDED_VBYTES / 8;
    typedef E IC __attribute__((vector_size(C * sizeof(E))));
    typedef int64_t I64 __attribute__((vector_size(C * 8)));
    const I64 b = I64{} + base;
    for_each_k([&](auto K) {
      const I64 v = __builtin_convertvector(ld<IC>(reinterpret_cast<const E*>(&a) + K * C), I64) + b;
      st(p + K * C, v);
    }, std::make_integer_sequence<int, N / C>{});
  }
}

// Whether the interior windows' columns of a plane's rows, from row h on, hold a NaN: asked row by row
// as a kernel goes down the plane, so the windows read the rows again from L1 right after. A row is the
// scan's to fetch from memory, so it prefetches a few rows ahead (without, a plain loop of loads waited
// on each row: max-pool 3x3/2 forward 0.8x at AVX-512).
template <typename T>
struct NanRows {
  const T* x;  // the plane from its first interior column
  int64_t H, W, ncol, h;
  bool nan = false;

  NanRows(const PoolArgs<T>& p, const T* plane, int64_t h0)
      : x(plane + p.c0), H(p.H), W(p.W), ncol(p.span()), h(h0) {}
  // Rows up to h1 hold no NaN.
  bool clean_to(int64_t h1) {
    constexpr int64_t ahead = 4, line = 64 / sizeof(T);
    for (; !nan && h < h1; ++h) {
      if (h + ahead < H)
        for (int64_t c = 0; c < ncol; c += line) __builtin_prefetch(x + (h + ahead) * W + c);
      nan = row_nan(x + h * W);
    }
    return !nan;
  }
  bool row_nan(const T* r) const {
    constexpr int N = VL<T>;
    if (ncol < N) return std::any_of(r, r + ncol, [](T v) { return v != v; });
    typedef T V __attribute__((vector_size(N * sizeof(T))));
    typedef IntOf<T> I __attribute__((vector_size(N * sizeof(T))));
    if (ncol < 2 * N) {  // two vectors that overlap (LeNet's 10- to 14-column planes: the scalar loop was
      const V a = ld<V>(r), b = ld<V>(r + ncol - N);  // a third of a small plane's rows)
      return any_set(I((a != a) | (b != b)));
    }
    I bad{};
    for (int64_t i = 0; i < ncol; i += 2 * N) {  // the last pair ends at ncol
      const int64_t at = std::min(i, ncol - 2 * N);
      const V a = ld<V>(r + at), b = ld<V>(r + at + N);
      bad |= (a != a) | (b != b);
    }
    return any_set(bad);
  }
  // Whether a lane of v is not zero, without the trip through memory that stalls on the wide store.
  template <typename I>
  static bool any_set(I v) {
#if defined(__AVX512F__)
    if constexpr (sizeof(I) == 64) return _mm512_test_epi32_mask(__m512i(v), __m512i(v)) != 0;
#endif
#if defined(__AVX__)
    if constexpr (sizeof(I) == 32) return !_mm256_testz_si256(__m256i(v), __m256i(v));
#endif
    const I none{};
    return std::memcmp(&v, &none, sizeof(v)) != 0;
  }
};

// Vectors per sweep step of max_rows: with AVX2's 16 registers, 4 vectors of picks and 4 of offsets left
// a 3-wide window's loads and compares to the stack (3: max-pool 3x3/2 forward 1.13-1.29x; 2x2 windows
// keep 4, 0.93-0.96x at 3).
template <bool Index, int KW>
constexpr int kMaxBlock = STRIDED_VBYTES == 32 && Index && KW != 2 ? 3 : kBlock;

// indices (with Index): the output plane's indices, from column ow0 as y.
template <typename T, int SW, int KW, bool Index>
void max_rows(const PoolArgs<T> p, int64_t oh0, int64_t oh1, const T* x, T* y, int64_t* indices) {
  using IE = IntOf<T>;
  NanRows<T> rows(p, x, p.h0[oh0]);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t base = p.h0[oh] * p.W + p.c0, kh = p.h1[oh] - p.h0[oh];
    const bool num = rows.clean_to(p.h1[oh]);
    T* yr = y + oh * p.OW;
    sweep<T, kMaxBlock<Index, KW>>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      const Picks<Ln> k = max_pick<SW, KW, Index>(lanes, num, x + base, p, kh, i);
      for (int b = 0; b < Ln::b; ++b) {
        st(yr + k.o[b], k.m[b]);
        if constexpr (Index)
          store_indices<Ln::n>(indices + oh * p.OW + k.o[b], base, k.at[b] + (Ln::iota() * SW + IE(SW * k.o[b])));
      }
    });
  }
}

// Windows that overlap: per output row, each window's pick as an offset from the row's first window
// (row * W + column), one row of them in the scratch; then each output's gradient is added at its pick,
// in output order (the reference's order of the sums). A gather per input element would load every
// covering window's pick and gradient once per window column; the scalar adds are cheaper than those
// unaligned vector loads.
template <typename T, int SW, int KW>
void max_backward_plane(const PoolArgs<T> p, const T* x, const T* gy, T* gx) {
  using IE = IntOf<T>;
  IE* at = static_cast<IE*>(p.scratch);
  NanRows<T> rows(p, x, p.h0[0]);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t base = p.h0[oh] * p.W + p.c0, kh = p.h1[oh] - p.h0[oh];
    const bool num = rows.clean_to(p.h1[oh]);
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      const Picks<Ln> k = max_pick<SW, KW, true>(lanes, num, x + base, p, kh, i);
      for (int b = 0; b < Ln::b; ++b) st(at + k.o[b], k.at[b] + (Ln::iota() * SW + IE(SW * k.o[b])));
    });
    T* g = gx + base;
    const T* gr = gy + oh * p.OW;
    for (int64_t o = 0; o < p.n; ++o) g[at[o]] += gr[o];
  }
}

// Windows that tile the plane (kw = SW, kh = sh): each gx element is in one window, so every row of
// it is stored straight from the picks in registers, each gradient repeated over its window's columns
// and kept where the pick is.
template <typename T, int SW>
void max_backward_tiled(const PoolArgs<T> p, const T* x, const T* gy, T* gx) {
  using IE = IntOf<T>;
  NanRows<T> rows(p, x, p.h0[0]);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t kh = p.h1[oh] - p.h0[oh];
    const bool num = rows.clean_to(p.h1[oh]);
    const T* xr = x + p.h0[oh] * p.W + p.c0;
    T* gr = gx + p.h0[oh] * p.W + p.c0;
    const T* g = gy + oh * p.OW;
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      using L = typename Ln::V;
      using IL = typename Ln::I;
      const Picks<Ln> k = max_pick<SW, SW, true>(lanes, num, xr, p, kh, i);
      for (int b = 0; b < Ln::b; ++b) {
        const L gv = ld<L>(g + k.o[b]);
        for (int64_t r = 0; r < kh; ++r)
          store_tiled<SW>(gr + r * p.W + SW * k.o[b], k.at[b], [&](auto K, auto a) {
            constexpr int N = Ln::n;
            IL col;
            if constexpr (N == 1) col = K;
            else col = phase_one<SW, K, IL>(std::make_integer_sequence<int, N>{});
            const auto hit = a == col + IE(r * p.W);
            if constexpr (N == 1) return hit ? gv : T(0);
            else return hit ? repeat<SW, K>(gv) : L{};
          });
        }
    });
  }
}

template <typename T>
void max_fast(const PoolArgs<T>& p, int64_t oh0, int64_t oh1, const T* x, T* y, int64_t* indices) {
  with_window(p, [&](auto sw, auto kw) {
    if (indices) max_rows<T, sw.value, kw.value, true>(p, oh0, oh1, x, y, indices);
    else max_rows<T, sw.value, kw.value, false>(p, oh0, oh1, x, y, nullptr);
  });
}

template <typename T>
void max_backward_fast(const PoolArgs<T>& p, const T* x, const T* gy, T* gx) {
  with_window(p, [&](auto sw, auto kw) {
    if (pool_windows_tile(p.kh, p.sh, p.kw, p.sw)) max_backward_tiled<T, sw.value>(p, x, gy, gx);
    else max_backward_plane<T, sw.value, kw.value>(p, x, gy, gx);
  });
}


#pragma GCC diagnostic pop
