"""Layers: thin Modules that hold parameters and call the functional ops of strided (conv, pooling) or
array-module-agnostic elementwise code (xp = numpy or cupy, whichever owns the input).

Every layer keeps the dtype of its input; parameters are float32 unless the model is cast with
`model.double()` / `model.astype(np.float64)` (the gradient checks run in float64).
"""
from __future__ import annotations

import importlib
from collections import OrderedDict

import numpy as np

from .._device import array_module
from .._shapes import _pair, conv_output_shape, pool_output_shape
from . import init
from .module import Concat, Module, Parameter, Residual, Sequential, _check_cached


# The functional ops are looked up on the package at call time (strided.conv2d, ...), so a test or a
# profiler that replaces strided.conv2d_backward sees every call the layers make.
F = importlib.import_module(__name__.split(".")[0])


def _empty(shape, dtype=np.float32):
    return np.empty(shape, dtype) if init.skipping() else np.zeros(shape, dtype)


def _check_dtype(module, x, param):
    """Linear and BatchNorm would silently promote a float32 input against float64 parameters (conv2d
    refuses the mix); refuse it here as well, with the fix."""
    if param is not None and x.dtype != param.data.dtype:
        raise TypeError(f"{type(module).__name__} has {param.data.dtype} parameters but got a {x.dtype} input; "
                        f"cast the model (model.astype({str(x.dtype)!r})) or the input")


# ------------------------------------------------------------------------------------------------
# Convolution and linear
# ------------------------------------------------------------------------------------------------
class Conv2d(Module):
    """2-D convolution (cross-correlation) with weight (out_channels, in_channels/groups, R, S) and bias
    (out_channels,).  padding: anything strided.conv2d accepts (int, pair, 4-tuple, 'valid'/'same'/'full').

    Initialization: weight He-normal (kaiming_normal_, fan_in = in_channels/groups * R * S, gain sqrt(2)),
    bias zeros.  backward(gy, need_input_grad=False) asks conv2d_backward for no input gradient."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else (
            _pair(padding, "padding") if np.ndim(padding) == 0 or len(padding) == 2 else tuple(padding))
        self.dilation = _pair(dilation, "dilation")
        self.groups = int(groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.weight = Parameter(_empty((self.out_channels, self.in_channels // self.groups, *self.kernel_size)))
        init.kaiming_normal_(self.weight)
        if bias:
            self.bias = Parameter(_empty((self.out_channels,)))
        else:
            self.register_parameter("bias", None)
        self._x = None

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def forward(self, x):
        self._x = x
        return F.conv2d(x, self.weight.data, None if self.bias is None else self.bias.data, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        b = self.bias
        gx, gw, gb = F.conv2d_backward(gy, x, self.weight.data, **self._geometry(),
                                       input_grad=bool(need_input_grad),
                                       weight_grad=self.weight.requires_grad,
                                       bias_grad=b is not None and b.requires_grad)
        self.weight.accumulate(gw)
        if b is not None:
            b.accumulate(gb)
        return gx

    def output_shape(self, in_shape):
        _, k, oh, ow = conv_output_shape((1, *in_shape), self.weight.shape, **self._geometry())
        return (k, oh, ow)

    def forward_flops(self, in_shape, out_shape):
        kh, kw = self.kernel_size
        return 2 * int(np.prod(out_shape)) * (self.in_channels // self.groups) * kh * kw

    def receptive_window(self):
        return self.kernel_size, self.stride, self.dilation

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), (0, 0, 0, 0), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Linear(Module):
    """y = x @ weight.T + bias with weight (out_features, in_features), x (N, in_features).
    Initialization: weight He-normal (fan_in = in_features, gain sqrt(2)), bias zeros."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(_empty((self.out_features, self.in_features)))
        init.kaiming_normal_(self.weight)
        if bias:
            self.bias = Parameter(_empty((self.out_features,)))
        else:
            self.register_parameter("bias", None)
        self._x = None

    def forward(self, x):
        _check_dtype(self, x, self.weight)
        self._x = x
        return F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        has_bias = self.bias is not None and self.bias.requires_grad
        gx, gw, gb = F.linear_backward(gy, x, self.weight.data, input_grad=need_input_grad,
                                       weight_grad=self.weight.requires_grad, bias_grad=has_bias)
        if gw is not None:
            self.weight.accumulate(gw)
        if gb is not None:
            self.bias.accumulate(gb)
        return gx

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) got per-sample input shape "
                             f"{tuple(in_shape)}")
        return (self.out_features,)

    def forward_flops(self, in_shape, out_shape):
        return 2 * self.in_features * self.out_features

    def receptive_window(self):
        return "all"

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + ("" if self.bias is not None else ", bias=False"))


