"""Activations: shape-preserving elementwise layers (ReLU over strided.relu; LeakyReLU, ELU, Sigmoid,
Tanh and Softplus in array-module-agnostic code, xp = numpy or cupy, whichever owns the input)."""
from __future__ import annotations

from .. import functional as F
from .._device import array_module
from .module import Module, _check_cached
from .pooling import MaxPool2d


class _Elementwise(Module):
    """Base of shape-preserving elementwise layers: forward caches what `_grad` needs."""

    def __init__(self):
        super().__init__()
        self._cache = None

    def backward(self, gy, need_input_grad=True):
        cache = _check_cached(self, self._cache)
        self._cache = None
        return self._grad(gy, cache) if need_input_grad else None

    def output_shape(self, in_shape):
        return tuple(in_shape)


class ReLU(_Elementwise):
    """max(x, 0) elementwise over strided.relu; the gradient at 0 is 0. Any shape, dtype kept."""

    def forward(self, x):
        self._cache = y = F.relu(x)
        return y

    def _grad(self, gy, y):
        return F.relu_backward(gy, y)

    def runs_after(self, next_module):
        """A ReLU directly followed by a MaxPool2d runs after it in a Sequential.
        relu(max(window)) == max(relu(window)), and both orders send the gradient to the same element
        (the first maximum; a window whose maximum is <= 0 passes no gradient either way), so outputs
        and gradients are bit-identical while the ReLU reads a kernel-area times smaller tensor (in the
        brain models its two passes over the 63 MB conv1 output were a quarter of a training step).
        Exact types only (a subclass may do more), and not when the pool returns its indices: those of a
        window whose maximum is <= 0 would differ."""
        return type(self) is ReLU and type(next_module) is MaxPool2d and not next_module.return_indices


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise; any shape, dtype kept.

    Args:
        negative_slope: the slope for x <= 0.
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        xp = array_module(x)
        self._cache = x > 0
        return xp.where(self._cache, x, x * self.negative_slope)

    def _grad(self, gy, pos):
        return array_module(gy).where(pos, gy, gy * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; any shape, dtype kept.

    Args:
        alpha: the value the negative side saturates to is -alpha.
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        xp = array_module(x)
        y = xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * self.alpha)
        self._cache = (x > 0, y)
        return y

    def _grad(self, gy, cache):
        pos, y = cache
        return array_module(gy).where(pos, gy, gy * (y + self.alpha))

    def extra_repr(self):
        return f"alpha={self.alpha}"


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow and with full relative precision for large negative x."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), evaluated through exp(-|x|) (no overflow); any shape, dtype kept."""

    def forward(self, x):
        y = _sigmoid(x)
        self._cache = y
        return y

    def _grad(self, gy, y):
        return gy * y * (1 - y)


class Tanh(_Elementwise):
    """tanh(x) elementwise; any shape, dtype kept."""

    def forward(self, x):
        y = array_module(x).tanh(x)
        self._cache = y
        return y

    def _grad(self, gy, y):
        return gy * (1 - y * y)


class Softplus(_Elementwise):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch); any shape.

    Args:
        beta: the sharpness (larger: closer to ReLU).
        threshold: above beta * x > threshold the layer is linear (the difference is below rounding).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        xp = array_module(x)
        bx = x * self.beta
        linear = bx > self.threshold
        y = xp.where(linear, x, xp.log1p(xp.exp(xp.minimum(bx, self.threshold))) / self.beta)
        self._cache = (bx, linear)
        return y

    def _grad(self, gy, cache):
        bx, linear = cache
        return array_module(gy).where(linear, gy, gy * _sigmoid(bx))

    def extra_repr(self):
        parts = []
        if self.beta != 1:
            parts.append(f"beta={self.beta:g}")
        if self.threshold != 20:
            parts.append(f"threshold={self.threshold:g}")
        return ", ".join(parts)


__all__ = ["ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softplus"]
