"""Pooling layers: MaxPool2d, MaxUnpool2d and AvgPool2d over the strided pooling ops, and GlobalAvgPool2d."""
from __future__ import annotations

import numpy as np

from .._device import array_module
from .. import functional as F
from ..ops._validate import pair as _pair
from ..ops.pool2d.args import pool_output_shape
from ..ops.pool2d.index_args import check_divisor
from .module import Module, _check_cached


class _Pool2d(Module):
    """What both poolings share: the window geometry, its FLOPs and receptive window, its repr."""

    def __init__(self, kernel_size, stride, padding, ceil_mode):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.ceil_mode = bool(ceil_mode)
        self._x = None

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


class MaxPool2d(_Pool2d):
    """2-D max pooling over strided.max_pool2d; padding counts as -inf (never picked).

    Args:
        kernel_size: window size, an int or (kh, kw).
        stride: an int or (sh, sw); None means kernel_size.
        padding: an int or (ph, pw), at most half the window.
        dilation: spacing of the window's taps, an int or (dh, dw).
        return_indices: forward returns (y, indices), the indices max_unpool2d / MaxUnpool2d take.
        ceil_mode: round the output size up (PyTorch's rule: a last window starting in the bottom/right
            padding is dropped).

    Shapes: (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 ph - dh (kh - 1) - 1) // sh + 1 (rounded up with
    ceil_mode); unbatched (C, H, W) likewise.

    In training mode the forward keeps the picks' indices for its backward, which then routes the gradient
    through them without reading x again; in eval mode it keeps x (and the forward writes no indices).

    Raises:
        ValueError: at the forward, padding over half the window or an input smaller than the window.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = _pair(dilation, "dilation")
        self.return_indices = bool(return_indices)
        self._indices = None

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, ceil_mode=self.ceil_mode)

    def forward(self, x):
        if not (self.training or self.return_indices):
            self._x, self._indices = x, None
            return F.max_pool2d(x, **self._geometry())
        y, indices = F.max_pool2d(x, **self._geometry(), return_indices=True)
        # The backward reads only x's shape and dtype: a zero-strided stand-in holds them without x.
        xp = array_module(y)  # y, not x: x may be a foreign GPU array
        self._x, self._indices = xp.broadcast_to(xp.zeros((), y.dtype), tuple(x.shape)), indices
        return (y, indices) if self.return_indices else y

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        indices, self._x, self._indices = self._indices, None, None
        if not need_input_grad:
            return None
        return F.max_pool2d_backward(gy, x, **self._geometry(), indices=indices)

    def output_shape(self, in_shape):
        return pool_output_shape((1, *in_shape), **self._geometry())[1:]

    def receptive_window(self):
        return self.kernel_size, self.stride, self.dilation

    def extra_repr(self):
        s = super().extra_repr()
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.return_indices:
            s += ", return_indices=True"
        return s


class AvgPool2d(_Pool2d):
    """2-D average pooling over strided.avg_pool2d; kernel_size, stride, padding, ceil_mode and shapes as
    MaxPool2d, plus

    Args:
        count_include_pad: True divides by the full window (zero padding included, as PyTorch's default);
            False by the number of input elements in the window.
        divisor_override: a nonzero int that divides every window's sum instead.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = check_divisor(divisor_override)

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override)

    def forward(self, x):
        self._x = x
        return F.avg_pool2d(x, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        if not need_input_grad:
            return None
        return F.avg_pool2d_backward(gy, x, **self._geometry())

    def output_shape(self, in_shape):
        return pool_output_shape((1, *in_shape), self.kernel_size, self.stride, self.padding, self.ceil_mode)[1:]

    def extra_repr(self):
        s = super().extra_repr()
        if not self.count_include_pad:
            s += ", count_include_pad=False"
        if self.divisor_override is not None:
            s += f", divisor_override={self.divisor_override}"
        return s


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d (SegNet-style decoders): forward(x, indices, output_size=None) puts
    each x at its index in a zero map of the default size (H - 1) * stride + kernel - 2 * padding or of
    output_size; backward gathers the gradient at the indices."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self._cache = None

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def __call__(self, x, indices, output_size=None):  # Module.__call__ takes one input
        return self.forward(x, indices, output_size)

    def forward(self, x, indices, output_size=None):
        y = F.max_unpool2d(x, indices, **self._geometry(), output_size=output_size)
        self._cache = (x, indices, tuple(y.shape[2:]))
        return y

    def backward(self, gy, need_input_grad=True):
        x, indices, size = _check_cached(self, self._cache)
        self._cache = None
        if not need_input_grad:
            return None
        return F.max_unpool2d_backward(gy, x, indices, **self._geometry(), output_size=size)

    def output_shape(self, in_shape):
        C, H, W = in_shape
        return C, *((n - 1) * s + k - 2 * p for n, k, s, p in zip((H, W), self.kernel_size, self.stride, self.padding))

    def forward_flops(self, in_shape, out_shape):
        return int(np.prod(out_shape))

    def receptive_window(self):
        return None  # each output is one input or zero: the input's receptive field

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


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


__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "MaxUnpool2d"]
