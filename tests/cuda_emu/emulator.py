"""Build and drive the grid emulator (emu.cpp) that runs csrc/cuda/*.cu on the CPU.

`build(folder)` compiles the harness with g++ into `folder` (cached by a hash of every input);
`EmuBackend(lib)` is a backend for strided.cuda.Kernels: it runs the same Launch plans the op families
make for CuPy (strided/ops/*/cuda.py), on NumPy arrays (of the op's dtype, or int64 indices), checking each launch against the kernel's C
signature and every buffer against out-of-bounds writes (guard zones), with outputs pre-filled with NaN so
an element no thread writes shows.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from strided import cuda

HERE = Path(__file__).resolve().parent
GUARD = 64  # elements of guard zone before and after every buffer
_SENTINEL = {np.dtype(np.float32): np.uint32(0x7FC0DEAD), np.dtype(np.float64): np.uint64(0x7FF8DEADBEEFDEAD),
             np.dtype(np.int64): np.uint64(0x8000DEADBEEFDEAD)}
_UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64, np.dtype(np.int64): np.uint64}
_DTYPE_OF_CTYPE = {v: k for k, v in cuda.CTYPES.items()}
_CTYPE_OF_CODE = {"q": ctypes.c_longlong, "i": ctypes.c_int, "f": ctypes.c_float, "d": ctypes.c_double}


class EmuError(RuntimeError):
    pass


def compiler():
    return shutil.which(os.environ.get("CXX", "g++"))


def registry_text():
    names = [n for source in cuda.SOURCES for n in cuda.name_expressions(source)]
    return "".join(f"EMU_KERNEL({n})\n" for n in names)


def build(folder, defines=()) -> Path:
    """Compile the harness into folder (reused while no input changes); returns the shared library.
    defines: extra -D macros (EMU_USE_UCONTEXT selects the portable ucontext context switch)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = cuda.source_dir()
    inputs = [HERE / "emu_runtime.h", HERE / "emu.cpp", src / cuda.HEADER] + [src / s for s in cuda.SOURCES]
    registry = registry_text()
    digest = hashlib.sha256((registry + repr(sorted(defines))).encode())
    for p in inputs:
        digest.update(p.read_bytes())
    lib = folder / f"libstrided_emu_{digest.hexdigest()[:16]}.so"
    if not lib.exists():
        (folder / "registry.inc").write_text(registry)
        tmp = lib.with_suffix(".tmp.so")
        # Hidden visibility and no GNU unique symbols: two builds (say, asm and ucontext switches) loaded in
        # one process must not share their inline state through the dynamic linker.
        cmd = [compiler(), "-std=c++17", "-O1", "-g0", "-shared", "-fPIC", "-Wall", "-Wno-unknown-pragmas",
               "-Werror", "-fvisibility=hidden", "-fno-gnu-unique", *[f"-D{d}" for d in defines], f"-I{HERE}", f"-I{src}", f"-I{folder}", str(HERE / "emu.cpp"), "-o", str(tmp)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        tmp.rename(lib)
    return lib


class Library:
    def __init__(self, path):
        self.dll = ctypes.CDLL(str(path))
        self.dll.emu_kernel_name.restype = ctypes.c_char_p
        self.dll.emu_kernel_signature.restype = ctypes.c_char_p
        self.dll.emu_launch.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                        ctypes.c_ulonglong, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                        ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_int]
        self.kernels = {}
        for i in range(self.dll.emu_kernel_count()):
            self.kernels[self.dll.emu_kernel_name(i).decode()] = (i, self.dll.emu_kernel_signature(i).decode())

    def counters(self):
        b, s = ctypes.c_ulonglong(), ctypes.c_ulonglong()
        self.dll.emu_counters(ctypes.byref(b), ctypes.byref(s))
        return b.value, s.value


