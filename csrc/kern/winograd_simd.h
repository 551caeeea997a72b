// The transforms of conv2d's Winograd algorithm F(2x2, 3x3) (kern::Table::wino_input, wino_output,
// wino_grad; conv2d/winograd.cpp prepares their operands and runs the products on the ChannelsLast
// micro-tile and gemm_pixels). Included by kern/table_impl.h inside an anonymous namespace, so each ISA file
// compiles its own copy with its own flags; uses kern/vec.h. Each runs over the channels of a channels-last
// tile, a vector of channels at a time (the last ones one by one), with the same few adds in every lane.
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

// f(W{}, c) for c = 0, VL, ... while a vector fits in n, then f(T{}, c) for each channel left. Flattened:
// GCC kept the AVX2 transforms out of line otherwise, a call per vector of channels.
template <typename T, typename F>
[[gnu::flatten]] inline void by_lanes(int64_t n, F&& f) {
  int64_t c = 0;
  for (; c + VL<T> <= n; c += VL<T>) f(V<T>{}, c);
  for (; c < n; ++c) f(T{}, c);
}

// The 1-D transforms, y = M x: B^T of the input (4 -> 4; rows (1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0),
// (0, 1, 0, -1)), A^T of the products (4 -> 2; rows (1, 1, 1, 0), (0, 1, -1, -1)) and its transpose A, of
// the output's gradient (2 -> 4; rows (1, 0), (1, 1), (1, -1), (0, -1)).
struct WinoBT {
  static constexpr int in = 4, out = 4;
  template <typename W>
  static void apply(const W* x, W* y) {
    y[0] = x[0] - x[2], y[1] = x[1] + x[2], y[2] = x[2] - x[1], y[3] = x[1] - x[3];
  }
};
struct WinoAT {
  static constexpr int in = 4, out = 2;
  template <typename W>
  static void apply(const W* x, W* y) { y[0] = x[0] + x[1] + x[2], y[1] = x[1] - x[2] - x[3]; }
};
struct WinoA {
  static constexpr int in = 2, out = 4;
  template <typename W>
  static void apply(const W* x, W* y) { y[0] = x[0], y[1] = x[0] + x[1], y[2] = x[0] - x[1], y[3] = -x[1]; }
};

// st(i, j, (M x M^T)[i][j]) for the in x in tile x[i][j] = ld(i, j): M along the columns, then the rows.
template <typename M, typename W, typename Load, typename Store>
inline void transform_2d(Load&& ld, Store&& st) {
  W t[M::out][M::in];
#pragma GCC unroll 4
  for (int j = 0; j < M::in; ++j) {
    W x[M::in], y[M::out];
#pragma GCC unroll 4
    for (int i = 0; i < M::in; ++i) x[i] = ld(i, j);
    M::apply(x, y);
#pragma GCC unroll 4
    for (int i = 0; i < M::out; ++i) t[i][j] = y[i];
  }
#pragma GCC unroll 4
  for (int i = 0; i < M::out; ++i) {
    W y[M::out];
    M::apply(t[i], y);
#pragma GCC unroll 4
    for (int j = 0; j < M::out; ++j) st(i, j, y[j]);
  }
}

// v[(4i + j) * vs + c] = (M x M^T)[i][j] for the tile x[a][b] = x[a * rs + b * ps + c], c < n: wino_input
// (M = B^T) and wino_grad (M = A).
template <typename M, typename T>
void wino_tile(const T* x, int64_t ps, int64_t rs, int64_t n, T* v, int64_t vs) {
  by_lanes<T>(n, [=](auto lanes, int64_t c) {
    using W = decltype(lanes);
    transform_2d<M, W>([=](int a, int b) { return wino_ld<W>(x + a * rs + b * ps + c); },
                       [=](int i, int j, W e) { wino_st(v + (4 * i + j) * vs + c, e); });
  });
}

template <typename T>
void wino_output(const T* m, int64_t ms, int64_t n, const T* bias, T* const* y) {
  by_lanes<T>(n, [=](auto lanes, int64_t c) {
    using W = decltype(lanes);
    const W b = bias ? wino_ld<W>(bias + c) : W{};
    transform_2d<WinoAT, W>([=](int i, int j) { return wino_ld<W>(m + (4 * i + j) * ms + c); },
                            [=](int a, int e, W val) { wino_st(y[2 * a + e] + c, b + val); });
  });
}
