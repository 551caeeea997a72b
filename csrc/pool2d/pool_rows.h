// Pooling kernels for the interior windows (those inside the input's columns) of any kernel size, stride
// and padding, vectorized by hand. Included inside an anonymous namespace by kern/table_impl.h, so each
// ISA file compiles its own copy with its own flags (and no copy can leak into another through the linker);
// pool2d/pool2d.cpp reaches them through the run-time table of kernels.h and keeps the border windows.
//
// Every output row is taken, its window rows clipped to the input by the caller, so only the windows
// that overhang the left and right edges are left to the general code. A step of the kernels holds up
// to kBlock vectors of consecutive outputs in registers and reads their windows row by row: the kw
// columns of window row h for a vector of outputs are kw loads at the column stride SW, a template
// parameter, each SW contiguous loads merged by constant shuffles. The input is thus read in row order,
// which the hardware prefetchers follow (a column-by-column pass over a window's rows runs at half the
// memory bandwidth on big planes).
template <typename T>
using IntOf = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

// Output vectors a kernel step keeps in registers: their rows are read together, so the input streams
// from memory in runs of kBlock vectors per row rather than one.
constexpr int kBlock = 4;

// One kernel step: B vectors of N lanes of T (N = 1: the scalar itself) and the matching integer lanes,
// which is what comparing two V gives. The kernels are written once over Lanes, so one body serves
// blocks of full vectors, narrower ones for short rows and scalars.
template <typename T, int N, int B>
struct Lanes {
  typedef T V __attribute__((vector_size(N * sizeof(T))));
  typedef IntOf<T> I __attribute__((vector_size(N * sizeof(T))));
  static constexpr int n = N, b = B;
  // Start of the step's vector k: the step's last vectors end at `end` at most, overlapping.
  static int64_t at(int64_t i, int k, int64_t end) { return std::min<int64_t>(i + k * N, end - N); }
  // Lane k holds k.
  static I iota() { return iota(std::make_integer_sequence<int, N>{}); }
  template <int... k>
  static I iota(std::integer_sequence<int, k...>) { return I{k...}; }
};
template <typename T, int B>
struct Lanes<T, 1, B> {
  using V = T;
  using I = IntOf<T>;
  static constexpr int n = 1, b = B;
  static int64_t at(int64_t i, int k, int64_t end) { return std::min<int64_t>(i + k, end - 1); }
  static I iota() { return 0; }
};

