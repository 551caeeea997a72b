"""interp, the op family: torch.nn.functional.interpolate's 'nearest' (1 to 3 spatial dimensions) and
'bilinear' (H and W) modes, forward and backward. Each validates once (args.py), then runs the passes of
the H-and-W kernels its geometry needs: C++ kernels of strided._C on NumPy arrays or the CUDA kernels
(cuda.py) on CuPy arrays; reference.py is the NumPy oracle."""
from __future__ import annotations

from ... import _C
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import interp_args


def _no_antialias(antialias):
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported (strided resamples without an "
                         "antialiasing filter); pass antialias=False")


def _resample(x, args, mode, dtype, backward):
    """One kernel call: x viewed as (N, C, H, W) of args (its output's shape for the backward)."""
    direction = "backward" if backward else "forward"
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return getattr(gpu, f"interpolate_{direction}")(x, args, mode)
    return getattr(_C, f"upsample_{mode}2d_{direction}")(_c(x, dtype), args)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resample the spatial dimensions of x to `size` or by `scale_factor` (exactly one of them; a number
    or one per dimension), as torch.nn.functional.interpolate: mode 'nearest' (PyTorch's legacy nearest,
    floor(dst * in/out)) on (N, C, W), (N, C, H, W) or (N, C, D, H, W), or 'bilinear' on (N, C, H, W)
    (align_corners=True maps corner pixel centres onto each other). A given scale_factor is used in the
    coordinate mapping itself unless recompute_scale_factor is true. antialias=True is refused
    (ValueError)."""
    _no_antialias(antialias)
    (x,) = _external(x)
    geometry, mode, dtype = interp_args(x, None, size, scale_factor, mode, align_corners, recompute_scale_factor)
    y = x
    for a in geometry.passes():
        y = _resample(y.reshape(a.N, a.C, a.H, a.W), a, mode, dtype, backward=False)
    return y.reshape(geometry.out_shape)


def interpolate_backward(gy, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None, antialias=False):
    """The gradient of interpolate with respect to x, given gy (the gradient of its output); x supplies
    the shape only."""
    _no_antialias(antialias)
    gy, x = _external(gy, x)
    geometry, mode, dtype = interp_args(x, gy, size, scale_factor, mode, align_corners, recompute_scale_factor)
    gx = gy
    for a in reversed(geometry.passes()):
        gx = _resample(gx.reshape(a.N, a.C, a.OH, a.OW), a, mode, dtype, backward=True)
    return gx.reshape(geometry.shape)


__all__ = ["interpolate", "interpolate_backward"]
