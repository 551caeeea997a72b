// 2-D convolution (cross-correlation), NCHW activations, K x C/groups x R x S weights.
// Each pass has a simple direct kernel (the C++ twin of strided.reference) and a pixel-tiled im2col
// kernel; `Algo` lets tests and benchmarks force either, Auto lets the dispatcher choose.
#pragma once
#include "common.h"

namespace strided::conv {

enum class Algo : int { Auto = 0, Simple = 1, Im2col = 2 };

template <typename T>
void forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, Algo algo);
template <typename T>
void backward_input(const ConvShape& s, const T* gy, const T* w, T* gx, Algo algo);
template <typename T>
void backward_weight(const ConvShape& s, const T* gy, const T* x, T* gw, Algo algo);
template <typename T>
void backward_bias(const ConvShape& s, const T* gy, T* gb);

}  // namespace strided::conv
