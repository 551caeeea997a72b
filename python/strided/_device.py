"""Where arrays live: NumPy on the CPU, CuPy on the GPU. The one place that imports CuPy lazily, so
`import strided` never needs it and asking for the GPU without it says which extra to install."""
from __future__ import annotations

import numpy as np

_CUPY_HINT = ('CuPy is not installed: install the GPU extra, pip install "strided[cuda12]" '
              '(CUDA 12) or "strided[cuda13]" (CUDA 13)')


def cupy():
    """The cupy module, or a clear ImportError naming the extra to install."""
    try:
        import cupy as cp
    except ImportError as e:
        raise ImportError(_CUPY_HINT) from e
    return cp


def gpu_status():
    """(usable, one line): whether --device cuda can work here, and the CuPy version and GPUs, or why not
    (CuPy missing: the extra to install; CuPy present but no driver or device: CuPy's reason)."""
    try:
        import cupy as cp
    except ImportError:
        return False, _CUPY_HINT
    try:
        n = cp.cuda.runtime.getDeviceCount()
        names = [cp.cuda.runtime.getDeviceProperties(i)["name"] for i in range(n)]
    except Exception as e:  # CUDARuntimeError and friends: no driver, driver too old, no device
        return False, f"CuPy {cp.__version__} is installed but cannot reach a GPU ({type(e).__name__}: {e})"
    if not n:
        return False, f"CuPy {cp.__version__} is installed but sees no GPU"
    names = [x.decode() if isinstance(x, bytes) else str(x) for x in names]
    return True, f"CuPy {cp.__version__}, {n} GPU(s): {', '.join(names)}"


def is_gpu_array(a) -> bool:
    return type(a) is not np.ndarray and type(a).__module__.split(".")[0] == "cupy"


def array_module(a):
    """numpy or cupy, whichever owns `a` (the `xp` of array-API code)."""
    return cupy() if is_gpu_array(a) else np


def normalize_device(device) -> str:
    name = str(device).lower()
    if name in ("cpu",):
        return "cpu"
    if name == "cuda" or name.startswith("cuda:") or name == "gpu":
        return "cuda"
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def to_device(a, device):
    """Move an array to 'cpu' (NumPy) or 'cuda' (CuPy); a no-op when it is already there."""
    if a is None:
        return None
    if normalize_device(device) == "cuda":
        return cupy().asarray(a)
    return a.get() if is_gpu_array(a) else np.asarray(a)


def from_external(a):
    """Accept foreign GPU arrays zero-copy (__cuda_array_interface__ or DLPack, e.g. torch CUDA tensors)."""
    if is_gpu_array(a) or isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        return cupy().asarray(a)
    if hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__") and a.__dlpack_device__()[0] == 2:
        return cupy().from_dlpack(a)
    return a
