"""linear, the op family: y = x @ w.T + b. NumPy arrays run strided's GEMM (strided._C) on its own
threads; CuPy arrays use cupy.matmul (cuBLAS), so the family has no cuda.py. reference.py is the oracle."""
from __future__ import annotations

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._dispatch import unbatched
from .._types import Array, Grads, OptArray
from .args import linear_args


@unbatched("x", ndim=2, any_leading=True)
def linear(x: Array, w: Array, b: OptArray = None) -> Array:
    """Fully connected: y = x @ w.T + b.

    NumPy arrays run strided's GEMM on its own threads; CuPy arrays use cupy.matmul (cuBLAS).

    Args:
        x: input of shape (..., in_features): (N, in_features), one sample (in_features,), or any
            leading dimensions; float32 or float64.
        w: weight of shape (out_features, in_features).
        b: optional bias of shape (out_features,).

    Returns:
        y of shape (..., out_features), the leading dimensions of x.

    Raises:
        TypeError: an argument is not a float32/float64 array, or the dtypes differ.
        ValueError: w not 2-D, x's last dimension not in_features, b not of shape (out_features,).
    """
    x, w, b = _external(x, w, b)
    _, dtype = linear_args(x, w, b)
    if _dispatch.backend(x, w, b) is not None:
        y = x @ w.T
        return y if b is None else y + b
    return _C.linear_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype))


@unbatched("x", "gy", out=(0,), ndim=2, any_leading=True)
def linear_backward(gy: Array, x: Array, w: Array, *, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> Grads:
    """Gradients (gx, gw, gb) of linear for the output gradient gy.

    Args:
        gy: output gradient of shape (..., out_features), the leading dimensions of x.
        x, w: as given to linear.
        input_grad, weight_grad, bias_grad: which gradients to compute.

    Returns:
        (gx, gw, gb) of the shapes of x, w and (out_features,) (gw and gb summed over every leading
        position); None for each gradient not asked for.

    Raises:
        TypeError, ValueError: as linear, and ValueError for gy not of the output's shape.
    """
    gy, x, w = _external(gy, x, w)
    _, dtype = linear_args(x, w, None, gy)
    if _dispatch.backend(gy, x, w) is not None:
        return (gy @ w if input_grad else None, gy.T @ x if weight_grad else None,
                gy.sum(axis=0) if bias_grad else None)
    gy = _c(gy, dtype)
    return (_C.linear_backward_input(gy, _c(w, dtype)) if input_grad else None,
            _C.linear_backward_weight(gy, _c(x, dtype)) if weight_grad else None,
            gy.sum(axis=0) if bias_grad else None)


__all__ = ["linear", "linear_backward"]
