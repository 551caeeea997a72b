// 2-D convolution (cross-correlation), NCHW activations, K x C/groups x R x S weights.
//
// Algorithms (each pass of each one can be forced through `Algo`; Auto lets the dispatcher choose):
//   Simple  direct loops, the C++ twin of strided.reference (the oracle's twin, never fast)
//   Im2col  pixel-tiled im2col + a compiler-vectorized GEMM (portable, the simple twin of Gemm)
//   Gemm    implicit GEMM: im2col tiles packed straight into SIMD panels, register-blocked microkernel
//   Direct  SIMD direct convolution for few input channels (C = 1, 3) and depthwise groups
//   ChannelsLast  forward and backward-input over a channels-last copy of the input (x or gy), for 64+
//           channels in and out per group (backward-weight forced to it runs what Auto picks)
//   Winograd  F(2x2, 3x3) for 3x3 layers at unit stride and dilation, one group, every pass (16 products
//           per 2x2 outputs where the direct sum takes 36), on ChannelsLast's micro-tile and gemm_pixels
// Gemm, Direct, ChannelsLast and Winograd run the microkernels of kern/kernels.h, picked at run time by
// cpu_capability(). One file per algorithm (simple.cpp, im2col.cpp, gemm.cpp, direct.cpp,
// channels_last.cpp, winograd.cpp), what they share in internal.h, and the dispatcher, with its ordered
// list of implementations per pass, in dispatch.cpp.
#pragma once
#include "core/common.h"

namespace strided::conv {

enum class Algo : int {
  Auto = 0, Simple = 1, Im2col = 2, Gemm = 3, Direct = 4, ChannelsLast = 5, Winograd = 6
};
enum class Pass : int { Forward = 0, BackwardInput = 1, BackwardWeight = 2 };
// Every Algo, in the order strided._C.conv_algorithms lists them.
constexpr Algo kAlgos[] = {Algo::Auto,   Algo::Simple,       Algo::Im2col,  Algo::Gemm,
                           Algo::Direct, Algo::ChannelsLast, Algo::Winograd};

// The dispatcher: what actually runs for elements of type T when `algo` is asked for (Auto resolved by
// the rule in dispatch.cpp; a forced algorithm that has no kernel for this pass names the one that stands
// in, e.g. Direct backward-input with stride > 1 runs Gemm's).
template <typename T>
Algo resolve(const ConvShape& s, Pass pass, Algo algo);
const char* algo_name(Algo a);

template <typename T>
void forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, Algo algo);
template <typename T>
void backward_input(const ConvShape& s, const T* gy, const T* w, T* gx, Algo algo);
// gb, when not null, receives the bias gradient too (summed in the same pass over gy where it can be).
template <typename T>
void backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb, Algo algo);
template <typename T>
void backward_bias(const ConvShape& s, const T* gy, T* gb);

}  // namespace strided::conv
