// Normalization kernels (norm.h). Every sum is made by one thread in a fixed order (over n, then along
// the segment), in double, so results do not depend on the thread count. Forward: a statistics pass (per
// channel, two streaming reads of each thread's block of channels; per group unit, two reads of the
// unit, the second from cache where it fits), then one streaming pass that reads x and writes y.
// Backward: one pass of per-channel (or per-unit) sums over gy and x, one pass writing gx (for group units
// that asked for weight or bias gradients, the per-channel sums are one more read).
#include "norm/norm.h"

#include <omp.h>

#include <cstddef>
#include <vector>

#include "kern/kernels.h"

namespace strided::norm {
namespace {

// Calls f(offset, length) for the contiguous runs of unit u, in a fixed order: N runs of S elements for a
// channel, one run of C/G * S elements for a group.
template <typename F>
void for_each_run(const NormShape& s, int64_t u, F&& f) {
  if (s.per_channel) {
    for (int64_t n = 0; n < s.N; ++n) f((n * s.C + u) * s.S, s.S);
    return;
  }
  const int64_t cg = s.C / s.G;
  f(((u / s.G) * s.C + (u % s.G) * cg) * s.S, cg * s.S);
}

// Inside a parallel region: calls f(n, c, offset) for the (image, channel) segments of this thread's block
// of channels, images outer, so that the block's segments of an image are read as one stream; a channel at
// a time read one S-long segment per image, C*S apart (at 32x32 each a page of its own, where the hardware
// prefetchers start over: batch norm's sums ran at about 9 GB/s on one thread). Each channel still sees its
// images in order, so its sums are the same.
template <typename F>
void channel_blocks(const NormShape& s, F&& f) {
  const int64_t nt = omp_get_num_threads(), th = omp_get_thread_num();
  const int64_t c0 = th * s.C / nt, c1 = (th + 1) * s.C / nt;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = c0; c < c1; ++c) f(n, c, (n * s.C + c) * s.S);
}

template <typename T>
T weight(const T* w, int64_t c) {
  return w ? w[c] : T(1);
}

}  // namespace

template <typename T>
void stats(const NormShape& s, const T* x, T* mean, T* var) {
  const auto& kt = kern::table<T>();
  const int64_t U = s.units();
  const double M = double(s.count());
  if (s.per_channel) {  // two streaming passes: the sums, then the squared deviations from the mean
    std::vector<double> acc(std::size_t(U), 0.0), sq(std::size_t(U), 0.0);
#pragma omp parallel
    {
      channel_blocks(s, [&](int64_t, int64_t c, int64_t off) { acc[std::size_t(c)] += kt.norm_sum(x + off, s.S); });
      channel_blocks(s, [&](int64_t, int64_t c, int64_t off) {
        sq[std::size_t(c)] += kt.norm_sum_sq_dev(x + off, s.S, acc[std::size_t(c)] / M);
      });
    }
    for (int64_t c = 0; c < U; ++c) {
      mean[c] = T(acc[std::size_t(c)] / M);
      var[c] = T(sq[std::size_t(c)] / M);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < U; ++u) {
    double acc = 0;
    for_each_run(s, u, [&](int64_t off, int64_t len) { acc += kt.norm_sum(x + off, len); });
    const double m = acc / M;
    double sq = 0;
    for_each_run(s, u, [&](int64_t off, int64_t len) { sq += kt.norm_sum_sq_dev(x + off, len, m); });
    mean[u] = T(m);
    var[u] = T(sq / M);
  }
}

template <typename T>
void apply(const NormShape& s, const T* x, const T* mean, const T* invstd, const T* w, const T* b, T* y) {
  const auto& kt = kern::table<T>();
  const int64_t NC = s.N * s.C, S = s.S;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < NC; ++i) {
    const int64_t c = i % s.C, u = s.unit(i / s.C, c);
    kt.norm_apply(x + i * S, S, mean[u], invstd[u] * weight(w, c), b ? b[c] : T(0), y + i * S);
  }
}

