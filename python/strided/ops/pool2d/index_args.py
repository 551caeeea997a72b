"""Arguments of the pooling options that carry more than a geometry: the int64 indices of max pooling (and
of max_unpool2d, which scatters through them), max_unpool2d's output size, and avg pooling's
divisor_override. The rules and messages are PyTorch's; the geometry itself is args.py's."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._validate import call_dtype, expect_shape, is_int, pair, positive_pair


def check_indices(indices, shape, rule):
    """indices: an integer array of `shape` (the int64 flat positions of max pooling); returned as given
    (the callers convert it to int64 on its own device)."""
    dt = getattr(indices, "dtype", None)
    if dt is None:
        raise TypeError(f"indices must be an array of int64, got {type(indices).__name__}")
    if np.dtype(dt).kind not in "iu":
        raise TypeError(f"indices has dtype {dt}; it must be an integer array (int64, as max_pool2d returns)")
    expect_shape(indices, shape, "indices", rule)
    return indices


def check_divisor(divisor_override):
    """None, or a nonzero int that divides every window's sum instead of its size (as PyTorch)."""
    if divisor_override is None:
        return None
    if not is_int(divisor_override):
        raise TypeError(f"divisor_override must be an int or None, got {divisor_override!r}")
    if int(divisor_override) == 0:
        raise ValueError("divisor_override must not be zero")
    return int(divisor_override)


# max_unpool2d's geometry: x and indices are (N, C, H, W), the output (N, C, OH, OW); each index is a
# position in an output plane, OH * OW of them.
UnpoolArgs = namedtuple("UnpoolArgs", "N C H W OH OW")


def unpool_args(x, indices, kernel_size, stride=None, padding=0, output_size=None, gy=None):
    """Validate one max_unpool2d call (forward, or backward with gy) -> (UnpoolArgs, dtype). The default
    output size inverts pooling's, (H - 1) * stride + kernel - 2 * padding; an explicit output_size (OH, OW)
    or (N, C, OH, OW) must lie strictly within a stride of it (PyTorch's rule)."""
    dtype = call_dtype([(x, "x")], [(gy, "gy")])
    if x.ndim != 4:
        raise ValueError(f"max_unpool2d expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    N, C, H, W = (int(v) for v in x.shape)
    check_indices(indices, x.shape, "indices must have the shape of x")
    kh, kw = positive_pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else positive_pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    default = ((H - 1) * sh + kh - 2 * ph, (W - 1) * sw + kw - 2 * pw)
    if output_size is None:
        OH, OW = default
    else:
        size = tuple(output_size)
        if len(size) == 4:
            size = size[2:]
        if len(size) != 2 or not all(is_int(v) for v in size):
            raise ValueError(f"output_size should be a sequence of 2 or 4 ints, got {output_size!r}")
        for d, (got, want, s) in enumerate(zip(size, default, (sh, sw))):
            if not want - s < got < want + s:
                raise ValueError(f"invalid output_size {tuple(output_size)} (dim {d} must be between "
                                 f"{want - s} and {want + s}, exclusive, for x {tuple(x.shape)})")
        OH, OW = (int(v) for v in size)
    if OH < 1 or OW < 1:
        raise ValueError(f"max_unpool2d output size would be {OH}x{OW} < 1 for x {tuple(x.shape)}, kernel "
                         f"{(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}")
    args = UnpoolArgs(N, C, H, W, OH, OW)
    if gy is not None:
        expect_shape(gy, (N, C, OH, OW), "gy", lambda: f"the max_unpool2d output shape for x {tuple(x.shape)}")
    return args, dtype
