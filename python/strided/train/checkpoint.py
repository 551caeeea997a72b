"""Checkpoints: save_checkpoint / load_checkpoint of a model, its optimizer and scheduler state, the epoch,
the history, a JSON-able `extra` dict and `info` (what strided.load_model needs to rebuild and feed the
model: its name and arguments, input normalization, class names, image size), in one .npz file with the
metadata as JSON (loadable with allow_pickle=False); read_checkpoint_info reads only that JSON.

Files are written atomically: to a temporary file in the same folder, flushed and fsync'ed, then
os.replace'd over the old one, so an interrupted save never destroys the previous checkpoint. A process
killed during a save leaves its temporary file behind; the next save of the same file removes it.

Loading treats the file as untrusted: every member's .npy header is read first and checked against the
model and optimizer (names, shapes, dtypes, and the zip's declared sizes, so a deflate bomb is refused
before anything is decompressed), then the arrays are read and checked to be finite, and only then is
anything assigned: a failed load leaves model, optimizer and scheduler as they were.
"""
from __future__ import annotations

import glob
import json
import os
import socket
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__

STALE_SECONDS = 3600  # a temp file this old whose writer cannot be identified is taken as abandoned
MAX_META_BYTES = 64 << 20  # the JSON metadata: history and names, kilobytes in practice


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError, OverflowError):
        return True  # exists but not ours, or cannot tell: keep its file
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete the temp files earlier saves of `path` left when killed: `.{name}.{host}.{pid}.*.tmp` of this
    host whose process is gone; others (another host's, or unparsable) only once older than STALE_SECONDS.
    Another live process's in-flight save is never touched."""
    host, prefix = socket.gethostname(), f".{path.name}."
    for q in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        parts = q.name[len(prefix):].split(".")
        try:
            if len(parts) >= 3 and parts[0] == host and parts[1].isdigit():
                stale = not _pid_alive(int(parts[1]))
            else:
                stale = time.time() - q.stat().st_mtime > STALE_SECONDS
            if stale:
                q.unlink()
        except OSError:  # removed meanwhile, or not ours to remove
            pass


def _atomic_savez(path, arrays: dict) -> None:
    """np.savez into a temporary file next to `path`, flush + fsync, then os.replace it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{socket.gethostname()}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
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
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch=0, history=None, extra=None,
                    info=None) -> None:
    """Write model weights (+ optimizer state, scheduler, epoch, history, `extra` and `info` JSON-able dicts,
    the strided version) atomically to one .npz file (loadable with allow_pickle=False)."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"format": "strided-checkpoint-1", "strided_version": __version__, "epoch": int(epoch),
            "history": history or {}, "extra": extra or {}, "info": info or {}}
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


# ---- reading -------------------------------------------------------------------------------------------
def _resolve(path) -> Path:
    path = Path(path)
    return path / "last.npz" if path.is_dir() else path


def _headers(zf: zipfile.ZipFile, where) -> dict:
    """name -> (ZipInfo, shape, dtype) of every .npy member, from its header alone; the declared
    (uncompressed) size must be exactly header + data, which bounds what reading it can allocate."""
    out = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{where}: member {info.filename!r} is not an .npy array")
        name = info.filename[:-4]
        try:
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
                header = f.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
            raise ValueError(f"{where}: member {name!r} has no valid .npy header ({type(e).__name__}: {e})") from e
        if dtype.hasobject:
            raise ValueError(f"{where}: member {name!r} holds Python objects ({dtype}); checkpoints hold numbers")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if info.file_size != header + nbytes:
            raise ValueError(f"{where}: member {name!r} declares {info.file_size} bytes but its header "
                             f"{shape} {dtype} needs {header + nbytes}")
        out[name] = (info, tuple(shape), dtype)
    return out


def _read_array(zf, entry):
    with zf.open(entry[0]) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _read_meta(zf, heads, where) -> dict:
    if "__meta__" not in heads:
        raise ValueError(f"{where}: not a strided checkpoint (no __meta__ member)")
    info, shape, dtype = heads["__meta__"]
    if shape != () or dtype.kind != "U" or info.file_size > MAX_META_BYTES:
        raise ValueError(f"{where}: __meta__ must be one JSON string under {MAX_META_BYTES >> 20} MiB, got "
                         f"{dtype} {shape} of {info.file_size} bytes")
    try:
        meta = json.loads(str(_read_array(zf, heads["__meta__"])))
    except ValueError as e:
        raise ValueError(f"{where}: __meta__ is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: __meta__ is not a JSON object")
    return meta


def _open(path):
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a checkpoint .npz file ({type(e).__name__}: {e})") from e


def read_checkpoint_info(path) -> dict:
    """The JSON metadata of a checkpoint (epoch, history, extra, info, strided_version, ...) without
    reading any array."""
    path = _resolve(path)
    with _open(path) as zf:
        return _read_meta(zf, _headers(zf, path), path)


