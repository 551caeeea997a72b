"""relu's NumPy reference: the oracle of the C++ streaming passes."""
from __future__ import annotations

import numpy as np

from .args import elementwise_args


def relu(x):
    """max(x, 0); NaN stays NaN."""
    elementwise_args(x)
    return np.where(x < 0, np.zeros_like(x), x)


def relu_backward(gy, y):
    """The gradient passes where the output y is positive (0 at 0)."""
    elementwise_args(y, gy)
    return np.where(y > 0, gy, np.zeros_like(gy))


__all__ = ["relu", "relu_backward"]
