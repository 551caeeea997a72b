// Max unpooling (general.h): each input goes to its index in a zeroed output plane; its backward gathers
// gy at the indices. The forward owns whole output planes, one thread each, so an index given twice is
// written in input order and the later input wins (PyTorch's CPU kernel does the same).
#include <algorithm>

#include "pool2d/general.h"

namespace strided::pool {

template <typename T>
bool unpool_forward(int64_t planes, int64_t in_size, int64_t out_size, const T* x, const int64_t* indices, T* y) {
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(|| : bad)
  for (int64_t p = 0; p < planes; ++p) {
    T* yp = y + p * out_size;
    std::fill(yp, yp + out_size, T(0));
    for (int64_t i = p * in_size; i < (p + 1) * in_size; ++i) {
      const int64_t at = indices[i];
      if (at < 0 || at >= out_size) bad = true;
      else yp[at] = x[i];
    }
  }
  return !bad;
}

template <typename T>
bool unpool_backward(int64_t planes, int64_t in_size, int64_t out_size, const T* gy, const int64_t* indices, T* gx) {
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(|| : bad)
  for (int64_t i = 0; i < planes * in_size; ++i) {
    const int64_t at = indices[i];
    const bool inside = at >= 0 && at < out_size;
    bad = bad || !inside;
    gx[i] = inside ? gy[i / in_size * out_size + at] : T(0);
  }
  return !bad;
}

#define STRIDED_INSTANTIATE(T)                                                                          \
  template bool unpool_forward<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);           \
  template bool unpool_backward<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);
STRIDED_INSTANTIATE(float)
STRIDED_INSTANTIATE(double)
#undef STRIDED_INSTANTIATE

}  // namespace strided::pool
