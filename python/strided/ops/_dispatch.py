"""What every op's dispatcher does before it calls a kernel: accept foreign GPU arrays, pick the backend
from the array type (NumPy -> strided._C, CuPy -> strided.cuda), and hand the C++ kernels C-contiguous
arrays of the call's dtype.

Dispatchers call `_dispatch.backend(...)` through the module, so a test can point the GPU path at the
CUDA grid emulator by replacing this one function.
"""
from __future__ import annotations

import numpy as np

from .._device import from_external, is_gpu_array


def backend(*arrays):
    """None for NumPy inputs (the caller runs strided._C), strided.cuda.kernels() for CuPy inputs; mixing
    the two is an error."""
    arrays = [a for a in arrays if a is not None]
    gpu = [is_gpu_array(a) for a in arrays]
    if any(gpu):
        if not all(gpu):
            raise TypeError("all arrays of one call must live on the same device: got a mix of "
                            + ", ".join(type(a).__module__ + "." + type(a).__name__ for a in arrays))
        from .. import cuda  # lazily: the GPU backend loads when the first GPU array shows up
        return cuda.kernels()
    return None


def external(*arrays):
    """Foreign GPU arrays (__cuda_array_interface__ or DLPack, e.g. torch CUDA tensors) as CuPy, zero-copy."""
    return tuple(None if a is None else from_external(a) for a in arrays)


def contiguous(a, dtype):
    """C-contiguous, aligned, of `dtype`: non-contiguous and negative-stride views are copied once."""
    if a is None or (a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned):  # the common case, fast
        return a
    return np.require(a, dtype, ["C", "A"])
