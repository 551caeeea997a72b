"""Normalization on the GPU: the launch plans of the kernels of csrc/cuda/norm.cu (reductions one block
per unit or channel, elementwise passes over every element) and `NormKernels`, the ops that run them, with
strided._C's method names and arguments (strided.ops.norm calls either)."""
from __future__ import annotations

import numpy as np

from ..._cuda.launch import MAX_GRID_X, KernelRunner, Launch, Plan, elementwise_grid, i64
from ..._cuda.sources import CTYPES, tile_constants
from .args import NormArgs

SOURCE = "norm.cu"
KERNELS = ("norm_stats", "norm_apply", "norm_channel_sums", "norm_unit_sums", "norm_backward_input")


def norm_geometry(a: NormArgs):
    """The NORM_GEOMETRY scalars of norm.cu, in order."""
    return i64(a.N, a.C, a.S, a.G) + (np.int32(bool(a.per_channel)),)


def _reduce(kernel, blocks, buffers, a: NormArgs):
    """One block per unit or channel (the grid capped, the kernel strides over the rest), a double per
    thread of shared scratch for block_sum."""
    block = tile_constants()["kBlock"]
    return Launch(kernel, (min(blocks, MAX_GRID_X), 1, 1), (block, 1, 1), block * 8, buffers + norm_geometry(a))


def plan_norm_stats(a: NormArgs) -> Plan:
    return Plan((_reduce("norm_stats", a.units, ("x", "mean", "var"), a),))


def plan_norm_apply(a: NormArgs, weight: bool, bias: bool) -> Plan:
    grid, block = elementwise_grid(a.N * a.C * a.S)
    return Plan((Launch("norm_apply", grid, block, 0, ("x", "mean", "invstd", "w" if weight else None,
                                                       "b" if bias else None, "y") + norm_geometry(a)),))


def channel_sums_needed(a: NormArgs, input_stats, input_grad, weight_grad, bias_grad):
    """The per-channel sums serve the weight and bias gradients, and batch norm's input gradient."""
    return weight_grad or bias_grad or (input_grad and input_stats and a.per_channel)


def plan_norm_backward(a: NormArgs, weight: bool, input_stats, input_grad, weight_grad, bias_grad) -> Plan:
    """Buffers: gy, x, mean, invstd, w; out: gw and gb (channel sums), ug and ugx (group sums), gx."""
    launches = []
    if channel_sums_needed(a, input_stats, input_grad, weight_grad, bias_grad):
        launches.append(_reduce("norm_channel_sums", a.C, ("gy", "x", "mean", "invstd", "gw", "gb"), a))
    if input_grad:
        sums = (None, None)
        if input_stats:
            sums = ("gb", "gw") if a.per_channel else ("ug", "ugx")
            if not a.per_channel:
                launches.append(_reduce("norm_unit_sums", a.units,
                                        ("gy", "x", "mean", "invstd", "w" if weight else None, "ug", "ugx"), a))
        grid, block = elementwise_grid(a.N * a.C * a.S)
        launches.append(Launch("norm_backward_input", grid, block, 0,
                               ("gy", "x", "mean", "invstd", "w" if weight else None, *sums, "gx",
                                np.int32(bool(input_stats))) + norm_geometry(a)))
    return Plan(tuple(launches))


class NormKernels(KernelRunner):
    """Normalization statistics, normalize-and-scale and backward on the GPU (arguments validated)."""

    def _launch_all(self, plan: Plan, dtype, buffers):
        ctype = CTYPES[np.dtype(dtype)]
        for launch in plan.launches:
            self.backend.launch(launch, ctype, buffers)

    def norm_stats(self, x, a: NormArgs):
        x, xp = self._c(x), self.xp
        with self.backend.device_scope(x):
            buffers = dict(x=x, mean=xp.empty(a.units, x.dtype), var=xp.empty(a.units, x.dtype))
            self._launch_all(plan_norm_stats(a), x.dtype, buffers)
        return buffers["mean"], buffers["var"]

    def norm_apply(self, x, mean, invstd, w, b, a: NormArgs):
        x, xp = self._c(x), self.xp
        with self.backend.device_scope(x):
            buffers = dict(x=x, mean=self._c(mean), invstd=self._c(invstd), w=self._c(w), b=self._c(b),
                           y=xp.empty((a.N, a.C, a.S), x.dtype))
            self._launch_all(plan_norm_apply(a, w is not None, b is not None), x.dtype, buffers)
        return buffers["y"]

    def norm_backward(self, gy, x, mean, invstd, w, a: NormArgs, input_stats, input_grad, weight_grad, bias_grad):
        x, xp = self._c(x), self.xp
        dtype = x.dtype
        with self.backend.device_scope(x):
            buffers = dict(gy=self._c(gy), x=x, mean=self._c(mean), invstd=self._c(invstd), w=self._c(w))
            if channel_sums_needed(a, input_stats, input_grad, weight_grad, bias_grad):
                buffers.update(gw=xp.empty(a.C, dtype), gb=xp.empty(a.C, dtype))
            if input_grad:
                buffers["gx"] = xp.empty((a.N, a.C, a.S), dtype)
                if input_stats and not a.per_channel:
                    buffers.update(ug=xp.empty(a.units, dtype), ugx=xp.empty(a.units, dtype))
            self._launch_all(plan_norm_backward(a, w is not None, input_stats, input_grad, weight_grad, bias_grad),
                             dtype, buffers)
        return (buffers.get("gx"), buffers.get("gw") if weight_grad else None,
                buffers.get("gb") if bias_grad else None)
