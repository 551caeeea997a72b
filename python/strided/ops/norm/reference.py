"""The NumPy reference of normalization, written to be read: each op says over which axes its statistics
are taken, and `_normalize` / `_normalize_backward` do the rest. Biased variance normalizes; running
statistics move toward the unbiased one (as PyTorch)."""
from __future__ import annotations

import numpy as np

from .args import batch_norm_args, group_norm_args, instance_norm_args, layer_norm_args


def _normalize(x, mean, var, eps, weight, bias, wshape):
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight.reshape(wshape)
    if bias is not None:
        y = y + bias.reshape(wshape)
    return y


def _normalize_backward(gy, x, mean, var, eps, weight, bias, wshape, unit_axes, own_stats, flags):
    """(gx, gw, gb) of _normalize. unit_axes: the axes one statistic covers; own_stats: mean and var are
    x's own over those axes (they depend on x), else constants."""
    input_grad, weight_grad, bias_grad = flags
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    channel_axes = tuple(i for i in range(x.ndim) if wshape[i] == 1)  # the axes weight is broadcast over
    gw = (gy * xhat).sum(axis=channel_axes).reshape(weight.shape) if weight_grad and weight is not None else None
    gb = gy.sum(axis=channel_axes).reshape(bias.shape) if bias_grad and bias is not None else None
    gx = None
    if input_grad:
        g = gy * weight.reshape(wshape) if weight is not None else gy
        if own_stats and x.size:  # d xhat / d x through the mean and the variance
            g = g - g.mean(axis=unit_axes, keepdims=True) - xhat * (g * xhat).mean(axis=unit_axes, keepdims=True)
        gx = g * invstd
    return gx, gw, gb


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _stats(x, axes):
    if x.size == 0:  # an empty batch: no statistics (and no warnings about empty means)
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        return np.zeros(shape), np.ones(shape)
    return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)


def _batch_stats(x, running_mean, running_var, use_batch):
    axes = (0,) + tuple(range(2, x.ndim))
    if use_batch:
        return (*_stats(x, axes), axes)
    shape = _channel_shape(x)
    return running_mean.reshape(shape).astype(x.dtype), running_var.reshape(shape).astype(x.dtype), axes


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Per channel over (N, *): batch statistics in training (updating the running ones in place), else
    the running statistics."""
    batch_norm_args(x, running_mean, running_var, weight, bias, training, eps)
    if x.size == 0:
        return np.empty_like(x)
    mean, var, axes = _batch_stats(x, running_mean, running_var, training)
    if training and running_mean is not None:
        n = x.size // x.shape[1]
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean.reshape(-1)
        running_var[...] = (1 - momentum) * running_var + momentum * var.reshape(-1) * n / (n - 1)
    return _normalize(x, mean, var, eps, weight, bias, _channel_shape(x))


def batch_norm_backward(gy, x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                        eps=1e-5, *, input_grad=True, weight_grad=True, bias_grad=True):
    batch_norm_args(x, running_mean, running_var, weight, bias, training, eps, gy)
    mean, var, axes = _batch_stats(x, running_mean, running_var, training)
    return _normalize_backward(gy, x, mean, var, eps, weight, bias, _channel_shape(x), axes, training,
                               (input_grad, weight_grad, bias_grad))


def _instance_stats(x, running_mean, running_var, use_input_stats):
    axes = tuple(range(2, x.ndim))
    if use_input_stats:
        return (*_stats(x, axes), axes)
    shape = _channel_shape(x)
    return running_mean.reshape(shape).astype(x.dtype), running_var.reshape(shape).astype(x.dtype), axes


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Per (sample, channel) over the spatial dims; the running statistics follow the batch average of the
    instances' mean and unbiased variance."""
    instance_norm_args(x, running_mean, running_var, weight, bias, use_input_stats)
    if x.size == 0:
        return np.empty_like(x)
    mean, var, axes = _instance_stats(x, running_mean, running_var, use_input_stats)
    if use_input_stats and running_mean is not None:
        s = x[0, 0].size
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean.mean(axis=0).reshape(-1)
        running_var[...] = (1 - momentum) * running_var + momentum * (var * s / (s - 1)).mean(axis=0).reshape(-1)
    return _normalize(x, mean, var, eps, weight, bias, _channel_shape(x))


def instance_norm_backward(gy, x, running_mean=None, running_var=None, weight=None, bias=None,
                           use_input_stats=True, momentum=0.1, eps=1e-5, *, input_grad=True, weight_grad=True,
                           bias_grad=True):
    instance_norm_args(x, running_mean, running_var, weight, bias, use_input_stats, gy)
    mean, var, axes = _instance_stats(x, running_mean, running_var, use_input_stats)
    return _normalize_backward(gy, x, mean, var, eps, weight, bias, _channel_shape(x), axes, use_input_stats,
                               (input_grad, weight_grad, bias_grad))


def _groups(x, num_groups):
    """The group view (N, G, C/G, S) and the shape the per-channel weight takes in it."""
    N, C = x.shape[:2]
    view = (N, num_groups, C // num_groups, int(np.prod(x.shape[2:], dtype=np.int64)))
    return view, (1, num_groups, C // num_groups, 1)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Per (sample, group of C/num_groups channels) over the group's channels and the spatial dims."""
    group_norm_args(x, num_groups, weight, bias)
    if x.size == 0:
        return np.empty_like(x)
    view, wshape = _groups(x, num_groups)
    x4 = x.reshape(view)
    return _normalize(x4, *_stats(x4, (2, 3)), eps, weight, bias, wshape).reshape(x.shape)


def group_norm_backward(gy, x, num_groups, weight=None, bias=None, eps=1e-5, *, input_grad=True,
                        weight_grad=True, bias_grad=True):
    group_norm_args(x, num_groups, weight, bias, gy)
    view, wshape = _groups(x, num_groups)
    x4, gy4 = x.reshape(view), gy.reshape(view)
    gx, gw, gb = _normalize_backward(gy4, x4, *_stats(x4, (2, 3)), eps, weight, bias, wshape, (2, 3), True,
                                     (input_grad, weight_grad, bias_grad))
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Per element of the leading dims over the trailing dims normalized_shape."""
    _, _, shape = layer_norm_args(x, normalized_shape, weight, bias)
    if x.size == 0:
        return np.empty_like(x)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return _normalize(x, *_stats(x, axes), eps, weight, bias, shape)


def layer_norm_backward(gy, x, normalized_shape, weight=None, bias=None, eps=1e-5, *, input_grad=True,
                        weight_grad=True, bias_grad=True):
    _, _, shape = layer_norm_args(x, normalized_shape, weight, bias, gy)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    wshape = (1,) * (x.ndim - len(shape)) + shape
    return _normalize_backward(gy, x, *_stats(x, axes), eps, weight, bias, wshape, axes, True,
                               (input_grad, weight_grad, bias_grad))


__all__ = ["batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward", "layer_norm",
           "layer_norm_backward", "instance_norm", "instance_norm_backward"]
