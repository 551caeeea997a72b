"""pool2d, the op family: max pooling (with dilation and indices), max unpooling and average pooling,
forward and backward. Each validates once (args.py),
then runs the C++ kernels of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays;
reference.py is the NumPy oracle."""
from __future__ import annotations

import numpy as np

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import pool_args
from .index_args import check_divisor, check_indices, unpool_args


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling, PyTorch's: padding is never picked; of equal maxima the first in row-major window order
    is taken, of NaNs the last (NaN propagates). return_indices: (y, indices), indices the int64 flat
    position of each output's pick in its H*W input plane."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode, dilation)
    gpu = _dispatch.backend(x)
    if return_indices:
        if gpu is not None:
            return gpu.max_pool2d_forward_indices(x, args)
        return _C.max_pool2d_forward_indices(_c(x, dtype), args)
    if gpu is not None:
        return gpu.max_pool2d_forward(x, args)
    return _C.max_pool2d_forward(_c(x, dtype), args)


def max_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, indices=None):
    """dL/dx: each output's gradient goes to its pick. Given the forward's indices it is routed through
    them and x is not read (only its shape and dtype are used)."""
    gy, x, indices = _external(gy, x, indices)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode, dilation)
    gpu = _dispatch.backend(gy, x, indices)
    if indices is not None:
        check_indices(indices, gy.shape, "indices must have the shape of gy")
        if gpu is not None:
            return gpu.max_pool2d_backward_indices(gy, indices, args)
        return _C.max_pool2d_backward_indices(_c(gy, dtype), _c(indices, np.int64), args)
    if gpu is not None:
        return gpu.max_pool2d_backward(gy, x, args)
    return _C.max_pool2d_backward(_c(gy, dtype), _c(x, dtype), args)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d: each x goes to its index in a zero output plane (an index given
    twice: the later x wins on the CPU, either on the GPU). An index outside the plane is a ValueError."""
    x, indices = _external(x, indices)
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size)
    gpu = _dispatch.backend(x, indices)
    if gpu is not None:
        return gpu.max_unpool2d_forward(x, indices, args)
    return _C.max_unpool2d_forward(_c(x, dtype), _c(indices, np.int64), args.OH, args.OW)


def max_unpool2d_backward(gy, x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """dL/dx of max_unpool2d: gy gathered at the indices (x gives the shape and dtype only)."""
    gy, x, indices = _external(gy, x, indices)
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size, gy=gy)
    gpu = _dispatch.backend(gy, x, indices)
    if gpu is not None:
        return gpu.max_unpool2d_backward(gy, indices, args)
    return _C.max_unpool2d_backward(_c(gy, dtype), _c(indices, np.int64))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling; count_include_pad divides by the window size including padding (not the ceil
    overhang); divisor_override, a nonzero int, divides every window's sum instead."""
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    divisor = check_divisor(divisor_override)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.avg_pool2d_forward(x, args, bool(count_include_pad), divisor or 0)
    return _C.avg_pool2d_forward(_c(x, dtype), args, bool(count_include_pad), divisor or 0)


def avg_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    divisor = check_divisor(divisor_override)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.avg_pool2d_backward(gy, args, bool(count_include_pad), divisor or 0)
    return _C.avg_pool2d_backward(_c(gy, dtype), args, bool(count_include_pad), divisor or 0)


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward"]
