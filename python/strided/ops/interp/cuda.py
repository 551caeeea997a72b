"""Interpolation on the GPU: the launch plans of the kernels of csrc/cuda/interp.cu (one thread per
output forward, one per input element backward, gathering from the outputs that read it) and
`InterpKernels`, the ops that run them."""
from __future__ import annotations

import numpy as np

from ..._cuda.launch import KernelRunner, Launch, Plan, elementwise_grid, i64
from .args import InterpArgs

SOURCE = "interp.cu"
KERNELS = ("upsample_nearest2d_forward", "upsample_nearest2d_backward", "upsample_bilinear2d_forward",
           "upsample_bilinear2d_backward")


def interp_geometry(a: InterpArgs):
    """The INTERP_GEOMETRY scalars of interp.cu, in order."""
    return i64(a.N, a.C, a.H, a.W, a.OH, a.OW) + (np.int32(a.align_corners), np.float64(a.scale_h),
                                                     np.float64(a.scale_w))


def plan_interpolate(a: InterpArgs, mode, backward=False) -> Plan:
    """One launch over the outputs (forward: buffers x, y) or the input elements (backward: gy, gx)."""
    total = a.N * a.C * (a.H * a.W if backward else a.OH * a.OW)
    if total == 0:
        return Plan(())
    grid, block = elementwise_grid(total)
    kernel = f"upsample_{mode}2d_{'backward' if backward else 'forward'}"
    buffers = ("gy", "gx") if backward else ("x", "y")
    return Plan((Launch(kernel, grid, block, 0, buffers + interp_geometry(a)),))


class InterpKernels(KernelRunner):
    """Nearest and bilinear interpolation, forward and backward, on the GPU (arguments already validated)."""

    def interpolate_forward(self, x, args: InterpArgs, mode):
        x = self._c(x)
        return self._run(plan_interpolate(args, mode), x.dtype, "y", (args.N, args.C, args.OH, args.OW), x=x)

    def interpolate_backward(self, gy, args: InterpArgs, mode):
        gy = self._c(gy)
        return self._run(plan_interpolate(args, mode, backward=True), gy.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy)
