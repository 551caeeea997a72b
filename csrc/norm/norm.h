// Batch, group, layer and instance normalization as one kernel family. Every one of them views its input
// as (N, C, S) (S the product of the dims after the channel axis) and normalizes "units":
//   * per_channel (batch norm, and instance norm on running statistics): unit c holds the N segments
//     x[n, c, :] of every sample;
//   * groups (group norm; instance norm is G = C; layer norm is (rows, M, 1) with G = 1): unit (n, g)
//     holds the C/G contiguous segments of channels g*C/G .. (g+1)*C/G - 1 of sample n.
// The affine weight and bias are per channel c. Statistics are the biased mean and variance of a unit,
// accumulated in double; kernels trust their (validated) arguments.
#pragma once
#include <cstdint>

namespace strided::norm {

// Field order matches strided.ops.norm.args.NormArgs.
struct NormShape {
  int64_t N, C, S, G;
  bool per_channel;
  int64_t units() const { return per_channel ? C : N * G; }
  int64_t unit(int64_t n, int64_t c) const { return per_channel ? c : n * G + c / (C / G); }
  int64_t count() const { return per_channel ? N * S : (C / G) * S; }  // elements per unit
};

// Biased mean and variance of every unit (two passes over the unit: stable, and the second pass of a unit
// that fits in cache does not go back to memory). One thread per unit, so sums do not depend on threads.
template <typename T>
void stats(const NormShape& s, const T* x, T* mean, T* var);

// y = (x - mean[u]) * invstd[u] * w[c] + b[c], one streaming pass (w, b may be null: 1 and 0).
template <typename T>
void apply(const NormShape& s, const T* x, const T* mean, const T* invstd, const T* w, const T* b, T* y);

// Gradients of apply (any of gx, gw, gb may be null: not computed). input_stats: mean and invstd were the
// unit's own statistics (training), so gx has the two mean terms; else they were constants (running
// statistics) and gx = gy * w * invstd. gw = sum gy * xhat and gb = sum gy per channel.
template <typename T>
void backward(const NormShape& s, const T* gy, const T* x, const T* mean, const T* invstd, const T* w,
              bool input_stats, T* gx, T* gw, T* gb);

}  // namespace strided::norm
