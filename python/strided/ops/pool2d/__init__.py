"""pool2d, the op family: max and average pooling, forward and backward. Each validates once (args.py),
then runs the C++ kernels of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays;
reference.py is the NumPy oracle."""
from __future__ import annotations

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._dispatch import unbatched
from .._types import Array, IntPair, OptIntPair
from .args import pool_args


@unbatched("x")
def max_pool2d(x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
               ceil_mode: bool = False) -> Array:
    """2-D max pooling: the maximum of each kernel_size window.

    Padding counts as -inf (never picked); ties go to the first maximum in row-major window order; a NaN
    in a window gives NaN.

    Args:
        x: input of shape (N, C, H, W), or (C, H, W) unbatched; float32 or float64 (NumPy or CuPy).
        kernel_size: an int or (kh, kw), positive.
        stride: an int or (sh, sw); None (the default) means kernel_size.
        padding: an int or (ph, pw) on both sides of each dimension, at most half the kernel.
        ceil_mode: round the output size up; a last window that would start in the end padding is dropped.

    Returns:
        y of shape (N, C, OH, OW) (unbatched: (C, OH, OW)), OH = (H + 2 * ph - kh) // sh + 1 (rounded up
        with ceil_mode), likewise OW.

    Raises:
        TypeError: x is not a float32/float64 array.
        ValueError: x of another ndim, a non-positive kernel_size or stride, negative padding or padding
            over half the kernel, an output size < 1.
    """
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.max_pool2d_forward(x, args)
    return _C.max_pool2d_forward(_c(x, dtype), args)


@unbatched("x", "gy")
def max_pool2d_backward(gy: Array, x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
                        ceil_mode: bool = False) -> Array:
    """Gradient of max_pool2d: each window's gy goes to its maximum (the first one of ties; a NaN
    takes it).

    Args:
        gy: output gradient, of the shape max_pool2d returned for x.
        x, kernel_size, stride, padding, ceil_mode: as given to max_pool2d.

    Returns:
        gx of the shape of x.

    Raises:
        TypeError, ValueError: as max_pool2d, and ValueError for gy not of the output's shape.
    """
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.max_pool2d_backward(gy, x, args)
    return _C.max_pool2d_backward(_c(gy, dtype), _c(x, dtype), args)


@unbatched("x")
def avg_pool2d(x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Array:
    """2-D average pooling: the mean of each kernel_size window.

    Args:
        x: input of shape (N, C, H, W), or (C, H, W) unbatched; float32 or float64 (NumPy or CuPy).
        kernel_size, stride, padding, ceil_mode: as for max_pool2d (stride None means kernel_size).
        count_include_pad: divide by the window size including its padding (but not the part of a
            ceil_mode window past the end padding); False divides by the input elements in the window.

    Returns:
        y of shape (N, C, OH, OW) (unbatched: (C, OH, OW)), sized as max_pool2d's.

    Raises:
        TypeError: x is not a float32/float64 array.
        ValueError: as max_pool2d.
    """
    (x,) = _external(x)
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.avg_pool2d_forward(x, args, bool(count_include_pad))
    return _C.avg_pool2d_forward(_c(x, dtype), args, bool(count_include_pad))


@unbatched("x", "gy")
def avg_pool2d_backward(gy: Array, x: Array, kernel_size: IntPair, stride: OptIntPair = None, padding: IntPair = 0,
                        ceil_mode: bool = False, count_include_pad: bool = True) -> Array:
    """Gradient of avg_pool2d: each window's gy, divided by its divisor, spread over the window.

    Args:
        gy: output gradient, of the shape avg_pool2d returned for x.
        x, kernel_size, stride, padding, ceil_mode, count_include_pad: as given to avg_pool2d.

    Returns:
        gx of the shape of x.

    Raises:
        TypeError, ValueError: as avg_pool2d, and ValueError for gy not of the output's shape.
    """
    gy, x = _external(gy, x)
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.avg_pool2d_backward(gy, args, bool(count_include_pad))
    return _C.avg_pool2d_backward(_c(gy, dtype), args, bool(count_include_pad))


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
