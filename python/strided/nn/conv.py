"""Conv2d and ConvTranspose2d: the 2-D convolution layers over strided.conv2d / conv_transpose2d and their
backwards."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..ops._validate import pair as _pair
from ..ops.conv2d.args import conv_output_shape, conv_transpose_shape_args
from . import init
from .module import Module, Parameter, _check_cached


def _setup(module, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, transposed=False):
    """What both convolution layers hold besides their padding: channels, kernel, stride, dilation, groups
    (checked to divide both channel counts), the weight and its initialization (see the classes), the
    bias (zeros) and the forward cache."""
    module.in_channels, module.out_channels = int(in_channels), int(out_channels)
    module.kernel_size = _pair(kernel_size, "kernel_size")
    module.stride = _pair(stride, "stride")
    module.dilation = _pair(dilation, "dilation")
    module.groups = int(groups)
    if module.in_channels % module.groups or module.out_channels % module.groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    g, (kh, kw) = module.groups, module.kernel_size
    if transposed:
        module.weight = Parameter(init.empty((module.in_channels, module.out_channels // g, kh, kw)))
        sh, sw = module.stride
        init.normal_(module.weight, std=float(np.sqrt(2.0 * sh * sw / (module.in_channels // g * kh * kw))))
    else:
        module.weight = Parameter(init.empty((module.out_channels, module.in_channels // g, kh, kw)))
        init.kaiming_normal_(module.weight)
    if bias:
        module.bias = Parameter(init.empty((module.out_channels,)))
    else:
        module.register_parameter("bias", None)
    module._x = None


def _extra_repr(module, **shown):
    """Channels, kernel and stride, then the attributes whose `shown` flag is True (those not at their
    default), groups and bias when not the default."""
    s = f"{module.in_channels}, {module.out_channels}, kernel_size={module.kernel_size}, stride={module.stride}"
    s += "".join(f", {name}={getattr(module, name)}" for name, show in shown.items() if show)
    if module.groups != 1:
        s += f", groups={module.groups}"
    return s + (", bias=False" if module.bias is None else "")


def _backward(module, op_backward, gy, need_input_grad, geometry):
    """A convolution layer's backward: the gradients asked for from `op_backward` on the cached input,
    the parameters' accumulated, the input's returned."""
    x = _check_cached(module, module._x)
    module._x = None
    b = module.bias
    gx, gw, gb = op_backward(gy, x, module.weight.data, **geometry, input_grad=bool(need_input_grad),
                             weight_grad=module.weight.requires_grad, bias_grad=b is not None and b.requires_grad)
    module.weight.accumulate(gw)
    if b is not None:
        b.accumulate(gb)
    return gx


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
        _setup(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias)
        self.padding = padding if isinstance(padding, str) else (
            _pair(padding, "padding") if np.ndim(padding) == 0 or len(padding) == 2 else tuple(padding))

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def forward(self, x):
        self._x = x
        return F.conv2d(x, self.weight.data, None if self.bias is None else self.bias.data, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        return _backward(self, F.conv2d_backward, gy, need_input_grad, self._geometry())

    def output_shape(self, in_shape):
        _, k, oh, ow = conv_output_shape((1, *in_shape), self.weight.shape, **self._geometry())
        return (k, oh, ow)

    def forward_flops(self, in_shape, out_shape):
        kh, kw = self.kernel_size
        return 2 * int(np.prod(out_shape)) * (self.in_channels // self.groups) * kh * kw

    def receptive_window(self):
        return self.kernel_size, self.stride, self.dilation

    def extra_repr(self):
        return _extra_repr(self, padding=self.padding not in ((0, 0), (0, 0, 0, 0), "valid"),
                           dilation=self.dilation != (1, 1))


class ConvTranspose2d(Module):
    """2-D transposed convolution ("deconvolution") with weight (in_channels, out_channels/groups, R, S)
    and bias (out_channels,), PyTorch's layout: it upsamples by `stride`, the output size being
    (H - 1) * stride - 2 * padding + dilation * (R - 1) + output_padding + 1.

    `forward(x, output_size=(OH, OW))` picks the output_padding giving that size (as PyTorch: from the
    smallest size up to stride - 1 above it).

    Initialization: bias zeros, weight He-normal over the terms each output element sums,
    fan_in = in_channels/groups * R * S / (stride_h * stride_w), so activations keep their scale through
    the upsampling (PyTorch's fan for this layout, the weight's dims after the first, counts
    out_channels/groups * R * S instead, a stride^2 * out/in times larger variance)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1):
        super().__init__()
        _setup(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, transposed=True)
        self.padding = _pair(padding, "padding")
        self.output_padding = _pair(output_padding, "output_padding")
        self._output_padding = None

    def _geometry(self, output_padding=None):
        return dict(stride=self.stride, padding=self.padding, groups=self.groups, dilation=self.dilation,
                    output_padding=self.output_padding if output_padding is None else output_padding)

    def _padding_for(self, x, output_size):
        """The output_padding that gives `output_size` (its last two entries), PyTorch's rule."""
        if output_size is None:
            return self.output_padding
        want = tuple(int(v) for v in tuple(output_size)[-2:])
        if len(want) != 2:
            raise ValueError(f"output_size must end with (OH, OW), got {output_size!r}")
        lo = tuple(int(v) for v in self.output_shape(tuple(x.shape[-3:]), (0, 0))[1:])
        hi = tuple(v + s - 1 for v, s in zip(lo, self.stride))
        if not all(a <= v <= b for a, v, b in zip(lo, want, hi)):
            raise ValueError(f"output_size {want} is not possible for an input of shape {tuple(x.shape)}: valid "
                             f"sizes are between {lo} and {hi}")
        return tuple(v - a for v, a in zip(want, lo))

    def forward(self, x, output_size=None):
        self._output_padding = self._padding_for(x, output_size)
        self._x = x
        return F.conv_transpose2d(x, self.weight.data, None if self.bias is None else self.bias.data,
                                  **self._geometry(self._output_padding))

    def __call__(self, x, output_size=None):
        return self.forward(x, output_size)

    def backward(self, gy, need_input_grad=True):
        return _backward(self, F.conv_transpose2d_backward, gy, need_input_grad,
                         self._geometry(self._output_padding))

    def output_shape(self, in_shape, output_padding=None):
        t = conv_transpose_shape_args((1, *in_shape), self.weight.shape, **self._geometry(output_padding))
        return t.out_shape[1:]

    def forward_flops(self, in_shape, out_shape):
        kh, kw = self.kernel_size
        return 2 * int(np.prod(in_shape)) * (self.out_channels // self.groups) * kh * kw

    def extra_repr(self):
        return _extra_repr(self, padding=self.padding != (0, 0), output_padding=self.output_padding != (0, 0),
                           dilation=self.dilation != (1, 1))


__all__ = ["Conv2d", "ConvTranspose2d"]
