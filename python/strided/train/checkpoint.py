"""Checkpoints: save_checkpoint / load_checkpoint of a model, its optimizer and scheduler state, the epoch,
the history and a JSON-able `extra` dict, in one .npz file (loadable with allow_pickle=False).

Files are written atomically: to a temporary file in the same folder, flushed and fsync'ed, then
os.replace'd over the old one, so an interrupted save never destroys the previous checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_savez(path, arrays: dict) -> None:
    """np.savez into a temporary file next to `path`, flush + fsync, then os.replace it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch=0, history=None, extra=None) -> None:
    """Write model weights (+ optimizer state, scheduler, epoch, history, `extra` JSON-able dict) atomically
    to one .npz file (loadable with allow_pickle=False)."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"format": "strided-checkpoint-1", "epoch": int(epoch), "history": history or {}, "extra": extra or {}}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for i, st in sd["state"].items():
            for k, v in st.items():
                if hasattr(v, "shape"):
                    arrays[f"optim/{i}/{k}"] = v
                else:
                    scalars.setdefault(str(i), {})[k] = v
        meta["optimizer"] = {"type": sd["type"], "hyper": sd["hyper"], "scalars": scalars}
    if scheduler is not None:
        meta["scheduler"] = {"type": type(scheduler).__name__, "state": scheduler.state_dict()}
    arrays["__meta__"] = np.array(json.dumps(_jsonable(meta)))
    _atomic_savez(path, arrays)


def load_checkpoint(path, model=None, optimizer=None, scheduler=None) -> dict:
    """Read a checkpoint written by save_checkpoint, load it into the given model / optimizer / scheduler,
    and return its metadata ({'epoch', 'history', 'extra', ...}; 'model_state' holds the weights)."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.npz"
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        model_state = {k[len("model/"):]: z[k] for k in z.files if k.startswith("model/")}
        optim_arrays = {k: z[k] for k in z.files if k.startswith("optim/")}
    meta["model_state"] = model_state
    if model is not None:
        model.load_state_dict(model_state)
    if optimizer is not None and "optimizer" in meta:
        o = meta["optimizer"]
        state = {}
        for k, v in optim_arrays.items():
            _, i, name = k.split("/", 2)
            state.setdefault(int(i), {})[name] = v
        for i, sc in o["scalars"].items():
            state.setdefault(int(i), {}).update(sc)
        optimizer.load_state_dict({"type": o["type"], "hyper": o["hyper"], "state": state})
    if scheduler is not None and "scheduler" in meta:
        scheduler.load_state_dict(meta["scheduler"]["state"])
    return meta


__all__ = ["save_checkpoint", "load_checkpoint"]
