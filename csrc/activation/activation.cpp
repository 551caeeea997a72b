// Elementwise activations (activation.h): parallel over contiguous chunks, vectorized by the compiler.
#include "activation/activation.h"

namespace strided::act {

template <typename T>
void relu_forward(int64_t n, const T* x, T* y) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = v < T(0) ? T(0) : v;
  }
}

template <typename T>
void relu_backward(int64_t n, const T* gy, const T* y, T* gx) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T g = gy[i];  // loaded unconditionally, so the select vectorizes instead of branching
    gx[i] = y[i] > T(0) ? g : T(0);
  }
}

template void relu_forward<float>(int64_t, const float*, float*);
template void relu_forward<double>(int64_t, const double*, double*);
template void relu_backward<float>(int64_t, const float*, const float*, float*);
template void relu_backward<double>(int64_t, const double*, const double*, double*);

}  // namespace strided::act
