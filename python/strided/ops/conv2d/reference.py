"""conv2d's NumPy reference, written to be read: the oracle the C++ and CUDA kernels are tested against,
so clarity beats speed. It loops over the kernel window (R x S) and handles a whole batch per tap with
array slicing; arguments go through the same validation (args.py) as the kernels."""
from __future__ import annotations

import numpy as np

from .args import conv_args


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


__all__ = ["conv2d", "conv2d_backward"]
