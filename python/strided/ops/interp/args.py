"""Interpolation's arguments (nearest and bilinear alike): the geometry (InterpArgs) every kernel receives,
the output shape, and the one validation of a call, following torch.nn.functional.interpolate. InterpArgs'
field order is the one csrc/interp/bind.cpp reads."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validate import call_dtype, expect_shape, pair

MODES = ("nearest", "bilinear")


class InterpArgs(NamedTuple):
    """Normalized interpolation geometry. scale_h/scale_w: the user's scale factor, used in the coordinate
    mapping as PyTorch does (recompute_scale_factor=None), or 0.0 when the output size was given."""
    N: int
    C: int
    H: int
    W: int
    OH: int
    OW: int
    align_corners: bool
    scale_h: float
    scale_w: float


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _scale_pair(value):
    """float or (h, w) -> (h, w) of positive finite Python floats."""
    message = f"scale_factor must be a positive number or a pair of them, got {value!r}"
    if _is_number(value):
        items = (value, value)
    elif isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(message)
    else:
        items = tuple(value)
        if len(items) != 2:
            raise ValueError(f"{message} (x has 2 spatial dimensions, H and W)")
        if not all(_is_number(v) for v in items):
            raise TypeError(message)
    items = tuple(float(v) for v in items)
    if not all(math.isfinite(v) and v > 0 for v in items):
        raise ValueError(message)
    return items


def interp_mode(mode, align_corners):
    """Validate mode and align_corners as PyTorch -> (mode, align_corners as bool)."""
    if mode not in MODES:
        raise ValueError(f"interpolate supports mode 'nearest' or 'bilinear', got {mode!r}")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             f"bilinear (got mode 'nearest' with align_corners={align_corners!r})")
        return mode, False
    return mode, bool(align_corners)


def _interp_geometry(x_shape, size, scale_factor, align_corners, recompute_scale_factor):
    if len(x_shape) != 4:
        raise ValueError(f"interpolate expects x of shape (N, C, H, W), got shape {tuple(x_shape)}")
    N, C, H, W = (int(v) for v in x_shape)
    if C < 1 or H < 1 or W < 1:
        raise ValueError(f"x of shape {tuple(x_shape)} must have positive C, H and W (only N may be 0)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate needs exactly one of size or scale_factor, got "
                         + ("both" if size is not None else "neither"))
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        OH, OW = pair(size, "size")
        scale_h = scale_w = 0.0
    else:
        scale_h, scale_w = _scale_pair(scale_factor)
        OH, OW = math.floor(H * scale_h), math.floor(W * scale_w)
        if recompute_scale_factor:  # the mapping then uses in/out, as if size had been given
            scale_h = scale_w = 0.0
    if OH < 1 or OW < 1:
        raise ValueError(f"interpolate output size would be {OH}x{OW}: input and output sizes must be positive "
                         f"(x {tuple(x_shape)}, size={size!r}, scale_factor={scale_factor!r})")
    return InterpArgs(N, C, H, W, OH, OW, bool(align_corners), scale_h, scale_w)


def interp_output_shape(x_shape, size=None, scale_factor=None, recompute_scale_factor=None):
    """Output shape of interpolate: (N, C, OH, OW) for x (N, C, H, W)."""
    a = _interp_geometry(tuple(x_shape), size, scale_factor, False, recompute_scale_factor)
    return a.N, a.C, a.OH, a.OW


def interp_args(x, gy=None, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Validate one interpolate call (forward or backward) -> (InterpArgs, mode, dtype)."""
    mode, align = interp_mode(mode, align_corners)
    dtype = call_dtype([(x, "x")], [(gy, "gy")])
    args = _interp_geometry(x.shape, size, scale_factor, align, recompute_scale_factor)
    if gy is not None:
        expect_shape(gy, (args.N, args.C, args.OH, args.OW), "gy",
                     f"the interpolate output shape for x {tuple(x.shape)}")
    return args, mode, dtype
