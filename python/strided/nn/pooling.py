"""Pooling layers: MaxPool2d and AvgPool2d over the strided pooling ops, and GlobalAvgPool2d."""
from __future__ import annotations

import numpy as np

from .._device import array_module
from .. import functional as F
from ..ops._validate import pair as _pair
from ..ops.pool2d.args import pool_output_shape
from .module import Module, _check_cached


class MaxPool2d(Module):
    """2-D max pooling over strided.max_pool2d; padding counts as -inf (never picked).

    Args:
        kernel_size: window size, an int or (kh, kw).
        stride: an int or (sh, sw); None means kernel_size.
        padding: an int or (ph, pw), at most half the window.
        ceil_mode: round the output size up (PyTorch's rule: a last window starting in the bottom/right
            padding is dropped).

    Shapes: (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - kh) // sh + 1 (rounded up with ceil_mode).

    Raises:
        ValueError: at the forward, padding over half the window or an input smaller than the window.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.ceil_mode = bool(ceil_mode)
        self._x = None

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode)

    def forward(self, x):
        self._x = x
        return F.max_pool2d(x, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        return F.max_pool2d_backward(gy, x, **self._geometry()) if need_input_grad else None

    def output_shape(self, in_shape):
        return pool_output_shape((1, *in_shape), **self._geometry())[1:]

    def forward_flops(self, in_shape, out_shape):
        return int(np.prod(out_shape)) * self.kernel_size[0] * self.kernel_size[1]

    def receptive_window(self):
        return self.kernel_size, self.stride, (1, 1)

    def extra_repr(self):
        s = f"kernel_size={self.kernel_size}"
        if self.stride != self.kernel_size:
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        return s


class AvgPool2d(MaxPool2d):
    """2-D average pooling over strided.avg_pool2d; arguments and shapes as MaxPool2d, plus

    Args:
        count_include_pad: True divides by the full window (zero padding included, as PyTorch's default);
            False by the number of input elements in the window.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        self._x = x
        return F.avg_pool2d(x, **self._geometry(), count_include_pad=self.count_include_pad)

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        if not need_input_grad:
            return None
        return F.avg_pool2d_backward(gy, x, **self._geometry(), count_include_pad=self.count_include_pad)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")


class GlobalAvgPool2d(Module):
    """Global average pooling: the mean over H and W of each channel (PyTorch: AdaptiveAvgPool2d(1) and
    a flatten).

    Args:
        keepdim: keep the pooled axes: (N, C, 1, 1) instead of (N, C).

    Shapes: (N, C, H, W) -> (N, C), or (N, C, 1, 1) with keepdim; unbatched (C, H, W) -> (C,).

    Raises:
        ValueError: an input that is not 3-D or 4-D.
    """

    def __init__(self, keepdim: bool = False):
        super().__init__()
        self.keepdim = bool(keepdim)
        self._shape = None

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"GlobalAvgPool2d expects (N, C, H, W) or unbatched (C, H, W), got {tuple(x.shape)}")
        self._shape = x.shape
        return x.mean(axis=(-2, -1), keepdims=self.keepdim)

    def backward(self, gy, need_input_grad=True):
        shape = _check_cached(self, self._shape)
        self._shape = None
        if not need_input_grad:
            return None
        xp = array_module(gy)
        g = gy.reshape(shape[:-2] + (1, 1)) / (shape[-2] * shape[-1])
        return xp.ascontiguousarray(xp.broadcast_to(g, shape))

    def output_shape(self, in_shape):
        return (in_shape[0], 1, 1) if self.keepdim else (in_shape[0],)

    def forward_flops(self, in_shape, out_shape):
        return int(np.prod(in_shape))

    def receptive_window(self):
        return "all"

    def extra_repr(self):
        return "keepdim=True" if self.keepdim else ""


__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"]
