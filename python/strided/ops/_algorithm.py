"""The convolution-algorithm choice: `conv_algorithm(name)` forces one for a `with` block, `current()`
reads it. A context variable, so each thread and asyncio task sees its own choice.

It sits below both dispatchers, which read it: the CPU path (strided.ops.conv2d) hands strided._C the
algorithm's code, the GPU path (strided.ops.conv2d.cuda) maps the name to its own kernels.
"""
from __future__ import annotations

import contextlib
import contextvars

from .. import _C

_conv_algorithm = contextvars.ContextVar("strided_conv_algorithm", default="auto")


@contextlib.contextmanager
def conv_algorithm(name):
    """Force one convolution algorithm inside a `with` block: 'auto' (the dispatcher's choice) or any name
    in `conv_algorithms()` for the CPU ('simple' is the direct twin of the reference)."""
    if name not in _C.conv_algorithms:
        raise ValueError(f"unknown conv algorithm {name!r}; choose from {sorted(_C.conv_algorithms)}")
    token = _conv_algorithm.set(name)
    try:
        yield
    finally:
        _conv_algorithm.reset(token)


def conv_algorithms():
    """Names accepted by `conv_algorithm`."""
    return sorted(_C.conv_algorithms)


def current():
    """The algorithm name in force here ('auto' unless a `conv_algorithm` block says otherwise)."""
    return _conv_algorithm.get()
