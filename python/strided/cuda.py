"""The GPU backend: hand-written CUDA kernels (csrc/cuda/*.cu) compiled at run time by NVRTC through CuPy.

`kernels()` returns the memoized `Kernels` object the dispatchers of strided.ops call with already
validated arguments (ConvArgs / PoolArgs). `Kernels` composes each op family's GPU ops (ConvKernels of
strided/ops/conv2d/cuda.py, PoolKernels of strided/ops/pool2d/cuda.py, where their launch plans live)
over a backend that runs the plans: `CupyBackend` here, or the grid emulator of tests/cuda_emu/.

The family modules declare which .cu source holds their kernels; this module gathers them into the
registry CuPy compiles from (one NVRTC module per source and device, each template instantiated for
float and double). The launch records and source loading are in strided/_cuda/.
"""
from __future__ import annotations

import threading

import numpy as np

from . import _device
from ._cuda.launch import Launch, Plan
from ._cuda.sources import CTYPES, HEADER, NVRTC_OPTIONS, load_source, source_dir, tile_constants
from .ops.conv2d import cuda as _conv
from .ops.conv2d.cuda import ALGORITHMS, ConvKernels
from .ops.interp import cuda as _interp
from .ops.interp.cuda import InterpKernels
from .ops.norm import cuda as _norm
from .ops.norm.cuda import NormKernels
from .ops.pool2d import cuda as _pool
from .ops.pool2d.cuda import PoolKernels

KERNELS = {family.SOURCE: family.KERNELS for family in (_conv, _pool, _interp, _norm)}
SOURCES = tuple(KERNELS)
SOURCE_OF = {kernel: source for source, names in KERNELS.items() for kernel in names}


def name_expressions(source: str):
    """The template instantiations of one source file, as CuPy's name_expressions."""
    return [f"{kernel}<{ctype}>" for kernel in KERNELS[source] for ctype in CTYPES.values()]


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


class Kernels(ConvKernels, PoolKernels, InterpKernels, NormKernels):
    """The GPU ops the dispatchers call (arguments already validated), one base class per op family.
    `default_algo` forces one conv algorithm (see ALGORITHMS) for every call; None follows
    strided.conv_algorithm(...) (ConvKernels.__init__ takes it)."""


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
           "name_expressions", "tile_constants", "KERNELS", "SOURCES", "SOURCE_OF", "HEADER", "CTYPES",
           "NVRTC_OPTIONS", "ALGORITHMS"]
