"""Reshaping layers: Flatten."""
from __future__ import annotations

import numpy as np

from .module import Module, _check_cached


class Flatten(Module):
    """Flattens every axis but the batch axis: (N, d1, d2, ...) -> (N, d1*d2*...) (a view when possible)."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, gy, need_input_grad=True):
        shape = _check_cached(self, self._shape)
        self._shape = None
        return gy.reshape(shape) if need_input_grad else None

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward_flops(self, in_shape, out_shape):
        return 0


__all__ = ["Flatten"]
