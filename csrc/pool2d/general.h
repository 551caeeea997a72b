// The pooling kernels beside the SIMD ones of pool2d.h, for what those do not take: dilated max-pooling
// windows, max pooling's int64 indices (PyTorch's: flat positions in each H*W input plane), average
// pooling's divisor_override (general.cpp), and max unpooling through such indices (unpool.cpp).
// Functions returning bool return false, having written nothing out of bounds, when an index lies outside
// its plane.
#pragma once
#include "core/common.h"

namespace strided::pool {

// indices may be null (dilated windows without indices).
template <typename T>
void max_forward_general(const PoolShape& s, const T* x, T* y, int64_t* indices);
template <typename T>
void max_backward_general(const PoolShape& s, const T* gy, const T* x, T* gx);
template <typename T>
bool max_backward_indices(const PoolShape& s, const T* gy, const int64_t* indices, T* gx);
template <typename T>
void avg_forward_divisor(const PoolShape& s, const T* x, T* y, int64_t divisor);
template <typename T>
void avg_backward_divisor(const PoolShape& s, const T* gy, T* gx, int64_t divisor);

// planes of in_size inputs (x, indices) and out_size outputs (y).
template <typename T>
bool unpool_forward(int64_t planes, int64_t in_size, int64_t out_size, const T* x, const int64_t* indices, T* y);
template <typename T>
bool unpool_backward(int64_t planes, int64_t in_size, int64_t out_size, const T* gy, const int64_t* indices, T* gx);

}  // namespace strided::pool
