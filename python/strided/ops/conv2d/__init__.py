"""conv2d, the op family: `conv2d` / `conv2d_backward` validate once (args.py), then run the C++ kernels
of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays. reference.py is the NumPy
oracle both are tested against. transpose.py: conv_transpose2d, on the same kernels."""
from __future__ import annotations

from ... import _C
from .. import _algorithm, _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._dispatch import unbatched
from .._types import Array, Grads, IntPair, OptArray, Padding
from .args import conv_args
from .transpose import conv_transpose2d, conv_transpose2d_backward


@unbatched("x")
def conv2d(x: Array, w: Array, b: OptArray = None, stride: IntPair = 1, padding: Padding = 0,
           dilation: IntPair = 1, groups: int = 1) -> Array:
    """2-D cross-correlation (PyTorch's convolution) of x with w, plus an optional bias.

    y[n, k, i, j] = b[k] + sum over c, r, s of w[k, c, r, s] * xpad[n, g*C/groups + c, i*sh + r*dh, j*sw + s*dw]
    for k in group g.

    Args:
        x: input of shape (N, C, H, W), or (C, H, W) unbatched; float32 or float64 (NumPy runs the C++
            kernels, CuPy the CUDA kernels); any memory layout.
        w: weight of shape (K, C/groups, R, S), the dtype of x.
        b: optional bias of shape (K,).
        stride, dilation: an int or (h, w), positive.
        padding: an int, (ph, pw), (top, bottom, left, right), or 'valid' (none), 'same' (output
            ceil(input / stride), an odd total putting the extra row/column last) or 'full'
            (dilation * (kernel - 1) on every side).
        groups: split C and K into `groups` independent blocks (groups = C: depthwise).

    Returns:
        y of shape (N, K, OH, OW) (unbatched: (K, OH, OW)),
        OH = (H + pad_top + pad_bottom - dilation * (R - 1) - 1) // stride + 1, likewise OW.

    Raises:
        TypeError: an argument is not a float32/float64 array, or the dtypes differ.
        ValueError: wrong ndim, groups not dividing C and K, w not (K, C/groups, R, S), non-positive
            stride/dilation, negative padding, an output size < 1, a bias not of shape (K,).
    """
    x, w, b = _external(x, w, b)
    args, dtype = conv_args(x, w, b, None, stride, padding, dilation, groups)
    gpu = _dispatch.backend(x, w, b)
    if gpu is not None:
        return gpu.conv2d_forward(x, w, b, args)
    return _C.conv2d_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype), args,
                             _C.conv_algorithms[_algorithm.current()])


@unbatched("x", "gy", out=(0,))
def conv2d_backward(gy: Array, x: Array, w: Array, stride: IntPair = 1, padding: Padding = 0, dilation: IntPair = 1,
                    groups: int = 1, *, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> Grads:
    """Gradients (gx, gw, gb) of conv2d for the output gradient gy.

    Args:
        gy: output gradient, of the shape conv2d returned for x and w.
        x, w, stride, padding, dilation, groups: as given to conv2d.
        input_grad, weight_grad, bias_grad: which gradients to compute (one not asked for costs nothing).

    Returns:
        (gx, gw, gb) of the shapes of x, w and (K,); None for each gradient not asked for.

    Raises:
        TypeError, ValueError: as conv2d, and ValueError for gy not of the output's shape.
    """
    gy, x, w = _external(gy, x, w)
    args, dtype = conv_args(x, w, None, gy, stride, padding, dilation, groups)
    gpu = _dispatch.backend(gy, x, w)
    if gpu is not None:
        return (gpu.conv2d_backward_input(gy, w, args) if input_grad else None,
                gpu.conv2d_backward_weight(gy, x, args) if weight_grad else None,
                gpu.conv2d_backward_bias(gy, args) if bias_grad else None)
    algo = _C.conv_algorithms[_algorithm.current()]
    gy = _c(gy, dtype)
    gx = _C.conv2d_backward_input(gy, _c(w, dtype), args, algo) if input_grad else None
    if weight_grad:  # the bias gradient is summed in the weight gradient's pass over gy
        return (gx,) + _C.conv2d_backward_weight(gy, _c(x, dtype), args, algo, bool(bias_grad))
    return gx, None, _C.conv2d_backward_bias(gy, args) if bias_grad else None


__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward"]
