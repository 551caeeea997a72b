"""The GPU backend: hand-written CUDA kernels (csrc/cuda/*.cu) compiled at run time by NVRTC through CuPy.

`kernels()` returns the memoized object the dispatcher of strided.functional calls with already-validated
arguments (strided._shapes.ConvArgs / PoolArgs). Everything that decides how a kernel is launched (which
kernel, grid, block, shared memory, the scalar arguments and their C types, workspace) is planned here, by
plain Python functions that need neither CuPy nor a GPU: `plan_*` return `Launch` records, and a backend
runs them. The CuPy backend launches them on the device; the grid emulator of tests/cuda_emu/ runs the very
same plans on the CPU, so the launch arithmetic exists once.

Sources ship in the wheel as package data under strided/cuda_src/ (a directory strided/cuda/ would clash
with this module); a development checkout falls back to <repo>/csrc/cuda. The tile sizes are read from
csrc/cuda/common.cuh, the one copy the kernels are compiled with.

Convolution algorithms (`algo`, or strided.conv_algorithm(...) around the call):
  'auto'   our kernels, tiled implicit GEMM or direct depending on the shape;
  'tiled'  our tiled implicit-GEMM kernels (shared-memory tiles);
  'direct' our one-thread-per-output kernels (strided.conv_algorithm('simple') maps here);
  'im2col' an explicit column matrix (our kernel) times cupy.matmul (cuBLAS), for comparison; the input
           gradient still uses our gather kernel.
`kernels().default_algo = 'tiled'` (or any of these) overrides the selector for the whole process.

No kernel uses atomics: every output element is summed by one thread in a fixed order, and the split-K
weight gradient splits by the shape alone, so results are bitwise reproducible run to run.
"""
from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from . import _device
from ._shapes import ConvArgs, PoolArgs

SOURCES = ("conv2d.cu", "pool2d.cu")
HEADER = "common.cuh"
KERNELS = {
    "conv2d.cu": ("conv2d_forward_tiled", "conv2d_forward_direct", "conv2d_backward_input",
                  "conv2d_backward_weight_tiled", "conv2d_sum_splits", "conv2d_backward_weight_direct",
                  "conv2d_backward_bias", "conv2d_im2col"),
    "pool2d.cu": ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"),
}
SOURCE_OF = {kernel: source for source, names in KERNELS.items() for kernel in names}
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
ALGORITHMS = ("auto", "tiled", "direct", "im2col")
NVRTC_OPTIONS = ("--std=c++17",)

_MAX_GRID_X = 2 ** 31 - 1
_MAX_GRID_YZ = 65535
_SHARED_BUDGET = 16 * 1024       # bytes of weights staged per block by conv2d_backward_input
_SPLIT_MIN_WORK = 4096           # reduction elements per split of conv2d_backward_weight_tiled
_SPLIT_TARGET_BLOCKS = 1024      # enough blocks to fill a large GPU
_SPLIT_MAX = 64
_WORKSPACE_MAX = 2 ** 27         # elements of partial weight gradients


# ------------------------------------------------------------------------------------------- sources

def source_dir() -> Path:
    """Directory holding the .cu/.cuh sources: strided/cuda_src in a wheel, csrc/cuda in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "cuda_src", here.parent.parent / "csrc" / "cuda"):
        if (candidate / HEADER).is_file():
            return candidate
    raise FileNotFoundError(f"strided's CUDA sources ({HEADER}, {', '.join(SOURCES)}) are missing: looked in "
                            f"{here / 'cuda_src'} and {here.parent.parent / 'csrc' / 'cuda'}")


def load_source(name: str) -> str:
    """The text of one .cu file with its local #include "..." inlined (and #pragma once dropped), so the
    text CuPy hashes for its on-disk cache covers everything that is compiled."""
    folder = source_dir()

    def expand(text, seen):
        out = []
        for line in text.splitlines():
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m:
                inc = m.group(1)
                if inc not in seen:
                    seen.add(inc)
                    out.append(expand((folder / inc).read_text(), seen))
                continue
            if re.match(r"\s*#\s*pragma\s+once\b", line):
                continue
            out.append(line)
        return "\n".join(out)

    return expand((folder / name).read_text(), set()) + "\n"


@functools.lru_cache(maxsize=None)
def tile_constants() -> dict:
    """The `constexpr int kName = value;` constants of common.cuh (tile sizes, block sizes)."""
    text = (source_dir() / HEADER).read_text()
    found = {m.group(1): int(m.group(2)) for m in re.finditer(r"constexpr\s+int\s+(k\w+)\s*=\s*(\d+)\s*;", text)}
    for key in ("kTileM", "kTileN", "kTileK", "kThreads", "kBlock"):
        if key not in found:
            raise RuntimeError(f"{HEADER} lost its constant {key}")
    return found


def name_expressions(source: str):
    """The template instantiations of one source file, as CuPy's name_expressions."""
    return [f"{kernel}<{ctype}>" for kernel in KERNELS[source] for ctype in CTYPES.values()]


# ------------------------------------------------------------------------------------------- plans

