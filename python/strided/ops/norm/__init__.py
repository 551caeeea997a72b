"""norm, the op family: batch, group, layer and instance normalization, forward and backward. Each op
validates once (args.py) and views its input as (N, C, S) with its statistics units (args.NormArgs); one
generic set of kernels (statistics, normalize-and-scale, backward) serves all four: C++ (strided._C) on
NumPy arrays, CUDA (cuda.py) on CuPy arrays. reference.py is the NumPy oracle.

The layers keep what `_normalize` returns (the statistics, `Saved`) and hand it to `_gradients`, so their
backward does not recompute the statistics; the public *_backward functions recompute them from x."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import _C
from ..._device import array_module
from .. import _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .args import NormArgs, batch_norm_args, group_norm_args, instance_norm_args, layer_norm_args


class Saved(NamedTuple):
    """What a normalization's backward needs besides gy, x and the weight: the view, the statistics the
    forward used (None for an empty input) and whether they were the input's own (then the input
    gradient has the mean terms)."""
    args: NormArgs
    dtype: np.dtype
    mean: object
    invstd: object
    input_stats: bool


def _kernels(dtype, *arrays):
    """The kernels for these arrays (strided._C, or the GPU ops with the same method names) and a function
    that hands them an array as they take it."""
    gpu = _dispatch.backend(*arrays)
    if gpu is not None:
        return gpu, lambda a: a
    return _C, lambda a: _c(a, dtype)


def _flat(a):
    return None if a is None else a.reshape(-1)


def _invstd(var, eps):
    with np.errstate(divide="ignore", invalid="ignore"):  # var + eps <= 0 (eps may be negative) -> inf/NaN
        return 1 / array_module(var).sqrt(var + eps)


def _normalize(x, a: NormArgs, dtype, weight, bias, eps, fixed=None):
    """y and Saved, plus the biased variance of each unit (None unless computed here). fixed: (mean,
    var) of each unit to use instead of the input's statistics (running statistics)."""
    xp = array_module(x)
    if x.size == 0:
        return xp.empty(x.shape, dtype), Saved(a, dtype, None, None, fixed is None), None
    k, prep = _kernels(dtype, x, weight, bias, *(fixed or ()))
    x3 = prep(x.reshape(a.N, a.C, a.S))
    if fixed is None:
        mean, var = k.norm_stats(x3, a)
    else:
        mean, var = (v.astype(dtype) for v in fixed)
    mean, invstd = prep(mean), prep(_invstd(var, eps))
    y = k.norm_apply(x3, mean, invstd, prep(_flat(weight)), prep(_flat(bias)), a)
    return y.reshape(x.shape), Saved(a, dtype, mean, invstd, fixed is None), (var if fixed is None else None)


def _gradients(gy, x, saved: Saved, weight, bias, input_grad, weight_grad, bias_grad):
    """(gx, gw, gb) of a normalization from what its forward saved; a gradient not asked for, or of an
    argument that is None, is None."""
    a, dtype = saved.args, saved.dtype
    weight_grad = bool(weight_grad) and weight is not None
    bias_grad = bool(bias_grad) and bias is not None
    xp = array_module(x)
    if x.size == 0:
        zeros = lambda p, want: xp.zeros(p.shape, dtype) if want else None  # noqa: E731 (sums over nothing)
        return (xp.empty(x.shape, dtype) if input_grad else None), zeros(weight, weight_grad), zeros(bias, bias_grad)
    if not (input_grad or weight_grad or bias_grad):
        return None, None, None
    k, prep = _kernels(dtype, gy, x, weight)
    gx, gw, gb = k.norm_backward(prep(gy.reshape(a.N, a.C, a.S)), prep(x.reshape(a.N, a.C, a.S)), saved.mean,
                                 saved.invstd, prep(_flat(weight)), a, saved.input_stats, bool(input_grad),
                                 weight_grad, bias_grad)
    return (None if gx is None else gx.reshape(x.shape), None if gw is None else gw.reshape(weight.shape),
            None if gb is None else gb.reshape(bias.shape))


def _update(running, value, momentum):
    """running <- (1 - momentum) * running + momentum * value, in place, in running's dtype."""
    running *= 1 - momentum
    running += momentum * value.astype(running.dtype)


