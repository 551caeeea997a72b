// The data-movement kernels of kern::Table: transpose (NCHW planes to channels-last tiles),
// deinterleave2 (column phases), copy_rows (2-D copies with an optional sum) and stream_copy (non-temporal
// stores). Included by kern/table_impl.h inside an anonymous namespace, compiled once per ISA.
// ---------------------------------------------------------------- transpose
// A VL x VL block transposed in registers: log2(VL) stages, each swapping the off-diagonal h x h blocks
// of every pair of rows h apart with two-source shuffles. A scalar transpose stores one element per
// instruction, strided: it was a third of backward-weight for a 1x1 layer.
template <typename T, int h>
inline void swap_blocks(V<T>& a, V<T>& b) {
  typedef typename VecOf<T>::I I;
  I lo, hi;  // lane i of the new a: a[i] or b[i - h]; of the new b: a[i + h] or b[i]
  for (int i = 0; i < VL<T>; ++i) {
    lo[i] = i & h ? VL<T> + i - h : i;
    hi[i] = i & h ? VL<T> + i : i + h;
  }
  const V<T> na = __builtin_shuffle(a, b, lo);
  b = __builtin_shuffle(a, b, hi);
  a = na;
}

template <typename T, int h = VL<T> / 2>
inline void transpose_block(V<T>* v) {
#pragma GCC unroll 16
  for (int a = 0; a < VL<T>; ++a)
    if (!(a & h)) swap_blocks<T, h>(v[a], v[a + h]);
  if constexpr (h > 1) transpose_block<T, h / 2>(v);
}

template <typename T>
inline void transpose_tile(const T* src, int64_t lds, T* dst, int64_t ldd) {
  constexpr int L = VL<T>;
  V<T> v[L];
#pragma GCC unroll 16
  for (int a = 0; a < L; ++a) v[a] = load(src + a * lds);
  transpose_block<T>(v);
#pragma GCC unroll 16
  for (int b = 0; b < L; ++b) store(dst + b * ldd, v[b]);
}

// With at least a vector of rows and of columns, the last block of each ends on the edge, overlapping the
// one before it (some elements are written twice, with the same value): ChannelsLast's copies of 28-pixel
// rows had 12 of 28 columns in a scalar tail at AVX-512, a fifth of a strided backward-input pass.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd) {
  constexpr int L = VL<T>;
  if (rows >= L && cols >= L) {
    for (int64_t i0 = 0; i0 < rows; i0 += L) {
      const int64_t i = i0 + L <= rows ? i0 : rows - L;
      for (int64_t j0 = 0; j0 < cols; j0 += L) {
        const int64_t j = j0 + L <= cols ? j0 : cols - L;
        transpose_tile(src + i * lds + j, lds, dst + j * ldd + i, ldd);
      }
    }
    return;
  }
  int64_t i = 0;
  for (; i + L <= rows; i += L)
    for (int64_t j = 0; j < cols; ++j)
      for (int a = 0; a < L; ++a) dst[j * ldd + i + a] = src[(i + a) * lds + j];
  for (; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// Two vectors of the row give one of each phase (constant shuffles); a scalar strided copy was most of
// the band preparation of a stride-2 layer.
template <typename T>
void deinterleave2(const T* src, int64_t n, T* even, T* odd) {
  constexpr int L = VL<T>;
  typename VecOf<T>::I ev, od;
  for (int i = 0; i < L; ++i) {
    ev[i] = 2 * i;
    od[i] = 2 * i + 1;
  }
  int64_t m = 0;
  for (; 2 * m + 2 * L <= n; m += L) {
    const V<T> a = load(src + 2 * m), b = load(src + 2 * m + L);
    store(even + m, __builtin_shuffle(a, b, ev));
    store(odd + m, __builtin_shuffle(a, b, od));
  }
  for (; 2 * m < n; ++m) {
    even[m] = src[2 * m];
    if (2 * m + 1 < n) odd[m] = src[2 * m + 1];
  }
}

// Rows of at least one vector end on a vector that overlaps the one before it (a copy may write an
// element twice), so a 28-wide row is two moves; the baseline build's loops (scalar tails, a horizontal
// sum and a memset call per row) were 30% of a depthwise forward pass and 20% of LeNet's first
// backward-weight.
template <typename T>
void copy_rows(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd, T* sum) {
  constexpr int L = VL<T>;
  typename VecOf<T>::I lane;
  for (int i = 0; i < L; ++i) lane[i] = i;
  const int64_t last = cols - L;  // the last vector's lanes below L - cols % L were summed already
  const auto fresh = lane >= int(cols % L ? L - cols % L : 0);
  V<T> acc{}, tail{};
  T s = 0;
  for (int64_t i = 0; i < rows; ++i, src += lds, dst += ldd) {
    if (cols < L) {
      for (int64_t j = 0; j < cols; ++j) s += dst[j] = src[j];
      continue;
    }
    for (int64_t j = 0; j < last; j += L) {
      const V<T> v = load(src + j);
      store(dst + j, v);
      acc += v;
    }
    const V<T> v = load(src + last);
    store(dst + last, v);
    tail += fresh ? v : V<T>{};
  }
  if (sum) *sum += s + hsum<T>(acc + tail);
}

// ---------------------------------------------------------------- non-temporal copy
// One store per vector: the 16-byte stores of a baseline build took 4 instructions per line, a quarter
// of an average-pooling backward pass.
template <typename T>
inline void stream_store(T* p, V<T> v) {
#if defined(__AVX512F__) && STRIDED_VBYTES == 64
  _mm512_stream_si512(reinterpret_cast<__m512i*>(p), reinterpret_cast<__m512i&>(v));
#elif defined(__AVX__) && STRIDED_VBYTES == 32
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), reinterpret_cast<__m256i&>(v));
#elif defined(__SSE2__) && STRIDED_VBYTES == 16
  _mm_stream_si128(reinterpret_cast<__m128i*>(p), reinterpret_cast<__m128i&>(v));
#else
  store(p, v);
#endif
}

template <typename T>
void stream_copy(T* dst, const T* src, int64_t n) {
  constexpr int L = VL<T>;
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % STRIDED_VBYTES; ++i) dst[i] = src[i];
  for (; i + L <= n; i += L) stream_store(dst + i, load(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}
