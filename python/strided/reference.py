"""The NumPy reference: every op of strided in plain NumPy, written to be read. It is the oracle the
C++ and CUDA kernels are tested against, so clarity beats speed here.

Convolution loops over the kernel window (R x S) and handles a whole batch per tap with array slicing;
pooling loops over output positions. Arguments go through the same validation as the kernels.
"""
from __future__ import annotations

import numpy as np

from ._shapes import conv_args, elementwise_args, linear_args, pool_args


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


def _windows(args):
    """Yield (oh, ow, rows, cols, divisor_with_pad): each pooling window clipped to the real input, and the
    window's size counting padding but not the overhang that ceil_mode may add past the padding."""
    for oh in range(args.OH):
        h0 = oh * args.stride_h - args.pad_h
        h1 = min(h0 + args.kernel_h, args.H + args.pad_h)
        for ow in range(args.OW):
            w0 = ow * args.stride_w - args.pad_w
            w1 = min(w0 + args.kernel_w, args.W + args.pad_w)
            yield (oh, ow, slice(max(h0, 0), min(h1, args.H)), slice(max(w0, 0), min(w1, args.W)),
                   (h1 - h0) * (w1 - w0))


def _window_argmax(window):
    """Index of the first maximum of each (n, c) window in row-major order; a NaN counts as the maximum
    (np.argmax returns the first NaN), so NaN propagates and its position takes the gradient."""
    n, c, h, w = window.shape
    return np.argmax(window.reshape(n, c, h * w), axis=2)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    y = np.empty((args.N, args.C, args.OH, args.OW), dtype)
    for oh, ow, rows, cols, _ in _windows(args):
        window = x[:, :, rows, cols]
        flat = window.reshape(args.N, args.C, window.shape[2] * window.shape[3])
        y[:, :, oh, ow] = np.take_along_axis(flat, _window_argmax(window)[..., None], 2)[..., 0]
    return y


def max_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Each output's gradient goes to the position of its window's maximum."""
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gx = np.zeros((args.N, args.C, args.H, args.W), dtype)
    for oh, ow, rows, cols, _ in _windows(args):
        window = x[:, :, rows, cols]
        hot = np.arange(window.shape[2] * window.shape[3]) == _window_argmax(window)[..., None]
        gx[:, :, rows, cols] += np.where(hot, gy[:, :, oh, ow, None], 0).reshape(window.shape)
    return gx


def _divisor(window, size_with_pad, count_include_pad):
    return size_with_pad if count_include_pad else window.shape[2] * window.shape[3]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    y = np.empty((args.N, args.C, args.OH, args.OW), dtype)
    for oh, ow, rows, cols, size in _windows(args):
        window = x[:, :, rows, cols]
        y[:, :, oh, ow] = window.sum(axis=(2, 3)) / _divisor(window, size, count_include_pad)
    return y


def avg_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Each output's gradient is shared equally by the real input positions of its window."""
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    gx = np.zeros((args.N, args.C, args.H, args.W), dtype)
    for oh, ow, rows, cols, size in _windows(args):
        window = gx[:, :, rows, cols]
        window += (gy[:, :, oh, ow] / _divisor(window, size, count_include_pad))[:, :, None, None]
    return gx


def linear(x, w, b=None):
    """y[n, o] = b[o] + sum_i x[n, i] * w[o, i]."""
    _, dtype = linear_args(x, w, b)
    y = np.einsum("ni,oi->no", x, w).astype(dtype)
    return y if b is None else y + b


def linear_backward(gy, x, w, *, input_grad=True, weight_grad=True, bias_grad=True):
    """gx = gy w, gw = gy^T x, gb = sum of gy over the batch."""
    _, dtype = linear_args(x, w, None, gy)
    return (np.einsum("no,oi->ni", gy, w).astype(dtype) if input_grad else None,
            np.einsum("no,ni->oi", gy, x).astype(dtype) if weight_grad else None,
            gy.sum(axis=0).astype(dtype) if bias_grad else None)


def relu(x):
    """max(x, 0); NaN stays NaN."""
    elementwise_args(x)
    return np.where(x < 0, np.zeros_like(x), x)


def relu_backward(gy, y):
    """The gradient passes where the output y is positive (0 at 0)."""
    elementwise_args(y, gy)
    return np.where(y > 0, gy, np.zeros_like(gy))


__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
           "avg_pool2d_backward", "linear", "linear_backward", "relu", "relu_backward"]
