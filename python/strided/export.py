"""ONNX export: strided.export.to_onnx(model, (C, H, W), "model.onnx") writes an inference graph that
onnxruntime (or any ONNX runtime) runs with the model's eval-mode outputs.

Every layer type's conversion sits in one table here (_CONVERTERS, type -> function) rather than as a method
on each layer: the layers stay thin and free of the optional onnx dependency, the whole ONNX vocabulary
strided uses reads in one screen, and a layer without an entry fails with one message listing the ones
that have. A converter gets the graph being built, the module, its input's value name and one sample's
input shape, and returns its output's value name; containers recurse. The graph is built with onnx.helper,
weights become initializers under the model's state_dict names, and the batch axis is symbolic ("N").
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from . import nn
from .ops.conv2d.args import conv_padding

DEFAULT_OPSET = 17


class _Graph:
    """The nodes and initializers of the graph being built, with unique value names."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers, self._used = [], [], set()

    def name(self, base: str) -> str:
        base = base or "value"
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def constant(self, base: str, array) -> str:
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: Sequence[str], base: str, **attrs) -> str:
        out = self.name(f"{base}:{op}" if base else op)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out


def _f32(a) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a, dtype=np.float32)  # CuPy arrays come home


def _param(g, m, prefix, name):
    p = getattr(m, name)
    return g.constant(f"{prefix}.{name}" if prefix else name, _f32(p.data))


def _conv(g, m, x, shape, prefix):
    top, bottom, left, right = conv_padding(m.padding, shape[1:], m.kernel_size, m.stride, m.dilation)
    inputs = [x, _param(g, m, prefix, "weight")] + ([_param(g, m, prefix, "bias")] if m.bias is not None else [])
    return g.node("Conv", inputs, prefix, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                  dilations=list(m.dilation), group=m.groups, pads=[top, left, bottom, right])


def _conv_transpose(g, m, x, shape, prefix):
    ph, pw = m.padding
    inputs = [x, _param(g, m, prefix, "weight")] + ([_param(g, m, prefix, "bias")] if m.bias is not None else [])
    return g.node("ConvTranspose", inputs, prefix, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                  dilations=list(m.dilation), group=m.groups, pads=[ph, pw, ph, pw],
                  output_padding=list(m.output_padding))


def _flatten(g, m, x, shape, prefix):
    if (m.start_dim, m.end_dim) == (1, -1):
        return g.node("Flatten", [x], prefix, axis=1)
    if m.start_dim == 0:  # would fold the batch axis in: only the unbatched use means that
        raise ValueError(f"to_onnx: {prefix or 'Flatten'} is Flatten(start_dim=0), which flattens the batch axis")
    target = g.constant(f"{prefix}.shape", np.array([0, *m.output_shape(shape)], np.int64))  # 0: keep N
    return g.node("Reshape", [x, target], prefix)


def _pool_attrs(m):
    ph, pw = m.padding
    return dict(kernel_shape=list(m.kernel_size), strides=list(m.stride), pads=[ph, pw, ph, pw],
                ceil_mode=int(m.ceil_mode))


def _max_pool(g, m, x, shape, prefix):
    return g.node("MaxPool", [x], prefix, **_pool_attrs(m))


def _avg_pool(g, m, x, shape, prefix):
    return g.node("AveragePool", [x], prefix, count_include_pad=int(m.count_include_pad), **_pool_attrs(m))


def _global_avg_pool(g, m, x, shape, prefix):
    y = g.node("GlobalAveragePool", [x], prefix)
    return y if m.keepdim else g.node("Flatten", [y], prefix, axis=1)


def _linear(g, m, x, shape, prefix):
    inputs = [x, _param(g, m, prefix, "weight")] + ([_param(g, m, prefix, "bias")] if m.bias is not None else [])
    return g.node("Gemm", inputs, prefix, transB=1)


def _batch_norm(g, m, x, shape, prefix):
    c = m.num_features
    scale = _param(g, m, prefix, "weight") if m.affine else g.constant(f"{prefix}.weight", np.ones(c, np.float32))
    shift = _param(g, m, prefix, "bias") if m.affine else g.constant(f"{prefix}.bias", np.zeros(c, np.float32))
    mean = g.constant(f"{prefix}.running_mean", _f32(m.running_mean))
    var = g.constant(f"{prefix}.running_var", _f32(m.running_var))
    return g.node("BatchNormalization", [x, scale, shift, mean, var], prefix, epsilon=m.eps)


def _affine_or_identity(g, m, prefix, shape):
    """The layer's weight and bias, or ones and zeros where it has none."""
    scale = _param(g, m, prefix, "weight") if m.weight is not None else g.constant(f"{prefix}.weight", np.ones(shape, np.float32))
    shift = _param(g, m, prefix, "bias") if m.bias is not None else g.constant(f"{prefix}.bias", np.zeros(shape, np.float32))
    return scale, shift


