"""model.summary(input_shape): a Keras-style table of every layer's output shape, parameters, FLOPs and
receptive field for ONE input of shape (C, H, W) (or (F,) for a model that starts with Linear).

Shapes come from strided.conv_output_shape / strided.pool_output_shape (the layers' output_shape methods),
not from running the model, so summarizing VGG-16 at 224x224 costs nothing.  Each layer declares its FLOPs
and receptive-field window (Module.forward_flops / receptive_window); the containers are walked here.
Conventions:
  * Param #: the layer's own parameters (PyTorch's count: BatchNorm running statistics are buffers and
    are not counted); Non-trainable params: parameters with requires_grad=False (model.requires_grad_()).
  * FLOPs per sample of the forward pass: conv and linear 2 per multiply-add (bias adds not counted),
    pooling one per window element, normalization layers 2 per element, activations / dropout / residual add one
    per element, flatten and concat 0.
  * Receptive field: the size (rows x cols of the input) of the input region one output unit sees,
    through kernel sizes, dilations and strides of every path; 'all' once a layer mixes every position
    (Linear, GlobalAvgPool2d), '-' for inputs without a spatial layout.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .module import Concat, Module, Residual, Sequential

SummaryRow = namedtuple("SummaryRow", ["name", "type", "output_shape", "params", "trainable_params", "flops",
                                       "receptive_field"])


def _numel(shape):
    return int(np.prod(shape)) if len(shape) else 1


def _rf_window(rf, k, s, d):
    if not isinstance(rf, tuple):
        return rf
    rh, rw, jh, jw = rf
    return (rh + d[0] * (k[0] - 1) * jh, rw + d[1] * (k[1] - 1) * jw, jh * s[0], jw * s[1])


def _rf_combine(a, b):
    if a == "all" or b == "all":
        return "all"
    if a is None or b is None:
        return a if b is None else b
    return tuple(max(u, v) for u, v in zip(a, b))


def _leaf_rf(m, rf):
    window = m.receptive_window()
    if window is None:
        return rf
    if window == "all":
        return None if rf is None else "all"
    return _rf_window(rf, *window)


def _own_params(m):
    ps = [p for p in m._parameters.values() if p is not None]
    return sum(p.size for p in ps), sum(p.size for p in ps if p.requires_grad)


def _walk(m, shape, rf, name, rows):
    if isinstance(m, Sequential):
        for child_name, child in m.named_children():
            shape, rf = _walk(child, shape, rf, f"{name}.{child_name}" if name else child_name, rows)
        return shape, rf
    if isinstance(m, Residual):
        sb, rfb = _walk(m.body, shape, rf, f"{name}.body" if name else "body", rows)
        ss, rfs = (shape, rf) if m.shortcut is None else _walk(m.shortcut, shape, rf,
                                                              f"{name}.shortcut" if name else "shortcut", rows)
        if tuple(sb) != tuple(ss):
            raise ValueError(f"Residual {name!r}: body output {sb} differs from shortcut output {ss}")
        rf = _rf_combine(rfb, rfs)
        rows.append(SummaryRow(name or "residual", "Add", tuple(sb), 0, 0, _numel(sb), rf))
        return tuple(sb), rf
    if isinstance(m, Concat):
        outs, rfc = [], None
        for child_name, child in m.named_children():
            o, r = _walk(child, shape, rf, f"{name}.{child_name}" if name else child_name, rows)
            outs.append(tuple(o))
            rfc = _rf_combine(rfc, r)
        if len({o[1:] for o in outs}) > 1:
            raise ValueError(f"Concat {name!r}: branch outputs {outs} differ beyond the channel axis")
        out = (sum(o[0] for o in outs),) + outs[0][1:]
        rows.append(SummaryRow(name or "concat", type(m).__name__, out, 0, 0, 0, rfc))
        return out, rfc
    total, trainable = _own_params(m)
    if not m._modules and hasattr(m, "output_shape"):
        out = tuple(int(v) for v in m.output_shape(tuple(shape)))
        rf = _leaf_rf(m, rf)
        flops = m.forward_flops(tuple(shape), out)
    else:  # a user module without output_shape: run one zero sample in eval mode
        total = sum(p.size for p in m.parameters())
        trainable = sum(p.size for p in m.parameters() if p.requires_grad)
        modes = [(sub, sub.training) for sub in m.modules()]
        p0 = next(m.parameters(), None)
        dtype = np.float32 if p0 is None else p0.dtype
        from .._device import array_module
        xp = np if p0 is None else array_module(p0.data)
        try:
            m.eval()
            out = tuple(m(xp.zeros((1, *shape), dtype)).shape[1:])
        finally:
            for sub, mode in modes:
                object.__setattr__(sub, "training", mode)
        rf, flops = ("?" if rf is not None else None), None
    rows.append(SummaryRow(name or type(m).__name__.lower(), type(m).__name__, out, total, trainable, flops, rf))
    return out, rf


def _shape_str(shape):
    return "x".join(str(v) for v in shape)


def _rf_str(rf):
    if rf is None:
        return "-"
    if isinstance(rf, str):
        return rf
    return f"{rf[0]}x{rf[1]}"


class Summary:
    """What model.summary(input_shape) returns: str()/repr() is the table; the data is in `rows`
    (SummaryRow: name, type, output_shape, params, trainable_params, flops, receptive_field), and
    input_shape, output_shape, total_params, trainable_params, non_trainable_params, total_flops."""

    def __init__(self, model, input_shape, rows):
        self.model_name = type(model).__name__
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.output_shape = rows[-1].output_shape if rows else self.input_shape
        params = list(model.parameters())
        self.total_params = sum(p.size for p in params)
        self.trainable_params = sum(p.size for p in params if p.requires_grad)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.total_flops = sum(r.flops for r in rows if r.flops is not None)

    def __str__(self):
        head = ("Layer (type)", "Output Shape", "Param #", "FLOPs", "Receptive field")
        body = [(f"{r.name} ({r.type})", _shape_str(r.output_shape), f"{r.params:,}",
                 "?" if r.flops is None else f"{r.flops:,}", _rf_str(r.receptive_field)) for r in self.rows]
        widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(5)]

        def line(cells):
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2].rjust(widths[2]),
                              cells[3].rjust(widths[3]), cells[4].rjust(widths[4])]).rstrip()

        width = sum(widths) + 8
        out = [f'Model: "{self.model_name}"   input: {_shape_str(self.input_shape)}', "_" * width,
               line(head), "=" * width]
        out += [line(b) for b in body]
        out += ["=" * width,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}",
                f"Total FLOPs (forward, per sample): {self.total_flops:,}",
                "_" * width]
        return "\n".join(out)

    __repr__ = __str__


def summarize(model: Module, input_shape) -> Summary:
    """The Summary of `model` for one input of shape (C, H, W) (or (F,)); also model.summary(input_shape)."""
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) not in (1, 3):
        raise ValueError(f"summary input_shape is one sample's shape, (C, H, W) or (F,), got {input_shape}")
    rows = []
    rf = (1, 1, 1, 1) if len(input_shape) == 3 else None
    _walk(model, input_shape, rf, "", rows)
    return Summary(model, input_shape, rows)


# model.summary(shape) is attached here rather than defined in module.py, so that the import edge runs one
# way only: summary -> module.
Module.summary = summarize

__all__ = ["Summary", "SummaryRow", "summarize"]
