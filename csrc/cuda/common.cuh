// Shared helpers of the CUDA kernels (conv2d.cu, pool2d.cu).
//
// The kernels are compiled three ways, so this header uses nothing but the core language:
//   * at run time by NVRTC through CuPy (strided/_cuda/sources.py inlines this header into each source text);
//   * by nvcc in tests/test_cuda_compile.py (warnings as errors, sm_80 and sm_90);
//   * by g++ in the grid emulator of tests/cuda_emu/, which defines STRIDED_EMULATED and supplies
//     threadIdx/blockIdx/blockDim/gridDim, __syncthreads and the per-block dynamic shared memory.
// No standard headers (NVRTC has none), no atomics, no warp intrinsics.
//
// The tile constants below are the one copy of the tiling: strided/_cuda/sources.py reads them from this file to
// size its grids, and the emulator compiles this file.
#pragma once

#ifndef STRIDED_EMULATED
#define STRIDED_DEVICE __device__ __forceinline__
#else
#define STRIDED_DEVICE inline
#endif

namespace strided_cuda {

typedef long long i64;  // every tensor offset is 64-bit: a tensor may exceed 2^31 elements

// Tiled GEMM (conv2d forward and weight gradient): a block of kThreads = (kTileM / kMicro) x
// (kTileN / kMicro) threads computes a kTileM x kTileN tile of the product, kMicro x kMicro per thread,
// stepping through the reduction kTileK at a time through shared memory.
constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kMicro = 4;
constexpr int kThreads = 256;
// Elementwise kernels and reductions (pooling, direct convolution, bias gradient).
constexpr int kBlock = 256;

static_assert((kTileM / kMicro) * (kTileN / kMicro) == kThreads, "one thread per micro-tile");
static_assert(kBlock % 32 == 0 && (kBlock & (kBlock - 1)) == 0 && kBlock <= 1024, "power-of-two block");
static_assert((kTileM * kTileK) % kThreads == 0 && (kTileN * kTileK) % kThreads == 0, "even tile loads");

STRIDED_DEVICE i64 imin(i64 a, i64 b) { return a < b ? a : b; }
STRIDED_DEVICE i64 imax(i64 a, i64 b) { return a > b ? a : b; }

// NaN test without <cmath>: the kernels are never built with fast-math, so v != v holds only for NaN.
template <typename T>
STRIDED_DEVICE bool is_nan(T v) { return v != v; }

// Division rounding toward -infinity (b > 0), for window bounds that may start in the padding.
STRIDED_DEVICE i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The dynamic shared memory of the block (its size is the launch's shared_bytes, set by the launch plans in strided/ops/<family>/cuda.py).
#ifndef STRIDED_EMULATED
STRIDED_DEVICE unsigned char* shared_bytes() {
  extern __shared__ __align__(16) unsigned char strided_shared[];
  return strided_shared;
}
#else
inline unsigned char* shared_bytes() { return ::strided_emu_shared_bytes(); }
#endif

// Grid-stride loops over a 1-D index space of `total` elements (64-bit).
STRIDED_DEVICE i64 first_index() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
STRIDED_DEVICE i64 index_step() { return (i64)gridDim.x * blockDim.x; }

// Fixed-order tree reduction of one value per thread over the block (blockDim.x a power of two, at most
// kBlock); every thread must call it. Returns the block total in thread 0 (others: partial sums).
template <typename T>
STRIDED_DEVICE T block_sum(T v, T* scratch) {
  const unsigned t = threadIdx.x;
  scratch[t] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) scratch[t] += scratch[t + half];
    __syncthreads();
  }
  const T total = scratch[0];
  __syncthreads();  // scratch may be reused by the caller
  return total;
}

}  // namespace strided_cuda
