"""Optimizers and learning-rate schedules, with PyTorch's update rules (torch.optim, default flags).

    opt = Adam(model.parameters(), lr=1e-3)
    sched = CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad(); loss(model(x), y); model.backward(loss.backward(), need_input_grad=False)
            opt.step()
        sched.step()

An optimizer takes anything iterable of parameters (objects with ``.data`` and ``.grad``), updates
``p.data`` IN PLACE from ``p.grad`` and skips parameters whose grad is None. Its per-parameter state
(momentum buffers, moment estimates, step counts) lives on the parameter's device, so the same code runs
on NumPy and CuPy arrays. ``state_dict()`` gives plain Python values and NumPy arrays (a checkpoint);
``load_state_dict()`` puts them back on each parameter's device. The learning rate is ``opt.lr``
(what the schedules change).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from . import _C
from ._device import array_module, to_device

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LRScheduler", "StepLR",
           "CosineAnnealingLR", "get_optimizer"]


class Optimizer:
    """Base class. Subclasses list their hyper-parameters in `_hyper` and implement `_update(p, g, state)`.

    Every optimizer takes `params` (an iterable of strided.nn.Parameter, e.g. model.parameters(); frozen
    ones, requires_grad=False, never get a gradient and are skipped by step()) and `lr` (>= 0), then its
    own hyper-parameters (PyTorch's names and defaults). step() updates each parameter's .data in place.

    Raises:
        ValueError: an empty parameter list, a negative lr or an out-of-range hyper-parameter.
    """

    _hyper: tuple = ()

    def __init__(self, params, lr, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        self.lr = float(lr)
        self.initial_lr = float(lr)
        for k, v in hyper.items():
            setattr(self, k, v)
        self.state = [dict() for _ in self.params]

    def zero_grad(self, set_to_none=True):
        """Reset every gradient: to None (default, as PyTorch 2) or to zeros in place."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def step(self):
        """One update of every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape:
                raise ValueError(f"gradient shape {tuple(p.grad.shape)} != parameter shape {tuple(p.data.shape)}")
            state["step"] = state.get("step", 0) + 1
            self._update(p, p.grad, state, array_module(p.data))

    def _update(self, p, g, state, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def _buf(self, state, name, p, xp, fill=0.0):
        if name not in state:
            state[name] = xp.full_like(p.data, fill)
        return state[name]

    # ---- checkpoints -----------------------------------------------------------------------------
    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "initial_lr": self.initial_lr, **{k: getattr(self, k) for k in self._hyper}}

    def state_dict(self) -> dict:
        """{'type', 'hyper': {name: value}, 'state': {index: {name: NumPy array or number}}}."""
        state = {}
        for i, s in enumerate(self.state):
            if s:
                state[i] = {k: (to_device(v, "cpu").copy() if hasattr(v, "shape") else v) for k, v in s.items()}
        return {"type": type(self).__name__, "hyper": self.hyperparameters(), "state": state}

    def load_state_dict(self, sd: dict) -> None:
        if sd.get("type", type(self).__name__) != type(self).__name__:
            raise ValueError(f"state dict of a {sd['type']} cannot be loaded into a {type(self).__name__}")
        for k, v in sd.get("hyper", {}).items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        self.state = [dict() for _ in self.params]
        for i, s in sd.get("state", {}).items():
            i = int(i)
            if i >= len(self.params):
                raise ValueError(f"optimizer state for parameter {i} but only {len(self.params)} parameters")
            p = self.params[i]
            dev = "cuda" if type(p.data).__module__.startswith("cupy") else "cpu"
            for k, v in s.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    if tuple(v.shape) != tuple(p.data.shape):
                        raise ValueError(f"optimizer state {k!r} of parameter {i} has shape {tuple(v.shape)}, "
                                         f"the parameter {tuple(p.data.shape)}")
                    v = to_device(np.asarray(v, dtype=p.data.dtype), dev)
                elif hasattr(v, "shape"):  # 0-d array from a checkpoint file
                    v = v.item()
                self.state[i][k] = v

    def __repr__(self):
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items() if k != "initial_lr")
        return f"{type(self).__name__}({hp})"


def _fusable(*arrays):
    """Whether strided._C's fused update can take these arrays in place: NumPy, one float dtype, C-contiguous,
    writeable (CuPy arrays, and anything else, run the array-module rule)."""
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(
        a is None or (type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
                      and a.flags.writeable)
        for a in arrays)


def _check(name, value, lo=0.0, hi=None):
    if value < lo or (hi is not None and value >= hi):
        raise ValueError(f"invalid {name}: {value}")


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule: g += wd*p; buf = momentum*buf + (1-dampening)*g (buf = g
    on the first step); g = g + momentum*buf if nesterov else buf; p -= lr*g.

    Args:
        params: parameters to update; lr: the learning rate.
        momentum: momentum factor (0: plain SGD). dampening: damping of the momentum's gradient term.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        weight_decay: L2 penalty added to the gradient.
    """

    _hyper = ("momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, lr=1e-2, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, lr, momentum=float(momentum), dampening=float(dampening),
                         nesterov=bool(nesterov), weight_decay=float(weight_decay))

    def _update(self, p, g, state, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            buf = state["momentum_buffer"]
            g = g + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule: g += wd*p (L2, coupled); m = b1 m + (1-b1) g;
    v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
    amsgrad=True keeps the running maximum of v.

    Args:
        params: parameters to update; lr: the learning rate.
        betas: (b1, b2), decay rates of the first and second moment estimates, each in [0, 1).
        eps: added to the denominator. weight_decay: L2 penalty added to the gradient.
        amsgrad: use the running maximum of the second moment (Reddi et al.).
    """

    _hyper = ("betas", "eps", "weight_decay", "amsgrad")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        _check("beta1", betas[0], 0.0, 1.0)
        _check("beta2", betas[1], 0.0, 1.0)
        _check("eps", eps)
        _check("weight_decay", weight_decay)
        super().__init__(params, lr, betas=(float(betas[0]), float(betas[1])), eps=float(eps),
                         weight_decay=float(weight_decay), amsgrad=bool(amsgrad))

    def _update(self, p, g, state, xp):
        b1, b2 = self.betas
        t = state["step"]
        m = self._buf(state, "exp_avg", p, xp)
        v = self._buf(state, "exp_avg_sq", p, xp)
        vmax = self._buf(state, "max_exp_avg_sq", p, xp) if self.amsgrad else None
        if _fusable(p.data, g, m, v, vmax):  # the same rule in one C++ pass, bit for bit
            _C.adam_update(p.data, g, m, v, vmax, self.lr, b1, b2, self.eps, self.weight_decay, self._decoupled, t)
            return
        if self.weight_decay:
            if self._decoupled:
                p.data *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.data
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        if vmax is not None:
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        denom = xp.sqrt(v) / math.sqrt(bc2) + self.eps
        p.data -= (self.lr / bc1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr*wd, then the Adam step on the raw
    gradient. PyTorch's default weight_decay=1e-2. Arguments as Adam (weight_decay decoupled)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's rule: g += wd*p; sq = alpha sq + (1-alpha) g^2; avg = sqrt(sq) + eps (centered:
    sqrt(sq - mean_g^2) + eps); p -= lr g/avg, or with momentum buf = momentum buf + g/avg, p -= lr buf.

    Args:
        params: parameters to update; lr: the learning rate.
        alpha: smoothing constant of the squared-gradient average. eps: added to the denominator.
        momentum: momentum factor. weight_decay: L2 penalty. centered: normalize by the variance estimate.
    """

    _hyper = ("alpha", "eps", "momentum", "weight_decay", "centered")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
        _check("alpha", alpha)
        _check("eps", eps)
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        super().__init__(params, lr, alpha=float(alpha), eps=float(eps), momentum=float(momentum),
                         weight_decay=float(weight_decay), centered=bool(centered))

    def _update(self, p, g, state, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        sq = self._buf(state, "square_avg", p, xp)
        sq *= self.alpha
        sq += (1 - self.alpha) * (g * g)
        if self.centered:
            ga = self._buf(state, "grad_avg", p, xp)
            ga *= self.alpha
            ga += (1 - self.alpha) * g
            avg = xp.sqrt(sq - ga * ga) + self.eps
        else:
            avg = xp.sqrt(sq) + self.eps
        if self.momentum > 0:
            buf = self._buf(state, "momentum_buffer", p, xp)
            buf *= self.momentum
            buf += g / avg
            p.data -= self.lr * buf
        else:
            p.data -= self.lr * (g / avg)


class Adagrad(Optimizer):
    """Adagrad, PyTorch's rule: g += wd*p; clr = lr / (1 + (t-1) lr_decay); sum += g^2;
    p -= clr g / (sqrt(sum) + eps).

    Args:
        params: parameters to update; lr: the learning rate. lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty. initial_accumulator_value: starting value of the sum. eps: added to the
        denominator.
    """

    _hyper = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        _check("lr_decay", lr_decay)
        _check("weight_decay", weight_decay)
        _check("initial_accumulator_value", initial_accumulator_value)
        _check("eps", eps)
        super().__init__(params, lr, lr_decay=float(lr_decay), weight_decay=float(weight_decay),
                         initial_accumulator_value=float(initial_accumulator_value), eps=float(eps))

    def _update(self, p, g, state, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        s = self._buf(state, "sum", p, xp, self.initial_accumulator_value)
        clr = self.lr / (1 + (state["step"] - 1) * self.lr_decay)
        s += g * g
        p.data -= clr * (g / (xp.sqrt(s) + self.eps))


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's rule: g += wd*p; sq = rho sq + (1-rho) g^2;
    delta = sqrt(acc + eps) / sqrt(sq + eps) * g; acc = rho acc + (1-rho) delta^2; p -= lr delta.

    Args:
        params: parameters to update; lr: scale of the update (1.0 is the paper's rule). rho: decay of the
        running averages, in [0, 1]. eps: added inside the square roots. weight_decay: L2 penalty.
    """

    _hyper = ("rho", "eps", "weight_decay")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        _check("rho", rho, 0.0, 1.0 + 1e-12)
        _check("eps", eps)
        _check("weight_decay", weight_decay)
        super().__init__(params, lr, rho=float(rho), eps=float(eps), weight_decay=float(weight_decay))

    def _update(self, p, g, state, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        sq = self._buf(state, "square_avg", p, xp)
        acc = self._buf(state, "acc_delta", p, xp)
        sq *= self.rho
        sq += (1 - self.rho) * (g * g)
        delta = xp.sqrt(acc + self.eps) / xp.sqrt(sq + self.eps) * g
        acc *= self.rho
        acc += (1 - self.rho) * (delta * delta)
        p.data -= self.lr * delta


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
               "adadelta": Adadelta}


def get_optimizer(name: str, params, **kwargs) -> Optimizer:
    """An optimizer by name.

    Args:
        name: 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad' or 'adadelta' (any case).
        params: the parameters to optimize (e.g. model.parameters()).
        **kwargs: the optimizer's hyper-parameters (lr, momentum, weight_decay, ...).

    Returns:
        the Optimizer.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or a bad hyper-parameter.
    """
    try:
        cls = _OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(_OPTIMIZERS)}") from None
    return cls(params, **kwargs)


# ---- learning-rate schedules ---------------------------------------------------------------------
class LRScheduler:
    """Base class of the per-epoch learning-rate schedules (PyTorch's torch.optim.lr_scheduler.LRScheduler).

    The schedule is a closed form of the epoch: `step()` moves `last_epoch` on by one and sets
    `optimizer.lr = get_lr(last_epoch)` (what PyTorch gives for one parameter group). `base_lr` is the
    optimizer's `initial_lr`, the lr it was built with, not its current lr. Construction takes the first step:
    with the default last_epoch=-1 the optimizer's lr is set to get_lr(0) at once. Subclasses implement
    `get_lr(epoch)`.

    Args:
        optimizer: the strided Optimizer whose `lr` the schedule sets.
        last_epoch: the index of the last epoch done; -1 (the default) starts a new schedule, n resumes it
            (construction then sets the lr of epoch n + 1).
    """

    _positive = ()  # the schedule's periods, which must be >= 1

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        self.base_lr = optimizer.initial_lr
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self, epoch) -> float:  # pragma: no cover - abstract
        """The learning rate of epoch `epoch` (an int >= 0); unlike PyTorch's get_lr it takes the epoch."""
        raise NotImplementedError

    def step(self):
        """Advance one epoch (call it once per epoch, after that epoch's optimizer steps): last_epoch += 1 and
        optimizer.lr = get_lr(last_epoch). PyTorch's deprecated `epoch` argument is not taken."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr(self.last_epoch)

    def get_last_lr(self) -> float:
        """The optimizer's current lr, a float (PyTorch returns a list of one lr per parameter group)."""
        return self.optimizer.lr

    def state_dict(self) -> dict:
        """Every attribute but the optimizer: {'base_lr', 'last_epoch', and the schedule's own arguments
        (StepLR's step_size, gamma; CosineAnnealingLR's T_max, eta_min)}, plain Python numbers."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, sd) -> None:
        """Restore the attributes in `sd` (a state_dict(); a subset updates only those) and set the optimizer's
        lr to get_lr(last_epoch). Values with .item() (NumPy scalars and 0-d arrays from a checkpoint file)
        become Python numbers.

        Raises:
            ValueError: a key the schedule does not have, a value that is not a real number (or is a bool),
                last_epoch not an int, a period (step_size, T_max) < 1. A failed load changes nothing.
        """
        new = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(sd).items()}
        unknown = sorted(set(new) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unknown keys {unknown}")
        bad = [k for k, v in new.items() if isinstance(v, bool) or not isinstance(v, (int, float))
               or (k == "last_epoch" and not isinstance(v, int)) or (k in self._positive and v < 1)]
        if bad:
            raise ValueError(f"{type(self).__name__}.load_state_dict: {bad} must be real numbers (last_epoch an "
                             f"int, {', '.join(self._positive)} >= 1)")
        trial = copy.copy(self)  # the lr is computed before anything changes
        trial.__dict__.update(new)
        lr = trial.get_lr(trial.last_epoch)
        self.__dict__.update(new)
        self.optimizer.lr = lr


class StepLR(LRScheduler):
    """Decay the lr by `gamma` every `step_size` epochs: lr = base_lr * gamma ** (epoch // step_size), as
    PyTorch's StepLR.

    Args:
        optimizer: the strided Optimizer whose lr the schedule sets.
        step_size: epochs between decays, >= 1 (truncated to an int).
        gamma: the multiplicative factor of each decay (default 0.1).
        last_epoch: -1 starts the schedule (see LRScheduler).

    Raises:
        ValueError: step_size < 1.
    """

    _positive = ("step_size",)

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self, epoch):
        """base_lr * gamma ** (epoch // step_size)."""
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max epochs (SGDR without restarts), as PyTorch's
    CosineAnnealingLR: lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2. Past T_max the
    cosine goes on (the lr rises back to base_lr at 2 T_max), as PyTorch's.

    Args:
        optimizer: the strided Optimizer whose lr the schedule sets.
        T_max: epochs from base_lr down to eta_min, >= 1 (truncated to an int).
        eta_min: the lowest learning rate (default 0.0).
        last_epoch: -1 starts the schedule (see LRScheduler).

    Raises:
        ValueError: T_max < 1.
    """

    _positive = ("T_max",)

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self, epoch):
        """eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2."""
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
