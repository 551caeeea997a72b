"""The CUDA sources: where they are, their text as NVRTC compiles it (local headers inlined), the tile
constants of common.cuh, and the C types each kernel template is instantiated for.

Sources ship in the wheel as package data under strided/cuda_src/ (a directory strided/cuda/ would clash
with the strided.cuda module); a development checkout falls back to <repo>/csrc/cuda. The tile sizes are
read from csrc/cuda/common.cuh, the one copy the kernels are compiled with.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

HEADER = "common.cuh"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NVRTC_OPTIONS = ("--std=c++17",)


def source_dir() -> Path:
    """Directory holding the .cu/.cuh sources: strided/cuda_src in a wheel, csrc/cuda in a checkout."""
    package = Path(__file__).resolve().parent.parent  # strided/
    for candidate in (package / "cuda_src", package.parent.parent / "csrc" / "cuda"):
        if (candidate / HEADER).is_file():
            return candidate
    raise FileNotFoundError(f"strided's CUDA sources ({HEADER} and the .cu files) are missing: looked in "
                            f"{package / 'cuda_src'} and {package.parent.parent / 'csrc' / 'cuda'}")


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
