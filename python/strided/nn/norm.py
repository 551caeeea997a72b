"""Normalization layers on the norm ops (strided.ops.norm): BatchNorm1d/2d, GroupNorm, LayerNorm,
InstanceNorm2d, as PyTorch's. Each keeps the statistics its forward used and hands them to its backward,
which does not recompute them. Receptive fields ignore the statistics (as for batch norm)."""
from __future__ import annotations

import numpy as np

from ..ops import norm as F
from ..ops.norm.args import normalized
from .module import Module, Parameter, _check_cached, _check_dtype


class _Norm(Module):
    """What the normalization layers share: the optional affine parameters (weight ones, bias zeros), the
    cached (x, statistics) and the backward that uses them."""

    def _affine(self, shape, affine, bias=True):
        if affine:
            self.weight = Parameter(np.ones(shape, np.float32))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(shape, np.float32))
        else:
            self.register_parameter("bias", None)
        self._cache = None

    def _running_stats(self, track):
        """running_mean 0 and running_var 1 per feature, and num_batches_tracked, as PyTorch's state_dict:
        a checkpoint carries the counter, so momentum=None (the cumulative average) goes on from where it
        was after load_state_dict (InstanceNorm keeps it and never advances it, as PyTorch). None untracked."""
        if track:
            self.register_buffer("running_mean", np.zeros(self.num_features, np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _params(self, x):
        _check_dtype(self, x, self.weight)
        return (None if self.weight is None else self.weight.data), (None if self.bias is None else self.bias.data)

    def _keep(self, x, y_saved):
        """Cache x and the statistics the op used (its (y, saved) result) for backward; return y."""
        y, saved = y_saved
        self._cache = (x, saved)
        return y

    def backward(self, gy, need_input_grad=True):
        x, saved = _check_cached(self, self._cache)
        self._cache = None
        w, b = self.weight, self.bias
        gx, gw, gb = F._gradients(gy, x, saved, None if w is None else w.data, None if b is None else b.data,
                                  need_input_grad, w is not None and w.requires_grad,
                                  b is not None and b.requires_grad)
        if gw is not None:
            w.accumulate(gw)
        if gb is not None:
            b.accumulate(gb)
        return gx if need_input_grad else None

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward_flops(self, in_shape, out_shape):
        return 2 * int(np.prod(out_shape))  # normalize and scale; the statistics are not counted


class _BatchNorm(_Norm):
    """Normalizes over every axis but the channel axis 1 (strided.batch_norm).  Training: batch mean and
    biased variance normalize, and the running statistics move by `momentum` toward the batch mean and the
    UNBIASED batch variance (as PyTorch; momentum=None gives the cumulative average).  Eval: running
    statistics (batch statistics without track_running_stats, which keeps none).  Unlike PyTorch, a training
    batch of one value per channel (a batch of one at 1x1) is accepted: it normalizes to the bias.
    Initialization: weight (gamma) ones, bias (beta) zeros, running_mean 0, running_var 1."""

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum, self.affine = int(num_features), float(eps), momentum, affine
        self.track_running_stats = track_running_stats
        self._affine(self.num_features, affine, bias)
        self._running_stats(track_running_stats)

    def _check(self, x):
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of shape "
                             + " or ".join("(N, %d%s)" % (self.num_features, ", ..." * (d - 2)) for d in self._ndims)
                             + f", got {tuple(x.shape)}")

    def forward(self, x):
        self._check(x)
        w, b = self._params(x)
        mom = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            mom = 1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)
        return self._keep(x, F._batch_norm(x, self.running_mean, self.running_var, w, b,
                                           self.training or not self.track_running_stats, mom, self.eps,
                                           single_ok=True))

    def extra_repr(self):
        s = f"{self.num_features}"
        if self.eps != 1e-5:
            s += f", eps={self.eps:g}"
        if self.momentum != 0.1:
            s += f", momentum={self.momentum}"
        if not self.affine:
            s += ", affine=False"
        if not self.track_running_stats:
            s += ", track_running_stats=False"
        return s


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs (statistics per channel over N and L); see _BatchNorm for
    the arguments (num_features, eps=1e-5, momentum=0.1, affine=True)."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) inputs, statistics per channel over N, H and W; see _BatchNorm for the
    arguments (num_features, eps=1e-5, momentum=0.1, affine=True)."""
    _ndims = (4,)


class GroupNorm(_Norm):
    """Normalizes each sample's num_groups groups of num_channels / num_groups channels over the group's
    channels and spatial dims (strided.group_norm); weight and bias per channel. Same in training and eval."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, bias=True):
        super().__init__()
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), affine
        if self.num_groups < 1 or self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({self.num_channels}) must be divisible by num_groups "
                             f"({self.num_groups})")
        self._affine(self.num_channels, affine, bias)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects input of shape "
                             f"(N, {self.num_channels}, ...), got {tuple(x.shape)}")
        return self._keep(x, F._group_norm(x, self.num_groups, *self._params(x), self.eps))

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps:g}, affine={self.affine}"


class LayerNorm(_Norm):
    """Normalizes over the trailing dims normalized_shape (strided.layer_norm); weight and bias of that
    shape (bias=False drops the bias, as PyTorch). Same in training and eval."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        self.normalized_shape, self.eps = normalized(normalized_shape), float(eps)
        self.elementwise_affine = elementwise_affine
        self._affine(self.normalized_shape, elementwise_affine, bias)

    def forward(self, x):
        return self._keep(x, F._layer_norm(x, self.normalized_shape, *self._params(x), self.eps))

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine}"


class InstanceNorm2d(_Norm):
    """Normalizes each channel of each sample of (N, C, H, W) over H and W (strided.instance_norm). With
    track_running_stats the running statistics follow the batch average of the instances' statistics in
    training and replace them in eval; affine adds per-channel weight and bias (both off by default, as
    PyTorch). An unbatched (C, H, W) input is one sample."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self._affine(self.num_features, affine, bias)
        self._running_stats(track_running_stats)
        self._unbatched = False

    def forward(self, x):
        if x.ndim not in (3, 4) or x.shape[-3] != self.num_features:
            raise ValueError(f"InstanceNorm2d({self.num_features}) expects input of shape "
                             f"(N, {self.num_features}, H, W) or ({self.num_features}, H, W), got {tuple(x.shape)}")
        self._unbatched = x.ndim == 3
        if self._unbatched:
            return self._forward(x[None])[0]
        return self._forward(x)

    def backward(self, gy, need_input_grad=True):
        if self._unbatched:
            gx = super().backward(gy[None], need_input_grad)
            return None if gx is None else gx[0]
        return super().backward(gy, need_input_grad)

    def _forward(self, x):
        w, b = self._params(x)
        mom = 0.0 if self.momentum is None else float(self.momentum)
        return self._keep(x, F._instance_norm(x, self.running_mean, self.running_var, w, b,
                                              self.training or not self.track_running_stats, mom, self.eps))

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm2d"]
