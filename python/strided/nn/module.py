"""Parameter, Module and the containers (Sequential, Residual, Concat).

A Module holds state and calls the functional ops: `y = m(x)` runs `forward(x)` and caches what the
backward needs; `gx = m.backward(gy)` returns the input gradient and ACCUMULATES (+=) the parameter
gradients into `p.grad`.  `m.backward(gy, need_input_grad=False)` skips the input gradient (returns
None); a Sequential passes that flag to its first child, so the first Conv2d of a model never computes
the gradient of the images.  All elementwise code uses `xp = array_module(x)`, so the same modules run on
NumPy (C++ kernels) or CuPy (CUDA kernels) arrays.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .._device import array_module, normalize_device, to_device


class Parameter:
    """A trainable array: `.data` (NumPy or CuPy), `.grad` (None or an array of the same shape, summed into
    by backward, reset by zero_grad) and `requires_grad` (False freezes it: no gradient is computed)."""

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return int(self.data.size)

    def accumulate(self, g):
        """grad += g (the first call stores g, copying it only if it does not own its memory)."""
        if g is None or not self.requires_grad:
            return
        if g.dtype != self.data.dtype:
            g = g.astype(self.data.dtype)
        if self.grad is None:
            self.grad = g if g.flags.owndata else g.copy()
        else:
            self.grad += g

    def __repr__(self):
        return (f"Parameter(shape={self.shape}, dtype={self.dtype}"
                + ("" if self.requires_grad else ", requires_grad=False") + ")")


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model (see the module docstring for the forward/backward contract).

    Attributes that are Parameters, Modules or registered buffers are tracked in assignment order, which
    fixes the order of parameters() and the keys of state_dict() (dotted names such as "0.weight").
    summary(input_shape) is strided.nn.summary.summarize, attached to this class by that module."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- attribute bookkeeping -------------------------------------------------------------------
    def __setattr__(self, name, value):
        if name in self.__dict__ and not isinstance(value, (Parameter, Module)):
            object.__setattr__(self, name, value)  # a plain attribute stays one (the forward caches)
            return
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = value
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """A non-trainable array that belongs to the state (BatchNorm running statistics)."""
        if name in self.__dict__:
            object.__delattr__(self, name)
        self._buffers[name] = array

    def register_parameter(self, name, param):
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            self.__setattr__(name, param)

    def add_module(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"add_module needs a Module, got {type(module).__name__}")
        self._modules[str(name)] = module

    # ---- forward / backward ----------------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, gy, need_input_grad=True):
        """Input gradient for the output gradient gy (None when need_input_grad is False); parameter
        gradients are added into their .grad."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x):
        return self.forward(x)

    # ---- traversal -------------------------------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def _named(self, table, prefix, seen):
        for name, v in getattr(self, table).items():
            if v is None or id(v) in seen:
                continue
            seen.add(id(v))
            yield (f"{prefix}.{name}" if prefix else name), v
        for name, m in self._modules.items():
            yield from m._named(table, f"{prefix}.{name}" if prefix else name, seen)

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs, each shared parameter once."""
        return self._named("_parameters", prefix, set())

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix=""):
        return self._named("_buffers", prefix, set())

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only=False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ---- modes and gradients ---------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter gradient: to None (default, as PyTorch 2) or to zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; frozen ones count as non-trainable in summary()."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    # ---- state -----------------------------------------------------------------------------------
    def state_dict(self):
        """OrderedDict dotted name -> NumPy array copy, parameters then buffers of each module."""
        out = OrderedDict()
        for prefix, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, v in table.items():
                    if v is None:
                        continue
                    a = v.data if isinstance(v, Parameter) else v
                    out[f"{prefix}.{name}" if prefix else name] = np.array(to_device(a, "cpu"), copy=True)
        return out

    def _state_slots(self):
        slots = OrderedDict()
        for prefix, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, v in table.items():
                    if v is not None:
                        slots[f"{prefix}.{name}" if prefix else name] = (m, table, name)
        return slots

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers in place (keeping their device and dtype).

        strict=True raises KeyError listing missing and unexpected keys; a shape mismatch always raises
        ValueError.  Returns (missing_keys, unexpected_keys)."""
        slots = self._state_slots()
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, (m, table, name) in slots.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            target = table[name].data if isinstance(table[name], Parameter) else table[name]
            if tuple(np.shape(value)) != tuple(target.shape):
                raise ValueError(f"load_state_dict: {key!r} has shape {tuple(np.shape(value))} in the state "
                                 f"dict but {tuple(target.shape)} in the model")
            xp = array_module(target)
            src = value if array_module(value) is xp else to_device(value, "cpu" if xp is np else "cuda")
            target[...] = xp.asarray(src, dtype=target.dtype)
        return IncompatibleKeys(missing, unexpected)

    def _apply(self, fn):
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = fn(p.data)
                    if p.grad is not None:
                        p.grad = fn(p.grad)
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = fn(b)
        return self

    def to(self, device=None, dtype=None):
        """Move parameters and buffers to 'cpu' or 'cuda' and/or cast them to a float dtype; returns self.
        `m.to('cuda')`, `m.to(np.float64)`, `m.to('cuda', np.float64)` all work."""
        if device is not None and dtype is None:
            name = str(device).lower()
            if not (name in ("cpu", "cuda", "gpu") or name.startswith("cuda:")):
                try:
                    np.dtype(device)
                    device, dtype = None, device
                except TypeError:
                    pass
        if device is not None:
            device = normalize_device(device)
            self._apply(lambda a: to_device(a, device))
        if dtype is not None:
            self.astype(dtype)
        return self

    def astype(self, dtype):
        """Cast parameters (and their grads) and float buffers to float32 or float64; returns self.
        Integer buffers (BatchNorm's num_batches_tracked) keep their dtype."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"strided modules support float32 and float64, got {dtype}")
        return self._apply(lambda a: a.astype(dtype, copy=False) if a.dtype.kind == "f" else a)

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # ---- printing --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    # ---- what a layer declares about itself (Sequential's schedule, strided.nn.summary) -------------
    def runs_after(self, next_module) -> bool:
        """True when this module, directly followed by `next_module` in a Sequential, may run after it
        instead, with bit-identical outputs and gradients (see Sequential._schedule); False by default."""
        return False

    def forward_flops(self, in_shape, out_shape) -> int:
        """Forward FLOPs for one sample of shape in_shape (summary's convention: one per output element)."""
        return int(np.prod(out_shape))

    def receptive_window(self):
        """How this layer grows the receptive field in the summary: None (it does not), 'all' (every
        position mixes) or ((kh, kw), stride, dilation) of its window."""
        return None


def _check_cached(module, value):
    if value is None:
        raise RuntimeError(f"{type(module).__name__}.backward called without a preceding forward "
                           "(or twice for one forward)")
    return value


def _check_dtype(module, x, param):
    """Linear and BatchNorm would silently promote a float32 input against float64 parameters (conv2d
    refuses the mix); refuse it here as well, with the fix."""
    if param is not None and x.dtype != param.data.dtype:
        raise TypeError(f"{type(module).__name__} has {param.data.dtype} parameters but got a {x.dtype} input; "
                        f"cast the model (model.astype({str(x.dtype)!r})) or the input")


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class Sequential(Module):
    """Modules applied in order: Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module)).
    Indexable (an int gives a module, a slice a Sequential), len(), iteration, append().
    Reorderings with identical results, declared by the layers through runs_after (_schedule): ReLU then
    MaxPool2d runs as MaxPool2d then ReLU."""

    def __init__(self, *modules):
        super().__init__()
        self._order = None  # the children as the last forward ran them (see _schedule)
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        if isinstance(idx, str):
            return self._modules[idx]
        return items[idx][1]

    def _schedule(self):
        """The children in execution order: a child whose runs_after(next child) is True swaps with it
        (ReLU before MaxPool2d, see ReLU.runs_after), in one left-to-right pass."""
        mods = list(self._modules.values())
        for i in range(len(mods) - 1):
            if mods[i].runs_after(mods[i + 1]):
                mods[i], mods[i + 1] = mods[i + 1], mods[i]
        return mods

    def forward(self, x):
        self._order = self._schedule()
        for m in self._order:
            x = m(x)
        return x

    def backward(self, gy, need_input_grad=True):
        mods = _check_cached(self, self._order)
        if not mods:
            return gy if need_input_grad else None
        for m in reversed(mods[1:]):
            gy = m.backward(gy, need_input_grad=True)
        return mods[0].backward(gy, need_input_grad=need_input_grad)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed layer)."""

    def forward(self, x):
        return x

    def backward(self, gy, need_input_grad=True):
        return gy if need_input_grad else None

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward_flops(self, in_shape, out_shape):
        return 0


class Residual(Module):
    """y = body(x) + shortcut(x), or body(x) + x without a shortcut; backward sums both branch gradients."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ValueError(f"Residual: body output shape {tuple(y.shape)} differs from shortcut output shape "
                             f"{tuple(s.shape)}; give a projection shortcut")
        return y + s

    def backward(self, gy, need_input_grad=True):
        gb = self.body.backward(gy, need_input_grad)
        if self.shortcut is None:
            gs = gy if need_input_grad else None
        else:
            gs = self.shortcut.backward(gy, need_input_grad)
        return _add(gb, gs) if need_input_grad else None


