"""Pooling's NumPy reference (max and average), written to be read: the oracle the C++ and CUDA kernels
are tested against. It loops over output positions; arguments go through the same validation (args.py)
as the kernels."""
from __future__ import annotations

import numpy as np

from .args import pool_args


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


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
