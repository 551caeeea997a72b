"""Pooling on the GPU: the launch plans of the kernels of csrc/cuda/pool2d.cu (one thread per output,
backward gathering over the windows that cover each input; unpooling one thread per input) and
`PoolKernels`, the ops that run them."""
from __future__ import annotations

import numpy as np

from ..._cuda.launch import KernelRunner, Launch, Plan, elementwise_grid, i64
from .args import PoolArgs
from .index_args import UnpoolArgs

SOURCE = "pool2d.cu"
KERNELS = ("max_pool2d_forward", "max_pool2d_backward", "max_pool2d_backward_indices", "avg_pool2d_forward",
           "avg_pool2d_backward", "max_unpool2d_forward", "max_unpool2d_backward")


def pool_geometry(a: PoolArgs):
    """The POOL_GEOMETRY scalars of pool2d.cu, in order."""
    return i64(a.N, a.C, a.H, a.W, a.OH, a.OW, a.kernel_h, a.kernel_w, a.stride_h, a.stride_w, a.pad_h, a.pad_w,
               a.dil_h, a.dil_w)


def _plan(kernel, total, params, zero=False):
    if total == 0:
        return Plan((), zero=zero)
    grid, block = elementwise_grid(total)
    return Plan((Launch(kernel, grid, block, 0, params),), zero=zero)


def _plan_pool(kernel, a: PoolArgs, total, buffers, extra=()):
    return _plan(kernel, total, buffers + pool_geometry(a) + extra)


def plan_max_pool2d_forward(a: PoolArgs, dtype, indices=False) -> Plan:
    """indices: also write the picks' flat positions into the int64 buffer "indices"."""
    return _plan_pool("max_pool2d_forward", a, a.N * a.C * a.OH * a.OW, ("x", "y", "indices" if indices else None))


def plan_max_pool2d_backward(a: PoolArgs, dtype) -> Plan:
    return _plan_pool("max_pool2d_backward", a, a.N * a.C * a.H * a.W, ("gy", "x", "gx"))


def plan_max_pool2d_backward_indices(a: PoolArgs, dtype) -> Plan:
    return _plan_pool("max_pool2d_backward_indices", a, a.N * a.C * a.H * a.W, ("gy", "indices", "gx"))


def plan_avg_pool2d_forward(a: PoolArgs, dtype, count_include_pad, divisor_override=0) -> Plan:
    return _plan_pool("avg_pool2d_forward", a, a.N * a.C * a.OH * a.OW, ("x", "y"),
                      (np.int32(bool(count_include_pad)), np.int64(divisor_override)))


def plan_avg_pool2d_backward(a: PoolArgs, dtype, count_include_pad, divisor_override=0) -> Plan:
    return _plan_pool("avg_pool2d_backward", a, a.N * a.C * a.H * a.W, ("gy", "gx"),
                      (np.int32(bool(count_include_pad)), np.int64(divisor_override)))


def plan_max_unpool2d_forward(a: UnpoolArgs, dtype) -> Plan:
    """The output starts as zeros; the kernel scatters the inputs into it."""
    return _plan("max_unpool2d_forward", a.N * a.C * a.H * a.W,
                 ("x", "indices", "y") + i64(a.N * a.C, a.H * a.W, a.OH * a.OW), zero=True)


def plan_max_unpool2d_backward(a: UnpoolArgs, dtype) -> Plan:
    return _plan("max_unpool2d_backward", a.N * a.C * a.H * a.W,
                 ("gy", "indices", "gx") + i64(a.N * a.C, a.H * a.W, a.OH * a.OW))


class PoolKernels(KernelRunner):
    """Max and average pooling, forward and backward, and max unpooling, on the GPU (arguments already
    validated; index values are range-checked here, before a kernel trusts them)."""

    def _indices(self, indices, plane, what):
        """indices as C-contiguous int64, every value in [0, plane) (a ValueError otherwise)."""
        indices = self.xp.ascontiguousarray(indices, dtype=np.int64)
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= plane):
            raise ValueError(f"{what}: indices must lie in [0, {plane}), got values in "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        return indices

    # -- pooling
    def max_pool2d_forward(self, x, args: PoolArgs):
        x = self._c(x)
        return self._run(plan_max_pool2d_forward(args, x.dtype), x.dtype, "y",
                         (args.N, args.C, args.OH, args.OW), x=x)

    def max_pool2d_forward_indices(self, x, args: PoolArgs):
        x = self._c(x)
        with self.backend.device_scope(x):
            indices = self.xp.empty((args.N, args.C, args.OH, args.OW), np.int64)
        y = self._run(plan_max_pool2d_forward(args, x.dtype, indices=True), x.dtype, "y",
                      (args.N, args.C, args.OH, args.OW), x=x, indices=indices)
        return y, indices

    def max_pool2d_backward(self, gy, x, args: PoolArgs):
        gy, x = self._c(gy), self._c(x)
        return self._run(plan_max_pool2d_backward(args, x.dtype), x.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy, x=x)

    def max_pool2d_backward_indices(self, gy, indices, args: PoolArgs):
        gy, indices = self._c(gy), self._indices(indices, args.H * args.W, "max_pool2d_backward")
        return self._run(plan_max_pool2d_backward_indices(args, gy.dtype), gy.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy, indices=indices)

    def avg_pool2d_forward(self, x, args: PoolArgs, count_include_pad=True, divisor_override=0):
        x = self._c(x)
        return self._run(plan_avg_pool2d_forward(args, x.dtype, count_include_pad, divisor_override), x.dtype,
                         "y", (args.N, args.C, args.OH, args.OW), x=x)

    def avg_pool2d_backward(self, gy, args: PoolArgs, count_include_pad=True, divisor_override=0):
        gy = self._c(gy)
        return self._run(plan_avg_pool2d_backward(args, gy.dtype, count_include_pad, divisor_override), gy.dtype,
                         "gx", (args.N, args.C, args.H, args.W), gy=gy)

    # -- unpooling
    def max_unpool2d_forward(self, x, indices, args: UnpoolArgs):
        x, indices = self._c(x), self._indices(indices, args.OH * args.OW, "max_unpool2d")
        return self._run(plan_max_unpool2d_forward(args, x.dtype), x.dtype, "y",
                         (args.N, args.C, args.OH, args.OW), x=x, indices=indices)

    def max_unpool2d_backward(self, gy, indices, args: UnpoolArgs):
        gy, indices = self._c(gy), self._indices(indices, args.OH * args.OW, "max_unpool2d_backward")
        return self._run(plan_max_unpool2d_backward(args, gy.dtype), gy.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy, indices=indices)