class Concat(Module):
    """Parallel branches on the same input, outputs concatenated on the channel axis (axis 1, or 0 for an
    unbatched (C, H, W) input);
    backward splits the gradient and sums the branches' input gradients.
    Concat(b0, b1, ...) or Concat(OrderedDict(name=branch))."""

    def __init__(self, *branches):
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], (dict, OrderedDict)):
            for name, m in branches[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(branches):
                self.add_module(str(i), m)
        object.__setattr__(self, "_sizes", None)

    def forward(self, x):
        outs = [m(x) for m in self._modules.values()]
        axis = 0 if x.ndim == 3 else 1  # an unbatched (C, H, W) input has its channels first
        object.__setattr__(self, "_sizes", (axis, [o.shape[axis] for o in outs]))
        return array_module(x).concatenate(outs, axis=axis)

    def backward(self, gy, need_input_grad=True):
        axis, sizes = _check_cached(self, self._sizes)
        xp = array_module(gy)
        gx, start = None, 0
        for m, c in zip(self._modules.values(), sizes):
            g = m.backward(xp.ascontiguousarray(gy[(slice(None),) * axis + (slice(start, start + c),)]),
                           need_input_grad)
            start += c
            gx = _add(gx, g) if need_input_grad else None
        return gx


__all__ = ["Parameter", "Module", "Sequential", "Identity", "Residual", "Concat"]
