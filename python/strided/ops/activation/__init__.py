"""activation, the op family: relu and its gradient. NumPy arrays run one streaming C++ pass
(strided._C); CuPy arrays use CuPy's elementwise operators, so the family has no cuda.py. reference.py is
the oracle."""
from __future__ import annotations

from ... import _C
from ..._device import array_module
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._types import Array
from .args import elementwise_args


def relu(x: Array) -> Array:
    """Rectified linear unit, max(x, 0), NaN passing through: one streaming pass (C++) or CuPy's maximum.

    Args:
        x: an array of any shape (batched or not); float32 or float64 (NumPy or CuPy).

    Returns:
        y of the shape and dtype of x (a new array; x is not modified).

    Raises:
        TypeError: x is not a float32/float64 array.
    """
    (x,) = _external(x)
    dtype = elementwise_args(x)
    if _dispatch.backend(x) is not None:
        return array_module(x).maximum(x, 0)
    return _C.relu_forward(_c(x, dtype))


def relu_backward(gy: Array, y: Array) -> Array:
    """Gradient of relu from its output y: gy where y > 0, else 0.

    Args:
        gy: output gradient, of the shape of y.
        y: relu's output (relu commutes with max pooling, so the pooled output works as well).

    Returns:
        gx of the shape of y.

    Raises:
        TypeError: an argument is not a float32/float64 array, or the dtypes differ.
        ValueError: gy not of the shape of y.
    """
    gy, y = _external(gy, y)
    dtype = elementwise_args(y, gy)
    if _dispatch.backend(gy, y) is not None:
        return gy * (y > 0)
    return _C.relu_backward(_c(gy, dtype), _c(y, dtype))


__all__ = ["relu", "relu_backward"]
