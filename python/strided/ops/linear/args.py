"""linear's arguments: the one validation of a call y = x @ w.T + b (forward or backward)."""
from __future__ import annotations

from .._validate import call_dtype, expect_shape


def linear_args(x, w, b=None, gy=None):
    """Validate one linear call, y = x @ w.T + b (forward or backward) -> ((N, in, out), dtype)."""
    dtype = call_dtype([(x, "x"), (w, "w")], [(b, "b"), (gy, "gy")])
    if w.ndim != 2:
        raise ValueError(f"w has shape {tuple(w.shape)}; a linear weight is 2-D (out_features, in_features)")
    out, inp = w.shape
    if x.ndim != 2 or x.shape[1] != inp:
        raise ValueError(f"x has shape {tuple(x.shape)}, expected (N, {inp}): w {tuple(w.shape)} takes "
                         f"{inp} input features (add a Flatten before a Linear layer?)")
    if b is not None:
        expect_shape(b, (out,), "b", lambda: f"one bias per output feature of w {tuple(w.shape)}")
    if gy is not None:
        expect_shape(gy, (x.shape[0], out), "gy", lambda: f"the linear output shape for x {tuple(x.shape)} and "
                     f"w {tuple(w.shape)}")
    return (x.shape[0], inp, out), dtype
