// CUDA normalization kernels: the GPU twins of csrc/norm/norm.cpp (batch, group, layer and instance norm
// on x viewed as (N, C, S) with its statistics units; see csrc/norm/norm.h), templated on float/double.
//
// Reductions (statistics, the backward's sums) run one block per unit or channel, each thread summing a
// fixed stride of the elements in double, then block_sum's fixed-order tree: no atomics, and the result
// does not depend on the order blocks or threads run in. Elementwise kernels (normalize-and-scale, the
// input gradient) are grid-stride loops over the (N, C, S) elements. The geometry of
// strided.ops.norm.args.NormArgs arrives as NORM_GEOMETRY.
#include "common.cuh"

using strided_cuda::i64;

#define NORM_GEOMETRY i64 N, i64 C, i64 S, i64 G, int per_channel

namespace strided_cuda {

STRIDED_DEVICE i64 norm_units(i64 N, i64 C, i64 G, int per_channel) { return per_channel ? C : N * G; }

STRIDED_DEVICE i64 norm_count(i64 N, i64 C, i64 S, i64 G, int per_channel) {
  return per_channel ? N * S : (C / G) * S;
}

STRIDED_DEVICE i64 norm_unit(i64 n, i64 c, i64 C, i64 G, int per_channel) {
  return per_channel ? c : n * G + c / (C / G);
}

// Offset in x of element k (0 <= k < count) of unit u: the N segments of channel u, or the contiguous
// C/G * S elements of group u % G of sample u / G.
STRIDED_DEVICE i64 norm_offset(i64 u, i64 k, i64 C, i64 S, i64 G, int per_channel) {
  if (per_channel) return ((k / S) * C + u) * S + k % S;
  return ((u / G) * C + (u % G) * (C / G)) * S + k;
}

// The channel of element k of unit u.
STRIDED_DEVICE i64 norm_channel(i64 u, i64 k, i64 C, i64 S, i64 G, int per_channel) {
  return per_channel ? u : (u % G) * (C / G) + k / S;
}

template <typename T>
STRIDED_DEVICE double weight_at(const T* w, i64 c) { return w ? (double)w[c] : 1.0; }

}  // namespace strided_cuda

// Biased mean and variance of every unit: two passes (mean, then squared deviations), block per unit.
template <typename T>
__global__ void norm_stats(const T* __restrict__ x, T* __restrict__ mean, T* __restrict__ var, NORM_GEOMETRY) {
  using namespace strided_cuda;
  double* scratch = reinterpret_cast<double*>(shared_bytes());
  const i64 U = norm_units(N, C, G, per_channel), M = norm_count(N, C, S, G, per_channel);
  for (i64 u = blockIdx.x; u < U; u += gridDim.x) {
    double a = 0;
    for (i64 k = threadIdx.x; k < M; k += blockDim.x) a += (double)x[norm_offset(u, k, C, S, G, per_channel)];
    const double m = block_sum(a, scratch) / (double)M;
    double q = 0;
    for (i64 k = threadIdx.x; k < M; k += blockDim.x) {
      const double d = (double)x[norm_offset(u, k, C, S, G, per_channel)] - m;
      q += d * d;
    }
    q = block_sum(q, scratch);
    if (threadIdx.x == 0) {
      mean[u] = (T)m;
      var[u] = (T)(q / (double)M);
    }
  }
}

// y = (x - mean[u]) * invstd[u] * w[c] + b[c] (w, b may be null: 1 and 0).
template <typename T>
__global__ void norm_apply(const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ invstd,
                           const T* __restrict__ w, const T* __restrict__ b, T* __restrict__ y, NORM_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * S;
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 c = e / S % C, u = norm_unit(e / (S * C), c, C, G, per_channel);
    const T k = invstd[u] * (w ? w[c] : (T)1);
    y[e] = (x[e] - mean[u]) * k + (b ? b[c] : (T)0);
  }
}

// Per channel c (block per channel): gb[c] = sum gy, gw[c] = sum gy * xhat over every (n, s).
template <typename T>
__global__ void norm_channel_sums(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
                                  const T* __restrict__ invstd, T* __restrict__ gw, T* __restrict__ gb,
                                  NORM_GEOMETRY) {
  using namespace strided_cuda;
  double* scratch = reinterpret_cast<double*>(shared_bytes());
  const i64 M = N * S;
  for (i64 c = blockIdx.x; c < C; c += gridDim.x) {
    double a = 0, p = 0;
    for (i64 k = threadIdx.x; k < M; k += blockDim.x) {
      const i64 n = k / S, e = (n * C + c) * S + k % S, u = norm_unit(n, c, C, G, per_channel);
      const double g = (double)gy[e];
      a += g;
      p += g * ((double)x[e] - (double)mean[u]) * (double)invstd[u];
    }
    a = block_sum(a, scratch);
    p = block_sum(p, scratch);
    if (threadIdx.x == 0) {
      gb[c] = (T)a;
      gw[c] = (T)p;
    }
  }
}

// Per group unit u (block per unit): ug[u] = sum w * gy, ugx[u] = sum w * gy * xhat (group norm's mean
// terms of the input gradient).
template <typename T>
__global__ void norm_unit_sums(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
                               const T* __restrict__ invstd, const T* __restrict__ w, T* __restrict__ ug,
                               T* __restrict__ ugx, NORM_GEOMETRY) {
  using namespace strided_cuda;
  double* scratch = reinterpret_cast<double*>(shared_bytes());
  const i64 U = norm_units(N, C, G, per_channel), M = norm_count(N, C, S, G, per_channel);
  for (i64 u = blockIdx.x; u < U; u += gridDim.x) {
    const double m = (double)mean[u];
    double a = 0, p = 0;
    for (i64 k = threadIdx.x; k < M; k += blockDim.x) {
      const i64 e = norm_offset(u, k, C, S, G, per_channel);
      const double g = (double)gy[e] * weight_at(w, norm_channel(u, k, C, S, G, per_channel));
      a += g;
      p += g * ((double)x[e] - m);
    }
    a = block_sum(a, scratch);
    p = block_sum(p, scratch);
    if (threadIdx.x == 0) {
      ug[u] = (T)a;
      ugx[u] = (T)(p * (double)invstd[u]);
    }
  }
}

// gx = invstd * (w * gy - mean(w * gy) - xhat * mean(w * gy * xhat)) with the unit's own statistics
// (input_stats; the means from norm_channel_sums' sg / sgx for channels, times w, or norm_unit_sums' for
// groups), else gx = invstd * w * gy.
template <typename T>
__global__ void norm_backward_input(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ mean,
                                    const T* __restrict__ invstd, const T* __restrict__ w, const T* __restrict__ sg,
                                    const T* __restrict__ sgx, T* __restrict__ gx, int input_stats, NORM_GEOMETRY) {
  using namespace strided_cuda;
  const i64 total = N * C * S;
  const double M = (double)norm_count(N, C, S, G, per_channel);
  for (i64 e = first_index(); e < total; e += index_step()) {
    const i64 c = e / S % C, u = norm_unit(e / (S * C), c, C, G, per_channel);
    const double is = (double)invstd[u], wc = weight_at(w, c);
    double A = 0, B = 0;
    if (input_stats) {
      const double scale = per_channel ? wc / M : 1.0 / M;
      A = (double)sg[per_channel ? c : u] * scale;
      B = (double)sgx[per_channel ? c : u] * scale;
    }
    // In double, as the C++ kernel: the gy and mean(g) terms nearly cancel in small units.
    gx[e] = (T)(is * wc * (double)gy[e] - is * is * B * ((double)x[e] - (double)mean[u]) - is * A);
  }
}
