"""Blocks built from the containers and layers: the ResNet BasicBlock and the GoogLeNet Inception module."""
from __future__ import annotations

from collections import OrderedDict

from .activation import ReLU
from .conv import Conv2d
from .module import Concat, Residual, Sequential
from .norm import BatchNorm2d
from .pooling import MaxPool2d


class BasicBlock(Sequential):
    """ResNet basic block: relu(bn(conv3x3(relu(bn(conv3x3(x, stride))))) + shortcut(x)), the shortcut a
    1x1-conv (stride) + BN projection when the shape changes (stride != 1 or in_ch != out_ch), else x.
    Convolutions have no bias (BN follows)."""

    def __init__(self, in_ch, out_ch, stride=1):
        body = Sequential(OrderedDict([
            ("conv1", Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)),
            ("bn1", BatchNorm2d(out_ch)),
            ("relu", ReLU()),
            ("conv2", Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)),
            ("bn2", BatchNorm2d(out_ch)),
        ]))
        shortcut = None
        if stride != 1 or in_ch != out_ch:
            shortcut = Sequential(OrderedDict([("conv", Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)),
                                               ("bn", BatchNorm2d(out_ch))]))
        super().__init__(OrderedDict([("residual", Residual(body, shortcut)), ("relu", ReLU())]))


def _conv_relu(in_ch, out_ch, k, padding=0, batch_norm=False):
    layers = [("conv", Conv2d(in_ch, out_ch, k, padding=padding, bias=not batch_norm))]
    if batch_norm:
        layers.append(("bn", BatchNorm2d(out_ch)))
    layers.append(("relu", ReLU()))
    return layers


class Inception(Concat):
    """GoogLeNet Inception module: four branches concatenated on channels, output c1 + c3 + c5 + pool_proj
    channels at the input's H x W:  1x1 (c1) | 1x1 (c3r) -> 3x3 (c3) | 1x1 (c5r) -> 5x5 (c5) |
    3x3 max pool (stride 1) -> 1x1 (pool_proj); every conv followed by ReLU (BN before it if batch_norm)."""

    def __init__(self, in_ch, c1, c3r, c3, c5r, c5, pool_proj, batch_norm=False):
        def seq(pairs):
            return Sequential(OrderedDict(pairs))

        bn = batch_norm
        b1 = seq(_conv_relu(in_ch, c1, 1, 0, bn))
        b3 = seq([(n + "1", m) for n, m in _conv_relu(in_ch, c3r, 1, 0, bn)]
                 + [(n + "2", m) for n, m in _conv_relu(c3r, c3, 3, 1, bn)])
        b5 = seq([(n + "1", m) for n, m in _conv_relu(in_ch, c5r, 1, 0, bn)]
                 + [(n + "2", m) for n, m in _conv_relu(c5r, c5, 5, 2, bn)])
        bp = seq([("pool", MaxPool2d(3, stride=1, padding=1))] + _conv_relu(in_ch, pool_proj, 1, 0, bn))
        super().__init__(OrderedDict([("branch1x1", b1), ("branch3x3", b3), ("branch5x5", b5),
                                      ("branch_pool", bp)]))
        self.out_channels = c1 + c3 + c5 + pool_proj


__all__ = ["BasicBlock", "Inception"]
