"""pool2d, the op family: max pooling (with dilation and indices), max unpooling and average pooling,
forward and backward. Each validates once (args.py, index_args.py), then runs the C++ kernels of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays;
reference.py is the NumPy oracle."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._dispatch import unbatched
from .._types import Array, IntPair, OptIntPair
from .args import pool_args
from .index_args import check_divisor, check_indices, unpool_args


@unbatched("x")
def max_pool2d(x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling: the maximum of each kernel_size window (PyTorch's arguments and semantics).

    Padding counts as -inf (never picked); of equal maxima the first in row-major window order is taken,
    of NaNs the last (a NaN in a window gives NaN), as PyTorch.

    Args:
        x: input of shape (N, C, H, W), or (C, H, W) unbatched; float32 or float64 (NumPy or CuPy).
        kernel_size: an int or (kh, kw), positive.
        stride: an int or (sh, sw); None (the default) means kernel_size.
        padding: an int or (ph, pw) on both sides of each dimension, at most half the kernel.
        dilation: spacing of the window's taps, an int or (dh, dw), positive.
        ceil_mode: round the output size up; a last window that would start in the end padding is dropped.
        return_indices: also return the int64 flat position of each output's pick in its H*W input plane
            (PyTorch's indices, what max_unpool2d and max_pool2d_backward(indices=) take).

    Returns:
        y of shape (N, C, OH, OW) (unbatched: (C, OH, OW)), OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1
        (rounded up with ceil_mode), likewise OW; with return_indices, (y, indices) of that shape.

    Raises:
        TypeError: x is not a float32/float64 array.
        ValueError: x of another ndim, a non-positive kernel_size, stride or dilation, negative padding or
            padding over half the kernel, an output size < 1, a dilated window holding only padding.
    """
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


@unbatched("x", "gy", "indices")
def max_pool2d_backward(gy: Array, x: Array, kernel_size: IntPair, stride: OptIntPair = None,
                        padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
                        indices: Optional[Array] = None) -> Array:
    """Gradient of max_pool2d: each output's gy goes to its pick (the rule of max_pool2d).

    Args:
        gy: output gradient, of the shape max_pool2d returned for x.
        x, kernel_size, stride, padding, dilation, ceil_mode: as given to max_pool2d.
        indices: the forward's indices (return_indices=True): the gradient is routed through them and x is
            not read (only its shape and dtype are used).

    Returns:
        gx of the shape of x.

    Raises:
        TypeError, ValueError: as max_pool2d, and ValueError for gy or indices not of the output's shape.
    """
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


@unbatched("x", "indices")
def max_unpool2d(x: Array, indices: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
                 output_size=None) -> Array:
    """The partial inverse of max_pool2d: each x goes to its index in a zero output plane (an index given
    twice: the later x wins on the CPU, either on the GPU), as PyTorch's max_unpool2d.

    Args:
        x: pooled values (N, C, H, W) or (C, H, W); float32 or float64.
        indices: int64 flat positions in each output plane, of x's shape (max_pool2d's return_indices).
        kernel_size, stride, padding: the pooling's; they give the output size
            (H - 1) * stride - 2 * padding + kernel_size.
        output_size: (OH, OW) (or a longer shape ending in them) instead, within one stride of that size.

    Returns:
        y of shape (N, C, OH, OW) (unbatched: (C, OH, OW)).

    Raises:
        TypeError: a dtype other than float32/float64 for x, or non-integer indices.
        ValueError: shapes that disagree, an output_size out of range, an index outside the output plane.
    """
    x, indices = _external(x, indices)
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size)
    gpu = _dispatch.backend(x, indices)
    if gpu is not None:
        return gpu.max_unpool2d_forward(x, indices, args)
    return _C.max_unpool2d_forward(_c(x, dtype), _c(indices, np.int64), args.OH, args.OW)


@unbatched("x", "gy", "indices")
def max_unpool2d_backward(gy: Array, x: Array, indices: Array, kernel_size: IntPair, stride: OptIntPair = None,
                          padding: IntPair = 0, output_size=None) -> Array:
    """Gradient of max_unpool2d: gy gathered at the indices (x gives the shape and dtype only).

    Returns:
        gx of the shape of x. Raises as max_unpool2d, and ValueError for gy not of its output's shape.
    """
    gy, x, indices = _external(gy, x, indices)
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size, gy=gy)
    gpu = _dispatch.backend(gy, x, indices)
    if gpu is not None:
        return gpu.max_unpool2d_backward(gy, indices, args)
    return _C.max_unpool2d_backward(_c(gy, dtype), _c(indices, np.int64))


@unbatched("x")
def avg_pool2d(x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Array:
    """2-D average pooling: the mean of each kernel_size window.

    Args:
        x: input of shape (N, C, H, W), or (C, H, W) unbatched; float32 or float64 (NumPy or CuPy).
        kernel_size, stride, padding, ceil_mode: as for max_pool2d (stride None means kernel_size).
        count_include_pad: divide by the window size including its padding (but not the part of a
            ceil_mode window past the end padding); False divides by the input elements in the window.
        divisor_override: a nonzero int that divides every window's sum instead.

    Returns:
        y of shape (N, C, OH, OW) (unbatched: (C, OH, OW)), sized as max_pool2d's.

    Raises:
        TypeError: x is not a float32/float64 array; a divisor_override that is not an int.
        ValueError: as max_pool2d; divisor_override 0.
    """
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    divisor = check_divisor(divisor_override)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.avg_pool2d_forward(x, args, bool(count_include_pad), divisor or 0)
    return _C.avg_pool2d_forward(_c(x, dtype), args, bool(count_include_pad), divisor or 0)


@unbatched("x", "gy")
def avg_pool2d_backward(gy: Array, x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
                        ceil_mode: bool = False, count_include_pad: bool = True,
                        divisor_override: Optional[int] = None) -> Array:
    """Gradient of avg_pool2d: each window's gy, divided by its divisor, spread over the window.

    Args:
        gy: output gradient, of the shape avg_pool2d returned for x.
        x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as given to
            avg_pool2d.

    Returns:
        gx of the shape of x.

    Raises:
        TypeError, ValueError: as avg_pool2d, and ValueError for gy not of the output's shape.
    """
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    divisor = check_divisor(divisor_override)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.avg_pool2d_backward(gy, args, bool(count_include_pad), divisor or 0)
    return _C.avg_pool2d_backward(_c(gy, dtype), args, bool(count_include_pad), divisor or 0)


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward"]
