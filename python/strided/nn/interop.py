"""Export to PyTorch: the same network, with the same weights and buffers, as torch.nn modules — for
comparing with PyTorch (tests, benchmarks) or handing a trained model on. PyTorch is optional: imported
on call.

The PyTorch model has strided's structure and names (its state_dict keys are strided's), built from
torch.nn layers; the strided containers without a torch.nn twin (Residual, Concat) and the layers
torch.nn lacks (GlobalAvgPool2d, a conv with 'same' padding at stride > 1 or asymmetric padding) get small
torch.nn.Module classes defined on first use (_tm).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from ..ops.conv2d.args import conv_padding
from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .linear import Linear
from .module import Concat, Identity, Module, Residual, Sequential
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from .pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .shape import Flatten
from .upsample import Upsample


@lru_cache(maxsize=None)
def _tm():
    try:
        import torch
    except ImportError as e:
        raise ImportError("to_torch needs PyTorch: pip install torch (or pip install 'strided[torch]')") from e

    class TorchResidual(torch.nn.Module):
        """body(x) + shortcut(x) (or + x), as strided.nn.Residual."""

        def __init__(self, body, shortcut):
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    class TorchConcat(torch.nn.Module):
        """Branches on the same input, concatenated on channels, as strided.nn.Concat."""

        def __init__(self, branches):
            super().__init__()
            for name, m in branches.items():
                self.add_module(name, m)

        def forward(self, x):
            return torch.cat([m(x) for m in self.children()], 1)

    class TorchGlobalAvgPool2d(torch.nn.Module):
        def __init__(self, keepdim):
            super().__init__()
            self.keepdim = keepdim

        def forward(self, x):
            return x.mean((2, 3), keepdim=self.keepdim)

    class TorchPaddedConv2d(torch.nn.Conv2d):
        """A Conv2d whose zero padding is strided's: asymmetric, or 'same' at stride > 1 (which depends on
        the input size), computed by conv_padding on each call."""

        def __init__(self, *args, strided_padding, **kw):
            super().__init__(*args, **kw)
            self.strided_padding = strided_padding

        def forward(self, x):
            t, b, l, r = conv_padding(self.strided_padding, tuple(x.shape[-2:]), self.kernel_size, self.stride,
                                      self.dilation)
            return self._conv_forward(torch.nn.functional.pad(x, (l, r, t, b)), self.weight, self.bias)

    return SimpleNamespace(torch=torch, nn=torch.nn, Residual=TorchResidual, Concat=TorchConcat,
                           GlobalAvgPool2d=TorchGlobalAvgPool2d, PaddedConv2d=TorchPaddedConv2d)


def _conv(m):
    T = _tm()
    Padded = T.PaddedConv2d
    geometry = dict(stride=m.stride, dilation=m.dilation, groups=m.groups, bias=m.bias is not None)
    if isinstance(m.padding, str) and m.padding.lower() == "same" and m.stride != (1, 1):
        return Padded(m.in_channels, m.out_channels, m.kernel_size, strided_padding=m.padding, **geometry)
    # Every other form pads the same whatever the input size (for 'same' at stride 1: dilation * (k - 1)).
    t, b, l, r = conv_padding(m.padding, (1, 1), m.kernel_size, m.stride, m.dilation)
    if t != b or l != r:
        return Padded(m.in_channels, m.out_channels, m.kernel_size, strided_padding=(t, b, l, r), **geometry)
    return T.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=(t, l), **geometry)


def _bn(cls):
    def convert(m):
        return getattr(_tm().nn, cls)(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                                      track_running_stats=m.track_running_stats)
    return convert


def _children(m):
    return OrderedDict((name, _convert(child)) for name, child in m.named_children())


# strided type -> a function building its torch.nn twin (looked up along the type's MRO).
_LAYERS = {
    Conv2d: _conv,
    ConvTranspose2d: lambda m: _tm().nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                                         m.padding, m.output_padding, m.groups,
                                                         m.bias is not None, m.dilation),
    Linear: lambda m: _tm().nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    AvgPool2d: lambda m: _tm().nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                                          m.count_include_pad),
    MaxPool2d: lambda m: _tm().nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                            ceil_mode=m.ceil_mode),
    GlobalAvgPool2d: lambda m: _tm().GlobalAvgPool2d(m.keepdim),
    BatchNorm1d: _bn("BatchNorm1d"),
    BatchNorm2d: _bn("BatchNorm2d"),
    InstanceNorm2d: _bn("InstanceNorm2d"),
    GroupNorm: lambda m: _tm().nn.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine),
    LayerNorm: lambda m: _tm().nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine,
                                            bias=m.bias is not None),
    Upsample: lambda m: _tm().nn.Upsample(m.size, m.scale_factor, m.mode, m.align_corners,
                                          m.recompute_scale_factor),
    ReLU: lambda m: _tm().nn.ReLU(),
    LeakyReLU: lambda m: _tm().nn.LeakyReLU(m.negative_slope),
    ELU: lambda m: _tm().nn.ELU(m.alpha),
    Sigmoid: lambda m: _tm().nn.Sigmoid(),
    Tanh: lambda m: _tm().nn.Tanh(),
    Softplus: lambda m: _tm().nn.Softplus(m.beta, m.threshold),
    Dropout: lambda m: _tm().nn.Dropout(m.p),
    Flatten: lambda m: _tm().nn.Flatten(m.start_dim, m.end_dim),
    Identity: lambda m: _tm().nn.Identity(),
    Sequential: lambda m: _tm().nn.Sequential(_children(m)),
    Residual: lambda m: _tm().Residual(_convert(m.body), None if m.shortcut is None else _convert(m.shortcut)),
    Concat: lambda m: _tm().Concat(_children(m)),
}


def _convert(m):
    for cls in type(m).__mro__:  # BasicBlock is a Sequential, Inception a Concat
        if cls in _LAYERS:
            return _LAYERS[cls](m)
    raise TypeError(f"to_torch has no PyTorch twin for {type(m).__name__}; it converts "
                    + ", ".join(c.__name__ for c in _LAYERS))


def to_torch(model: Module):
    """The PyTorch twin of a strided model: same structure, names, weights, buffers and mode.

    Works for every layer and container in strided.nn (so every model in strided.models): its
    state_dict() has strided's keys, BatchNorm running statistics and num_batches_tracked included; its
    dtype follows the model's parameters (float32 or float64); it is in training mode when the model is.

    Args:
        model: a strided.nn module.

    Returns:
        torch.nn.Module (a torch.nn.Sequential for a Sequential) on the CPU.

    Raises:
        ImportError: PyTorch is not installed.
        TypeError: a module type with no PyTorch twin (user-defined modules); the message lists those
            that have one.
    """
    torch = _tm().torch
    with torch.device("meta"):  # no memory and no initialization: the state dict is assigned below
        twin = _convert(model)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=True, assign=True)
    return twin.train(model.training)
