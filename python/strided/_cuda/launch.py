"""Kernel launches as data: a `Launch` record (kernel, grid, block, shared memory, parameters) and a
`Plan` of them, the grid helpers every family's planner uses, and `KernelRunner`, the base of the GPU
ops, which allocates the outputs and hands a plan's launches to its backend.

Plans are made by plain Python functions (each family's cuda.py) that need neither CuPy nor a GPU: the
CuPy backend launches them on the device, the grid emulator of tests/cuda_emu/ runs the very same plans
on the CPU, so the launch arithmetic exists once.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .sources import CTYPES, tile_constants

MAX_GRID_X = 2 ** 31 - 1
MAX_GRID_YZ = 65535


class Launch(NamedTuple):
    """One kernel launch. params: a str names a buffer (an array of the op's dtype, or int64 indices), None a
    null pointer, NumPy scalars are passed with their C type (np.int64 -> long long, np.int32 -> int)."""
    kernel: str
    grid: tuple
    block: tuple
    shared: int
    params: tuple


class Plan(NamedTuple):
    launches: tuple
    workspace: int = 0          # elements of the op's dtype, buffer "ws"
    zero: bool = False          # the output starts as zeros (an empty reduction, or a scatter's target)


def cdiv(a, b):
    return -(-a // b)


def i64(*values):
    return tuple(np.int64(v) for v in values)


def elementwise_grid(total):
    """(grid, block) of one thread per element, blocks of kBlock threads, the grid capped at CUDA's x
    limit (the kernels stride over what remains)."""
    block = tile_constants()["kBlock"]
    return (min(cdiv(total, block), MAX_GRID_X), 1, 1), (block, 1, 1)


class KernelRunner:
    """What every family's GPU ops share: `backend` runs the plans (CupyBackend on a GPU; the test suite
    passes its grid emulator, with NumPy as `xp`)."""

    def __init__(self, backend):
        self.backend = backend
        self.xp = backend.xp

    def _c(self, a):
        return None if a is None else self.xp.ascontiguousarray(a)

    def _run(self, plan: Plan, dtype, out_name, out_shape, **buffers):
        xp = self.xp
        with self.backend.device_scope(next(a for a in buffers.values() if a is not None)):
            out = (xp.zeros if plan.zero else xp.empty)(out_shape, dtype)
            buffers[out_name] = out
            if plan.workspace:
                buffers["ws"] = xp.empty(plan.workspace, dtype)
            ctype = CTYPES[np.dtype(dtype)]
            for launch in plan.launches:
                self.backend.launch(launch, ctype, buffers)
        return out
