"""What every op's dispatcher does before it calls a kernel: accept foreign GPU arrays, pick the backend
from the array type (NumPy -> strided._C, CuPy -> strided.cuda), and hand the C++ kernels C-contiguous
arrays of the call's dtype; and `unbatched`, which lets every op take one unbatched sample as PyTorch does.

Dispatchers call `_dispatch.backend(...)` through the module, so a test can point the GPU path at the
CUDA grid emulator by replacing this one function.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .._device import from_external, is_gpu_array


def _numpy(arrays):
    """Whether every array is a NumPy array or None: the common case, checked first in few bytecodes
    (a loop, not all() over a generator) because it runs before every kernel."""
    for a in arrays:
        if type(a) is not np.ndarray and a is not None:
            return False
    return True


def backend(*arrays):
    """None for NumPy inputs (the caller runs strided._C), strided.cuda.kernels() for CuPy inputs; mixing
    the two is an error."""
    if _numpy(arrays):
        return None
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
    if _numpy(arrays):
        return arrays
    return tuple(None if a is None else from_external(a) for a in arrays)


def contiguous(a, dtype):
    """C-contiguous, aligned, of `dtype`: non-contiguous and negative-stride views are copied once."""
    if a is None or (a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned):  # the common case, fast
        return a
    return np.require(a, dtype, ["C", "A"])


def unbatched(*names, out=None, ndim=4, any_leading=False):
    """Decorator: the op, written for batched arrays of `ndim` dimensions, also takes one unbatched sample
    (ndim - 1 dimensions) as PyTorch does, and returns unbatched results. With any_leading (linear) the
    arrays may have any number of leading dimensions instead of one batch axis, (..., features).

    `names` are the op's batched array arguments, the first deciding (x; gy must match its leading shape,
    else it is passed on as it is and validation names the mismatch). `out`: the indices of the batched
    arrays in a tuple the op returns (None: all of them; None entries pass)."""
    def decorate(fn):
        params = list(inspect.signature(fn).parameters)
        positions = [params.index(n) for n in names]

        def get(args, kwargs, i):
            return args[positions[i]] if positions[i] < len(args) else kwargs.get(names[i])

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            first = get(args, kwargs, 0)
            rank = getattr(first, "ndim", ndim)
            if rank == ndim or (rank != ndim - 1 and not (any_leading and rank >= 1)):
                return fn(*args, **kwargs)  # batched (or a rank validation will refuse)
            lead = tuple(first.shape[:rank - ndim + 1])
            n = int(np.prod(lead))
            args = list(args)
            for i, name in enumerate(names):
                a = get(args, kwargs, i)
                if a is None or a.ndim != rank or tuple(a.shape[:len(lead)]) != lead:
                    continue
                a = a.reshape((n,) + tuple(a.shape[len(lead):]))
                if positions[i] < len(args):
                    args[positions[i]] = a
                else:
                    kwargs[name] = a
            try:
                result = fn(*args, **kwargs)
            except ValueError as e:  # the message names the batched shapes: say where they came from
                raise ValueError(f"{e} ({names[0]} of shape {tuple(first.shape)} taken as a batch of shape "
                                 f"{(n,) + tuple(first.shape[len(lead):])})") from None

            def restore(y):
                return None if y is None else y.reshape(lead + tuple(y.shape[1:]))
            if isinstance(result, tuple):  # every batched result (max_pool2d's (y, indices) too)
                return tuple(restore(r) if out is None or i in out else r for i, r in enumerate(result))
            return restore(result)
        return wrapper
    return decorate