# ------------------------------------------------------------------------------------------------
# Pooling and reshaping
# ------------------------------------------------------------------------------------------------
class MaxPool2d(Module):
    """Max pooling (stride defaults to kernel_size); padding counts as -inf."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.ceil_mode = bool(ceil_mode)
        self._x = None

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode)

    def forward(self, x):
        self._x = x
        return F.max_pool2d(x, **self._geometry())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        return F.max_pool2d_backward(gy, x, **self._geometry()) if need_input_grad else None

    def output_shape(self, in_shape):
        return pool_output_shape((1, *in_shape), **self._geometry())[1:]

    def forward_flops(self, in_shape, out_shape):
        return int(np.prod(out_shape)) * self.kernel_size[0] * self.kernel_size[1]

    def receptive_window(self):
        return self.kernel_size, self.stride, (1, 1)

    def extra_repr(self):
        s = f"kernel_size={self.kernel_size}"
        if self.stride != self.kernel_size:
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.ceil_mode:
            s += ", ceil_mode=True"
        return s


class AvgPool2d(MaxPool2d):
    """Average pooling; count_include_pad=True divides by the full window (padding included)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        self._x = x
        return F.avg_pool2d(x, **self._geometry(), count_include_pad=self.count_include_pad)

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        if not need_input_grad:
            return None
        return F.avg_pool2d_backward(gy, x, **self._geometry(), count_include_pad=self.count_include_pad)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C) (keepdim=True gives (N, C, 1, 1))."""

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = bool(keepdim)
        self._shape = None

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"GlobalAvgPool2d expects (N, C, H, W), got {tuple(x.shape)}")
        self._shape = x.shape
        return x.mean(axis=(2, 3), keepdims=self.keepdim)

    def backward(self, gy, need_input_grad=True):
        shape = _check_cached(self, self._shape)
        self._shape = None
        if not need_input_grad:
            return None
        xp = array_module(gy)
        g = gy.reshape(shape[0], shape[1], 1, 1) / (shape[2] * shape[3])
        return xp.ascontiguousarray(xp.broadcast_to(g, shape))

    def output_shape(self, in_shape):
        return (in_shape[0], 1, 1) if self.keepdim else (in_shape[0],)

    def forward_flops(self, in_shape, out_shape):
        return int(np.prod(in_shape))

    def receptive_window(self):
        return "all"

    def extra_repr(self):
        return "keepdim=True" if self.keepdim else ""


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, gy, need_input_grad=True):
        shape = _check_cached(self, self._shape)
        self._shape = None
        return gy.reshape(shape) if need_input_grad else None

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward_flops(self, in_shape, out_shape):
        return 0


# ------------------------------------------------------------------------------------------------
# Activations (elementwise, array-module agnostic)
# ------------------------------------------------------------------------------------------------
class _Elementwise(Module):
    """Base of shape-preserving elementwise layers: forward caches what `_grad` needs."""

    def __init__(self):
        super().__init__()
        self._cache = None

    def backward(self, gy, need_input_grad=True):
        cache = _check_cached(self, self._cache)
        self._cache = None
        return self._grad(gy, cache) if need_input_grad else None

    def output_shape(self, in_shape):
        return tuple(in_shape)


class ReLU(_Elementwise):
    """max(x, 0); the gradient at 0 is 0."""

    def forward(self, x):
        self._cache = y = F.relu(x)
        return y

    def _grad(self, gy, y):
        return F.relu_backward(gy, y)

    def runs_after(self, next_module):
        """A ReLU directly followed by a MaxPool2d runs after it in a Sequential.
        relu(max(window)) == max(relu(window)), and both orders send the gradient to the same element
        (the first maximum; a window whose maximum is <= 0 passes no gradient either way), so outputs
        and gradients are bit-identical while the ReLU reads a kernel-area times smaller tensor (in the
        brain models its two passes over the 63 MB conv1 output were a quarter of a training step).
        Exact types only: AvgPool2d, a MaxPool2d subclass, does not commute with ReLU."""
        return type(self) is ReLU and type(next_module) is MaxPool2d


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        xp = array_module(x)
        self._cache = x > 0
        return xp.where(self._cache, x, x * self.negative_slope)

    def _grad(self, gy, pos):
        return array_module(gy).where(pos, gy, gy * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        xp = array_module(x)
        y = xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * self.alpha)
        self._cache = (x > 0, y)
        return y

    def _grad(self, gy, cache):
        pos, y = cache
        return array_module(gy).where(pos, gy, gy * (y + self.alpha))

    def extra_repr(self):
        return f"alpha={self.alpha}"


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow and with full relative precision for large negative x."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), evaluated through exp(-|x|) (no overflow)."""

    def forward(self, x):
        y = _sigmoid(x)
        self._cache = y
        return y

    def _grad(self, gy, y):
        return gy * y * (1 - y)