template <typename L, typename P>
inline L ld(const P* p) {
  L v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename L, typename P>
inline void st(P* p, L v) { std::memcpy(p, &v, sizeof(v)); }

// Runs f(i, Lanes<T, N, B>{}) over [0, n) in steps of B vectors of N lanes, N the widest power of two
// <= min(n, VL); the last step's vectors end at n, overlapping earlier ones (Lanes::at), so f must store
// its lanes as a pure function of their position: storing some twice is then harmless. Short rows thus
// still run as (narrower) vectors.
template <typename T, int N = VL<T>, typename F>
inline void sweep(int64_t n, F&& f) {
  if constexpr (N > 1)
    if (n < N) return sweep<T, N / 2>(n, f);
  int64_t i = 0;
  if constexpr (N == VL<T>) {
    for (; i + kBlock * N <= n; i += kBlock * N) f(i, Lanes<T, N, kBlock>{});
    if (n - i > 2 * N) return f(i, Lanes<T, N, kBlock>{});
  }
  if (n - i > N) f(i, Lanes<T, N, 2>{});
  else if (n > i) f(i, Lanes<T, N, 1>{});
}

// Lane k of the N-lane vector of p[SW * k]: of the N-lane vectors from p, vector K holds the lanes with
// SW * k / N == K; each one needed is merged in by a constant shuffle (-1: a lane set later). The last
// vector is loaded ending at p[SW * (N - 1)], so no element past the last lane's is read (p may sit at
// the end of the input).
template <int SW, int N, int K, typename L, typename P, int... k>
inline L merge_strided(L acc, const P* p, std::integer_sequence<int, k...> seq) {
  constexpr bool used = ((SW * k / N == K) || ...);
  constexpr int at = K * N < (SW - 1) * (N - 1) ? K * N : (SW - 1) * (N - 1);
  L r = acc;
  if constexpr (K == 0)
    r = __builtin_shufflevector(ld<L>(p), ld<L>(p), (SW * k < N ? SW * k : -1)...);
  else if constexpr (used)
    r = __builtin_shufflevector(acc, ld<L>(p + at), (SW * k / N == K ? N + SW * k - at : SW * k / N < K ? k : -1)...);
  if constexpr (K + 1 < SW) return merge_strided<SW, N, K + 1>(r, p, seq);
  else return r;
}

template <int SW, typename L, typename P>
inline L lds(const P* p) {
  constexpr int N = int(sizeof(L) / sizeof(P));
  if constexpr (SW == 1 || N == 1) return ld<L>(p);
  else return merge_strided<SW, N, 0>(L{}, p, std::make_integer_sequence<int, N>{});
}

// Vector K of v's lanes each repeated SW times: lane l holds v[(K * N + l) / SW].
template <int SW, int K, typename L, int... l>
inline L repeat_one(L v, std::integer_sequence<int, l...>) {
  constexpr int N = sizeof...(l);
  return __builtin_shufflevector(v, v, ((K * N + l) / SW)...);
}
template <int SW, int K, typename L>
inline L repeat(L v) {
  constexpr int N = int(sizeof(L) / sizeof(v[0]));
  return repeat_one<SW, K>(v, std::make_integer_sequence<int, N>{});
}

// Lane l of vector K of a row of windows SW wide: its column in its window, (K * N + l) % SW.
template <int SW, int K, typename IL, int... l>
inline IL phase_one(std::integer_sequence<int, l...>) {
  constexpr int N = sizeof...(l);
  return IL{((K * N + l) % SW)...};
}

template <typename F, int... K>
inline void for_each_k(F&& f, std::integer_sequence<int, K...>) {
  (f(std::integral_constant<int, K>{}), ...);
}

// Stores into a row of windows SW wide the SW vectors that the N outputs in v cover: vector K of v
// repeated, through f(K, repeated vector). N = 1: the scalar for each of the SW columns.
template <int SW, typename L, typename P, typename F>
inline void store_tiled(P* p, L v, F&& f) {
  constexpr int N = int(sizeof(L) / sizeof(P));
  for_each_k([&](auto K) {
    if constexpr (N == 1) p[K] = f(K, v);
    else st(p + K * N, f(K, repeat<SW, K>(v)));
  }, std::make_integer_sequence<int, SW>{});
}

template <typename F>
inline void with_stride(int64_t sw, F&& f) {
  static_assert(kPoolMaxStride == 8, "one case per stride");
  switch (sw) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

// ---------------------------------------------------------------- backward
// gx arrives zeroed: the kernels either store each of its elements under an interior window once or,
// where a gather would cost more, add to it.

// Calls f(h, oh0, oh1) for each input row h of the plane with the output rows [oh0, oh1) whose windows
// cover it (h0, h1 are non-decreasing in oh).
template <typename T, typename F>
inline void for_input_rows(const PoolArgs<T>& p, F&& f) {
  int64_t oa = 0, ob = 0;
  for (int64_t h = 0; h < p.H; ++h) {
    while (oa < p.OH && p.h1[oa] <= h) ++oa;
    while (ob < p.OH && p.h0[ob] <= h) ++ob;
    if (oa < ob) f(h, oa, ob);
  }
}

// ---------------------------------------------------------------- max
// The reference's pick (pool2d.cpp's argmax(), PyTorch's): in row-major order a later element is taken
// if greater or if it is NaN, so equal maxima go to the first and NaNs to the last. Rows first: each input
// row of the window is reduced over its kw columns, then the rows in order, so both passes meet the
// window's elements in row-major order. The forward value is the pick itself; its index is kept on request.

// max_pick sets m and at in its first window row: every window has one (padding is at most half the
// kernel), which GCC cannot see, so it warns at each inlined use of them. Peeling the first row or
// telling GCC that kh >= 1 silenced it too, but moved the forward's speed (0.81-0.92x, max-pool 3x3/2 at
// AVX-512); this leaves the code as it was.
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

// The picks of one output row for a step's vectors at outputs o[b]: m[b] the value and, with Index,
// at[b] its offset in the window (row * W + column). xr: the window's first input row.
template <int SW, bool Index, typename Ln, typename T>
inline void max_pick(const T* xr, int64_t W, int64_t kh, int64_t kw, const int64_t* o, typename Ln::V* m,
                     typename Ln::I* at) {
  using L = typename Ln::V;
  using IL = typename Ln::I;
  using IE = IntOf<T>;
  constexpr int B = Ln::b;
  for (int64_t h = 0; h < kh; ++h) {
    const T* row = xr + h * W;
    L v[B];
    IL j[B];
#pragma GCC unroll 4
    for (int b = 0; b < B; ++b) {
      v[b] = lds<SW, L>(row + SW * o[b]);
      j[b] = IL{} + IE(h * W);
    }
    for (int64_t k = 1; k < kw; ++k)
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b)
        take<Index>(v[b], j[b], lds<SW, L>(row + SW * o[b] + k), IL{} + IE(h * W + k));
#pragma GCC unroll 4
    for (int b = 0; b < B; ++b) {
      if (h == 0) {
        m[b] = v[b];
        if constexpr (Index) at[b] = j[b];
        continue;
      }
      take<Index>(m[b], Index ? at[b] : j[b], v[b], j[b]);  // at is null without Index
    }
  }
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

// indices (with Index): the output plane's indices, from column ow0 as y.
template <typename T, int SW, bool Index>
void max_rows(const PoolArgs<T> p, int64_t oh0, int64_t oh1, const T* x, T* y, int64_t* indices) {
  using IE = IntOf<T>;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t base = p.h0[oh] * p.W + p.c0, kh = p.h1[oh] - p.h0[oh];
    T* yr = y + oh * p.OW;
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      int64_t o[Ln::b];
      typename Ln::V m[Ln::b];
      typename Ln::I at[Ln::b];
      for (int b = 0; b < Ln::b; ++b) o[b] = Ln::at(i, b, p.n);
      max_pick<SW, Index, Ln>(x + base, p.W, kh, p.kw, o, m, Index ? at : nullptr);
      for (int b = 0; b < Ln::b; ++b) {
        st(yr + o[b], m[b]);
        if constexpr (Index)
          store_indices<Ln::n>(indices + oh * p.OW + o[b], base, at[b] + (Ln::iota() * SW + IE(SW * o[b])));
      }
    });
  }
}

