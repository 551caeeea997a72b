// The transforms of conv2d's Winograd algorithm F(2x2, 3x3) (kern::Table::wino_input, wino_output;
// conv2d/winograd.cpp prepares their operands and runs the products on the ChannelsLast micro-tile).
// Included by kern/table_impl.h inside an anonymous namespace, so each ISA file compiles its own copy with
// its own flags; uses kern/vec.h. Both run over the channels of a channels-last tile, a vector of channels
// at a time (the last ones one by one), with the same few adds in every lane.
// ---------------------------------------------------------------- Winograd F(2x2, 3x3)
// W: a vector of T or T itself.
template <typename W, typename T>
inline W wino_ld(const T* p) {
  if constexpr (std::is_same_v<W, T>) return *p;
  else return load(p);
}
template <typename W, typename T>
inline void wino_st(T* p, W v) {
  if constexpr (std::is_same_v<W, T>) *p = v;
  else store(p, v);
}

// v[(4i + j) * vs + c] = (B^T d B)[i][j] for the 4x4 input tile d[i][j] = d[i * rs + j * ps + c]; B^T's rows
// are (1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1).
template <typename W, typename T>
inline void wino_input_lanes(const T* d, int64_t ps, int64_t rs, T* v, int64_t vs) {
  W t[4][4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const W d0 = wino_ld<W>(d + j * ps), d1 = wino_ld<W>(d + rs + j * ps);
    const W d2 = wino_ld<W>(d + 2 * rs + j * ps), d3 = wino_ld<W>(d + 3 * rs + j * ps);
    t[0][j] = d0 - d2, t[1][j] = d1 + d2, t[2][j] = d2 - d1, t[3][j] = d1 - d3;
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    T* o = v + 4 * i * vs;
    wino_st(o, t[i][0] - t[i][2]);
    wino_st(o + vs, t[i][1] + t[i][2]);
    wino_st(o + 2 * vs, t[i][2] - t[i][1]);
    wino_st(o + 3 * vs, t[i][1] - t[i][3]);
  }
}

template <typename T>
void wino_input(const T* d, int64_t ps, int64_t rs, int64_t n, T* v, int64_t vs) {
  constexpr int L = VL<T>;
  int64_t c = 0;
  for (; c + L <= n; c += L) wino_input_lanes<V<T>>(d + c, ps, rs, v + c, vs);
  for (; c < n; ++c) wino_input_lanes<T>(d + c, ps, rs, v + c, vs);
}

// v[(4i + j) * vs + c] = (A g A^T)[i][j] for the 2x2 gradient tile g[a][b] = g[a * rs + b * ps + c] (the
// backward of wino_output: A's rows are (1, 0), (1, 1), (1, -1), (0, -1)).
template <typename W, typename T>
inline void wino_grad_lanes(const T* g, int64_t ps, int64_t rs, T* v, int64_t vs) {
  W u[4][2];
#pragma GCC unroll 2
  for (int b = 0; b < 2; ++b) {
    const W g0 = wino_ld<W>(g + b * ps), g1 = wino_ld<W>(g + rs + b * ps);
    u[0][b] = g0, u[1][b] = g0 + g1, u[2][b] = g0 - g1, u[3][b] = -g1;
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    T* o = v + 4 * i * vs;
    wino_st(o, u[i][0]);
    wino_st(o + vs, u[i][0] + u[i][1]);
    wino_st(o + 2 * vs, u[i][0] - u[i][1]);
    wino_st(o + 3 * vs, -u[i][1]);
  }
}

template <typename T>
void wino_grad(const T* g, int64_t ps, int64_t rs, int64_t n, T* v, int64_t vs) {
  constexpr int L = VL<T>;
  int64_t c = 0;
  for (; c + L <= n; c += L) wino_grad_lanes<V<T>>(g + c, ps, rs, v + c, vs);
  for (; c < n; ++c) wino_grad_lanes<T>(g + c, ps, rs, v + c, vs);
}

// y[2a + b][c] = bias[c] + (A^T m A)[a][b] for the 4x4 products m[i][j] = m[(4i + j) * ms + c]; A^T's rows
// are (1, 1, 1, 0), (0, 1, -1, -1).
template <typename W, typename T>
inline void wino_output_lanes(const T* m, int64_t ms, const T* bias, T* const* y, int64_t c) {
  W s[2][4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const W m0 = wino_ld<W>(m + j * ms), m1 = wino_ld<W>(m + (4 + j) * ms);
    const W m2 = wino_ld<W>(m + (8 + j) * ms), m3 = wino_ld<W>(m + (12 + j) * ms);
    s[0][j] = m0 + m1 + m2, s[1][j] = m1 - m2 - m3;
  }
  const W b = bias ? wino_ld<W>(bias) : W{};
#pragma GCC unroll 2
  for (int a = 0; a < 2; ++a) {
    wino_st(y[2 * a] + c, b + (s[a][0] + s[a][1] + s[a][2]));
    wino_st(y[2 * a + 1] + c, b + (s[a][1] - s[a][2] - s[a][3]));
  }
}

template <typename T>
void wino_output(const T* m, int64_t ms, int64_t n, const T* bias, T* const* y) {
  constexpr int L = VL<T>;
  int64_t c = 0;
  for (; c + L <= n; c += L) wino_output_lanes<V<T>>(m + c, ms, bias ? bias + c : nullptr, y, c);
  for (; c < n; ++c) wino_output_lanes<T>(m + c, ms, bias ? bias + c : nullptr, y, c);
}
