"""conv2d, the op family: `conv2d` / `conv2d_backward` validate once (args.py), then run the C++ kernels
of strided._C on NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays. reference.py is the NumPy
oracle both are tested against."""
from __future__ import annotations

from ... import _C
from .. import _algorithm, _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import conv_args


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of x (N, C, H, W) with w (K, C/groups, R, S) plus an optional bias b (K,).

    padding: int, (ph, pw), (top, bottom, left, right), or 'valid' / 'same' / 'full'."""
    x, w, b = _external(x, w, b)
    args, dtype = conv_args(x, w, b, None, stride, padding, dilation, groups)
    gpu = _dispatch.backend(x, w, b)
    if gpu is not None:
        return gpu.conv2d_forward(x, w, b, args)
    return _C.conv2d_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype), args,
                             _C.conv_algorithms[_algorithm.current()])


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, groups=1, *,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients (gx, gw, gb) of conv2d for the output gradient gy; one not asked for is None."""
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


__all__ = ["conv2d", "conv2d_backward"]