// Windows that overlap: per output row, each window's pick as an offset from the row's first window
// (row * W + column), one row of them in the scratch; then each output's gradient is added at its pick,
// in output order (the reference's order of the sums). A gather per input element would load every
// covering window's pick and gradient once per window column; the scalar adds are cheaper than those
// unaligned vector loads.
template <typename T, int SW>
void max_backward_plane(const PoolArgs<T> p, const T* x, const T* gy, T* gx) {
  using IE = IntOf<T>;
  IE* at = static_cast<IE*>(p.scratch);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t base = p.h0[oh] * p.W + p.c0, kh = p.h1[oh] - p.h0[oh];
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      int64_t o[Ln::b];
      typename Ln::V m[Ln::b];
      typename Ln::I j[Ln::b];
      for (int b = 0; b < Ln::b; ++b) o[b] = Ln::at(i, b, p.n);
      max_pick<SW, true, Ln>(x + base, p.W, kh, p.kw, o, m, j);
      for (int b = 0; b < Ln::b; ++b) st(at + o[b], j[b] + (Ln::iota() * SW + IE(SW * o[b])));
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
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t kh = p.h1[oh] - p.h0[oh];
    const T* xr = x + p.h0[oh] * p.W + p.c0;
    T* gr = gx + p.h0[oh] * p.W + p.c0;
    const T* g = gy + oh * p.OW;
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      using L = typename Ln::V;
      using IL = typename Ln::I;
      int64_t o[Ln::b];
      L m[Ln::b];
      IL at[Ln::b];
      for (int b = 0; b < Ln::b; ++b) o[b] = Ln::at(i, b, p.n);
      max_pick<SW, true, Ln>(xr, p.W, kh, p.kw, o, m, at);
      for (int b = 0; b < Ln::b; ++b) {
        const L gv = ld<L>(g + o[b]);
        for (int64_t r = 0; r < kh; ++r)
          store_tiled<SW>(gr + r * p.W + SW * o[b], at[b], [&](auto K, auto a) {
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
  with_stride(p.sw, [&](auto sw) {
    if (indices) max_rows<T, sw.value, true>(p, oh0, oh1, x, y, indices);
    else max_rows<T, sw.value, false>(p, oh0, oh1, x, y, nullptr);
  });
}

template <typename T>
void max_backward_fast(const PoolArgs<T>& p, const T* x, const T* gy, T* gx) {
  with_stride(p.sw, [&](auto sw) {
    if (pool_windows_tile(p.kh, p.sh, p.kw, p.sw)) max_backward_tiled<T, sw.value>(p, x, gy, gx);
    else max_backward_plane<T, sw.value>(p, x, gy, gx);
  });
}

#pragma GCC diagnostic pop

// ---------------------------------------------------------------- avg
// Both divisors of an interior window depend on its rows only: the caller gives one per output row.

template <typename T, int SW>
void avg_rows(const PoolArgs<T> p, int64_t oh0, int64_t oh1, const T* x, T* y) {
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const T* xr = x + p.h0[oh] * p.W + p.c0;
    const int64_t kh = p.h1[oh] - p.h0[oh];
    const T d = p.div[oh];
    T* yr = y + oh * p.OW;
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      using L = typename Ln::V;
      int64_t o[Ln::b];
      L acc[Ln::b];
      for (int b = 0; b < Ln::b; ++b) {
        o[b] = Ln::at(i, b, p.n);
        acc[b] = L{};
      }
      for (int64_t h = 0; h < kh; ++h)
        for (int64_t k = 0; k < p.kw; ++k)
#pragma GCC unroll 4
          for (int b = 0; b < Ln::b; ++b) acc[b] += lds<SW, L>(xr + h * p.W + SW * o[b] + k);
      for (int b = 0; b < Ln::b; ++b) st(yr + o[b], acc[b] / d);
    });
  }
}

