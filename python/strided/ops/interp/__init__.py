"""interp, the op family: torch.nn.functional.interpolate's 'nearest' and 'bilinear' modes on (N, C, H, W)
inputs, forward and backward. Each validates once (args.py), then runs the C++ kernels of strided._C on
NumPy arrays or the CUDA kernels (cuda.py) on CuPy arrays; reference.py is the NumPy oracle."""
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


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resample the H and W of x (N, C, H, W) to `size` or by `scale_factor` (exactly one of them), as
    torch.nn.functional.interpolate: mode 'nearest' (PyTorch's legacy nearest, floor(dst * in/out)) or
    'bilinear' (align_corners=True maps corner pixel centres onto each other). A given scale_factor is
    used in the coordinate mapping itself unless recompute_scale_factor is true. antialias=True is refused
    (ValueError)."""
    _no_antialias(antialias)
    (x,) = _external(x)
    args, mode, dtype = interp_args(x, None, size, scale_factor, mode, align_corners, recompute_scale_factor)
    gpu = _dispatch.backend(x)
    if gpu is not None:
        return gpu.interpolate_forward(x, args, mode)
    return getattr(_C, f"upsample_{mode}2d_forward")(_c(x, dtype), args)


def interpolate_backward(gy, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None, antialias=False):
    """The gradient of interpolate with respect to x, given gy (the gradient of its output); x supplies
    the shape only."""
    _no_antialias(antialias)
    gy, x = _external(gy, x)
    args, mode, dtype = interp_args(x, gy, size, scale_factor, mode, align_corners, recompute_scale_factor)
    gpu = _dispatch.backend(gy, x)
    if gpu is not None:
        return gpu.interpolate_backward(gy, args, mode)
    return getattr(_C, f"upsample_{mode}2d_backward")(_c(gy, dtype), args)


__all__ = ["interpolate", "interpolate_backward"]