# -- batch norm
def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, update=True, single_ok=False):
    a, dtype = batch_norm_args(x, running_mean, running_var, weight, bias, training, eps, single_ok=single_ok)
    fixed = None if training else (running_mean, running_var)
    y, saved, var = _normalize(x, a, dtype, weight, bias, eps, fixed)
    if update and training and running_mean is not None and var is not None:
        _update(running_mean, saved.mean, momentum)
        # Unbiased, as PyTorch (one value per channel, which only the layers pass: the biased 0).
        _update(running_var, var * (a.count / (a.count - 1)) if a.count > 1 else var, momentum)
    return y, saved


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalizes each channel (axis 1) of x (N, C, *): over the batch and every other axis with the batch
    statistics when training (moving running_mean / running_var, when given, by momentum toward the batch
    mean and unbiased variance, in place), else with the running statistics."""
    x, running_mean, running_var, weight, bias = _external(x, running_mean, running_var, weight, bias)
    return _batch_norm(x, running_mean, running_var, weight, bias, training, float(momentum), eps)[0]


def batch_norm_backward(gy, x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                        eps=1e-5, *, input_grad=True, weight_grad=True, bias_grad=True):
    """(gx, gw, gb) of batch_norm (running statistics are read, never updated); in eval mode the input
    gradient goes through the running statistics."""
    gy, x, running_mean, running_var, weight, bias = _external(gy, x, running_mean, running_var, weight, bias)
    batch_norm_args(x, running_mean, running_var, weight, bias, training, eps, gy)
    _, saved = _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, update=False)
    return _gradients(gy, x, saved, weight, bias, input_grad, weight_grad, bias_grad)


# -- instance norm
def _instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps, update=True):
    a, dtype = instance_norm_args(x, running_mean, running_var, weight, bias, use_input_stats)
    fixed = None if use_input_stats else (running_mean, running_var)
    y, saved, var = _normalize(x, a, dtype, weight, bias, eps, fixed)
    if update and use_input_stats and running_mean is not None and var is not None:
        # The running statistics follow the instances' statistics averaged over the batch (as PyTorch).
        _update(running_mean, saved.mean.reshape(a.N, a.C).mean(axis=0), momentum)
        _update(running_var, (var * (a.S / (a.S - 1))).reshape(a.N, a.C).mean(axis=0), momentum)
    return y, saved


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalizes each channel of each sample of x (N, C, *) over its own spatial dims (use_input_stats),
    moving the running statistics, when given, toward the batch average of the instances' statistics; or
    with the running statistics (use_input_stats=False)."""
    x, running_mean, running_var, weight, bias = _external(x, running_mean, running_var, weight, bias)
    return _instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, float(momentum), eps)[0]


def instance_norm_backward(gy, x, running_mean=None, running_var=None, weight=None, bias=None,
                           use_input_stats=True, momentum=0.1, eps=1e-5, *, input_grad=True, weight_grad=True,
                           bias_grad=True):
    """(gx, gw, gb) of instance_norm (running statistics are read, never updated)."""
    gy, x, running_mean, running_var, weight, bias = _external(gy, x, running_mean, running_var, weight, bias)
    instance_norm_args(x, running_mean, running_var, weight, bias, use_input_stats, gy)
    _, saved = _instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps,
                              update=False)
    return _gradients(gy, x, saved, weight, bias, input_grad, weight_grad, bias_grad)


# -- group norm and layer norm: the input's own statistics, nothing to update. `validate(x, weight, bias,
# gy)` is the op's argument check with its own parameter (num_groups, normalized_shape) bound.
def _own_stats(validate, x, weight, bias, eps, gy=None):
    x, weight, bias, gy = _external(x, weight, bias, gy)
    a, dtype = validate(x, weight, bias, gy)[:2]
    y, saved, _ = _normalize(x, a, dtype, weight, bias, eps)
    return y, saved


def _own_stats_gradients(validate, gy, x, weight, bias, eps, flags):
    """The backward of group or layer norm, the statistics recomputed from x."""
    gy, x, weight, bias = _external(gy, x, weight, bias)
    _, saved = _own_stats(validate, x, weight, bias, eps, gy)
    return _gradients(gy, x, saved, weight, bias, *flags)


def _groups(num_groups):
    return lambda x, w, b, gy: group_norm_args(x, num_groups, w, b, gy)


def _group_norm(x, num_groups, weight, bias, eps):
    return _own_stats(_groups(num_groups), x, weight, bias, eps)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes each of num_groups groups of C/num_groups channels of each sample of x (N, C, *) over
    its channels and spatial dims; weight and bias per channel."""
    return _group_norm(x, num_groups, weight, bias, eps)[0]


def group_norm_backward(gy, x, num_groups, weight=None, bias=None, eps=1e-5, *, input_grad=True,
                        weight_grad=True, bias_grad=True):
    return _own_stats_gradients(_groups(num_groups), gy, x, weight, bias, eps, (input_grad, weight_grad, bias_grad))


def _trailing(normalized_shape):
    return lambda x, w, b, gy: layer_norm_args(x, normalized_shape, w, b, gy)


def _layer_norm(x, normalized_shape, weight, bias, eps):
    return _own_stats(_trailing(normalized_shape), x, weight, bias, eps)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalizes x over its trailing dims normalized_shape; weight and bias of that shape."""
    return _layer_norm(x, normalized_shape, weight, bias, eps)[0]


def layer_norm_backward(gy, x, normalized_shape, weight=None, bias=None, eps=1e-5, *, input_grad=True,
                        weight_grad=True, bias_grad=True):
    return _own_stats_gradients(_trailing(normalized_shape), gy, x, weight, bias, eps,
                                (input_grad, weight_grad, bias_grad))


__all__ = ["batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward", "layer_norm",
           "layer_norm_backward", "instance_norm", "instance_norm_backward"]
