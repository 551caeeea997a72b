"""Loss functions and weight penalties, written once for NumPy and CuPy arrays (`xp = array_module(x)`).

Every loss is an object: ``value = loss(pred, target)`` returns the reduced loss as a Python float and
remembers what it needs, ``g = loss.backward()`` returns d(value)/d(pred) with pred's shape, dtype and device.
Reductions follow PyTorch's defaults (so values match ``torch.nn.functional``):

* ``CrossEntropyLoss``: mean over the batch (weighted mean ``sum w[y_i] l_i / sum w[y_i]`` with class weights);
* ``BCEWithLogitsLoss``, ``MSELoss``, ``L1Loss``, ``HuberLoss``, ``PseudoHuberLoss``: mean over all elements;
* ``KLDivLoss``: ``'batchmean'`` (sum divided by the batch size), the mathematically correct KL per sample.

``reduction='sum'`` is accepted everywhere as well.  Penalties ``L1Regularization`` / ``L2Regularization``
give a value over a list of parameters and add their gradient to each parameter's ``.grad``.
"""
from __future__ import annotations

import numpy as np

from ._device import array_module

__all__ = ["Loss", "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss",
           "PseudoHuberLoss", "KLDivLoss", "L1Regularization", "L2Regularization", "log_softmax", "softmax",
           "get_loss"]


