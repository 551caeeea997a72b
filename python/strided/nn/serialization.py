"""Weights files: a model's state dict to and from safetensors (safetensors.numpy; no PyTorch needed).

    model.save("model.safetensors")          # or nn.save_weights(model, path)
    model.load("model.safetensors")          # into a model of the same architecture, in place

The file holds the parameters and buffers under state_dict()'s names, so PyTorch (safetensors.torch) and
other frameworks read it too. Module.save / Module.load are attached here, as summary() is, so that the
import edge runs serialization -> module only. safetensors is optional: imported on call.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Union

from .module import Module

PathLike = Union[str, "os.PathLike[str]"]


def _safetensors():
    try:
        from safetensors import numpy as st
    except ImportError as e:
        raise ImportError("saving and loading weights needs the safetensors package: pip install safetensors "
                          "(or pip install 'strided[onnx]')") from e
    return st


def save_weights(model: Module, path: PathLike, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write model.state_dict() (parameters and buffers, as NumPy arrays on the CPU) to a .safetensors file.

    Args:
        model: any strided module.
        path: the file to write (overwritten if it exists).
        metadata: optional str -> str pairs stored in the file's header (e.g. {'arch': 'resnet18'}).

    Raises:
        ImportError: safetensors is not installed.
        TypeError: metadata holds something other than strings.
    """
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"safetensors metadata must map str to str, got {metadata!r}")
    _safetensors().save_file(dict(model.state_dict()), os.fspath(path), metadata=metadata)


def load_weights(model: Module, path: PathLike, strict: bool = True) -> Module:
    """Load a .safetensors file written by save_weights (or any file with the model's state_dict names)
    into the model in place, keeping each parameter's device and dtype.

    Args:
        model: a module of the same architecture as the one saved.
        path: the .safetensors file.
        strict: raise on missing or unexpected names (as Module.load_state_dict).

    Returns:
        the model.

    Raises:
        FileNotFoundError: no such file. ImportError: safetensors is not installed.
        KeyError: (strict) names that do not match; ValueError: a shape that does not match.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    model.load_state_dict(_safetensors().load_file(path), strict=strict)
    return model


Module.save = save_weights
Module.load = load_weights

__all__ = ["save_weights", "load_weights"]
