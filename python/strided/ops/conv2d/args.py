"""conv2d's arguments: every accepted padding form, the geometry (ConvArgs) every kernel receives, the
output shape, and the one validation of a call (dtypes, ndims, groups, the bias and gradient shapes).

The C++, CUDA and NumPy paths all take their geometry from `conv_args`, so validation happens here once
and the kernels trust what they are given. ConvArgs' field order is the one csrc/common.h reads.
"""
from __future__ import annotations

from typing import NamedTuple

from .._size import check_elements, check_extents, check_limit, out_size, transposed_out_size
from .._validate import cached_geometry, call_dtype, expect_shape, is_int, pair, positive_pair


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
    if is_int(padding):
        pads = (int(padding),) * 4
    else:
        if not hasattr(padding, "__len__"):
            raise TypeError(message)
        items = tuple(padding)
        if len(items) == 2:
            items = (items[0], items[0], items[1], items[1])
        if len(items) != 4:
            raise ValueError(message)
        if not all(is_int(v) for v in items):
            raise TypeError(message)
        pads = tuple(int(v) for v in items)
    if min(pads) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    for v in pads:
        check_limit(v, "padding")
    return pads


@cached_geometry
def conv_shape_args(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1) -> ConvArgs:
    """The geometry of a conv2d of x (N, C, H, W) with w (K, C/groups, R, S), from the shapes alone."""
    if len(x_shape) != 4:
        raise ValueError(f"conv2d expects x of shape (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"conv2d expects w of shape (K, C/groups, R, S), got shape {tuple(w_shape)}")
    if not is_int(groups):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    check_limit(groups, "groups")
    N, C, H, W = (int(v) for v in x_shape)
    K, Cg, R, S = (int(v) for v in w_shape)
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
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
    check_extents(H, R, dilation[0], pt, pb, "height")
    check_extents(W, S, dilation[1], pl, pr, "width")
    OH = out_size(H, R, stride[0], pt, pb, dilation[0])
    OW = out_size(W, S, stride[1], pl, pr, dilation[1])
    if OH < 1 or OW < 1:
        raise ValueError(
            f"conv2d output size would be {OH}x{OW} < 1: input {H}x{W} with padding (top, bottom, left, right)="
            f"{(pt, pb, pl, pr)} is smaller than the dilated kernel "
            f"{dilation[0] * (R - 1) + 1}x{dilation[1] * (S - 1) + 1} (x {tuple(x_shape)}, w {tuple(w_shape)})")
    check_elements(K * OH * OW, 8, f"the conv2d output ({K}, {OH}, {OW})")
    return ConvArgs(N, C, H, W, K, R, S, OH, OW, *stride, pt, pb, pl, pr, *dilation, groups)


def conv_output_shape(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Output shape of conv2d: (N, K, OH, OW) for x (N, C, H, W) and w (K, C/groups, R, S).

    The course's arithmetic also works on bare sizes: x_shape (H, W) with w_shape (R, S) gives (OH, OW).
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) == 2 and len(w_shape) == 2:
        a = conv_shape_args((1, 1, *x_shape), (1, 1, *w_shape), stride, padding, dilation, 1)
        return a.OH, a.OW
    a = conv_shape_args(x_shape, w_shape, stride, padding, dilation, groups)
    return a.N, a.K, a.OH, a.OW


def conv_args(x, w, b=None, gy=None, stride=1, padding=0, dilation=1, groups=1):
    """Validate one conv2d call (forward or backward) -> (ConvArgs, dtype)."""
    dtype = call_dtype([(x, "x"), (w, "w")], [(b, "b"), (gy, "gy")])
    args = conv_shape_args(x.shape, w.shape, stride, padding, dilation, groups)
    if b is not None:
        expect_shape(b, (args.K,), "b", lambda: f"one bias per output channel of w {tuple(w.shape)}")
    if gy is not None:
        expect_shape(gy, (args.N, args.K, args.OH, args.OW), "gy", lambda: "the conv2d output shape for "
                     f"x {tuple(x.shape)} and w {tuple(w.shape)}")
    return args, dtype


def conv_flops(args: ConvArgs) -> int:
    """Multiply-adds x 2 of one conv2d forward (the same for backward-data and backward-weight)."""
    return 2 * args.N * args.K * args.OH * args.OW * (args.C // args.groups) * args.R * args.S


class TransposeArgs(NamedTuple):
    """A transposed convolution's geometry. `conv` is the convolution whose input gradient it is: its input
    is the transposed conv's output up to `reach` (None when no output element is reached), its output the
    transposed conv's input; rows and columns past `reach` get no term (only the bias)."""
    conv: "ConvArgs | None"
    out_shape: tuple      # (N, C_out, OH, OW)
    reach: tuple          # (rows, cols) of the output that some input element reaches


def _transposed_dim(size, kernel, stride, pad, dilation, out_pad):
    """(output size, reached size, end padding of the matching convolution) for one spatial dimension.

    The convolution must map the reached output rows back to exactly `size` rows under the output-size
    rule: an end padding of pad - out_pad does it, and any value up to stride - 1 above it; where that
    would be negative (out_pad > pad + stride - 1, possible when dilation > stride) the last rows are
    unreachable and are cut off instead."""
    out = transposed_out_size(size, kernel, stride, pad, dilation, out_pad)
    cut = max(0, out_pad - pad - (stride - 1))
    return out, out - cut, max(0, pad - out_pad)


@cached_geometry
def conv_transpose_shape_args(x_shape, w_shape, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1) -> TransposeArgs:
    """The geometry of a conv_transpose2d of x (N, C_in, H, W) with w (C_in, C_out/groups, R, S)."""
    if len(x_shape) != 4:
        raise ValueError(f"conv_transpose2d expects x of shape (N, C_in, H, W) or (C_in, H, W), "
                         f"got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"conv_transpose2d expects w of shape (C_in, C_out/groups, R, S), "
                         f"got shape {tuple(w_shape)}")
    if not is_int(groups):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    N, C, H, W = (int(v) for v in x_shape)
    Cw, Kg, R, S = (int(v) for v in w_shape)
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    pad = pair(padding, "padding")
    out_pad = pair(output_padding, "output_padding")
    if min(pad) < 0 or min(out_pad) < 0:
        raise ValueError(f"padding {padding!r} and output_padding {output_padding!r} must be non-negative")
    for i in range(2):
        if out_pad[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"output_padding {out_pad} must be smaller than either stride {stride} or "
                             f"dilation {dilation} in each dimension")
    if min(Cw, Kg, R, S) < 1:
        raise ValueError(f"w of shape {tuple(w_shape)} must have positive C_in, C_out/groups, R and S")
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels C_in={C} (x shape {tuple(x_shape)})")
    if Cw != C:
        raise ValueError(f"w of shape {tuple(w_shape)} needs C_in = {C} rows (its first dimension) for x of "
                         f"shape {tuple(x_shape)}")
    if H < 1 or W < 1:
        raise ValueError(f"x of shape {tuple(x_shape)} must have positive H and W")
    OH, RH, pb = _transposed_dim(H, R, stride[0], pad[0], dilation[0], out_pad[0])
    OW, RW, pr = _transposed_dim(W, S, stride[1], pad[1], dilation[1], out_pad[1])
    check_limit(OH, "the output height")
    check_limit(OW, "the output width")
    check_elements(Kg * groups * OH * OW, 8, "the output")
    if OH < 1 or OW < 1:
        raise ValueError(
            f"conv_transpose2d output size would be {OH}x{OW} < 1: (H - 1) * stride - 2 * padding + "
            f"dilation * (kernel - 1) + output_padding + 1 with x {tuple(x_shape)}, w {tuple(w_shape)}, "
            f"stride {stride}, padding {pad}, dilation {dilation}, output_padding {out_pad}")
    conv = None
    if RH >= 1 and RW >= 1:
        conv = ConvArgs(N, Kg * groups, RH, RW, C, R, S, H, W, *stride, pad[0], pb, pad[1], pr, *dilation, groups)
    return TransposeArgs(conv, (N, Kg * groups, OH, OW), (RH, RW))


def conv_transpose_args(x, w, b=None, gy=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Validate one conv_transpose2d call (forward or backward) -> (TransposeArgs, dtype)."""
    dtype = call_dtype([(x, "x"), (w, "w")], [(b, "b"), (gy, "gy")])
    t = conv_transpose_shape_args(x.shape, w.shape, stride, padding, output_padding, groups, dilation)
    if b is not None:
        expect_shape(b, (t.out_shape[1],), "b", lambda: f"one bias per output channel, C_out of w {tuple(w.shape)}")
    if gy is not None:
        expect_shape(gy, t.out_shape, "gy", lambda: "the conv_transpose2d output shape for "
                     f"x {tuple(x.shape)} and w {tuple(w.shape)}")
    return t, dtype
