"""Conv2d: the 2-D convolution layer over strided.conv2d / conv2d_backward."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..ops._validate import pair as _pair
from ..ops.conv2d.args import conv_output_shape
from . import init
from .module import Module, Parameter, _check_cached


class Conv2d(Module):
    """2-D convolution (cross-correlation) with weight (out_channels, in_channels/groups, R, S) and bias
    (out_channels,), over strided.conv2d.

    Args:
        in_channels: C of the input (N, C, H, W).
        out_channels: K, channels of the output (N, K, OH, OW).
        kernel_size: R x S, an int or (R, S).
        stride: an int or (sh, sw).
        padding: anything strided.conv2d accepts: an int, (ph, pw), (top, bottom, left, right), or
            'valid', 'same' (output ceil(H / stride); an odd total pads the bottom/right more), 'full'.
        dilation: an int or (dh, dw).
        groups: in_channels and out_channels split into this many independent groups.
        bias: add a learned bias per output channel.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = (H + pads - dh*(R-1) - 1) // sh + 1.

    Initialization: weight He-normal (kaiming_normal_, fan_in = in_channels/groups * R * S, gain sqrt(2)),
    bias zeros.  backward(gy, need_input_grad=False) asks conv2d_backward for no input gradient.

    Raises:
        ValueError: groups not dividing in_channels and out_channels (at construction); at the forward, a
            stride, dilation or input shape that does not fit (naming the shapes and the rule).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else (
            _pair(padding, "padding") if np.ndim(padding) == 0 or len(padding) == 2 else tuple(padding))
        self.dilation = _pair(dilation, "dilation")
        self.groups = int(groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.weight = Parameter(init.empty((self.out_channels, self.in_channels // self.groups, *self.kernel_size)))
        init.kaiming_normal_(self.weight)
        if bias:
            self.bias = Parameter(init.empty((self.out_channels,)))
        else:
            self.register_parameter("bias", None)
        self._x = None

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def forward(self, x):
        self._x = x
        return F.conv2d(x, self.weight.data, None if self.bias is None else self.bias.data, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        b = self.bias
        gx, gw, gb = F.conv2d_backward(gy, x, self.weight.data, **self._geometry(),
                                       input_grad=bool(need_input_grad),
                                       weight_grad=self.weight.requires_grad,
                                       bias_grad=b is not None and b.requires_grad)
        self.weight.accumulate(gw)
        if b is not None:
            b.accumulate(gb)
        return gx

    def output_shape(self, in_shape):
        _, k, oh, ow = conv_output_shape((1, *in_shape), self.weight.shape, **self._geometry())
        return (k, oh, ow)

    def forward_flops(self, in_shape, out_shape):
        kh, kw = self.kernel_size
        return 2 * int(np.prod(out_shape)) * (self.in_channels // self.groups) * kh * kw

    def receptive_window(self):
        return self.kernel_size, self.stride, self.dilation

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), (0, 0, 0, 0), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


__all__ = ["Conv2d"]