def log_softmax(z, axis=-1):
    """Numerically stable log-softmax: z - max - log(sum(exp(z - max)))."""
    xp = array_module(z)
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(z, axis=-1):
    """Numerically stable softmax."""
    xp = array_module(z)
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _softplus(x, xp):
    """log(1 + exp(x)) without overflow."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(x, xp):
    """1 / (1 + exp(-x)) without overflow for either sign."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Loss:
    """Base class: subclasses implement `_forward(pred, target) -> (value array, grad array)`.

    Args:
        reduction: 'mean' (PyTorch's default, see the module docstring for each loss's mean) or 'sum'.

    Raises:
        ValueError: another reduction.
    """

    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._grad = None

    def __call__(self, pred, target) -> float:
        """The loss of predictions `pred` (a float NumPy or CuPy array: logits (N, C) for the
        cross-entropies, any shape for the others) against `target` (class labels (N,) or an array of
        pred's shape; see each loss). Remembers d(value)/d(pred) for backward().

        Returns:
            the reduced loss as a Python float.

        Raises:
            TypeError: non-floating predictions. ValueError: shapes that do not fit (naming both).
        """
        xp = array_module(pred)
        if not np.issubdtype(pred.dtype, np.floating):
            raise TypeError(f"{type(self).__name__} needs floating-point predictions, got {pred.dtype}")
        value, grad = self._forward(pred, target, xp)
        self._grad = grad.astype(pred.dtype, copy=False)
        return float(value)

    forward = __call__

    def backward(self):
        """Gradient of the last value w.r.t. the predictions it was called with."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before the loss was computed")
        return self._grad

    def _elementwise(self, values, grads, n):
        """Reduce per-element values (and scale their derivatives) by 'mean' (over n elements) or 'sum'."""
        if self.reduction == "mean":
            return values.sum() / n, grads / n
        return values.sum(), grads

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def _check_same_shape(pred, target, name):
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{name}: predictions {tuple(pred.shape)} and targets {tuple(target.shape)} differ in shape")


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on raw logits (N, C) (or (N, C, d1, ...), class axis 1).

    target: integer class labels (N,) (or (N, d1, ...)), or class probabilities with the logits' shape.
    weight: optional per-class weights (C,); with labels the mean is ``sum_i w[y_i] l_i / sum_i w[y_i]``.
    label_smoothing: epsilon in [0, 1): the target becomes (1 - eps) one-hot + eps / C (PyTorch's rule).
    """

    def __init__(self, weight=None, label_smoothing=0.0, reduction="mean"):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.weight = weight
        self.label_smoothing = float(label_smoothing)

    def _forward(self, logits, target, xp):
        if logits.ndim < 2:
            raise ValueError(f"CrossEntropyLoss needs logits of shape (N, C, ...), got {tuple(logits.shape)}")
        moved = logits.ndim > 2
        if moved:  # (N, C, d...) -> (N*d..., C)
            z = xp.moveaxis(logits, 1, -1).reshape(-1, logits.shape[1])
        else:
            z = logits
        c = z.shape[1]
        logp = log_softmax(z, axis=1)
        p = xp.exp(logp)
        w = None if self.weight is None else xp.asarray(self.weight, dtype=z.dtype).reshape(-1)
        if w is not None and w.shape[0] != c:
            raise ValueError(f"CrossEntropyLoss: weight has {w.shape[0]} entries for {c} classes")
        target = xp.asarray(target)
        eps = self.label_smoothing
        if np.issubdtype(target.dtype, np.floating):  # probability targets, same shape as logits
            _check_same_shape(logits, target, "CrossEntropyLoss")
            t = xp.moveaxis(target, 1, -1).reshape(-1, c) if moved else target
            t = t.astype(z.dtype, copy=False)
            if eps:
                t = t * (1 - eps) + eps / c
            tw = t if w is None else t * w
            per = -(tw * logp).sum(axis=1)
            # d/dz_k of -sum_j tw_j logp_j = p_k sum_j tw_j - tw_k
            g = p * tw.sum(axis=1, keepdims=True) - tw
            denom = per.shape[0]
        else:
            y = target.reshape(-1).astype(xp.int64, copy=False)
            if y.shape[0] != z.shape[0]:
                raise ValueError(f"CrossEntropyLoss: {z.shape[0]} predictions but {y.shape[0]} labels")
            if y.size and (int(y.min()) < 0 or int(y.max()) >= c):
                raise ValueError(f"CrossEntropyLoss: labels must lie in [0, {c}), got {int(y.min())}..{int(y.max())}")
            rows = xp.arange(z.shape[0])
            onehot = xp.zeros_like(z)
            onehot[rows, y] = 1
            wy = xp.ones(z.shape[0], dtype=z.dtype) if w is None else w[y]
            # per-sample target distribution (already weighted): (1-eps) w_y e_y + eps/C w
            if w is None:
                tw = onehot * (1 - eps) + eps / c if eps else onehot
            else:
                tw = onehot * (1 - eps) * wy[:, None] + (eps / c) * w[None, :] if eps else onehot * wy[:, None]
            per = -(tw * logp).sum(axis=1)
            g = p * tw.sum(axis=1, keepdims=True) - tw
            denom = wy.sum()
        if self.reduction == "mean":
            value, g = per.sum() / denom, g / denom
        else:
            value = per.sum()
        if moved:
            shape = (logits.shape[0],) + tuple(logits.shape[2:]) + (c,)
            g = xp.moveaxis(g.reshape(shape), -1, 1)
        return value, g


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits x with targets y in [0, 1] (same shape):
    ``l = pw*y*softplus(-x) + (1-y)*softplus(x)`` (= -[pw*y*log s(x) + (1-y)*log(1-s(x))]), stable for any x.
    pos_weight: optional weight of the positive term (scalar or broadcastable to the last axis)."""

    def __init__(self, pos_weight=None, reduction="mean"):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def _forward(self, x, y, xp):
        y = xp.asarray(y, dtype=x.dtype)
        _check_same_shape(x, y, "BCEWithLogitsLoss")
        s = _sigmoid(x, xp)
        if self.pos_weight is None:
            values = _softplus(x, xp) - x * y  # = y softplus(-x) + (1-y) softplus(x)
            grads = s - y
        else:
            pw = xp.asarray(self.pos_weight, dtype=x.dtype)
            values = pw * y * _softplus(-x, xp) + (1 - y) * _softplus(x, xp)
            grads = pw * y * (s - 1) + (1 - y) * s
        return self._elementwise(values, grads, x.size)


class MSELoss(Loss):
    """Mean squared error ``mean((pred - target)^2)``."""

    def _forward(self, pred, target, xp):
        target = xp.asarray(target, dtype=pred.dtype)
        _check_same_shape(pred, target, "MSELoss")
        d = pred - target
        return self._elementwise(d * d, 2 * d, pred.size)


class L1Loss(Loss):
    """Mean absolute error ``mean(|pred - target|)``; the subgradient at 0 is 0 (as in PyTorch)."""

    def _forward(self, pred, target, xp):
        target = xp.asarray(target, dtype=pred.dtype)
        _check_same_shape(pred, target, "L1Loss")
        d = pred - target
        return self._elementwise(xp.abs(d), xp.sign(d), pred.size)


class _DeltaLoss(Loss):
    """A loss with a positive scale `delta` between its quadratic and linear regimes."""

    def __init__(self, delta=1.0, reduction="mean"):
        super().__init__(reduction)
        if delta <= 0:
            raise ValueError(f"delta must be positive, got {delta}")
        self.delta = float(delta)


class HuberLoss(_DeltaLoss):
    """Huber loss: ``0.5 d^2`` for ``|d| <= delta``, else ``delta (|d| - 0.5 delta)`` (PyTorch's HuberLoss)."""

    def _forward(self, pred, target, xp):
        target = xp.asarray(target, dtype=pred.dtype)
        _check_same_shape(pred, target, "HuberLoss")
        d = pred - target
        a = xp.abs(d)
        small = a <= self.delta
        values = xp.where(small, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        grads = xp.where(small, d, self.delta * xp.sign(d))
        return self._elementwise(values, grads, pred.size)


class PseudoHuberLoss(_DeltaLoss):
    """Pseudo-Huber loss ``delta^2 (sqrt(1 + (d/delta)^2) - 1)``: smooth, ~d^2/2 near 0, ~delta |d| far out."""

    def _forward(self, pred, target, xp):
        target = xp.asarray(target, dtype=pred.dtype)
        _check_same_shape(pred, target, "PseudoHuberLoss")
        d = pred - target
        r = xp.sqrt(1 + (d / self.delta) ** 2)
        return self._elementwise(self.delta ** 2 * (r - 1), d / r, pred.size)


class KLDivLoss(Loss):
    """KL(target || model) = ``sum target * (log target - input)`` with ``input`` log-probabilities (PyTorch's
    convention; pass ``from_logits=True`` to give raw logits over axis 1 instead) and ``target``
    probabilities (or log-probabilities with ``log_target=True``). Terms with target == 0 contribute 0.
    reduction: 'batchmean' (default: sum / batch size), 'sum' or 'mean' (over all elements, as PyTorch)."""

    def __init__(self, reduction="batchmean", log_target=False, from_logits=False):
        if reduction not in ("batchmean", "mean", "sum"):
            raise ValueError(f"reduction must be 'batchmean', 'mean' or 'sum', got {reduction!r}")
        super().__init__("sum")
        self.reduction = reduction
        self.log_target = bool(log_target)
        self.from_logits = bool(from_logits)

    def _forward(self, inp, target, xp):
        target = xp.asarray(target, dtype=inp.dtype)
        _check_same_shape(inp, target, "KLDivLoss")
        logq = log_softmax(inp, axis=1) if self.from_logits else inp
        if self.log_target:
            t = xp.exp(target)
            values = t * (target - logq)
        else:
            t = target
            safe = xp.where(t > 0, t, 1)
            values = xp.where(t > 0, t * (xp.log(safe) - logq), 0)
        if self.from_logits:  # d/dz_k sum_j t_j (log t_j - logsoftmax_j) = softmax_k sum_j t_j - t_k
            grads = xp.exp(logq) * t.sum(axis=1, keepdims=True) - t
        else:
            grads = -t
        n = {"batchmean": inp.shape[0] if inp.ndim else 1, "mean": inp.size, "sum": 1}[self.reduction]
        return values.sum() / n, grads / n

    def __repr__(self):
        return f"KLDivLoss(reduction={self.reduction!r}, log_target={self.log_target}, from_logits={self.from_logits})"


class _Penalty:
    """A weight penalty over parameters (objects with .data and .grad, or bare arrays for the value)."""

    def __init__(self, strength, skip_1d=False):
        if strength < 0:
            raise ValueError(f"penalty strength must be >= 0, got {strength}")
        self.strength = float(strength)
        self.skip_1d = bool(skip_1d)

    def _arrays(self, params):
        for p in params:
            data = p.data if hasattr(p, "grad") else p  # a Parameter, or a bare array
            if self.skip_1d and data.ndim <= 1:
                continue
            yield p, data

    def __call__(self, params) -> float:
        """The penalty's value."""
        return float(sum(float(self._value(d)) for _, d in self._arrays(params)) * self.strength)

    value = __call__

    def backward(self, params):
        """Add the penalty's gradient to every parameter's .grad (creating it when it is None)."""
        for p, d in self._arrays(params):
            g = self._grad(d) * self.strength
            g = g.astype(d.dtype, copy=False)
            if getattr(p, "grad", None) is None:
                p.grad = g
            else:
                p.grad += g

    def __repr__(self):
        return f"{type(self).__name__}({self.strength}, skip_1d={self.skip_1d})"


class L1Regularization(_Penalty):
    """``strength * sum |w|`` over the parameters; gradient ``strength * sign(w)``.
    skip_1d=True leaves biases (and other 1-D parameters) out."""

    def _value(self, d):
        return array_module(d).abs(d).sum()

    def _grad(self, d):
        return array_module(d).sign(d)


class L2Regularization(_Penalty):
    """``strength / 2 * sum w^2`` over the parameters; gradient ``strength * w`` (so it equals SGD's
    ``weight_decay=strength``). skip_1d=True leaves biases (and other 1-D parameters) out."""

    def _value(self, d):
        return 0.5 * (d * d).sum()

    def _grad(self, d):
        return d


_LOSSES = {"cross_entropy": CrossEntropyLoss, "ce": CrossEntropyLoss, "bce": BCEWithLogitsLoss,
           "bce_with_logits": BCEWithLogitsLoss, "mse": MSELoss, "l1": L1Loss, "huber": HuberLoss,
           "pseudo_huber": PseudoHuberLoss, "kl_div": KLDivLoss}


def get_loss(name: str, **kwargs) -> Loss:
    """A loss object by name.

    Args:
        name: cross_entropy (or ce), bce (or bce_with_logits), mse, l1, huber, pseudo_huber, kl_div (any case).
        **kwargs: the loss's arguments (reduction, weight, label_smoothing, delta, ...).

    Returns:
        the Loss.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    try:
        return _LOSSES[name.lower()](**kwargs)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(_LOSSES)}") from None

