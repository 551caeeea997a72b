"""Pooling on the GPU: the launch plans of the kernels of csrc/cuda/pool2d.cu (one thread per output,
backward gathering over the windows that cover each input) and `PoolKernels`, the ops that run them."""
from __future__ import annotations

import numpy as np

from ..._cuda.launch import KernelRunner, Launch, Plan, elementwise_grid, i64
from .args import PoolArgs

SOURCE = "pool2d.cu"
KERNELS = ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward")


def pool_geometry(a: PoolArgs):
    """The POOL_GEOMETRY scalars of pool2d.cu, in order."""
    return i64(a.N, a.C, a.H, a.W, a.OH, a.OW, a.kernel_h, a.kernel_w, a.stride_h, a.stride_w, a.pad_h, a.pad_w)


def _plan_pool(kernel, a: PoolArgs, total, buffers, extra=()):
    if total == 0:
        return Plan(())
    grid, block = elementwise_grid(total)
    return Plan((Launch(kernel, grid, block, 0, buffers + pool_geometry(a) + extra),))


def plan_max_pool2d_forward(a: PoolArgs, dtype) -> Plan:
    return _plan_pool("max_pool2d_forward", a, a.N * a.C * a.OH * a.OW, ("x", "y"))


def plan_max_pool2d_backward(a: PoolArgs, dtype) -> Plan:
    return _plan_pool("max_pool2d_backward", a, a.N * a.C * a.H * a.W, ("gy", "x", "gx"))


def plan_avg_pool2d_forward(a: PoolArgs, dtype, count_include_pad) -> Plan:
    return _plan_pool("avg_pool2d_forward", a, a.N * a.C * a.OH * a.OW, ("x", "y"),
                      (np.int32(bool(count_include_pad)),))


def plan_avg_pool2d_backward(a: PoolArgs, dtype, count_include_pad) -> Plan:
    return _plan_pool("avg_pool2d_backward", a, a.N * a.C * a.H * a.W, ("gy", "gx"),
                      (np.int32(bool(count_include_pad)),))


class PoolKernels(KernelRunner):
    """Max and average pooling, forward and backward, on the GPU (arguments already validated)."""

    # -- pooling
    def max_pool2d_forward(self, x, args: PoolArgs):
        x = self._c(x)
        return self._run(plan_max_pool2d_forward(args, x.dtype), x.dtype, "y",
                         (args.N, args.C, args.OH, args.OW), x=x)

    def max_pool2d_backward(self, gy, x, args: PoolArgs):
        gy, x = self._c(gy), self._c(x)
        return self._run(plan_max_pool2d_backward(args, x.dtype), x.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy, x=x)

    def avg_pool2d_forward(self, x, args: PoolArgs, count_include_pad=True):
        x = self._c(x)
        return self._run(plan_avg_pool2d_forward(args, x.dtype, count_include_pad), x.dtype, "y",
                         (args.N, args.C, args.OH, args.OW), x=x)

    def avg_pool2d_backward(self, gy, args: PoolArgs, count_include_pad=True):
        gy = self._c(gy)
        return self._run(plan_avg_pool2d_backward(args, gy.dtype, count_include_pad), gy.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy)
