// Row kernels of the pooling fast paths (2x2 stride 2, 3x3 stride 2 pad 1), vectorized by the compiler.
// Included inside an anonymous namespace by kernels_impl.h, so each ISA file compiles its own copy with
// its own flags (and no copy can leak into another through the linker); pool2d.cpp reaches them
// through the run-time table of kernels.h.
// Which fast shape: values of kern::Table::pool_* `kind` arguments.
constexpr int kPool2x2 = 0, kPool3x3 = 1;

// The running max of the reference order (row-major): take the next value unless the current one is
// NaN; a NaN next value is taken (!(nx <= cur) is true for NaN), a tie keeps the first.
template <typename T>
inline bool take(T cur, T nx) { return cur == cur && !(nx <= cur); }

// The forward value only needs "NaN if any element is NaN, else the first max" (which NaN is
// unobservable through comparisons), so it runs a plain max (v > m ? v : m, one maxps; a tie such as
// -0 vs +0 keeps the first) plus a sticky NaN flag: cheaper than the take() chain the argmax needs.
template <typename T>
inline void max_step(T& m, bool& nan, T v) {
  nan |= v != v;
  m = v > m ? v : m;
}

// rows[r] points at input column -off (off = 0 for 2x2, 1 for 3x3 pad 1) of the window's row r.
template <typename T>
void max_row_fast(int f, const T* const* rows, int64_t ow0, int64_t ow1, T* yr) {
  const T qnan = __builtin_nan("");
  if (f == kPool2x2) {
    const T *r0 = rows[0], *r1 = rows[1];
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      T m = r0[2 * ow];
      bool nan = m != m;
      max_step(m, nan, r0[2 * ow + 1]);
      max_step(m, nan, r1[2 * ow]);
      max_step(m, nan, r1[2 * ow + 1]);
      yr[ow] = nan ? qnan : m;
    }
  } else {
    const T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const int64_t c = 2 * ow;
      T m = r0[c];
      bool nan = m != m;
      max_step(m, nan, r0[c + 1]);
      max_step(m, nan, r0[c + 2]);
      max_step(m, nan, r1[c]);
      max_step(m, nan, r1[c + 1]);
      max_step(m, nan, r1[c + 2]);
      max_step(m, nan, r2[c]);
      max_step(m, nan, r2[c + 1]);
      max_step(m, nan, r2[c + 2]);
      yr[ow] = nan ? qnan : m;
    }
  }
}

// Window-relative index (row-major) of the first maximum, for ow in [ow0, ow1), into idx[ow - ow0].
template <typename T>
void argmax_row_fast(int f, const T* const* rows, int64_t ow0, int64_t ow1, int32_t* idx) {
  if (f == kPool2x2) {
    const T *r0 = rows[0], *r1 = rows[1];
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const int64_t c = 2 * ow;
      T m = r0[c];
      int32_t i = 0;
      if (take(m, r0[c + 1])) { m = r0[c + 1]; i = 1; }
      if (take(m, r1[c])) { m = r1[c]; i = 2; }
      if (take(m, r1[c + 1])) { m = r1[c + 1]; i = 3; }
      idx[ow - ow0] = i;
    }
  } else {
    const T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const int64_t c = 2 * ow;
      T m = r0[c];
      int32_t i = 0;
      if (take(m, r0[c + 1])) { m = r0[c + 1]; i = 1; }
      if (take(m, r0[c + 2])) { m = r0[c + 2]; i = 2; }
      if (take(m, r1[c])) { m = r1[c]; i = 3; }
      if (take(m, r1[c + 1])) { m = r1[c + 1]; i = 4; }
      if (take(m, r1[c + 2])) { m = r1[c + 2]; i = 5; }
      if (take(m, r2[c])) { m = r2[c]; i = 6; }
      if (take(m, r2[c + 1])) { m = r2[c + 1]; i = 7; }
      if (take(m, r2[c + 2])) { m = r2[c + 2]; i = 8; }
      idx[ow - ow0] = i;
    }
  }
}

template <typename T>
void avg_row_fast(int f, const T* xp, int64_t W, int64_t oh, int64_t ow0, int64_t ow1, T* yr) {
  if (f == kPool2x2) {
    const T *r0 = xp + 2 * oh * W, *r1 = r0 + W;
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow)
      yr[ow] = (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]) / T(4);
  } else {
    const T *r0 = xp + (2 * oh - 1) * W - 1, *r1 = r0 + W, *r2 = r1 + W;
#pragma omp simd
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const int64_t c = 2 * ow;
      yr[ow] = (r0[c] + r0[c + 1] + r0[c + 2] + r1[c] + r1[c + 1] + r1[c + 2] + r2[c] + r2[c + 1] + r2[c + 2]) /
               T(9);
    }
  }
}

