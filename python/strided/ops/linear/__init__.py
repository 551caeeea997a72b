"""linear, the op family: y = x @ w.T + b. NumPy arrays run strided's GEMM (strided._C) on its own
threads; CuPy arrays use cupy.matmul (cuBLAS), so the family has no cuda.py. reference.py is the oracle."""
from __future__ import annotations

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import linear_args


def linear(x, w, b=None):
    """Fully connected: x (N, in) @ w (out, in).T + b (out,).  NumPy arrays run strided's GEMM on its own
    threads; CuPy arrays use cupy.matmul (cuBLAS)."""
    x, w, b = _external(x, w, b)
    _, dtype = linear_args(x, w, b)
    if _dispatch.backend(x, w, b) is not None:
        y = x @ w.T
        return y if b is None else y + b
    return _C.linear_forward(_c(x, dtype), _c(w, dtype), _c(b, dtype))


def linear_backward(gy, x, w, *, input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients (gx, gw, gb) of linear for the output gradient gy; one not asked for is None."""
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
