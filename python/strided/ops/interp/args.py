"""Interpolation's arguments (nearest and bilinear alike), following torch.nn.functional.interpolate: the
one validation of a call, the geometry it yields (InterpGeometry: every spatial axis's input and output size
and scale) and the output shape. The kernels resample H and W of an (N, C, H, W) array; InterpGeometry
.passes() maps a call onto them: a 4-D input is one pass, a 3-D one (1-D resampling, nearest only) a pass
over (N, C, 1, W), a 5-D one (nearest only) a pass over H and W, then one over D with H*W flattened, exact
because nearest picks its source index per axis. InterpArgs' field order is the one csrc/interp/bind.cpp
reads."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._size import check_elements
from .._validate import call_dtype, expect_shape, is_int

MODES = ("nearest", "bilinear")
# spatial dimensions each mode takes (bilinear is 2-D only; PyTorch names its 1-D and 3-D twins differently)
SPATIAL = {"nearest": (1, 2, 3), "bilinear": (2,)}


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


class InterpGeometry(NamedTuple):
    """A validated call: x's shape, the output's, and per spatial axis (D, H, W order) the user's scale
    factor (0.0 when the output size was given; then the mapping uses in/out)."""
    shape: tuple
    out_shape: tuple
    scales: tuple
    align_corners: bool

    def passes(self):
        """The kernel calls, in order; each reads the previous one's output viewed as (N, C, H, W)."""
        N, C, *spatial = self.shape
        out = self.out_shape[2:]
        if len(spatial) == 1:
            return (InterpArgs(N, C, 1, spatial[0], 1, out[0], False, 0.0, self.scales[0]),)
        if len(spatial) == 2:
            return (InterpArgs(N, C, *spatial, *out, self.align_corners, *self.scales),)
        D, H, W = spatial
        OD, OH, OW = out
        return (InterpArgs(N, C * D, H, W, OH, OW, False, *self.scales[1:]),
                InterpArgs(N, C, D, OH * OW, OD, OH * OW, False, self.scales[0], 0.0))


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _per_axis(value, dims, name, valid, kind):
    """A number or a sequence of `dims` of them -> a tuple of `dims` items, as PyTorch reads size and
    scale_factor (a sequence must have one item per spatial dimension)."""
    message = f"{name} must be {kind} or a sequence of {dims} of them (one per spatial dimension), got {value!r}"
    if valid(value):
        return (value,) * dims
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(message)
    items = tuple(value)
    if len(items) != dims:
        raise ValueError(f"{message}: input and output must have the same number of spatial dimensions")
    if not all(valid(v) for v in items):
        raise TypeError(message)
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


def _interp_geometry(x_shape, size, scale_factor, mode, align_corners, recompute_scale_factor):
    x_shape = tuple(int(v) for v in x_shape)
    dims = len(x_shape) - 2
    if dims not in SPATIAL[mode]:
        layouts = {1: "(N, C, W)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
        raise ValueError(f"interpolate mode {mode!r} expects x of shape "
                         f"{' or '.join(layouts[d] for d in SPATIAL[mode])}, got shape {x_shape}")
    N, C, *spatial = x_shape
    if C < 1 or min(spatial) < 1:
        raise ValueError(f"x of shape {x_shape} must have positive C and spatial sizes (only N may be 0)")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate needs exactly one of size or scale_factor, got "
                         + ("both" if size is not None else "neither"))
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        out = tuple(int(v) for v in _per_axis(size, dims, "size", is_int, "an int"))
        scales = (0.0,) * dims
    else:
        scales = tuple(float(v) for v in _per_axis(scale_factor, dims, "scale_factor", _is_number, "a number"))
        if not all(math.isfinite(v) and v > 0 for v in scales):
            raise ValueError(f"scale_factor must be positive and finite, got {scale_factor!r}")
        out = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
        if recompute_scale_factor:  # the mapping then uses in/out, as if size had been given
            scales = (0.0,) * dims
    if min(out) < 1:
        raise ValueError(f"interpolate output size would be {'x'.join(map(str, out))}: input and output sizes "
                         f"must be positive (x {x_shape}, size={size!r}, scale_factor={scale_factor!r})")
    check_elements(C * math.prod(out), 8, "the interpolate output")
    return InterpGeometry(x_shape, (N, C, *out), scales, bool(align_corners))


def interp_output_shape(x_shape, size=None, scale_factor=None, recompute_scale_factor=None):
    """Output shape of interpolate: (N, C, *out) for x (N, C, *spatial) with 1 to 3 spatial dimensions."""
    return _interp_geometry(tuple(x_shape), size, scale_factor, "nearest", False, recompute_scale_factor).out_shape


def interp_args(x, gy=None, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Validate one interpolate call (forward or backward) -> (InterpGeometry, mode, dtype)."""
    mode, align = interp_mode(mode, align_corners)
    dtype = call_dtype([(x, "x")], [(gy, "gy")])
    geometry = _interp_geometry(x.shape, size, scale_factor, mode, align, recompute_scale_factor)
    if gy is not None:
        expect_shape(gy, geometry.out_shape, "gy", lambda: f"the interpolate output shape for x {tuple(x.shape)}")
    return geometry, mode, dtype
