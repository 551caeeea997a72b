"""linear's NumPy reference: the oracle of strided's GEMM, written to be read."""
from __future__ import annotations

import numpy as np

from .args import linear_args


def linear(x, w, b=None):
    """y[n, o] = b[o] + sum_i x[n, i] * w[o, i]."""
    _, dtype = linear_args(x, w, b)
    y = np.einsum("ni,oi->no", x, w).astype(dtype)
    return y if b is None else y + b


def linear_backward(gy, x, w, *, input_grad=True, weight_grad=True, bias_grad=True):
    """gx = gy w, gw = gy^T x, gb = sum of gy over the batch."""
    _, dtype = linear_args(x, w, None, gy)
    return (np.einsum("no,oi->ni", gy, w).astype(dtype) if input_grad else None,
            np.einsum("no,ni->oi", gy, x).astype(dtype) if weight_grad else None,
            gy.sum(axis=0).astype(dtype) if bias_grad else None)


__all__ = ["linear", "linear_backward"]
