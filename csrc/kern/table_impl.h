// The generic microkernels, written once with GCC vector extensions and compiled once per ISA:
// kernels_<isa>.cpp defines the vector width and register budget, then includes this file, whose
// per-file compile flags (-mavx512f... / -mavx2 -mfma / none) decide the instructions. The kernels
// themselves live in one header per family (kern/vec.h, kern/gemm_simd.h, kern/copy_simd.h,
// conv2d/direct_simd.h, conv2d/pixels_simd.h, pool2d/pool_rows.h and pool_max_rows.h, norm/norm_simd.h),
// included here inside an anonymous namespace so that no ISA's copy can leak into another through the
// linker; this file adds the FMA probe and the Table.
//
// Expected macros: STRIDED_VBYTES (vector bytes), STRIDED_MR (GEMM rows per micro-tile),
// STRIDED_ACC (accumulator registers the direct and pixel kernels may use), STRIDED_DIRECT_KB (output
// channels per direct-kernel block, at most 12), STRIDED_BWDW_GEMM_ROWS (Table::bwdw_gemm_rows),
// STRIDED_ISA_NAME (string),
// STRIDED_TABLE_F32 / STRIDED_TABLE_F64 (the names of the two table functions to define).
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // pool_max_rows.h: max pooling's mask compares (AVX-512); stream_copy's stores
#endif

#include <algorithm>
#include <cstring>
#include <iterator>  // std::size
#include <type_traits>
#include <utility>

#include "kern/kernels.h"

namespace strided::kern {
namespace {
#include "kern/vec.h"
#include "kern/gemm_simd.h"
#include "kern/copy_simd.h"
#include "conv2d/direct_simd.h"
#include "conv2d/pixels_simd.h"
#include "kern/winograd_simd.h"
#include "pool2d/pool_rows.h"
#include "pool2d/pool_max_rows.h"
#include "norm/norm_simd.h"

// ---------------------------------------------------------------- FMA throughput probe
// 2*MR independent vector FMA chains (more than latency x throughput), no memory traffic.
template <typename T>
double fma_probe(double seconds) {
  constexpr int A = 2 * MR > 24 ? 24 : 2 * MR;
  V<T> acc[A];
  for (int i = 0; i < A; ++i) acc[i] = bcast(T(i) * T(1e-3));
  const V<T> m = bcast(T(0.999999)), d = bcast(T(1e-7));
  // clock_gettime, not <chrono>: no inline library template may be instantiated with this file's ISA
  // flags (the linker could pick that copy for portable code).
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  const double t0 = now();
  int64_t iters = 0;
  double elapsed = 0;
  do {
    for (int rep = 0; rep < 4096; ++rep) {
#pragma GCC unroll 32
      for (int i = 0; i < A; ++i) acc[i] = acc[i] * m + d;
    }
    iters += 4096;
    elapsed = now() - t0;
  } while (elapsed < seconds);
  T sink = 0;
  for (int i = 0; i < A; ++i) sink += hsum<T>(acc[i]);
  volatile T keep = sink;
  (void)keep;
  return double(iters) * A * VL<T> * 2 / elapsed * 1e-9;
}

template <typename T>
Table<T> make_table() {
  Table<T> t{};
  t.isa = STRIDED_ISA_NAME;
  t.vl = VL<T>;
  t.mr = MR;
  t.nr = NV * VL<T>;
  t.max_nv = kDirectMaxNV;
  t.direct_kb = STRIDED_DIRECT_KB;
  t.direct_rows = kDirectRows;
  t.bwdw_rows_max_r = kBwdwRowsMaxR;
  t.bwdw_gemm_rows = STRIDED_BWDW_GEMM_ROWS;
  t.gemm = &gemm<T>;
  t.gemm_pixels = &gemm_pixels<T>;
  t.pack_panels = &pack_panels<T>;
  t.deinterleave2 = &deinterleave2<T>;
  t.transpose = &transpose<T>;
  t.copy_rows = &copy_rows<T>;
  t.direct_forward = &direct_forward<T>;
  t.direct_backward_weight = &direct_backward_weight<T>;
  t.pixel_mp = kPixelMP;
  t.pixel_nb = kPixelNV * VL<T>;
  t.pixel_tile = &pixel_tile<T>;
  t.wino_input = &wino_tile<WinoBT, T>;
  t.wino_output = &wino_output<T>;
  t.wino_grad = &wino_tile<WinoA, T>;
  t.pool_max = &max_fast<T>;
  t.pool_max_backward = &max_backward_fast<T>;
  t.pool_avg = &avg_fast<T>;
  t.pool_avg_backward = &avg_backward_fast<T>;
  t.pool_avg_backward_plane = &avg_backward_plane<T>;
  t.stream_copy = &stream_copy<T>;
  t.norm_sum = &norm_sum<T>;
  t.norm_sum_sq_dev = &norm_sum_sq_dev<T>;
  t.norm_sum_prod_dev = &norm_sum_prod_dev<T>;
  t.norm_apply = &norm_apply<T>;
  t.norm_grad = &norm_grad<T>;
  t.fma_probe = &fma_probe<T>;
  return t;
}

}  // namespace

const Table<float>& STRIDED_TABLE_F32() {
  static const Table<float> t = make_table<float>();
  return t;
}
const Table<double>& STRIDED_TABLE_F64() {
  static const Table<double> t = make_table<double>();
  return t;
}

}  // namespace strided::kern