// Vector K of the SW vectors that interleave P[0..SW): lane l holds P[j % SW][j / SW], j = K * N + l,
// merged one source at a time by constant shuffles. N = 1: P[K] itself. Lanes set later take a defined
// index, not -1: GCC got vectors of 8 doubles wrong with -1 lanes here (AVX-512, SW = 5 and 7).
template <int SW, int K, int F, typename L, int... l>
inline L interleave_from(L acc, const L* P, std::integer_sequence<int, l...> seq) {
  constexpr int N = sizeof...(l);
  L r;
  if constexpr (F == 0)
    r = __builtin_shufflevector(P[0], P[0], ((K * N + l) % SW == 0 ? (K * N + l) / SW : 0)...);
  else
    r = __builtin_shufflevector(acc, P[F], ((K * N + l) % SW == F ? N + (K * N + l) / SW : l)...);
  if constexpr (F + 1 < SW) return interleave_from<SW, K, F + 1>(r, P, seq);
  else return r;
}
template <int K, typename L, int... l>  // stride 2: one two-table permute where the chain took two
inline L interleave_pair(const L* P, std::integer_sequence<int, l...>) {
  constexpr int N = sizeof...(l);
  return __builtin_shufflevector(P[0], P[1], ((K * N + l) % 2 * N + (K * N + l) / 2)...);
}
template <int SW, int K, typename L, typename P>
inline L interleave(const L* v) {
  constexpr int N = int(sizeof(L) / sizeof(P));
  if constexpr (N == 1) return v[K];
  else if constexpr (SW == 2) return interleave_pair<K>(v, std::make_integer_sequence<int, N>{});
  else return interleave_from<SW, K, 0>(L{}, v, std::make_integer_sequence<int, N>{});
}

