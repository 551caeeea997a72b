"""pool2d, the op family: max and average pooling, forward and backward. Each validates once (args.py),
then runs the C++ kernels of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays;
reference.py is the NumPy oracle."""
from __future__ import annotations

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import pool_args


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling; padding counts as -inf (never picked); ties go to the first maximum; NaN propagates."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.max_pool2d_forward(x, args)
    return _C.max_pool2d_forward(_c(x, dtype), args)


def max_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.max_pool2d_backward(gy, x, args)
    return _C.max_pool2d_backward(_c(gy, dtype), _c(x, dtype), args)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling; count_include_pad divides by the window size including padding (not the ceil overhang)."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.avg_pool2d_forward(x, args, bool(count_include_pad))
    return _C.avg_pool2d_forward(_c(x, dtype), args, bool(count_include_pad))


def avg_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.avg_pool2d_backward(gy, args, bool(count_include_pad))
    return _C.avg_pool2d_backward(_c(gy, dtype), args, bool(count_include_pad))


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
