"""Interpolation's NumPy reference (nearest and bilinear), written to be read: the oracle the C++ and CUDA
kernels are tested against. Each axis is mapped on its own (output index -> source indices and weights)
with PyTorch's CPU formulas and arithmetic, float32 where PyTorch computes in float32, because a nearest
index can flip on the last bit of dst * scale."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .args import interp_args


def nearest_source(in_size, out_size, scale):
    """Source index of each output index along one axis (PyTorch's nearest_idx): a copy when the sizes
    agree, a shift when the output is twice the input, else floor(dst * s) in float32 with s = 1/scale
    (the user's factor) or in/out, clamped to the last input."""
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    s = np.float32(1.0 / scale) if scale > 0 else np.float32(in_size) / np.float32(out_size)
    return np.minimum(np.floor(dst.astype(np.float32) * s).astype(np.int64), in_size - 1)


def _fused_multiply_add(a, b, c, t):
    """a * b + c rounded once to type t, as PyTorch's CPU build computes it (its compiler fuses the
    multiply-add). A float32 product is exact in float64; a float64 one is computed exactly in fractions."""
    if t is np.float32:
        return (np.float64(a) * b.astype(np.float64) + c).astype(np.float32)
    return np.array([float(Fraction(float(a)) * Fraction(float(v)) + Fraction(c)) for v in b], np.float64)


def linear_source(in_size, out_size, scale, align_corners, dtype):
    """(i0, i1, l0, l1) of each output index along one axis (PyTorch's compute_source_index_and_lambda):
    it reads in[i0] * l0 + in[i1] * l1. Computed in `dtype` (float32 for float32 inputs, as PyTorch)."""
    t = np.dtype(dtype).type
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst, dst, np.ones(out_size, t), np.zeros(out_size, t)
    if align_corners:
        ratio = t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
        src = ratio * dst.astype(t)
    else:
        ratio = t(1.0 / scale) if scale > 0 else t(in_size) / t(out_size)
        src = np.maximum(_fused_multiply_add(ratio, dst.astype(t) + t(0.5), -0.5, t), t(0))
    # PyTorch floors through floorf, so a float64 coordinate is rounded to float32 first.
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), in_size - 1)
    l1 = np.clip(src - i0.astype(t), t(0), t(1)).astype(t)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, (t(1) - l1).astype(t), l1


def _bilinear_terms(args, dtype, coordinates):
    """The four (rows, cols, weight) terms of bilinear interpolation, in PyTorch's order."""
    (H, W), (OH, OW) = args.shape[2:], args.out_shape[2:]
    h0, h1, hl0, hl1 = linear_source(H, OH, args.scales[0], args.align_corners, coordinates or dtype)
    w0, w1, wl0, wl1 = linear_source(W, OW, args.scales[1], args.align_corners, coordinates or dtype)
    return [(h, w, (hl[:, None] * wl[None, :]).astype(dtype))
            for h, hl in ((h0, hl0), (h1, hl1)) for w, wl in ((w0, wl0), (w1, wl1))]


def _nearest_index(args):
    """The index of x's spatial axes each output element reads (np.ix_ form, one array per axis)."""
    return np.ix_(*(nearest_source(n, o, s) for n, o, s in zip(args.shape[2:], args.out_shape[2:], args.scales)))


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, *, coordinates=None):
    """coordinates: the precision of bilinear's mapping, x's dtype by default (the oracle passes float32
    to evaluate a float32 call in float64 arithmetic)."""
    args, mode, dtype = interp_args(x, None, size, scale_factor, mode, align_corners, recompute_scale_factor)
    x = np.asarray(x, dtype)
    if mode == "nearest":
        return np.ascontiguousarray(x[(Ellipsis, *_nearest_index(args))])
    y = np.zeros(args.out_shape, dtype)
    for rows, cols, weight in _bilinear_terms(args, dtype, coordinates):
        y += weight * x[:, :, rows[:, None], cols[None, :]]
    return y


def interpolate_backward(gy, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None, *, coordinates=None):
    """Each input element receives the output gradients that read it, times the weight they read it with."""
    args, mode, dtype = interp_args(x, gy, size, scale_factor, mode, align_corners, recompute_scale_factor)
    gy = np.asarray(gy, dtype)
    gx = np.zeros(args.shape, dtype)
    if mode == "nearest":
        index = np.broadcast_arrays(*_nearest_index(args))
        np.add.at(gx, (Ellipsis, *index), gy)
        return gx
    for rows, cols, weight in _bilinear_terms(args, dtype, coordinates):
        r, c = np.broadcast_arrays(rows[:, None], cols[None, :])
        np.add.at(gx, (slice(None), slice(None), r, c), weight * gy)
    return gx


__all__ = ["interpolate", "interpolate_backward"]
