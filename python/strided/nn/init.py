"""Weight initializers (in place, PyTorch names) and the seed that makes model construction reproducible.

Defaults used by the layers of strided.nn:
  * Conv2d and Linear weights: He-normal (`kaiming_normal_`, mode='fan_in', gain sqrt(2) for ReLU),
    so Var(w) = 2 / fan_in with fan_in = in_channels/groups * R * S (conv) or in_features (linear);
  * Conv2d and Linear biases: zeros;
  * BatchNorm weight (gamma): ones, bias (beta): zeros.

Random numbers come from one NumPy Generator owned by this module: `seed(n)` resets it, so
`seed(0); model = strided.models.lenet5()` builds the same weights every time.  Every initializer also
takes `rng=` (a numpy.random.Generator) to bypass it.  Values are drawn on the host and copied into
the array, which may live on the GPU (CuPy).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

_rng = np.random.default_rng()
_skip = False


def seed(n) -> None:
    """Reset the generator the initializers draw from (and the default seed of Dropout masks)."""
    global _rng
    _rng = np.random.default_rng(n)


def get_rng() -> np.random.Generator:
    return _rng


@contextlib.contextmanager
def skip_init():
    """Inside this block layers allocate their parameters without drawing or filling them (np.empty), so
    building a 138M-parameter VGG-16 only to count its parameters or print its summary costs nothing.
    Do not train a model built this way before initializing it."""
    global _skip
    old, _skip = _skip, True
    try:
        yield
    finally:
        _skip = old


def skipping() -> bool:
    return _skip


def empty(shape, dtype=np.float32):
    """A parameter array for an initializer to fill: zeros, or np.empty inside skip_init() (never filled)."""
    return np.empty(shape, dtype) if _skip else np.zeros(shape, dtype)


def _array(t):
    """The array of a Parameter (duck-typed: .data and .requires_grad), or t itself."""
    return t.data if hasattr(t, "requires_grad") and hasattr(t, "data") else t


def _fill(t, values):
    a = _array(t)
    if isinstance(a, np.ndarray):
        a[...] = values
    else:  # CuPy: copy the host draw over
        from .._device import to_device
        a[...] = to_device(np.asarray(values, dtype=a.dtype), "cuda")
    return t


def _fans(shape):
    if len(shape) < 2:
        raise ValueError(f"fan in/out need an array of at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity="relu", param=None) -> float:
    """Recommended gain (PyTorch's table): linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
    leaky_relu sqrt(2 / (1 + slope^2)), selu 3/4."""
    if nonlinearity in ("linear", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _dtype(a):
    return np.dtype(a.dtype) if np.dtype(a.dtype) in (np.float32, np.float64) else np.dtype(np.float64)


def _normal(t, std, rng):
    a = _array(t)
    if _skip:
        return t
    rng = _rng if rng is None else rng
    return _fill(t, rng.standard_normal(a.shape, dtype=_dtype(a)) * np.asarray(std, _dtype(a)))


def _uniform(t, bound, rng):
    a = _array(t)
    if _skip:
        return t
    rng = _rng if rng is None else rng
    return _fill(t, rng.uniform(-bound, bound, a.shape).astype(a.dtype, copy=False))


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="relu", rng=None):
    """He et al. 2015: N(0, std^2) with std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    fan_in, fan_out = _fans(_array(t).shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return _normal(t, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="relu", rng=None):
    """He et al. 2015, uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    fan_in, fan_out = _fans(_array(t).shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return _uniform(t, calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan), rng)


def xavier_uniform_(t, gain=1.0, rng=None):
    """Glorot & Bengio 2010: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(t).shape)
    return _uniform(t, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng)


def xavier_normal_(t, gain=1.0, rng=None):
    """Glorot & Bengio 2010: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(t).shape)
    return _normal(t, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def normal_(t, mean=0.0, std=1.0, rng=None):
    a = _array(t)
    if _skip:
        return t
    rng = _rng if rng is None else rng
    return _fill(t, (rng.standard_normal(a.shape) * std + mean).astype(a.dtype, copy=False))


def uniform_(t, a=0.0, b=1.0, rng=None):
    arr = _array(t)
    if _skip:
        return t
    rng = _rng if rng is None else rng
    return _fill(t, rng.uniform(a, b, arr.shape).astype(arr.dtype, copy=False))


def constant_(t, value):
    _array(t)[...] = value
    return t


def zeros_(t):
    return constant_(t, 0)


def ones_(t):
    return constant_(t, 1)


__all__ = ["seed", "get_rng", "skip_init", "calculate_gain", "kaiming_normal_", "kaiming_uniform_",
           "xavier_uniform_", "xavier_normal_", "normal_", "uniform_", "constant_", "zeros_", "ones_"]