// gx = k1 * gy - k2 * (x - m) - k3 over one segment. With the unit's own statistics, gx = invstd * (g -
// mean(g) - xhat * mean(g * xhat)) for g = gy * w: k1 = invstd * w, k2 = invstd^2 * mean(g * xhat),
// k3 = invstd * mean(g); with constant statistics k2 = k3 = 0. In double: k1 * gy and k3 nearly cancel
// in small units (one element: exactly), and float rounding of each would leave invstd * ulp(g).
template <typename T>
void backward(const NormShape& s, const T* gy, const T* x, const T* mean, const T* invstd, const T* w,
              bool input_stats, T* gx, T* gw, T* gb) {
  const auto& kt = kern::table<T>();
  const int64_t C = s.C, S = s.S, NC = s.N * s.C;
  const double M = double(s.count());
  // Per channel: sg = sum gy, sgx = sum gy * xhat (the bias and weight gradients; for batch norm in
  // training also the two mean terms of gx).
  std::vector<double> sg, sgx;
  if (gw || gb || (gx && input_stats && s.per_channel)) {
    sg.assign(std::size_t(C), 0.0);
    sgx.assign(std::size_t(C), 0.0);
#pragma omp parallel
    channel_blocks(s, [&](int64_t n, int64_t c, int64_t off) {
      const int64_t u = s.unit(n, c);
      sg[std::size_t(c)] += kt.norm_sum(gy + off, S);
      sgx[std::size_t(c)] += double(invstd[u]) * kt.norm_sum_prod_dev(gy + off, x + off, S, double(mean[u]));
    });
    for (int64_t c = 0; c < C; ++c) {
      if (gw) gw[c] = T(sgx[std::size_t(c)]);
      if (gb) gb[c] = T(sg[std::size_t(c)]);
    }
  }
  if (!gx) return;
  if (!input_stats || s.per_channel) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < NC; ++i) {
      const int64_t c = i % C, u = s.unit(i / C, c);
      const double is = double(invstd[u]), wc = double(weight(w, c));
      const double A = input_stats ? wc * sg[std::size_t(c)] / M : 0.0;
      const double B = input_stats ? wc * sgx[std::size_t(c)] / M : 0.0;
      kt.norm_grad(gy + i * S, x + i * S, S, double(mean[u]), is * wc, is * is * B, is * A, gx + i * S);
    }
    return;
  }
  // Groups with their own statistics: the unit's two sums, then gx, by one thread per unit (the unit is
  // read twice, the second time from cache when it fits).
  const int64_t U = s.units(), cg = C / s.G;
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < U; ++u) {
    const int64_t c0 = (u % s.G) * cg, base = (u / s.G) * C;
    const double m = double(mean[u]), is = double(invstd[u]);
    double A = 0, B = 0;
    for (int64_t c = c0; c < c0 + cg; ++c) {
      const int64_t off = (base + c) * S;
      const double wc = double(weight(w, c));
      A += wc * kt.norm_sum(gy + off, S);
      B += wc * kt.norm_sum_prod_dev(gy + off, x + off, S, m);
    }
    A /= M;
    B *= is / M;
    for (int64_t c = c0; c < c0 + cg; ++c) {
      const int64_t off = (base + c) * S;
      kt.norm_grad(gy + off, x + off, S, m, is * double(weight(w, c)), is * is * B, is * A, gx + off);
    }
  }
}

#define STRIDED_NORM_INSTANTIATE(T)                                                                          \
  template void stats<T>(const NormShape&, const T*, T*, T*);                                                \
  template void apply<T>(const NormShape&, const T*, const T*, const T*, const T*, const T*, T*);            \
  template void backward<T>(const NormShape&, const T*, const T*, const T*, const T*, const T*, bool, T*, T*, \
                            T*);
STRIDED_NORM_INSTANTIATE(float)
STRIDED_NORM_INSTANTIATE(double)

}  // namespace strided::norm
