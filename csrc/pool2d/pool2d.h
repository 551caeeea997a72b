// 2-D max and average pooling, forward and backward, NCHW.
#pragma once
#include "core/common.h"

namespace strided::pool {

// indices: null, or PyTorch's int64 index of each output's pick in its input plane.
template <typename T>
void max_forward(const PoolShape& s, const T* x, T* y, int64_t* indices);
template <typename T>
void max_backward(const PoolShape& s, const T* gy, const T* x, T* gx);
template <typename T>
void avg_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad);
template <typename T>
void avg_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad);

}  // namespace strided::pool
