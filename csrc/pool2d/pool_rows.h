// Pooling kernels for the interior windows (those inside the input's columns) of any kernel size, stride
// and padding, vectorized by hand. Included inside an anonymous namespace by kern/table_impl.h, so each
// ISA file compiles its own copy with its own flags (and no copy can leak into another through the linker);
// pool2d/pool2d.cpp reaches them through the run-time table of kernels.h and keeps the border windows.
// This file holds the machinery and the average kernels; pool_max_rows.h the max kernels.
//
// Every output row is taken, its window rows clipped to the input by the caller, so only the windows
// that overhang the left and right edges are left to the general code (but for avg_backward_rows, which
// writes whole planes). A step of the kernels holds up
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
template <typename T, int B = kBlock, int N = VL<T>, typename F>
inline void sweep(int64_t n, F&& f) {
  if constexpr (N > 1)
    if (n < N) return sweep<T, B, N / 2>(n, f);
  int64_t i = 0;
  if constexpr (N == VL<T>) {
    for (; i + B * N <= n; i += B * N) f(i, Lanes<T, N, B>{});
    if (n - i > 2 * N) return f(i, Lanes<T, N, B>{});
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

// Stride 2 from two loads and one in-lane shuffle (shufps): each 16-byte group of lanes takes its first
// half from the first load, its second from the second, so a vector's outputs come out of order (output
// q in lane lane_of(q)). Kernels whose work is elementwise load their taps so (ldo) and restore the order
// once, at the end (in_order): a tap then costs one shuffle where lds() takes two or three. The second
// load ends at p[2 * (N - 1)], as lds()'s last one.
template <typename P>
constexpr int kGroup = 16 / int(sizeof(P));
template <int SW, typename L, typename P>
constexpr bool kPaired = SW == 2 && sizeof(L) / sizeof(P) >= size_t(kGroup<P>);
template <int N, int G>
constexpr int lane_of(int q) {
  const int half = q < N / 2 ? 0 : 1, r = q - half * N / 2;
  return G * (r / (G / 2)) + r % (G / 2) + half * G / 2;
}
template <typename L, typename P, int... l>
inline L ld2(const P* p, std::integer_sequence<int, l...>) {
  constexpr int N = sizeof...(l), G = kGroup<P>;
  return __builtin_shufflevector(ld<L>(p), ld<L>(p + N - 1), (l % G < G / 2 ? l + l % G : N + l + l % G - G + 1)...);
}
template <int SW, typename L, typename P>
inline L ldo(const P* p) {
  if constexpr (kPaired<SW, L, P>) return ld2<L>(p, std::make_integer_sequence<int, int(sizeof(L) / sizeof(P))>{});
  else return lds<SW, L>(p);
}
template <int G, typename L, int... q>
inline L in_order_of(L v, std::integer_sequence<int, q...>) {
  return __builtin_shufflevector(v, v, lane_of<int(sizeof...(q)), G>(q)...);
}
template <int SW, typename P, typename L>  // L: ldo's vector of P, or one of as many integer lanes
inline L in_order(L v) {
  constexpr int N = int(sizeof(L) / sizeof(P));
  if constexpr (kPaired<SW, L, P>) return in_order_of<kGroup<P>>(v, std::make_integer_sequence<int, N>{});
  else return v;
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

// f(SW, KW): the column stride and, for the common windows (2 wide at stride 2, 3 wide at 2 and 1), the
// window width as constants, so a window row's taps unroll and a step's sums and picks stay in registers
// (a loop over a width of 2 or 3 kept them on the stack: half of max-pool 3x3/2's time); KW = 0 for the
// rest, which read p.kw.
template <typename T, typename F>
inline void with_window(const PoolArgs<T>& p, F&& f) {
  using std::integral_constant;
  if (p.sw == 2 && p.kw == 2) return f(integral_constant<int, 2>{}, integral_constant<int, 2>{});
  if (p.sw == 2 && p.kw == 3) return f(integral_constant<int, 2>{}, integral_constant<int, 3>{});
  if (p.sw == 1 && p.kw == 3) return f(integral_constant<int, 1>{}, integral_constant<int, 3>{});
  with_stride(p.sw, [&](auto sw) { f(sw, integral_constant<int, 0>{}); });
}

// ---------------------------------------------------------------- backward
// gx arrives zeroed (but for avg_backward_rows, which writes all of it): the kernels either store each of
// its elements under an interior window once or, where a gather would cost more, add to it.

// ---------------------------------------------------------------- avg
// Both divisors of an interior window depend on its rows only: the caller gives one per output row.

template <typename T, int SW, int KW>
void avg_rows(const PoolArgs<T> p, int64_t oh0, int64_t oh1, const T* x, T* y) {
  const int64_t kw = KW ? KW : p.kw;
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
        for (int64_t k = 0; k < kw; ++k)
#pragma GCC unroll 4
          for (int b = 0; b < Ln::b; ++b) acc[b] += ldo<SW, L>(xr + h * p.W + SW * o[b] + k);
      for (int b = 0; b < Ln::b; ++b) st(yr + o[b], in_order<SW, T>(acc[b]) / d);
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

// a / b rounded down (b > 0), for a negative a too.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((b - 1 - a) / b); }

// Column iw of a row outside the interior windows' span: the sum of t over the windows that cover it.
template <int SW, typename T>
inline T edge_column(const PoolArgs<T>& p, int64_t kw, const T* t, int64_t iw) {
  const int64_t r = iw - p.c0;  // covering windows: ow0 + o with r - kw < SW * o <= r
  const int64_t lo = std::max<int64_t>(0, p.ow0 + floor_div(r - kw, SW) + 1);
  const int64_t hi = std::min(p.OW - 1, p.ow0 + floor_div(r, SW));
  T acc = 0;
  for (int64_t ow = lo; ow <= hi; ++ow) acc += t[ow];
  return acc;
}

// Windows that overlap: the whole gx plane, row by row, each element written once, so gx needs no zeroing
// and no edge window is left to the general code. Every output's gradient is divided once into a scratch
// row indexed by ow, with zeros around it (the scratch's own: only the OW gradients are written), the edge
// windows by their own divisors (p.edge_div). Per input row h, t is the sum of those rows over the output
// rows whose windows cover h (summed into the scratch's sum row if several). Column c0 + SW * o + phase of
// the interior windows' span sums t[ow0 + o - q] over the window columns k = phase + SW * q: a vector of
// positions o reads t at o - q, so its sums build in registers (a vector per phase, interleaved into SW
// vectors of columns), stored once; the last position, past the span when SW does not divide it, stores
// only its first phases. The columns left and right of the span sum the windows that cover them one by one
// (edge_column).
template <typename T, int SW, int KW>
void avg_backward_rows(const PoolArgs<T> p, const T* gy, T* gx) {
  const int64_t kw = KW ? KW : p.kw;
  const int64_t n = p.n, ncol = p.span(), lead = (kw - 1) / SW, stride = p.OW + 2 * lead + 1;
  const int64_t right = p.ow0 + n, edges = p.OW - n;
  T* div = static_cast<T*>(p.scratch) + lead;  // OH rows, then the sum row
  T* sum = div + p.OH * stride;
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const T* gr = gy + oh * p.OW;
    T* dr = div + oh * stride;
    const T d = p.div[oh];
    const T* ed = p.edge_div + oh * edges;
    for (int64_t ow = 0; ow < p.ow0; ++ow) dr[ow] = gr[ow] / ed[ow];
    for (int64_t ow = right; ow < p.OW; ++ow) dr[ow] = gr[ow] / ed[ow - n];
    sweep<T>(n, [&](int64_t i, auto lanes) {
      using Ln = decltype(lanes);
      for (int b = 0; b < Ln::b; ++b) {
        const int64_t o = p.ow0 + Ln::at(i, b, n);
        st(dr + o, ld<typename Ln::V>(gr + o) / d);
      }
    });
  }
  int64_t oa = 0, ob = 0;
  for (int64_t h = 0; h < p.H; ++h) {
    while (oa < p.OH && p.h1[oa] <= h) ++oa;
    while (ob < p.OH && p.h0[ob] <= h) ++ob;
    T* row = gx + h * p.W;
    if (oa >= ob) {
      std::fill(row, row + p.W, T(0));
    } else {
      const T* t = div + oa * stride;
      if (ob - oa > 1) {
        sweep<T>(p.OW, [&](int64_t i, auto lanes) {
          using Ln = decltype(lanes);
          using L = typename Ln::V;
          for (int b = 0; b < Ln::b; ++b) {
            const int64_t o = Ln::at(i, b, p.OW);
            L u = ld<L>(t + o) + ld<L>(t + stride + o);
            for (int64_t oh = oa + 2; oh < ob; ++oh) u += ld<L>(div + oh * stride + o);
            st(sum + o, u);
          }
        });
        t = sum;
      }
      for (int64_t iw = 0; iw < p.c0; ++iw) row[iw] = edge_column<SW>(p, kw, t, iw);
      for (int64_t iw = p.c0 + ncol; iw < p.W; ++iw) row[iw] = edge_column<SW>(p, kw, t, iw);
      const T* ti = t + p.ow0;
      T* span = row + p.c0;
      auto put = [&](int64_t o, auto lanes, int phases) {
        using L = typename decltype(lanes)::V;
        constexpr int N = decltype(lanes)::n;
        L v[SW] = {};
        for (int64_t q = 0; SW * q < kw; ++q) {
          const L u = ld<L>(ti + o - q);
          for_each_k([&](auto F) { if (F + SW * q < kw) v[F] += u; }, std::make_integer_sequence<int, SW>{});
        }
        for_each_k([&](auto K) {
          if (K < phases) st(span + SW * o + K * N, interleave<SW, decltype(K)::value, L, T>(v));
        }, std::make_integer_sequence<int, SW>{});
      };
      sweep<T>(ncol / SW, [&](int64_t i, auto lanes) {
        using Ln = decltype(lanes);
        for (int b = 0; b < Ln::b; ++b) put(Ln::at(i, b, ncol / SW), Lanes<T, Ln::n, 1>{}, SW);
      });
      if (ncol % SW) put(ncol / SW, Lanes<T, 1, 1>{}, int(ncol % SW));
    }
  }
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
  with_window(p, [&](auto sw, auto kw) { avg_rows<T, sw.value, kw.value>(p, oh0, oh1, x, y); });
}

template <typename T>
void avg_backward_fast(const PoolArgs<T>& p, const T* gy, T* gx) {
  with_stride(p.sw, [&](auto sw) { avg_backward_tiled<T, sw.value>(p, gy, gx); });
}

template <typename T>
void avg_backward_plane(const PoolArgs<T>& p, const T* gy, T* gx) {
  with_window(p, [&](auto sw, auto kw) { avg_backward_rows<T, sw.value, kw.value>(p, gy, gx); });
}
