"""Elementwise activations' arguments: any shape, one float dtype, and an output gradient of the input's
shape."""
from __future__ import annotations

from .._validate import call_dtype, expect_shape


def elementwise_args(x, gy=None):
    """Validate one elementwise call (any shape; gy, when given, the shape of x) -> dtype."""
    dtype = call_dtype([(x, "x")], [(gy, "gy")])
    if gy is not None:
        expect_shape(gy, x.shape, "gy", "an elementwise op's output gradient has its input's shape")
    return dtype
