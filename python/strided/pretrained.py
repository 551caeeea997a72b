"""Transfer learning: torchvision-format weights into strided models, a new classifier head, frozen layers.

    model = strided.models.resnet18(num_classes=2, weights="resnet18.safetensors")   # pretrained + new head
    strided.models.freeze(model, except_head=True)      # fine-tune the head only (a feature extractor)

A torchvision state dict names modules as torchvision builds them (resnet18's `layer1.0.downsample.0`,
vgg's `classifier.0`); strided's names differ where its containers differ (`layer1.0.residual.shortcut.conv`,
`classifier.1` after the Flatten). One renaming function per architecture (_RENAMES) translates a
torchvision key into strided's. `.safetensors` files load without PyTorch (safetensors.numpy); `.pth`/`.pt`
files need PyTorch (torch.load(weights_only=True)). strided.models builds the models; what only torchvision's
weights need lives here (pretrained: build, load and re-head; GoogLeNet's torchvision layout), so that the
import edge runs models -> pretrained only.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Callable, Dict, Mapping, Optional, Union

import numpy as np

from . import nn

StateDict = Mapping[str, np.ndarray]
Weights = Union[str, "os.PathLike[str]", StateDict]


def read_state_dict(weights: Weights) -> "OrderedDict[str, np.ndarray]":
    """Load a state dict as NumPy arrays from a file or a mapping.

    Args:
        weights: a `.safetensors` file (read with safetensors.numpy, no PyTorch needed), a `.pth`/`.pt`
            file saved by torch.save (read with torch.load(weights_only=True); a dict holding the state
            dict under 'state_dict' or 'model' is unwrapped), or a mapping name -> array or torch.Tensor.

    Returns:
        OrderedDict name -> NumPy array (CPU), in the file's order.

    Raises:
        FileNotFoundError: the file does not exist.
        ImportError: safetensors (for .safetensors) or torch (for .pth) is not installed; the message
            names the pip command.
        ValueError: the file's extension is neither .safetensors nor .pth/.pt.
    """
    if isinstance(weights, Mapping):
        return OrderedDict((k, _to_numpy(v)) for k, v in weights.items())
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError as e:
            raise ImportError("reading .safetensors needs the safetensors package: "
                              "pip install safetensors (or strided[onnx])") from e
        return OrderedDict(load_file(path))
    if ext in (".pth", ".pt"):
        try:
            import torch
        except ImportError as e:
            raise ImportError(f"reading {path!r} needs PyTorch (pip install torch); or convert it once to "
                              ".safetensors, which loads without PyTorch") from e
        sd = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(sd, Mapping) and isinstance(sd.get(key), Mapping):
                sd = sd[key]
        return OrderedDict((k, _to_numpy(v)) for k, v in sd.items())
    raise ValueError(f"weights file {path!r}: expected a .safetensors, .pth or .pt file")


def _to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch.Tensor
        v = v.detach().cpu().numpy()
    return np.asarray(v)


# ---- torchvision key -> strided key, per architecture ----------------------------------------------------
_RESNET_BLOCK = re.compile(r"^(layer\d\.\d)\.(conv1|bn1|conv2|bn2|downsample\.0|downsample\.1)\.(.+)$")
_RESNET_BLOCK_PART = {"conv1": "residual.body.conv1", "bn1": "residual.body.bn1", "conv2": "residual.body.conv2",
                      "bn2": "residual.body.bn2", "downsample.0": "residual.shortcut.conv",
                      "downsample.1": "residual.shortcut.bn"}


def _resnet_key(key: str) -> str:
    """conv1, bn1, fc keep their names; a block's layers sit in its Residual: layer1.0.conv1 ->
    layer1.0.residual.body.conv1, layer2.0.downsample.0 / .1 -> layer2.0.residual.shortcut.conv / .bn."""
    m = _RESNET_BLOCK.match(key)
    return f"{m.group(1)}.{_RESNET_BLOCK_PART[m.group(2)]}.{m.group(3)}" if m else key


_CLASSIFIER = re.compile(r"^classifier\.(\d+)\.(.+)$")


def _classifier_key(key: str) -> str:
    """VGG and AlexNet: features.N keep their indices (same layer order); torchvision's classifier has no
    Flatten (its avgpool + torch.flatten sit in forward), strided's starts with one: classifier.N -> N+1."""
    m = _CLASSIFIER.match(key)
    return f"classifier.{int(m.group(1)) + 1}.{m.group(2)}" if m else key


