"""Argument checks shared by every op family: ints and (h, w) pairs, the float dtype of one call, and the
shape an array must have. Messages name the argument, what it was, and the rule it broke."""
from __future__ import annotations

import functools

import numpy as np

from ._size import check_limit

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_int(v):
    return type(v) is int or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))


def pair(value, name):
    """int, (v,) or (h, w) -> (h, w) of Python ints, each at most 2**62 (strided.ops._size.LIMIT)."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return _bounded(value, name)  # already normalized (every layer stores its geometry so)
    message = f"{name} must be an int or a pair of ints, got {value!r}"
    if is_int(value):
        return _bounded((int(value), int(value)), name)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(message)
    items = tuple(value)
    if len(items) == 1:  # (v,) means v for both dimensions, as PyTorch reads it
        items = items * 2
    if len(items) != 2:
        raise ValueError(message)
    if not all(is_int(v) for v in items):
        raise TypeError(message)
    return _bounded((int(items[0]), int(items[1])), name)


def _bounded(hw, name):
    for v in hw:
        check_limit(v, name)
    return hw


def positive_pair(value, name):
    result = pair(value, name)
    if min(result) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return result


def _numpy_dtype(required, optional):
    """The common case of call_dtype in few bytecodes (it runs before every kernel): NumPy arrays of one
    float dtype give it; anything else gives None, and call_dtype's full check says what is wrong."""
    dtype = None
    for pairs, may_be_none in ((required, False), (optional, True)):
        for a, _ in pairs:
            if type(a) is not np.ndarray:
                if a is None and may_be_none:
                    continue
                return None
            if dtype is None:
                if a.dtype not in FLOAT_DTYPES:
                    return None
                dtype = a.dtype
            elif a.dtype != dtype:
                return None
    return dtype


def call_dtype(required, optional=()):
    """The dtype of one call from its (array, name) pairs: all float32 or all float64. An optional array
    (a bias, an output gradient) that is None is skipped; a required one that is None is an error."""
    if (dtype := _numpy_dtype(required, optional)) is not None:
        return dtype
    dtypes, names = [], []
    for a, name in list(required) + [(a, n) for a, n in optional if a is not None]:
        dt = getattr(a, "dtype", None)
        if dt is None:
            raise TypeError(f"{name} must be an array (numpy.ndarray or cupy.ndarray), got {type(a).__name__}")
        if np.dtype(dt) not in FLOAT_DTYPES:
            raise TypeError(f"{name} has dtype {dt}; strided supports float32 and float64 only")
        dtypes.append(np.dtype(dt))
        names.append(name)
    if len(set(dtypes)) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in zip(names, dtypes))
        raise TypeError(f"all arrays of one call must share a dtype, got {listing}")
    return dtypes[0]


def expect_shape(a, shape, name, rule):
    """ValueError unless a has `shape`; `rule` says why it must (a str, or a function returning one, so that
    a rule naming other shapes is formatted only when it is broken)."""
    if tuple(a.shape) != tuple(shape):
        rule = rule() if callable(rule) else rule
        raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {tuple(shape)} ({rule})")


_SCALARS = frozenset((int, bool, str, type(None)))


def cached_geometry(fn):
    """Memoize a geometry function of shapes and layer settings: a model calls each layer with the same
    geometry every step, and checking it again costs more than a small kernel. Only plain arguments key
    the cache: None, str, exact ints and bools, tuples of exact ints (lru_cache's typed keys tell 1 from
    True at the top level only, so inside a tuple only ints pass); anything else (a list, a NumPy int, a
    float) runs the function, and a refusal raises every time: lru_cache stores only what returns."""
    cached = functools.lru_cache(maxsize=1024, typed=True)(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for a in (args + tuple(kwargs.values())) if kwargs else args:
            if type(a) is tuple:
                for i in a:
                    if type(i) is not int:
                        return fn(*args, **kwargs)
            elif type(a) not in _SCALARS:
                return fn(*args, **kwargs)
        return cached(*args, **kwargs)
    return wrapper
