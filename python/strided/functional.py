"""The functional ops: validate once (strided._shapes), then dispatch on the array type:
NumPy arrays run the C++/OpenMP kernels of strided._C, CuPy arrays run the CUDA kernels of strided.cuda.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from . import _C
from ._device import array_module, from_external, is_gpu_array
from ._shapes import conv_args, elementwise_args, linear_args, pool_args

_conv_algorithm = contextvars.ContextVar("strided_conv_algorithm", default="auto")


@contextlib.contextmanager
def conv_algorithm(name):
    """Force one convolution algorithm inside a `with` block: 'auto' (the dispatcher's choice) or any name
    in `conv_algorithms()` for the CPU ('simple' is the direct twin of the reference)."""
    if name not in _C.conv_algorithms:
        raise ValueError(f"unknown conv algorithm {name!r}; choose from {sorted(_C.conv_algorithms)}")
    token = _conv_algorithm.set(name)
    try:
        yield
    finally:
        _conv_algorithm.reset(token)


def conv_algorithms():
    """Names accepted by `conv_algorithm`."""
    return sorted(_C.conv_algorithms)


def _backend(*arrays):
    """strided._C for NumPy inputs, strided.cuda for CuPy inputs; mixing the two is an error."""
    arrays = [a for a in arrays if a is not None]
    gpu = [is_gpu_array(a) for a in arrays]
    if any(gpu):
        if not all(gpu):
            raise TypeError("all arrays of one call must live on the same device: got a mix of "
                            + ", ".join(type(a).__module__ + "." + type(a).__name__ for a in arrays))
        from . import cuda
        return cuda.kernels()
    return None


def _external(*arrays):
    """Foreign GPU arrays (__cuda_array_interface__ or DLPack, e.g. torch CUDA tensors) as CuPy, zero-copy."""
    return tuple(None if a is None else from_external(a) for a in arrays)


def _c(a, dtype):
    """C-contiguous, aligned, of `dtype`: non-contiguous and negative-stride views are copied once."""
    if a is None or (a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned):  # the common case, fast
        return a
    return np.require(a, dtype, ["C", "A"])


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of x (N, C, H, W) with w (K, C/groups, R, S) plus an optional bias b (K,).

    padding: int, (ph, pw), (top, bottom, left, right), or 'valid' / 'same' / 'full'."""
    x, w, b = _external(x, w, b)
    args, dtype = conv_args(x, w, b, None, stride, padding, dilation, groups)
    gpu = _backend(x, w, b)
    if gpu is not None:
        return gpu.conv2d_forward(x, w, b, args)
    return _C.conv2d_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype), args,
                             _C.conv_algorithms[_conv_algorithm.get()])


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, groups=1, *,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients (gx, gw, gb) of conv2d for the output gradient gy; one not asked for is None."""
    gy, x, w = _external(gy, x, w)
    args, dtype = conv_args(x, w, None, gy, stride, padding, dilation, groups)
    gpu = _backend(gy, x, w)
    if gpu is not None:
        return (gpu.conv2d_backward_input(gy, w, args) if input_grad else None,
                gpu.conv2d_backward_weight(gy, x, args) if weight_grad else None,
                gpu.conv2d_backward_bias(gy, args) if bias_grad else None)
    algo = _C.conv_algorithms[_conv_algorithm.get()]
    gy = _c(gy, dtype)
    gx = _C.conv2d_backward_input(gy, _c(w, dtype), args, algo) if input_grad else None
    if weight_grad:  # the bias gradient is summed in the weight gradient's pass over gy
        return (gx,) + _C.conv2d_backward_weight(gy, _c(x, dtype), args, algo, bool(bias_grad))
    return gx, None, _C.conv2d_backward_bias(gy, args) if bias_grad else None


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling; padding counts as -inf (never picked); ties go to the first maximum; NaN propagates."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _backend(x)
    if gpu is not None:
        return gpu.max_pool2d_forward(x, args)
    return _C.max_pool2d_forward(_c(x, dtype), args)


def max_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _backend(gy, x)
    if gpu is not None:
        return gpu.max_pool2d_backward(gy, x, args)
    return _C.max_pool2d_backward(_c(gy, dtype), _c(x, dtype), args)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling; count_include_pad divides by the window size including padding (not the ceil overhang)."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _backend(x)
    if gpu is not None:
        return gpu.avg_pool2d_forward(x, args, bool(count_include_pad))
    return _C.avg_pool2d_forward(_c(x, dtype), args, bool(count_include_pad))


def avg_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _backend(gy, x)
    if gpu is not None:
        return gpu.avg_pool2d_backward(gy, args, bool(count_include_pad))
    return _C.avg_pool2d_backward(_c(gy, dtype), args, bool(count_include_pad))


def linear(x, w, b=None):
    """Fully connected: x (N, in) @ w (out, in).T + b (out,).  NumPy arrays run strided's GEMM on its own
    threads; CuPy arrays use cupy.matmul (cuBLAS)."""
    x, w, b = _external(x, w, b)
    _, dtype = linear_args(x, w, b)
    if _backend(x, w, b) is not None:
        y = x @ w.T
        return y if b is None else y + b
    return _C.linear_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype))


def linear_backward(gy, x, w, *, input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients (gx, gw, gb) of linear for the output gradient gy; one not asked for is None."""
    gy, x, w = _external(gy, x, w)
    _, dtype = linear_args(x, w, None, gy)
    if _backend(gy, x, w) is not None:
        return (gy @ w if input_grad else None, gy.T @ x if weight_grad else None,
                gy.sum(axis=0) if bias_grad else None)
    gy = _c(gy, dtype)
    return (_C.linear_backward_input(gy, _c(w, dtype)) if input_grad else None,
            _C.linear_backward_weight(gy, _c(x, dtype)) if weight_grad else None,
            gy.sum(axis=0) if bias_grad else None)


def relu(x):
    """max(x, 0), NaN passing through: one streaming pass (C++) or CuPy's maximum."""
    (x,) = _external(x)
    dtype = elementwise_args(x)
    if _backend(x) is not None:
        return array_module(x).maximum(x, 0)
    return _C.relu_forward(_c(x, dtype))


def relu_backward(gy, y):
    """Gradient of relu from its output y: gy where y > 0, else 0."""
    gy, y = _external(gy, y)
    dtype = elementwise_args(y, gy)
    if _backend(gy, y) is not None:
        return gy * (y > 0)
    return _C.relu_backward(_c(gy, dtype), _c(y, dtype))


__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
           "avg_pool2d_backward", "linear", "linear_backward", "relu", "relu_backward", "conv_algorithm",
           "conv_algorithms"]