class Tanh(_Elementwise):
    def forward(self, x):
        y = array_module(x).tanh(x)
        self._cache = y
        return y

    def _grad(self, gy, y):
        return gy * (1 - y * y)


class Softplus(_Elementwise):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        xp = array_module(x)
        bx = x * self.beta
        linear = bx > self.threshold
        y = xp.where(linear, x, xp.log1p(xp.exp(xp.minimum(bx, self.threshold))) / self.beta)
        self._cache = (bx, linear)
        return y

    def _grad(self, gy, cache):
        bx, linear = cache
        return array_module(gy).where(linear, gy, gy * _sigmoid(bx))

    def extra_repr(self):
        parts = []
        if self.beta != 1:
            parts.append(f"beta={self.beta:g}")
        if self.threshold != 20:
            parts.append(f"threshold={self.threshold:g}")
        return ", ".join(parts)


class Dropout(_Elementwise):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by 1/(1-p);
    identity in eval.  The mask comes from a NumPy Generator seeded by `seed` (default: drawn from
    strided.nn.init's generator); CuPy inputs draw on the GPU from cupy.random with the same seed.
    Set `fixed_mask` (an array of 0s and 1/(1-p)s, or of 0/1 then scaled by you) to reuse one mask for
    every forward, e.g. in gradient checks; `mask` is the mask of the last training forward."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.seed = int(init.get_rng().integers(2 ** 63)) if seed is None else int(seed)
        self._rngs = {}
        self.fixed_mask = None
        self.mask = None

    def _uniform(self, xp, shape):
        """Uniform [0, 1) draws from this layer's generator for the array module xp."""
        if xp not in self._rngs:
            if hasattr(xp.random, "default_rng"):
                self._rngs[xp] = xp.random.default_rng(self.seed).random
            else:  # older CuPy
                self._rngs[xp] = xp.random.RandomState(self.seed).random_sample
        return self._rngs[xp](shape)

    def forward(self, x):
        if not self.training or self.p == 0:
            self._cache = False
            return x
        xp = array_module(x)
        if self.fixed_mask is not None:
            if tuple(self.fixed_mask.shape) != tuple(x.shape):
                raise ValueError(f"Dropout.fixed_mask has shape {tuple(self.fixed_mask.shape)}, "
                                 f"input {tuple(x.shape)}")
            mask = xp.asarray(self.fixed_mask, dtype=x.dtype)
        elif self.p == 1:
            mask = xp.zeros(x.shape, x.dtype)
        else:
            keep = self._uniform(xp, x.shape) >= self.p
            mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        self.mask = mask
        self._cache = mask
        return x * mask

    def _grad(self, gy, mask):
        return gy if mask is False else gy * mask

    def extra_repr(self):
        return f"p={self.p}"


# ------------------------------------------------------------------------------------------------
# Batch normalization
# ------------------------------------------------------------------------------------------------
class _BatchNorm(Module):
    """Normalizes over every axis but the channel axis 1.  Training: batch mean and biased variance
    normalize, and the running statistics move by `momentum` toward the batch mean and the UNBIASED
    batch variance (as PyTorch; momentum=None gives the cumulative average).  Eval: running statistics.
    Initialization: weight (gamma) ones, bias (beta) zeros, running_mean 0, running_var 1."""

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
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
    """Batch norm of (N, C) or (N, C, L) inputs."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) inputs, statistics per channel over N, H and W."""
    _ndims = (4,)


# ------------------------------------------------------------------------------------------------
# Blocks built from the containers
# ------------------------------------------------------------------------------------------------
class BasicBlock(Sequential):
    """ResNet basic block: relu(bn(conv3x3(relu(bn(conv3x3(x, stride))))) + shortcut(x)), the shortcut a
    1x1-conv (stride) + BN projection when the shape changes (stride != 1 or in_ch != out_ch), else x.
    Convolutions have no bias (BN follows)."""

    def __init__(self, in_ch, out_ch, stride=1):
        body = Sequential(OrderedDict([
            ("conv1", Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)),
            ("bn1", BatchNorm2d(out_ch)),
            ("relu", ReLU()),
            ("conv2", Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)),
            ("bn2", BatchNorm2d(out_ch)),
        ]))
        shortcut = None
        if stride != 1 or in_ch != out_ch:
            shortcut = Sequential(OrderedDict([("conv", Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)),
                                               ("bn", BatchNorm2d(out_ch))]))
        super().__init__(OrderedDict([("residual", Residual(body, shortcut)), ("relu", ReLU())]))