def _layer_norm(g, m, x, shape, prefix):
    scale, shift = _affine_or_identity(g, m, prefix, m.normalized_shape)
    return g.node("LayerNormalization", [x, scale, shift], prefix, axis=-len(m.normalized_shape), epsilon=m.eps)


def _instance_norm(g, m, x, shape, prefix):
    if m.track_running_stats:  # the eval graph normalizes with the running statistics, as batch norm does
        return _batch_norm(g, m, x, shape, prefix)
    scale, shift = _affine_or_identity(g, m, prefix, (m.num_features,))
    return g.node("InstanceNormalization", [x, scale, shift], prefix, epsilon=m.eps)


def _group_norm(g, m, x, shape, prefix):
    """(N, C, *) as (N, G, -1) normalized per (sample, group) by InstanceNormalization, then back and the
    per-channel affine (ONNX's GroupNormalization changed its scale's meaning between opsets 18 and 21)."""
    G, C = m.num_groups, m.num_channels
    grouped = g.node("Reshape", [x, g.constant(f"{prefix}.groups", np.array([0, G, -1], np.int64))], prefix)
    normed = g.node("InstanceNormalization", [grouped, g.constant(f"{prefix}.ones", np.ones(G, np.float32)),
                                              g.constant(f"{prefix}.zeros", np.zeros(G, np.float32))],
                    prefix, epsilon=m.eps)
    y = g.node("Reshape", [normed, g.constant(f"{prefix}.shape", np.array([0, *shape], np.int64))], prefix)
    if m.weight is None:
        return y
    bshape = (C,) + (1,) * (len(shape) - 1)
    y = g.node("Mul", [y, g.constant(f"{prefix}.weight", _f32(m.weight.data).reshape(bshape))], prefix)
    return g.node("Add", [y, g.constant(f"{prefix}.bias", _f32(m.bias.data).reshape(bshape))], prefix)


def _upsample(g, m, x, shape, prefix):
    """Resize with PyTorch's coordinate rules: nearest floors src = dst / scale; bilinear is half-pixel
    (align_corners=False) or corner-aligned. A given scale_factor is used directly, as PyTorch does; a size
    goes in as the output size (the batch axis taken from the input)."""
    if m.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if m.align_corners
                     else "pytorch_half_pixel")
    if m.size is None and not m.recompute_scale_factor:
        sh, sw = (m.scale_factor, m.scale_factor) if np.isscalar(m.scale_factor) else m.scale_factor
        scales = g.constant(f"{prefix}.scales", np.array([1, 1, sh, sw], np.float32))
        return g.node("Resize", [x, "", scales], prefix, **attrs)
    out = m.output_shape(shape)
    lead = g.node("Shape", [x], prefix, start=0, end=2)
    sizes = g.node("Concat", [lead, g.constant(f"{prefix}.size", np.array(out[1:], np.int64))], prefix, axis=0)
    return g.node("Resize", [x, "", "", sizes], prefix, **attrs)


def _softplus(g, m, x, shape, prefix):
    """ONNX Softplus is log(1 + exp(x)); beta != 1 scales around it. PyTorch's threshold (x itself where
    beta*x > threshold) needs no node: there log1p(exp(-beta*x)) is below float32's resolution of x."""
    if m.beta == 1:
        return g.node("Softplus", [x], prefix)
    beta = g.constant(f"{prefix}.beta", np.float32(m.beta))
    y = g.node("Softplus", [g.node("Mul", [x, beta], prefix)], prefix)
    return g.node("Div", [y, beta], prefix)


def _passthrough(g, m, x, shape, prefix):
    return x  # Dropout is the identity at inference


def _elementwise(op, **attrs):
    """A converter for a one-input ONNX op; attrs maps ONNX attribute -> the module's attribute name."""
    def convert(g, m, x, shape, prefix):
        return g.node(op, [x], prefix, **{k: float(getattr(m, v)) for k, v in attrs.items()})
    return convert


def _sequential(g, m, x, shape, prefix):
    # Declared order, not Sequential's schedule: ReLU/MaxPool2d swaps give the same values either way.
    for name, child in m.named_children():
        x, shape = _convert(g, child, x, shape, f"{prefix}.{name}" if prefix else name)
    return x, shape


def _residual(g, m, x, shape, prefix):
    yb, sb = _convert(g, m.body, x, shape, f"{prefix}.body")
    ys, ss = (x, shape) if m.shortcut is None else _convert(g, m.shortcut, x, shape, f"{prefix}.shortcut")
    if tuple(sb) != tuple(ss):
        raise ValueError(f"Residual {prefix!r}: body output {tuple(sb)} differs from shortcut output {tuple(ss)}")
    return g.node("Add", [yb, ys], prefix), sb


