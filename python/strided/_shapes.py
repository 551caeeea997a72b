"""Shape arithmetic and argument normalization: the one Python home of the output-size rule.

Every op (C++, CUDA, NumPy reference) receives its arguments through `conv_args` / `pool_args` /
`linear_args` / `elementwise_args`, so validation happens here once and the kernels trust what they are given.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_int(v):
    return type(v) is int or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))


def _pair(value, name):
    """int or (h, w) -> (h, w) of Python ints."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value  # already normalized (every layer stores its geometry so)
    message = f"{name} must be an int or a pair of ints, got {value!r}"
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(message)
    items = tuple(value)
    if len(items) != 2:
        raise ValueError(message)
    if not all(_is_int(v) for v in items):
        raise TypeError(message)
    return int(items[0]), int(items[1])


def _positive_pair(value, name):
    pair = _pair(value, name)
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return pair


def out_size(size, kernel, stride, pad_begin, pad_end, dilation=1, ceil_mode=False):
    """The output-size rule (N - F + pads) / stride + 1, with F the dilated kernel extent.

    ceil_mode rounds up, but (as PyTorch) a last window that would start in the end padding is dropped.
    """
    extent = dilation * (kernel - 1) + 1
    span = size + pad_begin + pad_end - extent
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _same_padding(size, kernel, stride, dilation):
    """TensorFlow's 'same': output ceil(size / stride); an odd total puts the extra row/column last."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv_padding(padding, hw, rs, stride, dilation):
    """Any accepted padding form -> (top, bottom, left, right)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0, 0, 0
        if mode == "same":
            return (*_same_padding(hw[0], rs[0], stride[0], dilation[0]),
                    *_same_padding(hw[1], rs[1], stride[1], dilation[1]))
        if mode == "full":
            ph, pw = dilation[0] * (rs[0] - 1), dilation[1] * (rs[1] - 1)
            return ph, ph, pw, pw
        raise ValueError(f"padding string must be 'valid', 'same' or 'full', got {padding!r}")
    message = ("padding must be an int, (ph, pw), (top, bottom, left, right) or 'valid'/'same'/'full', "
               f"got {padding!r}")
    if _is_int(padding):
        pads = (int(padding),) * 4
    else:
        if not hasattr(padding, "__len__"):
            raise TypeError(message)
        items = tuple(padding)
        if len(items) == 2:
            items = (items[0], items[0], items[1], items[1])
        if len(items) != 4:
            raise ValueError(message)
        if not all(_is_int(v) for v in items):
            raise TypeError(message)
        pads = tuple(int(v) for v in items)
    if min(pads) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pads


class ConvArgs(NamedTuple):
    """Normalized convolution geometry: what every kernel receives."""
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    OH: int
    OW: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    dil_h: int
    dil_w: int
    groups: int


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


def _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups):
    if len(x_shape) != 4:
        raise ValueError(f"conv2d expects x of shape (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"conv2d expects w of shape (K, C/groups, R, S), got shape {tuple(w_shape)}")
    if not _is_int(groups):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    N, C, H, W = (int(v) for v in x_shape)
    K, Cg, R, S = (int(v) for v in w_shape)
    stride = _positive_pair(stride, "stride")
    dilation = _positive_pair(dilation, "dilation")
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    if min(K, Cg, R, S) < 1:
        raise ValueError(f"w of shape {tuple(w_shape)} must have positive K, C/groups, R and S")
    if C % groups or K % groups:
        raise ValueError(f"groups={groups} must divide both input channels C={C} (x shape {tuple(x_shape)}) "
                         f"and output channels K={K} (w shape {tuple(w_shape)})")
    if Cg * groups != C:
        raise ValueError(f"w of shape {tuple(w_shape)} needs C/groups = {C // groups} input channels "
                         f"for x of shape {tuple(x_shape)} with groups={groups}, got {Cg}")
    if H < 1 or W < 1:
        raise ValueError(f"x of shape {tuple(x_shape)} must have positive H and W")
    pt, pb, pl, pr = conv_padding(padding, (H, W), (R, S), stride, dilation)
    OH = out_size(H, R, stride[0], pt, pb, dilation[0])
    OW = out_size(W, S, stride[1], pl, pr, dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(
            f"conv2d output size would be {OH}x{OW} < 1: input {H}x{W} with padding (top, bottom, left, right)="
            f"{(pt, pb, pl, pr)} is smaller than the dilated kernel "
            f"{dilation[0] * (R - 1) + 1}x{dilation[1] * (S - 1) + 1} (x {tuple(x_shape)}, w {tuple(w_shape)})")
    return ConvArgs(N, C, H, W, K, R, S, OH, OW, *stride, pt, pb, pl, pr, *dilation, groups)


def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode):
    if len(x_shape) != 4:
        raise ValueError(f"pooling expects x of shape (N, C, H, W), got shape {tuple(x_shape)}")
    N, C, H, W = (int(v) for v in x_shape)
    kh, kw = _positive_pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else _positive_pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"pool padding {(ph, pw)} must be at most half the kernel size {(kh, kw)}")
    if H < 1 or W < 1:
        raise ValueError(f"x of shape {tuple(x_shape)} must have positive H and W")
    OH = out_size(H, kh, sh, ph, ph, ceil_mode=bool(ceil_mode))
    OW = out_size(W, kw, sw, pw, pw, ceil_mode=bool(ceil_mode))
    if OH < 1 or OW < 1:
        raise ValueError(f"pooling output size would be {OH}x{OW} < 1: input {H}x{W} with padding {(ph, pw)} "
                         f"is smaller than the kernel {(kh, kw)} (x {tuple(x_shape)})")
    return PoolArgs(N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, bool(ceil_mode))