def _conv_relu(in_ch, out_ch, k, padding=0, batch_norm=False):
    layers = [("conv", Conv2d(in_ch, out_ch, k, padding=padding, bias=not batch_norm))]
    if batch_norm:
        layers.append(("bn", BatchNorm2d(out_ch)))
    layers.append(("relu", ReLU()))
    return layers


class Inception(Concat):
    """GoogLeNet Inception module: four branches concatenated on channels, output c1 + c3 + c5 + pool_proj
    channels at the input's H x W:  1x1 (c1) | 1x1 (c3r) -> 3x3 (c3) | 1x1 (c5r) -> 5x5 (c5) |
    3x3 max pool (stride 1) -> 1x1 (pool_proj); every conv followed by ReLU (BN before it if batch_norm)."""

    def __init__(self, in_ch, c1, c3r, c3, c5r, c5, pool_proj, batch_norm=False):
        def seq(pairs):
            return Sequential(OrderedDict(pairs))

        bn = batch_norm
        b1 = seq(_conv_relu(in_ch, c1, 1, 0, bn))
        b3 = seq([(n + "1", m) for n, m in _conv_relu(in_ch, c3r, 1, 0, bn)]
                 + [(n + "2", m) for n, m in _conv_relu(c3r, c3, 3, 1, bn)])
        b5 = seq([(n + "1", m) for n, m in _conv_relu(in_ch, c5r, 1, 0, bn)]
                 + [(n + "2", m) for n, m in _conv_relu(c5r, c5, 5, 2, bn)])
        bp = seq([("pool", MaxPool2d(3, stride=1, padding=1))] + _conv_relu(in_ch, pool_proj, 1, 0, bn))
        super().__init__(OrderedDict([("branch1x1", b1), ("branch3x3", b3), ("branch5x5", b5),
                                      ("branch_pool", bp)]))
        self.out_channels = c1 + c3 + c5 + pool_proj


__all__ = ["Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "ReLU", "LeakyReLU",
           "ELU", "Sigmoid", "Tanh", "Softplus", "Dropout", "BatchNorm1d", "BatchNorm2d", "BasicBlock",
           "Inception"]
