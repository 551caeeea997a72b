"""Reshaping layers: Flatten."""
from __future__ import annotations

import numpy as np

from .module import Module, _check_cached


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one, as torch.nn.Flatten: the default (1, -1) turns
    (N, d1, d2, ...) into (N, d1*d2*...). As in PyTorch, an unbatched (C, H, W) input keeps its first dim
    ((C, H*W)); Flatten(0) flattens one unbatched sample whole, for a Linear after it."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shape = None

    def _flat_shape(self, shape):
        n = len(shape)
        start = self.start_dim + n if self.start_dim < 0 else self.start_dim
        end = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < n:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an "
                             f"input of shape {tuple(shape)}")
        return tuple(shape[:start]) + (int(np.prod(shape[start:end + 1])),) + tuple(shape[end + 1:])

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(self._flat_shape(x.shape))

    def backward(self, gy, need_input_grad=True):
        shape = _check_cached(self, self._shape)
        self._shape = None
        return gy.reshape(shape) if need_input_grad else None

    def output_shape(self, in_shape):
        """Per sample: the batched input (N, *in_shape) flattened, less N (start_dim 0 flattens one
        sample whole, the unbatched use)."""
        if self.start_dim == 0:
            return (int(np.prod(in_shape)),)
        return self._flat_shape((1, *in_shape))[1:]

    def forward_flops(self, in_shape, out_shape):
        return 0

    def extra_repr(self):
        if (self.start_dim, self.end_dim) == (1, -1):
            return ""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


__all__ = ["Flatten"]