class _PoisonedNumpy:
    """numpy, except that `empty` fills with NaN: an output element no thread writes cannot pass."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=np.float64):
        if np.dtype(dtype).kind in "iu":  # indices: a value no kernel writes
            return np.full(shape, np.iinfo(dtype).min, dtype)
        return np.full(shape, np.nan, dtype)


class EmuBackend:
    """strided.cuda backend that runs each Launch on the emulator. order: 0 ascending, 1 descending,
    2 shuffled threads/blocks (seed)."""

    xp = _PoisonedNumpy()

    def __init__(self, lib: Library, order=0, seed=0):
        self.lib, self.order, self.seed = lib, order, seed
        self.log = []  # (kernel, grid, block, shared) of every launch

    def device_scope(self, array):
        return contextlib.nullcontext()

    def launch(self, launch: cuda.Launch, ctype: str, buffers: dict):
        name = f"{launch.kernel}<{ctype}>" if ctype else launch.kernel
        if name not in self.lib.kernels:
            raise EmuError(f"{name} is not instantiated (not in strided.cuda.name_expressions)")
        index, signature = self.lib.kernels[name]
        if len(signature) != len(launch.params):
            raise EmuError(f"{name} takes {len(signature)} parameters ({signature}), the plan passes "
                           f"{len(launch.params)}")
        dtype = _DTYPE_OF_CTYPE.get(ctype, np.dtype(np.float64))
        keep, guarded = [], []
        for pos, (code, p) in enumerate(zip(signature, launch.params)):
            if p is None or isinstance(p, str):
                if code != "p":
                    raise EmuError(f"{name} parameter {pos}: pointer passed for '{code}'")
                if p is None:
                    keep.append(ctypes.c_void_p(None))
                    continue
                arr = buffers[p]
                kind = np.dtype(np.int64) if arr.dtype == np.int64 else dtype  # int64: pooling's indices
                if arr.dtype != kind or not arr.flags.c_contiguous:
                    raise EmuError(f"{name} parameter {pos} ({p}): {arr.dtype}, contiguous={arr.flags.c_contiguous}")
                big = np.empty(arr.size + 2 * GUARD, kind)
                big.view(_UINT[kind])[:] = _SENTINEL[kind]
                big[GUARD:GUARD + arr.size] = arr.reshape(-1)
                guarded.append((p, arr, big))
                keep.append(ctypes.c_void_p(big.ctypes.data + GUARD * kind.itemsize))
            else:
                want = {"q": np.int64, "i": np.int32, "f": np.float32, "d": np.float64}.get(code)
                if want is None or not isinstance(p, np.generic) or p.dtype != np.dtype(want):
                    raise EmuError(f"{name} parameter {pos}: {type(p).__name__} {getattr(p, 'dtype', '')} passed "
                                   f"for '{code}'")
                keep.append(_CTYPE_OF_CODE[code](p.item()))
        params = (ctypes.c_void_p * len(keep))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in keep])
        grid = (ctypes.c_uint * 3)(*launch.grid)
        block = (ctypes.c_uint * 3)(*launch.block)
        err = ctypes.create_string_buffer(512)
        rc = self.lib.dll.emu_launch(index, grid, block, launch.shared, params, self.order, self.seed, err, 512)
        if rc:
            raise EmuError(f"{name} grid {launch.grid} block {launch.block}: {err.value.decode()}")
        for p, arr, big in guarded:
            bits = big.view(_UINT[big.dtype])
            sentinel = _SENTINEL[big.dtype]
            if (bits[:GUARD] != sentinel).any() or (bits[GUARD + arr.size:] != sentinel).any():
                raise EmuError(f"{name} wrote outside buffer {p!r}")
            arr.reshape(-1)[:] = big[GUARD:GUARD + arr.size]
        self.log.append((launch.kernel, launch.grid, launch.block, launch.shared))


def emulated_kernels(lib: Library, algo=None, order=0, seed=0) -> cuda.Kernels:
    """strided.cuda.Kernels running on the emulator; algo forces a conv algorithm ('tiled', 'direct', ...)."""
    return cuda.Kernels(EmuBackend(lib, order, seed), default_algo=algo)
