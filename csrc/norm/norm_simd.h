// The SIMD loops of the normalization kernels (norm/norm.cpp: kern::Table::norm_*): the double-precision
// sums behind the statistics and gradients, and the two streaming passes. Included by kern/table_impl.h
// inside an anonymous namespace, so each ISA file compiles its own copy with its own flags (compiled once
// at the baseline, float-to-double sums ran two lanes wide: batch norm's backward took twice PyTorch's).

template <typename T>
double norm_sum(const T* p, int64_t n) {
  double a = 0;
#pragma omp simd reduction(+ : a)
  for (int64_t i = 0; i < n; ++i) a += double(p[i]);
  return a;
}

template <typename T>
double norm_sum_sq_dev(const T* p, int64_t n, double m) {
  double a = 0;
#pragma omp simd reduction(+ : a)
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(p[i]) - m;
    a += d * d;
  }
  return a;
}

// sum g * (p - m)
template <typename T>
double norm_sum_prod_dev(const T* g, const T* p, int64_t n, double m) {
  double a = 0;
#pragma omp simd reduction(+ : a)
  for (int64_t i = 0; i < n; ++i) a += double(g[i]) * (double(p[i]) - m);
  return a;
}

// y = (x - m) * k + b over one segment.
template <typename T>
void norm_apply(const T* x, int64_t n, T m, T k, T b, T* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * k + b;
}

// gx = k1 * gy - k2 * (x - m) - k3 over one segment, in double (see norm.cpp).
template <typename T>
void norm_grad(const T* gy, const T* x, int64_t n, double m, double k1, double k2, double k3, T* gx) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = T(k1 * double(gy[i]) - k2 * (double(x[i]) - m) - k3);
}