def _googlenet_key(key: str) -> str:
    """strided.models.googlenet(torchvision=True) uses torchvision's names (conv1.conv, inception3a.branch2.1.bn)."""
    return key


_RENAMES: Dict[str, Callable[[str], str]] = {
    "resnet18": _resnet_key, "vgg11": _classifier_key, "vgg13": _classifier_key, "vgg16": _classifier_key,
    "vgg19": _classifier_key, "alexnet": _classifier_key, "googlenet": _googlenet_key}

# The first classifier Linear of torchvision's VGG / AlexNet reads an AdaptiveAvgPool2d output of this side.
_POOLED = {"vgg": (512, 7), "alexnet": (256, 6)}
# Keys of torchvision checkpoints that strided's layouts leave out: GoogLeNet's auxiliary classifiers.
_SKIPPED = re.compile(r"^(aux1|aux2)\.")


def torchvision_archs() -> list:
    """The architecture names load_torchvision accepts."""
    return sorted(_RENAMES)


def _adaptive_pool_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) matrix of torch's AdaptiveAvgPool over one axis: row i averages [floor(i*size/out),
    ceil((i+1)*size/out))."""
    p = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        p[i, start:end] = 1.0 / (end - start)
    return p


def _fold_adaptive_pool(w: np.ndarray, channels: int, pooled: int, in_features: int) -> np.ndarray:
    """torchvision's classifier reads AdaptiveAvgPool2d((pooled, pooled)) of the C x s x s features, a linear
    map; folding it into the first Linear's weight gives a (out, C*s*s) weight that reads the features
    directly, so a model built for another input size (vgg at 32x32: s = 1) gives torchvision's outputs."""
    side = int(round((in_features // channels) ** 0.5))
    if channels * side * side != in_features:
        raise ValueError(f"the first classifier Linear takes {in_features} features, not {channels} x s x s")
    p = _adaptive_pool_matrix(side, pooled)
    w4 = w.reshape(w.shape[0], channels, pooled, pooled).astype(np.float64)
    return np.einsum("ocij,ia,jb->ocab", w4, p, p).reshape(w.shape[0], in_features).astype(w.dtype)


def load_torchvision(model: nn.Module, weights: Weights, arch: str, strict: bool = True) -> nn.Module:
    """Copy torchvision-format weights into a strided model built in torchvision's layout.

    Parameters, BatchNorm running statistics and num_batches_tracked are copied (older checkpoints without
    num_batches_tracked leave the model's counters as they are); GoogLeNet's aux1/aux2 classifiers are
    skipped. For VGG and AlexNet built for another input size than 224, torchvision's adaptive average
    pool (to 7x7 / 6x6) is folded into the first classifier Linear, so the outputs equal torchvision's on
    the same input.

    Args:
        model: a model from strided.models in torchvision's layout: resnet18(), vgg11..19(batch_norm=...),
            alexnet(torchvision=True), googlenet(torchvision=True).
        weights: a .safetensors or .pth/.pt file, or a mapping name -> array/tensor (see read_state_dict).
        arch: one of torchvision_archs(): 'resnet18', 'vgg11', 'vgg13', 'vgg16', 'vgg19', 'alexnet', 'googlenet'.
        strict: False skips keys that do not fit (as Module.load_state_dict(strict=False)).

    Returns:
        the model, loaded in place (its device and dtype kept).

    Raises:
        ValueError: unknown arch; keys or shapes that do not fit this model (the message names the
            torchvision keys and the strided keys they map to).
    """
    if arch not in _RENAMES:
        raise ValueError(f"load_torchvision knows {torchvision_archs()}, got arch={arch!r}")
    rename = _RENAMES[arch]
    source = read_state_dict(weights)
    targets = model.state_dict()
    mapped, origin = OrderedDict(), {}
    for key, value in source.items():
        if _SKIPPED.match(key):
            continue
        name = rename(key)
        origin[name] = key
        family = "vgg" if arch.startswith("vgg") else arch
        if (family in _POOLED and name in targets and name.endswith(".weight") and value.ndim == 2
                and value.shape != targets[name].shape and value.shape[0] == targets[name].shape[0]):
            channels, pooled = _POOLED[family]
            if value.shape[1] == channels * pooled * pooled:
                value = _fold_adaptive_pool(value, channels, pooled, targets[name].shape[1])
        mapped[name] = value
    missing = [k for k in targets if k not in mapped and not k.endswith("num_batches_tracked")]
    unexpected = [f"{origin[k]} (as {k})" for k in mapped if k not in targets]
    bad = [f"{origin[k]}: {tuple(v.shape)} (model's {k}: {tuple(targets[k].shape)})"
           for k, v in mapped.items() if k in targets and tuple(v.shape) != tuple(targets[k].shape)]
    if strict and (missing or unexpected or bad):
        raise ValueError(f"{arch} weights do not fit this {type(model).__name__}: "
                         + "; ".join(f"{what} {items}" for what, items in
                                     (("missing", missing), ("unexpected", unexpected), ("shape mismatch", bad))
                                     if items)
                         + "; build the model in torchvision's layout (see strided.models) with the same "
                           "num_classes, or pass weights= to the model function, which does both")
    keep = OrderedDict((k, v) for k, v in mapped.items()
                       if k in targets and tuple(v.shape) == tuple(targets[k].shape))
    model.load_state_dict(keep, strict=False)
    return model


# ---- models in torchvision's layout ----------------------------------------------------------------------
def pretrained(arch: str, weights: Weights, num_classes: int, build: Callable[[dict, int], nn.Module]
               ) -> nn.Module:
    """A model built by build(state_dict, classes in the weights), loaded with the torchvision-format weights,
    and given a fresh head when num_classes differs (transfer learning: pretrained backbone, new classifier)."""
    sd = read_state_dict(weights)
    head_key = "fc.weight" if arch in ("resnet18", "googlenet") else "classifier.6.weight"
    if head_key not in sd:
        raise ValueError(f"these weights are not a torchvision {arch} state dict: no {head_key!r} "
                         f"(keys start {list(sd)[:4]})")
    with nn.init.skip_init():  # every parameter is overwritten (load_torchvision is strict)
        model = build(sd, int(sd[head_key].shape[0]))
    load_torchvision(model, sd, arch)
    return model if int(sd[head_key].shape[0]) == num_classes else replace_head(model, num_classes)


def _tv_conv(in_ch: int, out_ch: int, k: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """torchvision's BasicConv2d: conv (no bias), BatchNorm (eps 1e-3), ReLU."""
    return nn.Sequential(OrderedDict([("conv", nn.Conv2d(in_ch, out_ch, k, stride, padding, bias=False)),
                                      ("bn", nn.BatchNorm2d(out_ch, eps=1e-3)), ("relu", nn.ReLU())]))


def _tv_inception(in_ch, c1, c3r, c3, c5r, c5, pool_proj) -> nn.Concat:
    """torchvision's Inception module, with its names; its '5x5' branch is a 3x3 convolution (kept by
    torchvision for its pretrained weights)."""
    return nn.Concat(OrderedDict([
        ("branch1", _tv_conv(in_ch, c1, 1)),
        ("branch2", nn.Sequential(_tv_conv(in_ch, c3r, 1), _tv_conv(c3r, c3, 3, padding=1))),
        ("branch3", nn.Sequential(_tv_conv(in_ch, c5r, 1), _tv_conv(c5r, c5, 3, padding=1))),
        ("branch4", nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), _tv_conv(in_ch, pool_proj, 1))),
    ]))


def googlenet_torchvision(num_classes: int, in_channels: int, dropout: float) -> nn.Sequential:
    """torchvision's GoogLeNet layout and names, without its auxiliary classifiers (strided.models.googlenet
    with torchvision=True)."""
    I, pool = _tv_inception, (lambda k=3: nn.MaxPool2d(k, 2, ceil_mode=True))
    return nn.Sequential(OrderedDict([
        ("conv1", _tv_conv(in_channels, 64, 7, stride=2, padding=3)), ("maxpool1", pool()),
        ("conv2", _tv_conv(64, 64, 1)), ("conv3", _tv_conv(64, 192, 3, padding=1)), ("maxpool2", pool()),
        ("inception3a", I(192, 64, 96, 128, 16, 32, 32)), ("inception3b", I(256, 128, 128, 192, 32, 96, 64)),
        ("maxpool3", pool()),
        ("inception4a", I(480, 192, 96, 208, 16, 48, 64)), ("inception4b", I(512, 160, 112, 224, 24, 64, 64)),
        ("inception4c", I(512, 128, 128, 256, 24, 64, 64)), ("inception4d", I(512, 112, 144, 288, 32, 64, 64)),
        ("inception4e", I(528, 256, 160, 320, 32, 128, 128)), ("maxpool4", pool(2)),
        ("inception5a", I(832, 256, 160, 320, 32, 128, 128)), ("inception5b", I(832, 384, 192, 384, 48, 128, 128)),
        ("avgpool", nn.GlobalAvgPool2d()), ("dropout", nn.Dropout(dropout)), ("fc", nn.Linear(1024, num_classes)),
    ]))


# ---- the classifier head -------------------------------------------------------------------------------
def head(model: nn.Module) -> "tuple[nn.Module, str]":
    """(parent module, attribute name) of the model's classifier head: its last Linear layer.

    Raises:
        ValueError: the model has no Linear layer.
    """
    found = None
    for _, parent in model.named_modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found = (parent, name)
    if found is None:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as the classifier head")
    return found


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the classifier head (the last Linear) by a freshly initialized Linear(in_features, num_classes).

    The new layer is trainable, He-initialized (strided.nn.init), on the old head's device and dtype.

    Args:
        model: any strided model ending in a Linear classifier (every model in strided.models).
        num_classes: outputs of the new head (>= 1).

    Returns:
        the model, changed in place.

    Raises:
        ValueError: num_classes < 1, or the model has no Linear layer.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"replace_head needs a positive int num_classes, got {num_classes!r}")
    parent, name = head(model)
    old = parent._modules[name]
    new = nn.Linear(old.in_features, int(num_classes), bias=old.bias is not None)
    new.to(_device_of(old.weight.data), old.weight.data.dtype)
    parent.add_module(name, new)
    return model


def _device_of(a) -> str:
    return "cpu" if isinstance(a, np.ndarray) else "cuda"


def freeze(model: nn.Module, except_head: bool = True, trainable: Optional[list] = None) -> nn.Module:
    """Freeze parameters (requires_grad=False): backward computes no gradient for them, optimizers and the
    trainer leave them unchanged, summary() counts them as non-trainable.

    BatchNorm layers of the frozen part still update their running statistics in training mode (as in
    PyTorch); call their .eval() as well to keep them fixed.

    Args:
        model: the model to freeze in place.
        except_head: keep the classifier head (the last Linear, see replace_head) trainable.
        trainable: names of further submodules (as in model.named_modules(), e.g. ['layer4']) to keep
            trainable, to fine-tune the last stages too.

    Returns:
        the model.

    Raises:
        KeyError: a name in `trainable` is not a submodule of the model.
    """
    model.requires_grad_(False)
    modules = dict(model.named_modules())
    keep = []
    if except_head:
        parent, name = head(model)
        keep.append(parent._modules[name])
    for name in trainable or ():
        if name not in modules:
            raise KeyError(f"freeze: {name!r} is not a submodule; submodules: {sorted(n for n in modules if n)}")
        keep.append(modules[name])
    for m in keep:
        m.requires_grad_(True)
    return model


__all__ = ["read_state_dict", "load_torchvision", "torchvision_archs", "pretrained", "googlenet_torchvision", "head",
           "replace_head", "freeze"]
