"""conv2d's NumPy reference, written to be read: the oracle the C++ and CUDA kernels are tested against,
so clarity beats speed. It loops over the kernel window (R x S) and handles a whole batch per tap with
array slicing; arguments go through the same validation (args.py) as the kernels."""
from __future__ import annotations

import numpy as np

from .._validate import pair
from .args import conv_args, conv_transpose_args


def _tap(a, r, s, args):
    """The input pixels that kernel tap (r, s) meets for every output position: (N, C, OH, OW) view of
    the padded input `a`."""
    h0, w0 = r * args.dil_h, s * args.dil_w
    return a[:, :, h0:h0 + args.stride_h * (args.OH - 1) + 1:args.stride_h,
             w0:w0 + args.stride_w * (args.OW - 1) + 1:args.stride_w]


def _padded(x, args):
    return np.pad(x, ((0, 0), (0, 0), (args.pad_top, args.pad_bottom), (args.pad_left, args.pad_right)))


def _groups(args):
    """(input channel slice, output channel slice) of each group."""
    cg, kg = args.C // args.groups, args.K // args.groups
    return [(slice(g * cg, (g + 1) * cg), slice(g * kg, (g + 1) * kg)) for g in range(args.groups)]


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation y[n,k,i,j] = b[k] + sum_{c,r,s} w[k,c,r,s] * xpad[n, c, i*sh + r*dh, j*sw + s*dw]."""
    args, dtype = conv_args(x, w, b, None, stride, padding, dilation, groups)
    xp = _padded(np.asarray(x), args)
    y = np.zeros((args.N, args.K, args.OH, args.OW), dtype)
    for r in range(args.R):
        for s in range(args.S):
            patch = _tap(xp, r, s, args)
            for cs, ks in _groups(args):
                y[:, ks] += np.einsum("nchw,kc->nkhw", patch[:, cs], w[ks, :, r, s])
    if b is not None:
        y += np.asarray(b).reshape(1, -1, 1, 1)
    return y


def conv2d_backward(gy, x, w, stride=1, padding=0, dilation=1, groups=1, *,
                    input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv2d: gx scatters each tap back, gw correlates gy with the input, gb sums gy."""
    args, dtype = conv_args(x, w, None, gy, stride, padding, dilation, groups)
    xp = _padded(np.asarray(x), args)
    gxp = np.zeros_like(xp) if input_grad else None
    gw = np.zeros(w.shape, dtype) if weight_grad else None
    for r in range(args.R):
        for s in range(args.S):
            patch = _tap(xp, r, s, args)
            gpatch = _tap(gxp, r, s, args) if input_grad else None
            for cs, ks in _groups(args):
                if input_grad:
                    gpatch[:, cs] += np.einsum("nkhw,kc->nchw", gy[:, ks], w[ks, :, r, s])
                if weight_grad:
                    gw[ks, :, r, s] = np.einsum("nkhw,nchw->kc", gy[:, ks], patch[:, cs])
    gx = gxp[:, :, args.pad_top:args.pad_top + args.H, args.pad_left:args.pad_left + args.W].copy() \
        if input_grad else None
    gb = np.asarray(gy).sum(axis=(0, 2, 3)).astype(dtype) if bias_grad else None
    return gx, gw, gb


def _transpose_taps(x, w, stride, dilation, groups):
    """For every kernel tap (r, s) and group: the (row, col) slices of the uncropped output that input
    pixels land on (h*sh + r*dh), the group's input and output channel slices, and the tap."""
    (sh, sw), (dh, dw) = pair(stride, "stride"), pair(dilation, "dilation")
    H, W = x.shape[2:]
    C, Kg, R, S = w.shape
    cg = C // groups
    for r in range(R):
        for s in range(S):
            rows = slice(r * dh, r * dh + (H - 1) * sh + 1, sh)
            cols = slice(s * dw, s * dw + (W - 1) * sw + 1, sw)
            for g in range(groups):
                yield rows, cols, slice(g * cg, (g + 1) * cg), slice(g * Kg, (g + 1) * Kg), (r, s)


def _uncropped(x, w, t, padding, stride, dilation):
    """Zeros holding every scatter target and the output at offset padding; and that padding."""
    (ph, pw), (sh, sw), (dh, dw) = pair(padding, "padding"), pair(stride, "stride"), pair(dilation, "dilation")
    (H, W), (R, S), (OH, OW) = x.shape[2:], w.shape[2:], t.out_shape[2:]
    shape = (t.out_shape[0], t.out_shape[1], max((H - 1) * sh + dh * (R - 1) + 1, ph + OH),
             max((W - 1) * sw + dw * (S - 1) + 1, pw + OW))
    return np.zeros(shape, x.dtype), ph, pw


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution in scatter form: every input pixel x[n, c, h, w] adds x * w[c, k, r, s] to
    output[n, g*Kg + k, h*sh - ph + r*dh, w*sw - pw + s*dw] (k in c's group g); positions cropped off by
    the padding are dropped. Then the bias."""
    t, dtype = conv_transpose_args(x, w, b, None, stride, padding, output_padding, groups, dilation)
    x, w = np.asarray(x), np.asarray(w)
    full, ph, pw = _uncropped(x, w, t, padding, stride, dilation)
    OH, OW = t.out_shape[2:]
    for rows, cols, cs, ks, (r, s) in _transpose_taps(x, w, stride, dilation, groups):
        full[:, ks, rows, cols] += np.einsum("nchw,ck->nkhw", x[:, cs], w[cs, :, r, s])
    y = full[:, :, ph:ph + OH, pw:pw + OW].copy()
    if b is not None:
        y += np.asarray(b).reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward(gy, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                              input_grad=True, weight_grad=True, bias_grad=True):
    """Gradients of conv_transpose2d: gy is placed back into the uncropped output buffer, and each input
    pixel and tap reads the output position it was scattered to."""
    t, dtype = conv_transpose_args(x, w, None, gy, stride, padding, output_padding, groups, dilation)
    x, w, gy = np.asarray(x), np.asarray(w), np.asarray(gy)
    full, ph, pw = _uncropped(x, w, t, padding, stride, dilation)
    OH, OW = t.out_shape[2:]
    full[:, :, ph:ph + OH, pw:pw + OW] = gy
    gx = np.zeros(x.shape, dtype) if input_grad else None
    gw = np.zeros(w.shape, dtype) if weight_grad else None
    for rows, cols, cs, ks, (r, s) in _transpose_taps(x, w, stride, dilation, groups):
        if input_grad:
            gx[:, cs] += np.einsum("nkhw,ck->nchw", full[:, ks, rows, cols], w[cs, :, r, s])
        if weight_grad:
            gw[cs, :, r, s] += np.einsum("nkhw,nchw->ck", full[:, ks, rows, cols], x[:, cs])
    gb = gy.sum(axis=(0, 2, 3)).astype(dtype) if bias_grad else None
    return gx, gw, gb


__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward"]
