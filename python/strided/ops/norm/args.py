"""Normalization's arguments: the (N, C, S) view of the input with its statistics units (NormArgs, the
geometry every kernel receives; field order as csrc/norm/norm.h's NormShape) and the one validation of
each op's call (batch, group, layer and instance norm)."""
from __future__ import annotations

import math
from typing import NamedTuple

from .._validate import FLOAT_DTYPES, call_dtype, expect_shape, is_int


class NormArgs(NamedTuple):
    """x viewed as (N, C, S). per_channel: a unit is channel c over every sample (batch norm); else a unit
    is one of the G groups of C/G channels of one sample (group norm; instance norm is G = C; layer norm
    is (rows, M, 1) with G = 1)."""
    N: int
    C: int
    S: int
    G: int
    per_channel: bool

    @property
    def units(self):
        return self.C if self.per_channel else self.N * self.G

    @property
    def count(self):
        """Elements per unit."""
        return self.N * self.S if self.per_channel else self.C // self.G * self.S


def _channels_view(x, op, min_ndim=2, empty_1d=False):
    if empty_1d and x.ndim == 1 and x.size == 0:  # PyTorch's batch_norm takes an empty 1-D input: no channels
        return 0, 0, 1
    if x.ndim < min_ndim:
        raise ValueError(f"{op} expects x of shape (N, C, *) with at least {min_ndim} dims, got shape "
                         f"{tuple(x.shape)}")
    return int(x.shape[0]), int(x.shape[1]), math.prod(int(d) for d in x.shape[2:])


def _vector(a, shape, name, rule):
    """An optional per-channel array (weight, bias, running statistics) of the given shape."""
    if a is not None:
        expect_shape(a, shape, name, rule)


def _running(running_mean, running_var, C, op):
    """Running statistics: both or neither, float arrays of C elements (their dtype may differ from x's:
    they are updated in their own dtype, as the layers' float32 buffers)."""
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must both be None or both be arrays")
    for a, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        if a is None:
            continue
        dt = getattr(a, "dtype", None)
        if dt is None or dt not in FLOAT_DTYPES:
            raise TypeError(f"{op}: {name} must be a float32 or float64 array, got "
                            f"{dt if dt is not None else type(a).__name__}")
        _vector(a, (C,), name, lambda: f"one running statistic per channel of x's C = {C}")


def _check_gy(gy, x):
    if gy is not None:
        expect_shape(gy, x.shape, "gy", "a normalization's output gradient has its input's shape")


def _dtype(x, weight, bias, gy):
    return call_dtype([(x, "x")], [(weight, "weight"), (bias, "bias"), (gy, "gy")])


def batch_norm_args(x, running_mean, running_var, weight, bias, training, eps, gy=None, single_ok=False):
    """Validate a batch_norm call -> (NormArgs, dtype). single_ok: accept one value per channel in
    training (the layers do, as they always have; PyTorch refuses it)."""
    dtype = _dtype(x, weight, bias, gy)
    N, C, S = _channels_view(x, "batch_norm", empty_1d=True)
    _running(running_mean, running_var, C, "batch_norm")
    for a, name in ((weight, "weight"), (bias, "bias")):
        _vector(a, (C,), name, lambda: f"one value per channel of x {tuple(x.shape)}")
    if training and not eps > 0:
        raise ValueError(f"batch_norm eps must be positive in training (it keeps 1/sqrt(var + eps) finite), "
                         f"got {eps!r}")
    if not training:
        if running_mean is None:
            raise ValueError("batch_norm in eval mode (training=False) needs running_mean and running_var")
        if not eps >= 0:
            raise ValueError(f"batch_norm eps must be non-negative, got {eps!r}")
    if training and N * S == 1 and not single_ok:
        raise ValueError(f"batch_norm in training needs more than 1 value per channel (N * prod(spatial dims)), "
                         f"got x of shape {tuple(x.shape)}")
    _check_gy(gy, x)
    return NormArgs(N, C, S, 1, True), dtype


def instance_norm_args(x, running_mean, running_var, weight, bias, use_input_stats, gy=None):
    """Validate an instance_norm call -> (NormArgs, dtype): groups of one channel on the input's own
    statistics, else per-channel units on the running statistics."""
    dtype = _dtype(x, weight, bias, gy)
    N, C, S = _channels_view(x, "instance_norm")
    _running(running_mean, running_var, C, "instance_norm")
    for a, name in ((weight, "weight"), (bias, "bias")):
        _vector(a, (C,), name, lambda: f"one value per channel of x {tuple(x.shape)}")
    if not use_input_stats and running_mean is None:
        raise ValueError("instance_norm with use_input_stats=False needs running_mean and running_var")
    if use_input_stats and S == 1:
        raise ValueError(f"instance_norm on the input's statistics needs more than 1 spatial element per "
                         f"channel, got x of shape {tuple(x.shape)}")
    _check_gy(gy, x)
    return (NormArgs(N, C, S, C, False) if use_input_stats else NormArgs(N, C, S, 1, True)), dtype


def group_norm_args(x, num_groups, weight, bias, gy=None):
    """Validate a group_norm call -> (NormArgs, dtype)."""
    dtype = _dtype(x, weight, bias, gy)
    N, C, S = _channels_view(x, "group_norm")
    if not is_int(num_groups):
        raise TypeError(f"group_norm num_groups must be an int, got {num_groups!r}")
    G = int(num_groups)
    if G < 1 or C % G:
        raise ValueError(f"group_norm num_groups must be positive and divide the channels: x {tuple(x.shape)} "
                         f"has C = {C}, num_groups = {G}")
    for a, name in ((weight, "weight"), (bias, "bias")):
        _vector(a, (C,), name, lambda: f"one value per channel of x {tuple(x.shape)}")
    _check_gy(gy, x)
    return NormArgs(N, C, S, G, False), dtype


def normalized(normalized_shape):
    """int or sequence of ints -> tuple (at least one dim)."""
    if is_int(normalized_shape):
        shape = (int(normalized_shape),)
    else:
        try:
            shape = tuple(normalized_shape)
        except TypeError:
            raise TypeError(f"normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}")
        if not all(is_int(d) for d in shape):
            raise TypeError(f"normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}")
        shape = tuple(int(d) for d in shape)
    if not shape:
        raise ValueError("normalized_shape must have at least one dim, got ()")
    return shape


def layer_norm_args(x, normalized_shape, weight, bias, gy=None):
    """Validate a layer_norm call -> (NormArgs, dtype, normalized_shape): the rows (leading dims) each a
    unit of M = prod(normalized_shape) channels of one element."""
    dtype = _dtype(x, weight, bias, gy)
    shape = normalized(normalized_shape)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"layer_norm normalizes the trailing dims: normalized_shape {shape} must match the "
                         f"last {k} dims of x, got x of shape {tuple(x.shape)}")
    for a, name in ((weight, "weight"), (bias, "bias")):
        _vector(a, shape, name, lambda: f"the normalized_shape {shape}")
    _check_gy(gy, x)
    rows = math.prod(int(d) for d in x.shape[:x.ndim - k])
    return NormArgs(rows, math.prod(shape), 1, 1, False), dtype, shape