// Per input row, for each column of the windows, at SW * o + phase for phase < SW: the sum over the
// output rows whose windows cover it and over the window columns k = phase + SW * q of the divided
// gradient of output o - q. The gradients are divided once per output row into scratch rows with zeros
// around them (the scratch's own: only the row between them is written); an input row covered by several
// output rows first sums theirs into the scratch's last row. A vector of positions o reads that row at
// o - q, so its sums build in registers (a vector per phase, interleaved into SW vectors of columns),
// stored once. The last position, past the windows' columns when SW does not divide them, stores only its
// first phases.
template <typename T, int SW>
void avg_backward_plane(const PoolArgs<T> p, const T* gy, T* gx) {
  const int64_t n = p.n, ncol = SW * (n - 1) + p.kw, lead = (p.kw - 1) / SW, stride = n + 2 * lead + 1;
  T* div = static_cast<T*>(p.scratch) + lead;  // OH rows, then the sum row
  T* sum = div + p.OH * stride;
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const T* gr = gy + oh * p.OW;
    T* dr = div + oh * stride;
    const T d = p.div[oh];
    sweep<T>(n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      for (int b = 0; b < Ln::b; ++b) {
        const int64_t o = Ln::at(i, b, n);
        st(dr + o, ld<typename Ln::V>(gr + o) / d);
      }
    });
  }
  for_input_rows(p, [&](int64_t h, int64_t oa, int64_t ob) {
    const T* t = div + oa * stride;
    if (ob - oa > 1) {
      sweep<T>(n, [&](int64_t i, auto lanes) {
        using Ln = decltype(lanes);
        using L = typename Ln::V;
        for (int b = 0; b < Ln::b; ++b) {
          const int64_t o = Ln::at(i, b, n);
          L u = ld<L>(t + o);
          for (int64_t oh = oa + 1; oh < ob; ++oh) u += ld<L>(div + oh * stride + o);
          st(sum + o, u);
        }
      });
      t = sum;
    }
    T* row = gx + h * p.W + p.c0;
    auto put = [&](int64_t o, auto lanes, int phases) {
      using L = typename decltype(lanes)::V;
      constexpr int N = decltype(lanes)::n;
      L v[SW] = {};
      for (int64_t q = 0; SW * q < p.kw; ++q) {
        const L u = ld<L>(t + o - q);
        for_each_k([&](auto F) { if (F + SW * q < p.kw) v[F] += u; }, std::make_integer_sequence<int, SW>{});
      }
      for_each_k([&](auto K) {
        if (K < phases) st(row + SW * o + K * N, interleave<SW, decltype(K)::value, L, T>(v));
      }, std::make_integer_sequence<int, SW>{});
    };
    sweep<T>(ncol / SW, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      for (int b = 0; b < Ln::b; ++b) put(Ln::at(i, b, ncol / SW), Lanes<T, Ln::n, 1>{}, SW);
    });
    if (ncol % SW) put(ncol / SW, Lanes<T, 1, 1>{}, int(ncol % SW));
  });
}

template <typename T, int SW>
void avg_backward_tiled(const PoolArgs<T> p, const T* gy, T* gx) {
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t kh = p.h1[oh] - p.h0[oh];
    T* gr = gx + p.h0[oh] * p.W + p.c0;
    const T* g = gy + oh * p.OW;
    const T d = p.div[oh];
    sweep<T>(p.n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      for (int b = 0; b < Ln::b; ++b) {
        const int64_t o = Ln::at(i, b, p.n);
        const typename Ln::V v = ld<typename Ln::V>(g + o) / d;
        for (int64_t r = 0; r < kh; ++r)
          store_tiled<SW>(gr + r * p.W + SW * o, v, [](auto, auto u) { return u; });
      }
    });
  }
}

template <typename T>
void avg_fast(const PoolArgs<T>& p, int64_t oh0, int64_t oh1, const T* x, T* y) {
  with_stride(p.sw, [&](auto sw) { avg_rows<T, sw.value>(p, oh0, oh1, x, y); });
}

template <typename T>
void avg_backward_fast(const PoolArgs<T>& p, const T* gy, T* gx) {
  with_stride(p.sw, [&](auto sw) {
    if (pool_windows_tile(p.kh, p.sh, p.kw, p.sw)) avg_backward_tiled<T, sw.value>(p, gy, gx);
    else avg_backward_plane<T, sw.value>(p, gy, gx);
  });
}
