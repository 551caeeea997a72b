"""Dropout: inverted dropout with a per-layer seeded mask stream (NumPy or CuPy)."""
from __future__ import annotations

from .._device import array_module
from . import init
from .activation import _Elementwise


class Dropout(_Elementwise):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by 1/(1-p);
    identity in eval.  The mask comes from a NumPy Generator seeded by `seed` (default: drawn from
    strided.nn.init's generator); CuPy inputs draw on the GPU from cupy.random with the same seed.
    Set `fixed_mask` (an array of 0s and 1/(1-p)s, or of 0/1 then scaled by you) to reuse one mask for
    every forward, e.g. in gradient checks; `mask` is the mask of the last training forward.

    Args:
        p: probability of zeroing an element, in [0, 1].
        seed: seed of this layer's mask stream; None draws one from strided.nn.init's generator.

    Shapes: any; the output has the input's shape and dtype.

    Raises:
        ValueError: p outside [0, 1]; a fixed_mask whose shape differs from the input's.
    """

    def __init__(self, p: float = 0.5, seed: "int | None" = None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.seed = int(init.get_rng().integers(2 ** 63)) if seed is None else int(seed)
        self._rngs = {}
        self.fixed_mask = None
        self.mask = None

    def _uniform(self, xp, shape):
        """Uniform [0, 1) draws from this layer's generator for the array module xp."""
        if xp not in self._rngs:
            if hasattr(xp.random, "default_rng"):
                self._rngs[xp] = xp.random.default_rng(self.seed).random
            else:  # older CuPy
                self._rngs[xp] = xp.random.RandomState(self.seed).random_sample
        return self._rngs[xp](shape)

    def forward(self, x):
        if not self.training or self.p == 0:
            self._cache = False
            return x
        xp = array_module(x)
        if self.fixed_mask is not None:
            if tuple(self.fixed_mask.shape) != tuple(x.shape):
                raise ValueError(f"Dropout.fixed_mask has shape {tuple(self.fixed_mask.shape)}, "
                                 f"input {tuple(x.shape)}")
            mask = xp.asarray(self.fixed_mask, dtype=x.dtype)
        elif self.p == 1:
            mask = xp.zeros(x.shape, x.dtype)
        else:
            keep = self._uniform(xp, x.shape) >= self.p
            mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        self.mask = mask
        self._cache = mask
        return x * mask

    def _grad(self, gy, mask):
        return gy if mask is False else gy * mask

    def extra_repr(self):
        return f"p={self.p}"


__all__ = ["Dropout"]
