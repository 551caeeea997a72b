"""Pooling's NumPy reference (max with its indices, max unpooling, average), written to be read: the
oracle the C++ and CUDA kernels are tested against. It loops over output positions; arguments go through
the same validation (args.py, index_args.py) as the kernels."""
from __future__ import annotations

import numpy as np

from .args import pool_args
from .index_args import check_divisor, check_indices, unpool_args


def _first(start, step):
    """The first of start, start + step, ... that is not negative (a dilated window's first real row)."""
    return start if start >= 0 else start % step


def _windows(args):
    """Yield (oh, ow, rows, cols, divisor_with_pad): each pooling window's real input rows and columns (its
    dilated taps clipped to the input, as slices), and the window's size counting padding but not the
    overhang that ceil_mode may add past the padding (avg pooling, never dilated)."""
    for oh in range(args.OH):
        h0 = oh * args.stride_h - args.pad_h
        h1 = min(h0 + args.dil_h * (args.kernel_h - 1) + 1, args.H + args.pad_h)
        rows = slice(_first(h0, args.dil_h), min(h1, args.H), args.dil_h)
        for ow in range(args.OW):
            w0 = ow * args.stride_w - args.pad_w
            w1 = min(w0 + args.dil_w * (args.kernel_w - 1) + 1, args.W + args.pad_w)
            yield oh, ow, rows, slice(_first(w0, args.dil_w), min(w1, args.W), args.dil_w), (h1 - h0) * (w1 - w0)


def _window_argmax(window):
    """Index of each (n, c) window's maximum in row-major order: the first of equal maxima, but the last
    NaN if there is one (PyTorch's rule: a later element is taken if greater, or if it is NaN)."""
    n, c, h, w = window.shape
    flat = window.reshape(n, c, h * w)
    nan = np.isnan(flat)
    last_nan = h * w - 1 - np.argmax(nan[..., ::-1], axis=2)
    return np.where(nan.any(axis=2), last_nan, np.argmax(flat, axis=2))


def _plane_index(window_index, rows, cols, W):
    """A window's row-major index -> the flat index of that element in its input plane."""
    count = len(range(cols.start, cols.stop, cols.step))
    return (rows.start + window_index // count * rows.step) * W + cols.start + window_index % count * cols.step


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling; padding is never picked. return_indices: also the int64 flat index of each output's
    pick in its input plane (H * W), PyTorch's indices."""
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode, dilation)
    y = np.empty((args.N, args.C, args.OH, args.OW), dtype)
    indices = np.empty((args.N, args.C, args.OH, args.OW), np.int64)
    for oh, ow, rows, cols, _ in _windows(args):
        window = x[:, :, rows, cols]
        flat = window.reshape(args.N, args.C, window.shape[2] * window.shape[3])
        pick = _window_argmax(window)
        y[:, :, oh, ow] = np.take_along_axis(flat, pick[..., None], 2)[..., 0]
        indices[:, :, oh, ow] = _plane_index(pick, rows, cols, args.W)
    return (y, indices) if return_indices else y


def max_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, indices=None):
    """Each output's gradient goes to the position of its window's maximum (given by indices, when given:
    x is then only the shape)."""
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode, dilation)
    if indices is None:
        _, indices = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    check_indices(indices, gy.shape, "indices must have the shape of gy")
    return _scatter(gy, indices, args.H, args.W, dtype, "max_pool2d_backward")


def _scatter(values, indices, H, W, dtype, what):
    """out[n, c].flat[indices[n, c, i, j]] += values[n, c, i, j], out of shape (N, C, H, W)."""
    N, C, OH, OW = values.shape
    indices = np.asarray(indices, np.int64).reshape(N, C, OH * OW)
    if indices.size and (indices.min() < 0 or indices.max() >= H * W):
        raise ValueError(f"{what}: indices must lie in [0, {H * W}) (an {H}x{W} plane), got values in "
                         f"[{indices.min()}, {indices.max()}]")
    out = np.zeros((N, C, H * W), dtype)
    for n in range(N):
        for c in range(C):
            np.add.at(out[n, c], indices[n, c], values[n, c].reshape(-1))
    return out.reshape(N, C, H, W)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Places each x at its index in a zero (OH, OW) plane (an index given twice: the later one wins)."""
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size)
    flat = np.asarray(indices, np.int64).reshape(args.N, args.C, args.H * args.W)
    if flat.size and (flat.min() < 0 or flat.max() >= args.OH * args.OW):
        raise ValueError(f"max_unpool2d: indices must lie in [0, {args.OH * args.OW}) (the {args.OH}x{args.OW} "
                         f"output plane), got values in [{flat.min()}, {flat.max()}]")
    y = np.zeros((args.N, args.C, args.OH * args.OW), dtype)
    for n in range(args.N):
        for c in range(args.C):
            y[n, c, flat[n, c]] = x[n, c].reshape(-1)  # NumPy assigns in order: the last duplicate wins
    return y.reshape(args.N, args.C, args.OH, args.OW)


def max_unpool2d_backward(gy, x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Each x's gradient is gy at its index (a gather)."""
    args, dtype = unpool_args(x, indices, kernel_size, stride, padding, output_size, gy=gy)
    flat = np.asarray(indices, np.int64).reshape(args.N, args.C, args.H * args.W)
    if flat.size and (flat.min() < 0 or flat.max() >= args.OH * args.OW):
        raise ValueError(f"max_unpool2d_backward: indices must lie in [0, {args.OH * args.OW}), got values in "
                         f"[{flat.min()}, {flat.max()}]")
    gx = np.take_along_axis(np.asarray(gy, dtype).reshape(args.N, args.C, args.OH * args.OW), flat, 2)
    return gx.reshape(x.shape)


def _divisor(window, size_with_pad, count_include_pad, divisor_override):
    if divisor_override is not None:
        return divisor_override
    return size_with_pad if count_include_pad else window.shape[2] * window.shape[3]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    args, dtype = pool_args(x, None, kernel_size, stride, padding, ceil_mode)
    divisor_override = check_divisor(divisor_override)
    y = np.empty((args.N, args.C, args.OH, args.OW), dtype)
    for oh, ow, rows, cols, size in _windows(args):
        window = x[:, :, rows, cols]
        y[:, :, oh, ow] = window.sum(axis=(2, 3)) / _divisor(window, size, count_include_pad, divisor_override)
    return y


def avg_pool2d_backward(gy, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    """Each output's gradient is shared equally by the real input positions of its window."""
    args, dtype = pool_args(x, gy, kernel_size, stride, padding, ceil_mode)
    divisor_override = check_divisor(divisor_override)
    gx = np.zeros((args.N, args.C, args.H, args.W), dtype)
    for oh, ow, rows, cols, size in _windows(args):
        window = gx[:, :, rows, cols]
        window += (gy[:, :, oh, ow] / _divisor(window, size, count_include_pad, divisor_override))[:, :, None, None]
    return gx


__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward"]
