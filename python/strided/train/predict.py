"""Inference: predict_proba (a model's class probabilities) and ensemble_predict (their weighted mean),
with the batch helpers the Trainer shares: device lookup, uint8 scaling, accuracy counting, eval loaders."""
from __future__ import annotations

import numpy as np

from .. import data as sdata
from .. import losses as slosses
from .._device import array_module, is_gpu_array, normalize_device, to_device


def _model_device(model) -> str:
    for p in model.parameters():
        return "cuda" if is_gpu_array(p.data) else "cpu"
    return "cpu"


def _as_float_batch(xb):
    if xb.dtype == np.uint8:
        return xb.astype(np.float32) * np.float32(1 / 255)
    return xb if xb.dtype in (np.float32, np.float64) else xb.astype(np.float32)


def _n_correct(out, y, xp):
    """Correct predictions in a batch: argmax over classes, or the sign of a single logit (binary)."""
    if y is None:
        return None
    if out.ndim == 2 and out.shape[1] > 1 and y.ndim == 1:
        return int((xp.argmax(out, axis=1) == y).sum())
    if out.ndim == y.ndim + 1 and out.shape[1] > 1:
        return int((xp.argmax(out, axis=1) == y).sum())
    if out.size == y.size:  # binary logits
        return int(((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum())
    return None


def _probabilities(out, xp):
    if out.ndim >= 2 and out.shape[1] > 1:
        return slosses.softmax(out, axis=1)
    return 1 / (1 + xp.exp(-out))


def _eval_loader(data, batch_size, transform):
    if isinstance(data, sdata.DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return sdata.DataLoader(data[0], data[1], batch_size=batch_size, transform=transform)
    return sdata.DataLoader(data, None, batch_size=batch_size, transform=transform)


def predict_proba(model, x, batch_size=256, transform=None, device=None):
    """Class probabilities (softmax; sigmoid for one-logit models) of x (array or DataLoader), as NumPy."""
    device = normalize_device(device) if device else _model_device(model)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        outs = []
        for xb, _ in _eval_loader(x, batch_size, transform):
            out = model(to_device(_as_float_batch(np.asarray(xb)), device))
            outs.append(to_device(_probabilities(out, array_module(out)), "cpu"))
        return np.concatenate(outs) if outs else np.zeros((0,))
    finally:
        model.train(was_training)


def ensemble_predict(models, x, batch_size=256, transform=None, weights=None):
    """Average (optionally weighted) of several models' probabilities for x: a simple ensemble."""
    models = list(models)
    if not models:
        raise ValueError("ensemble_predict needs at least one model")
    w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = None
    for m, wi in zip(models, w):
        p = predict_proba(m, x, batch_size, transform) * wi
        total = p if total is None else total + p
    return total / w.sum()


__all__ = ["predict_proba", "ensemble_predict"]