def conv_output_shape(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Output shape of conv2d: (N, K, OH, OW) for x (N, C, H, W) and w (K, C/groups, R, S).

    The course's arithmetic also works on bare sizes: x_shape (H, W) with w_shape (R, S) gives (OH, OW).
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) == 2 and len(w_shape) == 2:
        a = _conv_geometry((1, 1, *x_shape), (1, 1, *w_shape), stride, padding, dilation, 1)
        return a.OH, a.OW
    a = _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups)
    return a.N, a.K, a.OH, a.OW


def pool_output_shape(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Output shape of pooling: (N, C, OH, OW) for x (N, C, H, W), or (OH, OW) for x_shape (H, W)."""
    x_shape = tuple(x_shape)
    if len(x_shape) == 2:
        a = _pool_geometry((1, 1, *x_shape), kernel_size, stride, padding, ceil_mode)
        return a.OH, a.OW
    a = _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode)
    return a.N, a.C, a.OH, a.OW


def _float_dtype(arrays, names):
    """All arrays float32 or all float64; returns that dtype."""
    dtypes = []
    for a, name in zip(arrays, names):
        dt = getattr(a, "dtype", None)
        if dt is None:
            raise TypeError(f"{name} must be an array (numpy.ndarray or cupy.ndarray), got {type(a).__name__}")
        if np.dtype(dt) not in _FLOAT_DTYPES:
            raise TypeError(f"{name} has dtype {dt}; strided supports float32 and float64 only")
        dtypes.append(np.dtype(dt))
    if len(set(dtypes)) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in zip(names, dtypes))
        raise TypeError(f"all arrays of one call must share a dtype, got {listing}")
    return dtypes[0]


def _expect_shape(a, shape, name, rule):
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {tuple(shape)} ({rule})")


def conv_args(x, w, b=None, gy=None, stride=1, padding=0, dilation=1, groups=1):
    """Validate one conv2d call (forward or backward) -> (ConvArgs, dtype)."""
    arrays = [(x, "x"), (w, "w")] + [(a, n) for a, n in ((b, "b"), (gy, "gy")) if a is not None]
    dtype = _float_dtype(*zip(*arrays))
    args = _conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
    if b is not None:
        _expect_shape(b, (args.K,), "b", f"one bias per output channel of w {tuple(w.shape)}")
    if gy is not None:
        _expect_shape(gy, (args.N, args.K, args.OH, args.OW), "gy", "the conv2d output shape for "
                      f"x {tuple(x.shape)} and w {tuple(w.shape)}")
    return args, dtype


def pool_args(x, gy=None, kernel_size=2, stride=None, padding=0, ceil_mode=False):
    """Validate one pooling call (forward or backward) -> (PoolArgs, dtype)."""
    arrays = [(x, "x")] + ([(gy, "gy")] if gy is not None else [])
    dtype = _float_dtype(*zip(*arrays))
    args = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode)
    if gy is not None:
        _expect_shape(gy, (args.N, args.C, args.OH, args.OW), "gy",
                      f"the pooling output shape for x {tuple(x.shape)}")
    return args, dtype


def elementwise_args(x, gy=None):
    """Validate one elementwise call (any shape; gy, when given, the shape of x) -> dtype."""
    arrays = [(x, "x")] + ([(gy, "gy")] if gy is not None else [])
    dtype = _float_dtype(*zip(*arrays))
    if gy is not None:
        _expect_shape(gy, x.shape, "gy", "an elementwise op's output gradient has its input's shape")
    return dtype


def linear_args(x, w, b=None, gy=None):
    """Validate one linear call, y = x @ w.T + b (forward or backward) -> ((N, in, out), dtype)."""
    arrays = [(x, "x"), (w, "w")] + [(a, n) for a, n in ((b, "b"), (gy, "gy")) if a is not None]
    dtype = _float_dtype(*zip(*arrays))
    if w.ndim != 2:
        raise ValueError(f"w has shape {tuple(w.shape)}; a linear weight is 2-D (out_features, in_features)")
    out, inp = w.shape
    if x.ndim != 2 or x.shape[1] != inp:
        raise ValueError(f"x has shape {tuple(x.shape)}, expected (N, {inp}): w {tuple(w.shape)} takes "
                         f"{inp} input features (add a Flatten before a Linear layer?)")
    if b is not None:
        _expect_shape(b, (out,), "b", f"one bias per output feature of w {tuple(w.shape)}")
    if gy is not None:
        _expect_shape(gy, (x.shape[0], out), "gy", f"the linear output shape for x {tuple(x.shape)} and "
                      f"w {tuple(w.shape)}")
    return (x.shape[0], inp, out), dtype


def conv_flops(args: ConvArgs) -> int:
    """Multiply-adds x 2 of one conv2d forward (the same for backward-data and backward-weight)."""
    return 2 * args.N * args.K * args.OH * args.OW * (args.C // args.groups) * args.R * args.S


__all__ = ["conv_output_shape", "pool_output_shape", "conv_args", "pool_args", "linear_args",
           "elementwise_args", "ConvArgs", "PoolArgs", "out_size", "conv_flops"]
