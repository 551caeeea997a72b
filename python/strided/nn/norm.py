"""Batch normalization: BatchNorm1d and BatchNorm2d (statistics per channel, running averages as buffers)."""
from __future__ import annotations

import numpy as np

from .._device import array_module
from .module import Module, Parameter, _check_cached, _check_dtype


class _BatchNorm(Module):
    """Normalizes over every axis but the channel axis 1.  Training: batch mean and biased variance
    normalize, and the running statistics move by `momentum` toward the batch mean and the UNBIASED
    batch variance (as PyTorch; momentum=None gives the cumulative average).  Eval: running statistics.
    Initialization: weight (gamma) ones, bias (beta) zeros, running_mean 0, running_var 1.

    Args:
        num_features: C, the size of axis 1 of the input.
        eps: added to the variance before its square root.
        momentum: weight of the newest batch in the running statistics; None: the cumulative average.
        affine: learn a scale (weight) and shift (bias) per channel.

    Buffers (in state_dict): running_mean, running_var (C,), num_batches_tracked (int64 scalar).

    Raises:
        ValueError: an input whose ndim or channel count does not fit (at the forward).
        TypeError: an input of another float dtype than the parameters.
    """

    _ndims = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum, self.affine = int(num_features), float(eps), momentum, affine
        if affine:
            self.weight = Parameter(np.ones(self.num_features, np.float32))
            self.bias = Parameter(np.zeros(self.num_features, np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", np.zeros(self.num_features, np.float32))
        self.register_buffer("running_var", np.ones(self.num_features, np.float32))
        # A buffer, as in PyTorch, so that a checkpoint carries it: momentum=None (the cumulative average)
        # goes on from where it was after load_state_dict.
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        self._cache = None

    def _check(self, x):
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of shape "
                             + " or ".join("(N, %d%s)" % (self.num_features, ", ..." * (d - 2)) for d in self._ndims)
                             + f", got {tuple(x.shape)}")

    def forward(self, x):
        self._check(x)
        _check_dtype(self, x, self.weight)
        xp = array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            m = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(bshape)
            var = (xc * xc).mean(axis=axes)
            self.num_batches_tracked += 1
            mom = 1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)
            unbiased = var * (m / (m - 1)) if m > 1 else var
            rm, rv = self.running_mean, self.running_var
            rm *= (1 - mom)
            rm += mom * mean.astype(rm.dtype)
            rv *= (1 - mom)
            rv += mom * unbiased.astype(rv.dtype)
        else:
            mean, var = self.running_mean.astype(x.dtype), self.running_var.astype(x.dtype)
            xc = x - mean.reshape(bshape)
        invstd = (1 / xp.sqrt(var + self.eps)).astype(x.dtype)
        xhat = xc * invstd.reshape(bshape)
        y = xhat
        if self.affine:
            y = xhat * self.weight.data.reshape(bshape) + self.bias.data.reshape(bshape)
        self._cache = (xhat, invstd, self.training)
        return y

    def backward(self, gy, need_input_grad=True):
        xhat, invstd, training = _check_cached(self, self._cache)
        self._cache = None
        axes = (0,) + tuple(range(2, gy.ndim))
        bshape = (1, -1) + (1,) * (gy.ndim - 2)
        if self.affine:
            if self.weight.requires_grad:
                self.weight.accumulate((gy * xhat).sum(axis=axes))
            if self.bias.requires_grad:
                self.bias.accumulate(gy.sum(axis=axes))
        if not need_input_grad:
            return None
        g = gy * self.weight.data.reshape(bshape) if self.affine else gy
        if not training:
            return g * invstd.reshape(bshape)
        m = gy.size // gy.shape[1]
        gmean = g.mean(axis=axes).reshape(bshape)
        gxhat = (g * xhat).mean(axis=axes).reshape(bshape)
        return (g - gmean - xhat * gxhat) * invstd.reshape(bshape)

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward_flops(self, in_shape, out_shape):
        return 2 * int(np.prod(out_shape))

    def extra_repr(self):
        s = f"{self.num_features}"
        if self.eps != 1e-5:
            s += f", eps={self.eps:g}"
        if self.momentum != 0.1:
            s += f", momentum={self.momentum}"
        if not self.affine:
            s += ", affine=False"
        return s


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs (statistics per channel over N and L); see _BatchNorm for
    the arguments (num_features, eps=1e-5, momentum=0.1, affine=True)."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) inputs, statistics per channel over N, H and W; see _BatchNorm for the
    arguments (num_features, eps=1e-5, momentum=0.1, affine=True)."""
    _ndims = (4,)


__all__ = ["BatchNorm1d", "BatchNorm2d"]
