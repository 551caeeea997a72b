"""Pooling's arguments (max and average alike): the geometry (PoolArgs) every kernel receives, the output
shape, and the one validation of a call. PoolArgs' field order is the one csrc/common.h reads."""
from __future__ import annotations

from typing import NamedTuple

from .._size import check_elements, check_extents, check_limit, out_size
from .._validate import cached_geometry, call_dtype, expect_shape, pair, positive_pair


class PoolArgs(NamedTuple):
    """Normalized pooling geometry (the end padding may exceed pad_h/pad_w in ceil mode)."""
    N: int
    C: int
    H: int
    W: int
    OH: int
    OW: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    ceil_mode: bool
    dil_h: int = 1  # max pooling only: average pooling has no dilation (as PyTorch)
    dil_w: int = 1


def _window_without_input(size, kernel, stride, pad, dilation, out):
    """Whether a dilated window that starts in the padding has all its taps in the padding (only windows
    starting before the input can; PyTorch would return an index outside the plane for it)."""
    for o in range(min(out, -(-pad // stride))):
        start = o * stride - pad
        if start % dilation >= size or start % dilation > dilation * (kernel - 1) + start:
            return True
    return False


@cached_geometry
def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, dilation=1):
    if len(x_shape) != 4:
        raise ValueError(f"pooling expects x of shape (N, C, H, W), got shape {tuple(x_shape)}")
    N, C, H, W = (int(v) for v in x_shape)
    kh, kw = positive_pair(kernel_size, "kernel_size")
    # stride None, or empty as PyTorch's functional pools accept it: the kernel size
    empty = stride is not None and hasattr(stride, "__len__") and not isinstance(stride, str) and len(stride) == 0
    sh, sw = (kh, kw) if stride is None or empty else positive_pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    dh, dw = positive_pair(dilation, "dilation")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"pool padding {(ph, pw)} must be at most half the kernel size {(kh, kw)}")
    if H < 1 or W < 1:
        raise ValueError(f"x of shape {tuple(x_shape)} must have positive H and W")
    check_extents(H, kh, dh, ph, ph, "height")
    check_extents(W, kw, dw, pw, pw, "width")
    check_limit(kh * kw, "the pooling window area kernel_h * kernel_w (avg pooling's divisor)")
    OH = out_size(H, kh, sh, ph, ph, dh, ceil_mode=bool(ceil_mode))
    OW = out_size(W, kw, sw, pw, pw, dw, ceil_mode=bool(ceil_mode))
    if OH < 1 or OW < 1:
        raise ValueError(f"pooling output size would be {OH}x{OW} < 1: input {H}x{W} with padding {(ph, pw)} "
                         f"is smaller than the kernel {(kh, kw)} with dilation {(dh, dw)} (x {tuple(x_shape)})")
    if _window_without_input(H, kh, sh, ph, dh, OH) or _window_without_input(W, kw, sw, pw, dw, OW):
        raise ValueError(f"a pooling window of kernel {(kh, kw)} with dilation {(dh, dw)} and padding {(ph, pw)} "
                         f"would hold no element of x {tuple(x_shape)}, only padding")
    check_elements(C * OH * OW, 8, f"the pooling output ({C}, {OH}, {OW})")
    return PoolArgs(N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, bool(ceil_mode), dh, dw)


def pool_output_shape(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, dilation=1):
    """Output shape of pooling: (N, C, OH, OW) for x (N, C, H, W), or (OH, OW) for x_shape (H, W)."""
    x_shape = tuple(x_shape)
    if len(x_shape) == 2:
        a = _pool_geometry((1, 1, *x_shape), kernel_size, stride, padding, ceil_mode, dilation)
        return a.OH, a.OW
    a = _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, dilation)
    return a.N, a.C, a.OH, a.OW


def pool_args(x, gy=None, kernel_size=2, stride=None, padding=0, ceil_mode=False, dilation=1):
    """Validate one pooling call (forward or backward) -> (PoolArgs, dtype)."""
    dtype = call_dtype([(x, "x")], [(gy, "gy")])
    args = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, dilation)
    if gy is not None:
        expect_shape(gy, (args.N, args.C, args.OH, args.OW), "gy",
                     lambda: f"the pooling output shape for x {tuple(x.shape)}")
    return args, dtype