def _concat(g, m, x, shape, prefix):
    outs, shapes = [], []
    for name, child in m.named_children():
        y, s = _convert(g, child, x, shape, f"{prefix}.{name}")
        outs.append(y)
        shapes.append(tuple(s))
    return g.node("Concat", outs, prefix, axis=1), (sum(s[0] for s in shapes),) + shapes[0][1:]


_CONTAINERS = {nn.Sequential: _sequential, nn.Residual: _residual, nn.Concat: _concat}

_CONVERTERS = {
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv_transpose,
    nn.MaxPool2d: _max_pool,
    nn.AvgPool2d: _avg_pool,
    nn.GlobalAvgPool2d: _global_avg_pool,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.InstanceNorm2d: _instance_norm,
    nn.GroupNorm: _group_norm,
    nn.LayerNorm: _layer_norm,
    nn.Upsample: _upsample,
    nn.Flatten: _flatten,
    nn.ReLU: _elementwise("Relu"),
    nn.LeakyReLU: _elementwise("LeakyRelu", alpha="negative_slope"),
    nn.ELU: _elementwise("Elu", alpha="alpha"),
    nn.Sigmoid: _elementwise("Sigmoid"),
    nn.Tanh: _elementwise("Tanh"),
    nn.Softplus: _softplus,
    nn.Dropout: _passthrough,
    nn.Identity: _passthrough,
}


def _lookup(table, m):
    for cls in type(m).__mro__:  # BasicBlock is a Sequential, Inception a Concat, AvgPool2d a MaxPool2d
        if cls in table:
            return table[cls]
    return None


def _convert(g, m, x, shape, prefix):
    container = _lookup(_CONTAINERS, m)
    if container is not None:
        return container(g, m, x, shape, prefix)
    convert = _lookup(_CONVERTERS, m)
    if convert is None:
        raise TypeError(f"to_onnx has no conversion for {type(m).__name__} ({prefix or 'the model'}); it converts "
                        + ", ".join(c.__name__ for c in (*_CONVERTERS, *_CONTAINERS)))
    return convert(g, m, x, shape, prefix), tuple(m.output_shape(shape))


def to_onnx(model: nn.Module, input_shape: Sequence[int], path: Union[str, "os.PathLike[str]", None] = None,
            opset: int = DEFAULT_OPSET, batch_size: Optional[int] = None, check: bool = True):
    """Export a strided model to ONNX, as the inference graph of its eval mode.

    BatchNorm uses its running statistics and Dropout is left out (the identity), whatever mode the model
    is in. Weights are stored as float32 initializers named as in model.state_dict().

    Args:
        model: a strided.nn model built from Conv2d, Linear, MaxPool2d, AvgPool2d, GlobalAvgPool2d,
            Flatten, ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus, Dropout, BatchNorm1d/2d, Identity
            and the containers Sequential, Residual (an ONNX Add), Concat (an ONNX Concat on channels),
            BasicBlock and Inception; every model in strided.models.
        input_shape: one sample's shape, (C, H, W) (or (F,) for a model that starts with Linear).
        path: where to write the .onnx file; None writes nothing.
        opset: the ONNX opset to target (default 17).
        batch_size: a fixed batch size; None (default) leaves the batch axis symbolic ('N').
        check: run onnx.checker.check_model (with shape inference) on the result.

    Returns:
        onnx.ModelProto with one input 'input' (N, *input_shape) and one output 'output', float32.

    Raises:
        ImportError: onnx is not installed (pip install onnx, or strided[onnx]).
        TypeError: a layer with no ONNX conversion (the message lists those that have one).
        ValueError: input_shape does not fit the model (as model.summary would report).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        raise ImportError("to_onnx needs the onnx package: pip install onnx onnxruntime "
                          "(or pip install 'strided[onnx]')") from e
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) not in (1, 3):
        raise ValueError(f"to_onnx input_shape is one sample's shape, (C, H, W) or (F,), got {input_shape}")
    g = _Graph(helper, numpy_helper)
    x = g.name("input")
    y, out_shape = _convert(g, model, x, input_shape, "")
    if not g.nodes or g.nodes[-1].output[0] != y:  # a graph output must be the output of a node
        y = g.node("Identity", [y], "output")
    batch = "N" if batch_size is None else int(batch_size)
    graph = helper.make_graph(
        g.nodes, type(model).__name__, [helper.make_tensor_value_info(x, TensorProto.FLOAT, [batch, *input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, *out_shape])], g.initializers)
    graph.node[-1].output[0] = "output"  # the same output name in every export
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="strided")
    if check:
        onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


__all__ = ["to_onnx", "DEFAULT_OPSET"]