def _check_model(heads, module, where):
    slots = {k: (t[n].data if hasattr(t[n], "requires_grad") else t[n])
             for k, (_, t, n) in module._state_slots().items()}
    have = {k[len("model/"):] for k in heads if k.startswith("model/")}
    missing, unexpected = sorted(set(slots) - have), sorted(have - set(slots))
    if missing or unexpected:
        raise ValueError(f"{where} does not fit this {type(module).__name__}: missing {missing[:8]}"
                         f"{' ...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                         f"{' ...' if len(unexpected) > 8 else ''}")
    for k, target in slots.items():
        _, shape, dtype = heads[f"model/{k}"]
        if shape != tuple(target.shape):
            raise ValueError(f"{where}: {k!r} has shape {shape} in the checkpoint but {tuple(target.shape)} in "
                             f"the model")
        if not np.can_cast(dtype, np.dtype(str(target.dtype)), "same_kind"):
            raise ValueError(f"{where}: {k!r} is {dtype} in the checkpoint but {target.dtype} in the model")


def _check_optimizer(heads, meta, optimizer, where):
    o = meta.get("optimizer")
    if not isinstance(o, dict):
        raise ValueError(f"{where} holds no optimizer state")
    if o.get("type") != type(optimizer).__name__:
        raise ValueError(f"{where} holds the state of a {o.get('type')}, not of a {type(optimizer).__name__}")
    n = len(optimizer.params)
    indices = [k.split("/", 2)[1] for k in heads if k.startswith("optim/")] + list(o.get("scalars", {}))
    for i in indices:
        if not str(i).isdigit() or int(i) >= n:
            raise ValueError(f"{where}: optimizer state for parameter {i!r}, but the optimizer has {n}")
    for k, (_, shape, dtype) in heads.items():
        if k.startswith("optim/"):
            p = optimizer.params[int(k.split("/", 2)[1])].data
            if shape not in ((), tuple(p.shape)) or dtype.kind not in "fiu":
                raise ValueError(f"{where}: optimizer state {k!r} is {dtype} {shape}, the parameter "
                                 f"{tuple(p.shape)}")


def _check_finite(arrays, where):
    for k, v in arrays.items():
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            raise ValueError(f"{where}: {k!r} holds {int((~np.isfinite(v)).sum())} non-finite values (NaN or "
                             f"inf): refusing to load it (allow_nonfinite=True loads it anyway)")


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, *, template=None,
                    allow_nonfinite=False) -> dict:
    """Read a checkpoint written by save_checkpoint (a file, or a folder's last.npz), load it into the given
    model / optimizer / scheduler, and return its metadata ({'epoch', 'history', 'extra', 'info', ...};
    'model_state' holds the weights).

    Everything is checked before anything is assigned, so a ValueError leaves them untouched: the weights'
    names, shapes and dtypes against `model` (or `template`, a model the weights must fit without being
    loaded into it), the optimizer's type and state shapes, the scheduler's type, the declared sizes of the
    zip members (before decompressing), and that every array is finite (allow_nonfinite=True skips that).
    The scheduler takes the saved position (its epoch) and keeps the plan it was built with (T_max,
    step_size, ...), so a resumed run with more epochs stretches the schedule over them."""
    path = _resolve(path)
    with _open(path) as zf:
        heads = _headers(zf, path)
        meta = _read_meta(zf, heads, path)
        heads.pop("__meta__")
        for m in (model, template):
            if m is not None:
                _check_model(heads, m, path)
        if optimizer is not None:
            _check_optimizer(heads, meta, optimizer, path)
        if scheduler is not None and "scheduler" in meta:
            if meta["scheduler"].get("type") != type(scheduler).__name__:
                raise ValueError(f"{path} holds a {meta['scheduler'].get('type')} schedule, not a "
                                 f"{type(scheduler).__name__}")
        arrays = {k: _read_array(zf, h) for k, h in heads.items()}
    if not allow_nonfinite:
        _check_finite(arrays, path)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    meta["model_state"] = model_state
    if model is not None:
        model.load_state_dict(model_state)
    if optimizer is not None:
        o = meta["optimizer"]
        state = {}
        for k, v in arrays.items():
            if k.startswith("optim/"):
                _, i, name = k.split("/", 2)
                state.setdefault(int(i), {})[name] = v
        for i, sc in o.get("scalars", {}).items():
            state.setdefault(int(i), {}).update(sc)
        optimizer.load_state_dict({"type": o["type"], "hyper": o.get("hyper", {}), "state": state})
    if scheduler is not None and "scheduler" in meta:
        saved, sd = meta["scheduler"]["state"], scheduler.state_dict()
        sd.update({k: saved[k] for k in ("last_epoch", "base_lr") if k in saved})
        scheduler.load_state_dict(sd)
    return meta


__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_info"]
