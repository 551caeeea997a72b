"""conv2d on the GPU: the launch plans of the kernels of csrc/cuda/conv2d.cu and `ConvKernels`, the ops
that run them (strided.cuda.Kernels composes them with the other families').

Everything that decides how a kernel is launched (which kernel, grid, block, shared memory, the scalar
arguments and their C types, workspace) is planned here by plain functions that need neither CuPy nor a
GPU; the CuPy backend and the grid emulator of tests/cuda_emu/ run the same plans.

Algorithms (`algo`, or strided.conv_algorithm(...) around the call):
  'auto'   our kernels, tiled implicit GEMM or direct depending on the shape;
  'tiled'  our tiled implicit-GEMM kernels (shared-memory tiles);
  'direct' our one-thread-per-output kernels (strided.conv_algorithm('simple') maps here);
  'im2col' an explicit column matrix (our kernel) times cupy.matmul (cuBLAS), for comparison; the input
           gradient still uses our gather kernel.
`Kernels(..., default_algo='tiled')` (or `kernels().default_algo = ...`) overrides the selector for the
whole process.

No kernel uses atomics: every output element is summed by one thread in a fixed order, and the split-K
weight gradient splits by the shape alone, so results are bitwise reproducible run to run.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..._cuda.launch import MAX_GRID_X, MAX_GRID_YZ, KernelRunner, Launch, Plan, cdiv, elementwise_grid, i64
from ..._cuda.sources import tile_constants
from .. import _algorithm
from .args import ConvArgs

SOURCE = "conv2d.cu"
KERNELS = ("conv2d_forward_tiled", "conv2d_forward_direct", "conv2d_backward_input",
           "conv2d_backward_weight_tiled", "conv2d_sum_splits", "conv2d_backward_weight_direct",
           "conv2d_backward_bias", "conv2d_im2col")
ALGORITHMS = ("auto", "tiled", "direct", "im2col")

_SHARED_BUDGET = 16 * 1024       # bytes of weights staged per block by conv2d_backward_input
_SPLIT_MIN_WORK = 4096           # reduction elements per split of conv2d_backward_weight_tiled
_SPLIT_TARGET_BLOCKS = 1024      # enough blocks to fill a large GPU
_SPLIT_MAX = 64
_WORKSPACE_MAX = 2 ** 27         # elements of partial weight gradients


def conv_geometry(a: ConvArgs):
    """The CONV_GEOMETRY scalars of conv2d.cu, in order."""
    return i64(a.N, a.C, a.H, a.W, a.K, a.R, a.S, a.OH, a.OW, a.stride_h, a.stride_w, a.pad_top, a.pad_left,
               a.dil_h, a.dil_w, a.groups)


def _check_algo(algo):
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown GPU conv algorithm {algo!r}; choose from {ALGORITHMS}")


def _gemm_shared(dtype):
    t = tile_constants()
    return t["kTileK"] * (t["kTileM"] + 1 + t["kTileN"] + 1) * np.dtype(dtype).itemsize


def _tiled_fits(a: ConvArgs, gemm_n):
    """The tiled kernels' grid fits CUDA's limits and their 32-bit quantities (a tap index q < C/groups*R*S,
    a pixel of one image, padded extents, dilated taps) fit an int."""
    t = tile_constants()
    Kg, Kred = a.K // a.groups, (a.C // a.groups) * a.R * a.S
    small = max(Kred, a.OH * a.OW, a.H + a.pad_top + a.pad_bottom + a.dil_h * a.R,
                a.W + a.pad_left + a.pad_right + a.dil_w * a.S, a.OH * a.stride_h, a.OW * a.stride_w)
    return (cdiv(gemm_n, t["kTileN"]) <= MAX_GRID_X and cdiv(Kg, t["kTileM"]) <= MAX_GRID_YZ
            and a.groups <= MAX_GRID_YZ and small < 2**31)


def forward_algorithm(a: ConvArgs, algo="auto"):
    """'tiled' or 'direct' (or 'im2col' when asked for): the kernel that computes conv2d forward."""
    _check_algo(algo)
    if algo == "auto":
        Kg, Kred = a.K // a.groups, (a.C // a.groups) * a.R * a.S
        algo = "tiled" if Kg >= 16 and Kred >= 8 else "direct"
    if algo == "tiled" and not _tiled_fits(a, a.N * a.OH * a.OW):
        algo = "direct"
    return algo


def plan_conv2d_forward(a: ConvArgs, dtype, has_bias, algo="auto") -> Plan:
    """y = conv2d(x, w, b): buffers x, w, b (or None), y."""
    algo = forward_algorithm(a, algo)
    if a.N == 0:
        return Plan(())
    t = tile_constants()
    bias = "b" if has_bias else None
    if algo == "tiled":
        grid = (cdiv(a.N * a.OH * a.OW, t["kTileN"]), cdiv(a.K // a.groups, t["kTileM"]), a.groups)
        return Plan((Launch("conv2d_forward_tiled", grid, (t["kThreads"], 1, 1), _gemm_shared(dtype),
                            ("x", "w", bias, "y") + conv_geometry(a)),))
    if algo == "direct":
        grid, block = elementwise_grid(a.N * a.K * a.OH * a.OW)
        return Plan((Launch("conv2d_forward_direct", grid, block, 0, ("x", "w", bias, "y") + conv_geometry(a)),))
    raise ValueError(f"plan_conv2d_forward has no plan for {algo!r} (the im2col path is plan_conv2d_im2col)")


def plan_conv2d_im2col(a: ConvArgs, dtype) -> Plan:
    """col (groups, C/groups*R*S, N*OH*OW) = the column matrix of x: buffers x, col."""
    total = a.groups * (a.C // a.groups) * a.R * a.S * a.N * a.OH * a.OW
    if total == 0:
        return Plan(())
    grid, block = elementwise_grid(total)
    return Plan((Launch("conv2d_im2col", grid, block, 0, ("x", "col") + conv_geometry(a)),))


def plan_conv2d_backward_input(a: ConvArgs, dtype) -> Plan:
    """gx from gy and w: buffers gy, w, gx."""
    if a.N == 0:
        return Plan(())
    block_max = tile_constants()["kBlock"]
    HW, RS, Kg = a.H * a.W, a.R * a.S, a.K // a.groups
    threads = min(block_max, cdiv(HW, 32) * 32)
    blocks = a.N * a.C * cdiv(HW, threads)
    if blocks > MAX_GRID_X:
        raise ValueError(f"conv2d backward_input: {a.N * a.C} planes of {a.H}x{a.W} need more than 2^31-1 "
                         "thread blocks")
    itemsize = np.dtype(dtype).itemsize
    k_chunk = min(Kg, _SHARED_BUDGET // (RS * itemsize))   # 0: kernel too large, weights read from global
    return Plan((Launch("conv2d_backward_input", (blocks, 1, 1), (threads, 1, 1), k_chunk * RS * itemsize,
                        ("gy", "w", "gx") + conv_geometry(a) + i64(k_chunk)),))


def weight_algorithm(a: ConvArgs, algo="auto"):
    """'tiled' or 'direct' (or 'im2col' when asked for): the kernel that computes the weight gradient."""
    _check_algo(algo)
    if algo == "auto":
        Kg, Kred = a.K // a.groups, (a.C // a.groups) * a.R * a.S
        algo = "tiled" if Kg >= 16 and Kred >= 16 else "direct"
    if algo == "tiled" and not _tiled_fits(a, (a.C // a.groups) * a.R * a.S):
        algo = "direct"
    return algo


def weight_splits(a: ConvArgs):
    """(splits, chunk): the sum over p = (n, oh, ow) of the weight gradient is cut into `splits` chunks of
    `chunk` pixels (a multiple of kTileK), a function of the shape alone, so results are reproducible."""
    t = tile_constants()
    Kg, Kred, NP = a.K // a.groups, (a.C // a.groups) * a.R * a.S, a.N * a.OH * a.OW
    tiles = cdiv(Kred, t["kTileN"]) * cdiv(Kg, t["kTileM"]) * a.groups
    splits = max(1, min(cdiv(_SPLIT_TARGET_BLOCKS, tiles), cdiv(NP, _SPLIT_MIN_WORK), _SPLIT_MAX,
                        _WORKSPACE_MAX // max(a.K * Kred, 1), MAX_GRID_YZ // a.groups))
    chunk = cdiv(cdiv(NP, splits), t["kTileK"]) * t["kTileK"]
    return cdiv(NP, chunk), chunk


def plan_conv2d_backward_weight(a: ConvArgs, dtype, algo="auto") -> Plan:
    """gw from gy and x: buffers gy, x, gw (and workspace ws)."""
    algo = weight_algorithm(a, algo)
    if a.N == 0:
        return Plan((), zero=True)
    t = tile_constants()
    if algo == "direct":
        total = a.K * (a.C // a.groups) * a.R * a.S
        if total > MAX_GRID_X:
            raise ValueError(f"conv2d backward_weight: {total} weights need more than 2^31-1 thread blocks")
        return Plan((Launch("conv2d_backward_weight_direct", (total, 1, 1), (t["kBlock"], 1, 1),
                            t["kBlock"] * np.dtype(dtype).itemsize, ("gy", "x", "gw") + conv_geometry(a)),))
    if algo != "tiled":
        raise ValueError(f"plan_conv2d_backward_weight has no plan for {algo!r}")
    Kred = (a.C // a.groups) * a.R * a.S
    splits, chunk = weight_splits(a)
    grid = (cdiv(Kred, t["kTileN"]), cdiv(a.K // a.groups, t["kTileM"]), a.groups * splits)
    out = "gw" if splits == 1 else "ws"
    launches = [Launch("conv2d_backward_weight_tiled", grid, (t["kThreads"], 1, 1), _gemm_shared(dtype),
                       ("gy", "x", out) + conv_geometry(a) + i64(chunk))]
    if splits == 1:
        return Plan(tuple(launches))
    length = a.K * Kred
    grid, block = elementwise_grid(length)
    launches.append(Launch("conv2d_sum_splits", grid, block, 0, ("ws", "gw") + i64(length, splits)))
    return Plan(tuple(launches), workspace=splits * length)


def plan_conv2d_backward_bias(a: ConvArgs, dtype) -> Plan:
    """gb from gy: buffers gy, gb."""
    if a.N == 0:
        return Plan((), zero=True)
    if a.K > MAX_GRID_X:
        raise ValueError(f"conv2d backward_bias: {a.K} channels need more than 2^31-1 thread blocks")
    block = tile_constants()["kBlock"]
    return Plan((Launch("conv2d_backward_bias", (a.K, 1, 1), (block, 1, 1), block * np.dtype(dtype).itemsize,
                        ("gy", "gb") + i64(a.N, a.K, a.OH * a.OW)),))


class ConvKernels(KernelRunner):
    """conv2d forward and its three gradients on the GPU (arguments already validated)."""

    def __init__(self, backend, default_algo: Optional[str] = None):
        super().__init__(backend)
        self.default_algo = default_algo  # None: follow strided.conv_algorithm(...)

    def _algo(self, algo):
        if algo is None:
            algo = self.default_algo
        if algo is None:
            chosen = _algorithm.current()  # the CPU selector's name: 'simple' means our direct kernels
            algo = {"simple": "direct"}.get(chosen, chosen)
        _check_algo(algo)
        return algo

    def conv2d_forward(self, x, w, b, args: ConvArgs, algo: Optional[str] = None):
        x, w, b = self._c(x), self._c(w), self._c(b)
        algo, shape = self._algo(algo), (args.N, args.K, args.OH, args.OW)
        if algo == "im2col":
            return self._conv2d_forward_im2col(x, w, b, args)
        return self._run(plan_conv2d_forward(args, x.dtype, b is not None, algo), x.dtype, "y", shape,
                         x=x, w=w, b=b)

    def im2col(self, x, args: ConvArgs):
        """The column matrix (groups, C/groups*R*S, N*OH*OW) of x."""
        x = self._c(x)
        G, Kred = args.groups, (args.C // args.groups) * args.R * args.S
        return self._run(plan_conv2d_im2col(args, x.dtype), x.dtype, "col",
                         (G, Kred, args.N * args.OH * args.OW), x=x)

    def _conv2d_forward_im2col(self, x, w, b, args):
        G, Kg, P = args.groups, args.K // args.groups, args.OH * args.OW
        col = self.im2col(x, args)
        with self.backend.device_scope(x):
            yg = self.xp.matmul(w.reshape(G, Kg, -1), col)  # (G, Kg, N*P)
            y = yg.reshape(G, Kg, args.N, P).transpose(2, 0, 1, 3).reshape(args.N, args.K, args.OH, args.OW)
            y = self.xp.ascontiguousarray(y)
            if b is not None:
                y += b.reshape(1, -1, 1, 1)
        return y

    def conv2d_backward_input(self, gy, w, args: ConvArgs, algo: Optional[str] = None):
        gy, w = self._c(gy), self._c(w)
        return self._run(plan_conv2d_backward_input(args, gy.dtype), gy.dtype, "gx",
                         (args.N, args.C, args.H, args.W), gy=gy, w=w)

    def conv2d_backward_weight(self, gy, x, args: ConvArgs, algo: Optional[str] = None):
        gy, x, algo = self._c(gy), self._c(x), self._algo(algo)
        shape = (args.K, args.C // args.groups, args.R, args.S)
        if algo == "im2col":
            G, Kg, P = args.groups, args.K // args.groups, args.OH * args.OW
            col = self.im2col(x, args)  # (G, Kred, N*P)
            with self.backend.device_scope(x):
                gyg = gy.reshape(args.N, G, Kg, P).transpose(1, 2, 0, 3).reshape(G, Kg, args.N * P)
                return self.xp.ascontiguousarray(self.xp.matmul(gyg, col.transpose(0, 2, 1)).reshape(shape))
        return self._run(plan_conv2d_backward_weight(args, gy.dtype, algo), gy.dtype, "gw", shape, gy=gy, x=x)

    def conv2d_backward_bias(self, gy, args: ConvArgs):
        gy = self._c(gy)
        return self._run(plan_conv2d_backward_bias(args, gy.dtype), gy.dtype, "gb", (args.K,), gy=gy)
