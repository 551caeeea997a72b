"""Models by name, for the strided-train command and strided.load_model: model_names, parse_model_args,
model_kwargs (a strided.models function's arguments for the data's classes, channels and image size),
fit_image_size (the image size nearest the data's that the model takes) and build_model; UsageError is
the one-line mistake the commands report with exit status 2."""
from __future__ import annotations

import ast
import inspect

from .. import models


class UsageError(Exception):
    """A user mistake (bad option, missing file, model that does not fit): the commands print its message
    as one line, with exit status 2, and no traceback."""


def model_names() -> list:
    """The classifiers of strided.models (what --model takes)."""
    return list(models.CLASSIFIERS)


def _model_fn(name):
    if name in models.GENERATIVE:
        raise UsageError(f"{name} is not a classifier, which strided-train trains: train the autoencoder as a "
                         "denoiser with python -m strided.train.denoise, the GAN pair with strided.train.gan")
    if name not in model_names():
        raise UsageError(f"unknown model {name!r}: choose one of {', '.join(model_names())}")
    return getattr(models, name)


def parse_model_args(text) -> dict:
    """'key=value,key=value' -> dict; values are Python literals (64, 0.3, True, 'A') or plain strings."""
    out = {}
    for item in filter(None, (t.strip() for t in (text or "").split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise UsageError(f"--model-args: {item!r} is not key=value (e.g. --model-args hidden=256,dropout=0.3)")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def model_kwargs(name, num_classes, in_channels, size, overrides=None) -> dict:
    """The arguments the CLI builds `name` with: num_classes, in_channels, input_size (and small=True up to
    64x64) where the function takes them, then `overrides` (--model-args), checked against its signature."""
    params = inspect.signature(_model_fn(name)).parameters
    kw = {}
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels), ("input_size", size),
                       ("small", size <= 64)):
        if key in params:
            kw[key] = value
    overrides = dict(overrides or {})
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in overrides if k not in params and not takes_any]
    if unknown:
        named = [k for k, p in params.items() if p.kind is not p.VAR_KEYWORD]
        raise UsageError(f"--model-args: {name} takes no argument {unknown[0]!r}; it takes {', '.join(named)}")
    kw.update(overrides)
    return kw


def build_model(name, kwargs):
    """strided.models.<name>(**kwargs); a wrong argument is a UsageError naming the call."""
    try:
        return _model_fn(name)(**kwargs)
    except (TypeError, ValueError, KeyError) as e:
        call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UsageError(f"{name}({call}): {e}") from e


def _takes(name, kwargs, channels, size) -> bool:
    from ..nn import init

    try:
        with init.skip_init():  # shapes only: nothing is drawn or filled
            model = _model_fn(name)(**kwargs)
        model.summary((channels, size, size))
    except (ValueError, TypeError, KeyError):
        return False
    return True


def fit_image_size(name, num_classes, channels, size, overrides=None) -> int:
    """`size` when the model takes size x size images, else the nearest size it takes: the smallest larger
    one (up to twice the size, at least 64), or the largest smaller one. UsageError when there is none."""
    overrides = overrides or {}

    def takes(s):
        return _takes(name, model_kwargs(name, num_classes, channels, s, overrides), channels, s)

    if takes(size):
        return size
    for s in [*range(size + 1, max(2 * size, 64) + 1), *range(size - 1, 0, -1)]:
        if takes(s):
            return s
    raise UsageError(f"{name} ({overrides or 'default arguments'}) takes no image size up to "
                     f"{max(2 * size, 64)}: check --model-args")


__all__ = ["UsageError", "model_names", "parse_model_args", "model_kwargs", "build_model", "fit_image_size"]