class Launch(NamedTuple):
    """One kernel launch. params: a str names a buffer (an array of the op's dtype), None a null pointer,
    NumPy scalars are passed with their C type (np.int64 -> long long, np.int32 -> int)."""
    kernel: str
    grid: tuple
    block: tuple
    shared: int
    params: tuple


class Plan(NamedTuple):
    launches: tuple
    workspace: int = 0          # elements of the op's dtype, buffer "ws"
    zero: bool = False          # the output must be zeros (an empty reduction): nothing is launched


def _cdiv(a, b):
    return -(-a // b)


def _i64(*values):
    return tuple(np.int64(v) for v in values)


def conv_geometry(a: ConvArgs):
    """The CONV_GEOMETRY scalars of conv2d.cu, in order."""
    return _i64(a.N, a.C, a.H, a.W, a.K, a.R, a.S, a.OH, a.OW, a.stride_h, a.stride_w, a.pad_top, a.pad_left,
                a.dil_h, a.dil_w, a.groups)


def pool_geometry(a: PoolArgs):
    """The POOL_GEOMETRY scalars of pool2d.cu, in order."""
    return _i64(a.N, a.C, a.H, a.W, a.OH, a.OW, a.kernel_h, a.kernel_w, a.stride_h, a.stride_w, a.pad_h, a.pad_w)


def _elementwise_grid(total):
    block = tile_constants()["kBlock"]
    return (min(_cdiv(total, block), _MAX_GRID_X), 1, 1), (block, 1, 1)


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
    return (_cdiv(gemm_n, t["kTileN"]) <= _MAX_GRID_X and _cdiv(Kg, t["kTileM"]) <= _MAX_GRID_YZ
            and a.groups <= _MAX_GRID_YZ and small < 2**31)


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
        grid = (_cdiv(a.N * a.OH * a.OW, t["kTileN"]), _cdiv(a.K // a.groups, t["kTileM"]), a.groups)
        return Plan((Launch("conv2d_forward_tiled", grid, (t["kThreads"], 1, 1), _gemm_shared(dtype),
                            ("x", "w", bias, "y") + conv_geometry(a)),))
    if algo == "direct":
        grid, block = _elementwise_grid(a.N * a.K * a.OH * a.OW)
        return Plan((Launch("conv2d_forward_direct", grid, block, 0, ("x", "w", bias, "y") + conv_geometry(a)),))
    raise ValueError(f"plan_conv2d_forward has no plan for {algo!r} (the im2col path is plan_conv2d_im2col)")


def plan_conv2d_im2col(a: ConvArgs, dtype) -> Plan:
    """col (groups, C/groups*R*S, N*OH*OW) = the column matrix of x: buffers x, col."""
    total = a.groups * (a.C // a.groups) * a.R * a.S * a.N * a.OH * a.OW
    if total == 0:
        return Plan(())
    grid, block = _elementwise_grid(total)
    return Plan((Launch("conv2d_im2col", grid, block, 0, ("x", "col") + conv_geometry(a)),))


def plan_conv2d_backward_input(a: ConvArgs, dtype) -> Plan:
    """gx from gy and w: buffers gy, w, gx."""
    if a.N == 0:
        return Plan(())
    block_max = tile_constants()["kBlock"]
    HW, RS, Kg = a.H * a.W, a.R * a.S, a.K // a.groups
    threads = min(block_max, _cdiv(HW, 32) * 32)
    blocks = a.N * a.C * _cdiv(HW, threads)
    if blocks > _MAX_GRID_X:
        raise ValueError(f"conv2d backward_input: {a.N * a.C} planes of {a.H}x{a.W} need more than 2^31-1 "
                         "thread blocks")
    itemsize = np.dtype(dtype).itemsize
    k_chunk = min(Kg, _SHARED_BUDGET // (RS * itemsize))   # 0: kernel too large, weights read from global
    return Plan((Launch("conv2d_backward_input", (blocks, 1, 1), (threads, 1, 1), k_chunk * RS * itemsize,
                        ("gy", "w", "gx") + conv_geometry(a) + _i64(k_chunk)),))


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
    tiles = _cdiv(Kred, t["kTileN"]) * _cdiv(Kg, t["kTileM"]) * a.groups
    splits = max(1, min(_cdiv(_SPLIT_TARGET_BLOCKS, tiles), _cdiv(NP, _SPLIT_MIN_WORK), _SPLIT_MAX,
                        _WORKSPACE_MAX // max(a.K * Kred, 1), _MAX_GRID_YZ // a.groups))
    chunk = _cdiv(_cdiv(NP, splits), t["kTileK"]) * t["kTileK"]
    return _cdiv(NP, chunk), chunk


def plan_conv2d_backward_weight(a: ConvArgs, dtype, algo="auto") -> Plan:
    """gw from gy and x: buffers gy, x, gw (and workspace ws)."""
    algo = weight_algorithm(a, algo)
    if a.N == 0:
        return Plan((), zero=True)
    t = tile_constants()
    if algo == "direct":
        total = a.K * (a.C // a.groups) * a.R * a.S
        if total > _MAX_GRID_X:
            raise ValueError(f"conv2d backward_weight: {total} weights need more than 2^31-1 thread blocks")
        return Plan((Launch("conv2d_backward_weight_direct", (total, 1, 1), (t["kBlock"], 1, 1),
                            t["kBlock"] * np.dtype(dtype).itemsize, ("gy", "x", "gw") + conv_geometry(a)),))
    if algo != "tiled":
        raise ValueError(f"plan_conv2d_backward_weight has no plan for {algo!r}")
    Kred = (a.C // a.groups) * a.R * a.S
    splits, chunk = weight_splits(a)
    grid = (_cdiv(Kred, t["kTileN"]), _cdiv(a.K // a.groups, t["kTileM"]), a.groups * splits)
    out = "gw" if splits == 1 else "ws"
    launches = [Launch("conv2d_backward_weight_tiled", grid, (t["kThreads"], 1, 1), _gemm_shared(dtype),
                       ("gy", "x", out) + conv_geometry(a) + _i64(chunk))]
    if splits == 1:
        return Plan(tuple(launches))
    length = a.K * Kred
    grid, block = _elementwise_grid(length)
    launches.append(Launch("conv2d_sum_splits", grid, block, 0, ("ws", "gw") + _i64(length, splits)))
    return Plan(tuple(launches), workspace=splits * length)


def plan_conv2d_backward_bias(a: ConvArgs, dtype) -> Plan:
    """gb from gy: buffers gy, gb."""
    if a.N == 0:
        return Plan((), zero=True)
    if a.K > _MAX_GRID_X:
        raise ValueError(f"conv2d backward_bias: {a.K} channels need more than 2^31-1 thread blocks")
    block = tile_constants()["kBlock"]
    return Plan((Launch("conv2d_backward_bias", (a.K, 1, 1), (block, 1, 1), block * np.dtype(dtype).itemsize,
                        ("gy", "gb") + _i64(a.N, a.K, a.OH * a.OW)),))


def _plan_pool(kernel, a: PoolArgs, total, buffers, extra=()):
    if total == 0:
        return Plan(())
    grid, block = _elementwise_grid(total)
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


# ------------------------------------------------------------------------------------------- execution

class CupyBackend:
    """Runs plans on the current CUDA device; one NVRTC-compiled module per (device, source), built on
    first use (CuPy's on-disk kernel cache makes later processes start fast)."""

    def __init__(self):
        self.xp = _device.cupy()
        self._modules = {}
        self._functions = {}
        self._lock = threading.Lock()

    def _module(self, source):
        cp = self.xp
        key = (cp.cuda.Device().id, source)
        module = self._modules.get(key)
        if module is None:
            with self._lock:
                module = self._modules.get(key)
                if module is None:
                    module = cp.RawModule(code=load_source(source), options=NVRTC_OPTIONS,
                                          name_expressions=name_expressions(source))
                    if hasattr(module, "compile"):
                        module.compile()  # now, so a compile error names the source up front
                    self._modules[key] = module
        return module

    def _function(self, name):
        key = (self.xp.cuda.Device().id, name)
        function = self._functions.get(key)
        if function is None:
            kernel = name.split("<")[0]
            function = self._module(SOURCE_OF[kernel]).get_function(name)
            self._functions[key] = function
        return function

    def device_scope(self, array):
        """Allocate and launch on the device that holds `array`."""
        return array.device

    def launch(self, launch: Launch, ctype: str, buffers: dict):
        kernel = self._function(f"{launch.kernel}<{ctype}>")
        # None is a null pointer: 8 zero bytes (np.uint64(0)), which every CuPy version passes by value.
        params = tuple(np.uint64(0) if p is None else buffers[p] if isinstance(p, str) else p
                       for p in launch.params)
        kernel(tuple(int(g) for g in launch.grid), tuple(int(b) for b in launch.block), params,
               shared_mem=int(launch.shared))


class Kernels:
    """The GPU ops the dispatcher calls (arguments already validated). `backend` runs the plans: CupyBackend
    on a GPU; the test suite passes its grid emulator (with NumPy as `xp`)."""

    def __init__(self, backend, default_algo: Optional[str] = None):
        self.backend = backend
        self.xp = backend.xp
        self.default_algo = default_algo  # None: follow strided.conv_algorithm(...)

    # -- helpers
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

    def _algo(self, algo):
        if algo is None:
            algo = self.default_algo
        if algo is None:
            from .functional import _conv_algorithm  # the CPU selector: 'simple' means our direct kernels
            algo = {"simple": "direct"}.get(_conv_algorithm.get(), _conv_algorithm.get())
        _check_algo(algo)
        return algo

    # -- convolution
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


_instance = None
_instance_lock = threading.Lock()


def kernels() -> Kernels:
    """The GPU kernels (memoized; each op runs on the device of its arrays, and the CUDA modules are
    compiled once per device and process, on first use)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = Kernels(CupyBackend())
    return _instance


__all__ = ["kernels", "Kernels", "CupyBackend", "Launch", "Plan", "load_source", "source_dir",
           "name_expressions", "tile_constants", "KERNELS", "ALGORITHMS"]
