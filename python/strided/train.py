"""Training: the Trainer (fit / evaluate / predict), atomic checkpoints, an ensemble helper and the
`strided-train` command (``python -m strided.train``).

    from strided import data, losses, models, optim
    from strided.train import Trainer, EarlyStopping

    model = models.lenet5()
    opt = optim.Adam(model.parameters(), lr=2e-3)
    trainer = Trainer(model, opt, losses.CrossEntropyLoss(), transform=train_tf, eval_transform=eval_tf,
                      scheduler=optim.CosineAnnealingLR(opt, T_max=20), seed=0)
    history = trainer.fit((x_train, y_train), epochs=20, batch_size=64, val_data=(x_val, y_val),
                          early_stopping=EarlyStopping(patience=5), checkpoint_dir="ckpt")
    print(trainer.evaluate((x_test, y_test)))          # {'loss': ..., 'accuracy': ...}
    probs = trainer.predict(x_test)                     # (N, classes) probabilities

Data are ``(x, y)`` array pairs (wrapped in a shuffled, seeded strided.data.DataLoader with the trainer's
``transform`` for training and ``eval_transform`` for evaluation) or ready DataLoaders. Every batch is
moved to the model's device (strided._device.to_device), so a model on 'cuda' trains on CuPy arrays.

A checkpoint (``checkpoint_dir/last.npz`` every epoch, ``best.npz`` when the monitored metric improves)
holds the model, the optimizer state, the scheduler, the epoch, the history, the early-stopping state
and the seed; the data order of epoch e is a function of (seed, e), so ``resume=`` continues the run
with the batches it would have seen (Dropout masks restart from their own stream). Files are written
atomically: to a temporary file in the same folder, flushed and fsync'ed, then os.replace'd over the
old one, so an interrupted save never destroys the previous checkpoint.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import data as sdata
from . import losses as slosses
from . import optim as soptim
from ._device import array_module, is_gpu_array, normalize_device, to_device

__all__ = ["Trainer", "fit", "EarlyStopping", "save_checkpoint", "load_checkpoint", "predict_proba",
           "ensemble_predict", "run", "main"]


# ---- checkpoints -----------------------------------------------------------------------------------
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


# ---- early stopping --------------------------------------------------------------------------------
class EarlyStopping:
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs (None: never
    stop, only keep the best weights); with
    restore_best=True the model gets the weights of its best epoch back at the end of fit().
    monitor: a history key ('val_loss' default, 'val_accuracy', 'loss', ...); mode 'min'/'max' (by default
    'max' for accuracies, 'min' otherwise)."""

    def __init__(self, patience=5, monitor="val_loss", mode=None, min_delta=0.0, restore_best=True):
        self.patience = None if patience is None else int(patience)
        self.monitor = monitor
        self.mode = mode or ("max" if "acc" in monitor else "min")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self):
        self.best = None
        self.best_epoch = -1
        self.wait = 0
        self.best_state = None

    def improved(self, value) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def update(self, value, epoch, model) -> bool:
        """Record one epoch's value; returns True when training should stop."""
        if self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            if self.restore_best:
                self.best_state = model.state_dict()
            return False
        self.wait += 1
        return self.patience is not None and self.wait >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state(self, st: dict) -> None:
        self.best, self.best_epoch, self.wait = st.get("best"), st.get("best_epoch", -1), st.get("wait", 0)

    def __repr__(self):
        return f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, mode={self.mode!r})"


# ---- helpers ---------------------------------------------------------------------------------------
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


# ---- the trainer -----------------------------------------------------------------------------------
class Trainer:
    """Trains `model` (the strided.nn Module contract) with `optimizer` (a strided.optim optimizer, or its
    name: 'adam', 'sgd', ...) on `loss` (a strided.losses loss; default cross-entropy).

    transform / eval_transform: batch transforms used when data come as (x, y) arrays (augmentation +
    normalization for training; normalization only for evaluate/predict). uint8 batches left untouched by
    the transforms are scaled to [0, 1]. regularization: penalties (strided.losses.L1/L2Regularization)
    added to the loss and its gradient. device: 'cpu' or 'cuda' (moves the model; default: where it is)."""

    def __init__(self, model, optimizer="adam", loss=None, *, scheduler=None, device=None, transform=None,
                 eval_transform=None, regularization=None, progress=True, seed=0, lr=None):
        self.model = model
        if device is not None:
            model.to(normalize_device(device))
        self.device = _model_device(model)
        if isinstance(optimizer, str):
            kw = {} if lr is None else {"lr": lr}
            optimizer = soptim.get_optimizer(optimizer, model.parameters(), **kw)
        self.optimizer = optimizer
        self.loss = loss if loss is not None else slosses.CrossEntropyLoss()
        self.scheduler = scheduler
        self.transform = transform
        self.eval_transform = eval_transform
        if regularization is None:
            regularization = []
        elif not isinstance(regularization, (list, tuple)):
            regularization = [regularization]
        self.regularization = list(regularization)
        self.progress = progress
        self.seed = int(seed)
        self.history = {}
        self.epoch = 0  # epochs completed
        self.early_stopping = None
        self.stopped_early = False
        self._best_val_loss = None  # decides best.npz when there is no early stopping

    # ---- one pass ----------------------------------------------------------------------------------
    def _train_loader(self, data, batch_size):
        if isinstance(data, sdata.DataLoader):
            return data
        x, y = data
        return sdata.DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=self.seed, transform=self.transform)

    def train_step(self, xb, yb):
        """One optimisation step on a batch (already on the device): returns (loss value, correct count)."""
        self.optimizer.zero_grad()
        out = self.model(xb)
        value = self.loss(out, yb)
        self.model.backward(self.loss.backward(), need_input_grad=False)
        if self.regularization:
            params = [p for p in self.model.parameters() if getattr(p, "requires_grad", True)]
            for r in self.regularization:
                value += r(params)
                r.backward(params)
        self.optimizer.step()
        return value, _n_correct(out, yb, array_module(out))

    def _run_epoch(self, loader, epoch, epochs):
        from tqdm.auto import tqdm

        self.model.train()
        loader.set_epoch(epoch)
        total, loss_sum, correct, t0 = 0, 0.0, 0, time.perf_counter()
        # progress=True: a bar on terminals only (tqdm's disable=None), so logs get just the epoch lines
        bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False,
                   disable=None if self.progress else True, dynamic_ncols=True)
        has_acc = True
        try:
            for xb, yb in loader:
                xb = to_device(_as_float_batch(np.asarray(xb)), self.device)
                yb = to_device(np.asarray(yb), self.device)
                value, ok = self.train_step(xb, yb)
                n = len(xb)
                total += n
                loss_sum += value * n
                if ok is None:
                    has_acc = False
                else:
                    correct += ok
                if not math.isfinite(value):
                    raise FloatingPointError(f"loss became {value} at epoch {epoch + 1}: lower the learning rate")
                post = {"loss": f"{loss_sum / total:.4f}"}
                if has_acc:
                    post["acc"] = f"{100 * correct / total:.2f}%"
                post["img/s"] = f"{total / max(time.perf_counter() - t0, 1e-9):.0f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
        finally:
            bar.close()
        dt = time.perf_counter() - t0
        return {"loss": loss_sum / max(total, 1), "accuracy": correct / total if has_acc and total else None,
                "time": dt, "images_per_s": total / max(dt, 1e-9)}

    # ---- public API --------------------------------------------------------------------------------
    def fit(self, train_data, *, epochs, batch_size=64, val_data=None, early_stopping=None, checkpoint_dir=None,
            resume=None, log=None):
        """Train until `epochs` epochs in total are done (a resumed run continues from its saved epoch).

        early_stopping: an EarlyStopping, or an int patience (monitoring val_loss, or loss without val_data).
        checkpoint_dir: write last.npz every epoch and best.npz on improvement. resume: a checkpoint file
        or directory (its last.npz). log: called with each epoch's summary line (default: print when
        progress is on). Returns the history: {metric: [one value per epoch]}."""
        loader = self._train_loader(train_data, batch_size)
        if isinstance(early_stopping, int) and not isinstance(early_stopping, bool):
            early_stopping = EarlyStopping(early_stopping, monitor="val_loss" if val_data is not None else "loss")
        self.early_stopping = early_stopping
        self.stopped_early = False
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if resume is not None:
            self.load(resume)
        elif early_stopping is not None:
            early_stopping.reset()
        if log is None:
            log = print if self.progress else (lambda s: None)
        for epoch in range(self.epoch, epochs):
            row = {"epoch": epoch + 1, "lr": float(self.optimizer.lr)}
            row.update(self._run_epoch(loader, epoch, epochs))
            if val_data is not None:
                ev = self.evaluate(val_data, batch_size=max(batch_size, 256))
                row["val_loss"], row["val_accuracy"] = ev["loss"], ev["accuracy"]
            for k, v in row.items():
                self.history.setdefault(k, []).append(v)
            self.epoch = epoch + 1
            if self.scheduler is not None:
                self.scheduler.step()
            stop = False
            improved = False
            if early_stopping is not None:
                value = row.get(early_stopping.monitor)
                improved = early_stopping.improved(value)
                stop = early_stopping.update(value, epoch + 1, self.model)
            elif val_data is not None:
                improved = self._best_val_loss is None or row["val_loss"] < self._best_val_loss
                if improved:
                    self._best_val_loss = row["val_loss"]
            log(self._summary(row))
            if ckpt is not None:
                self.save(ckpt / "last.npz")
                if improved:
                    self.save(ckpt / "best.npz")
            if stop:
                self.stopped_early = True
                log(f"early stopping after epoch {epoch + 1}: {early_stopping.monitor} has not improved for "
                    f"{early_stopping.patience} epochs (best {early_stopping.best:.4f} at epoch "
                    f"{early_stopping.best_epoch})")
                break
        if early_stopping is not None and early_stopping.restore_best:
            if early_stopping.best_state is None and ckpt is not None and (ckpt / "best.npz").exists():
                early_stopping.best_state = load_checkpoint(ckpt / "best.npz")["model_state"]
            if early_stopping.best_state is not None:
                self.model.load_state_dict(early_stopping.best_state)
        return self.history

    @staticmethod
    def _summary(row):
        parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.4f}"]
        if row.get("accuracy") is not None:
            parts.append(f"acc {100 * row['accuracy']:.2f}%")
        if "val_loss" in row:
            parts.append(f"val_loss {row['val_loss']:.4f}")
            if row.get("val_accuracy") is not None:
                parts.append(f"val_acc {100 * row['val_accuracy']:.2f}%")
        parts.append(f"lr {row['lr']:.3g}")
        parts.append(f"{row['images_per_s']:.0f} img/s")
        parts.append(f"{row['time']:.1f}s")
        return " | ".join(parts)

    def evaluate(self, data, batch_size=256) -> dict:
        """Mean loss and accuracy of the model on data ((x, y) or a DataLoader), in eval mode."""
        was_training = getattr(self.model, "training", False)
        self.model.eval()
        total, loss_sum, correct, has_acc = 0, 0.0, 0, True
        try:
            for xb, yb in _eval_loader(data, batch_size, self.eval_transform):
                xb = to_device(_as_float_batch(np.asarray(xb)), self.device)
                yb = to_device(np.asarray(yb), self.device)
                out = self.model(xb)
                n = len(xb)
                loss_sum += self.loss(out, yb) * n
                ok = _n_correct(out, yb, array_module(out))
                if ok is None:
                    has_acc = False
                else:
                    correct += ok
                total += n
        finally:
            self.model.train(was_training)
        return {"loss": loss_sum / max(total, 1), "accuracy": correct / total if has_acc and total else None}

    def predict(self, x, batch_size=256):
        """Probabilities (N, classes) for x (array or DataLoader), with eval_transform applied; NumPy."""
        return predict_proba(self.model, x, batch_size, self.eval_transform, self.device)

    def save(self, path):
        extra = {"seed": self.seed, "stopped_early": self.stopped_early, "best_val_loss": self._best_val_loss}
        if self.early_stopping is not None:
            extra["early_stopping"] = self.early_stopping.state()
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.epoch,
                        history=self.history, extra=extra)

    def load(self, path):
        """Restore model, optimizer, scheduler, epoch, history, seed and early-stopping state."""
        path = Path(path)
        meta = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = int(meta["epoch"])
        self.history = {k: list(v) for k, v in meta.get("history", {}).items()}
        extra = meta.get("extra", {})
        self.seed = int(extra.get("seed", self.seed))
        self._best_val_loss = extra.get("best_val_loss")
        if self.early_stopping is not None and "early_stopping" in extra:
            self.early_stopping.load_state(extra["early_stopping"])
            best = (path if path.is_dir() else path.parent) / "best.npz"
            if self.early_stopping.restore_best and best.exists():
                self.early_stopping.best_state = load_checkpoint(best)["model_state"]
        return meta


def fit(model, train_data, *, epochs, batch_size=64, optimizer="adam", loss=None, val_data=None, scheduler=None,
        early_stopping=None, checkpoint_dir=None, resume=None, device=None, progress=True, seed=0,
        transform=None, eval_transform=None, regularization=None, lr=None):
    """Functional form of Trainer(...).fit(...): returns (history, trainer). optimizer: an Optimizer or a name
    ('adam', 'sgd', ...; built over model.parameters() with `lr` when given)."""
    trainer = Trainer(model, optimizer, loss, scheduler=scheduler, device=device, transform=transform,
                      eval_transform=eval_transform, regularization=regularization, progress=progress, seed=seed,
                      lr=lr)
    history = trainer.fit(train_data, epochs=epochs, batch_size=batch_size, val_data=val_data,
                          early_stopping=early_stopping, checkpoint_dir=checkpoint_dir, resume=resume)
    return history, trainer


# ---- command line ----------------------------------------------------------------------------------
DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3}


def _build_model(name, num_classes, in_channels, size):
    from . import models

    fn = getattr(models, name, None)
    if fn is None or name.startswith("_") or not callable(fn):
        raise SystemExit(f"unknown model {name!r}")
    params = inspect.signature(fn).parameters
    kw = {"num_classes": num_classes}
    if "in_channels" in params:
        kw["in_channels"] = in_channels
    if "input_size" in params:
        kw["input_size"] = size
    if "small" in params:
        kw["small"] = size <= 64
    return fn(**kw)


def _augmentation(name, size):
    T = sdata
    if name.startswith("mnist"):
        return [T.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.92, 1.08))]
    if name == "cifar10":
        return [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()]
    return [T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomAffine(degrees=15),
            T.ColorJitter(0.1, 0.1, 0.1)]


def _plot(history, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot {path}: matplotlib is not installed (pip install matplotlib, or the strided[plot] extra); "
              "no plot written", file=sys.stderr)
        return False
    ep = history["epoch"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, history["loss"], label="train")
    if "val_loss" in history:
        a.plot(ep, history["val_loss"], label="validation")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    if history.get("accuracy") and history["accuracy"][0] is not None:
        b.plot(ep, [100 * v for v in history["accuracy"]], label="train")
        if "val_accuracy" in history:
            b.plot(ep, [100 * v for v in history["val_accuracy"]], label="validation")
        b.set_ylabel("accuracy (%)")
        b.legend()
    b.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def build_parser():
    p = argparse.ArgumentParser(
        prog="strided-train",
        description="Train a strided model. Default: LeNet-5 on the bundled 5,000-image MNIST sample "
                    "(seeded split: 1,000 test images never trained on), ending with 'test accuracy: NN.NN%'.")
    p.add_argument("--model", default="lenet5", help="a strided.models function (default lenet5)")
    p.add_argument("--data", default=None,
                   help="MNIST IDX folder, CIFAR-10 batches folder, or malaria images folder/.zip "
                        "(+ labels CSV); default: the bundled MNIST sample")
    p.add_argument("--labels", default=None, help="labels CSV for --data images (default: *label*.csv next to it)")
    p.add_argument("--image-size", type=int, default=64, help="side images of --data folders/zips are resized to")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help=f"default {DEFAULTS['epochs']}")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help=f"default {DEFAULTS['batch_size']}")
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"],
                   choices=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
                   help=f"default {DEFAULTS['optimizer']}")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {DEFAULTS['lr']} for adam/adamw, "
                                                          "0.05 for sgd, the optimizer's own otherwise)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD/RMSprop momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 (decoupled for adamw); default 0")
    p.add_argument("--scheduler", default="cosine", choices=["cosine", "step", "none"],
                   help="per-epoch learning-rate schedule: cosine to 0 over the epochs (default), or x0.1 every "
                        "third of them")
    p.add_argument("--patience", type=int, default=0,
                   help="early stopping patience on validation loss (0: off; the best-validation weights are "
                        "restored at the end either way)")
    p.add_argument("--no-augment", action="store_true", help="no data augmentation")
    p.add_argument("--val", type=float, default=0.1, help="validation share of the training data (default 0.1)")
    p.add_argument("--test", type=float, default=0.2,
                   help="test share when the data have no test split (default 0.2: 1,000 of the 5,000 sample)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N (shuffled) samples (quick runs)")
    p.add_argument("--threads", type=int, default=None, help="threads of the CPU kernels (strided.set_num_threads)")
    p.add_argument("--checkpoint-dir", default=None, help="write last.npz each epoch and best.npz here")
    p.add_argument("--resume", default=None, help="continue from a checkpoint file or directory")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (needs CuPy)")
    p.add_argument("--plot", default=None, metavar="PNG", help="save loss/accuracy curves (needs matplotlib)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the split, the initial weights, the shuffling and the augmentation (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars / per-epoch lines")
    return p


def run(argv=None) -> dict:
    """The command line's work: parse `argv`, train, print 'test accuracy: NN.NN%', return the test metrics."""
    args = build_parser().parse_args(argv)
    import strided
    from .nn import init

    if args.threads is not None:
        strided.set_num_threads(args.threads)
    t_start = time.perf_counter()
    ds = sdata.load_dataset(args.data, labels=args.labels, size=args.image_size)
    x, y = ds["train"]
    if args.limit is not None:
        keep = np.random.default_rng(args.seed).permutation(len(x))[:args.limit]
        x, y = x[keep], y[keep]
    if "test" in ds and args.limit is None:
        (x_tr, y_tr), (x_va, y_va), _ = sdata.train_val_test_split(x, y, val=args.val, test=0, seed=args.seed)
        x_te, y_te = ds["test"]
    else:
        test = args.test if args.test < 1 else int(args.test)
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = sdata.train_val_test_split(
            x, y, val=args.val * (1 - test) if args.val < 1 and test < 1 else args.val, test=test, seed=args.seed)
    num_classes = int(max(y.max(), y_te.max() if len(y_te) else 0)) + 1
    c, h = x.shape[1], x.shape[2]
    mean, std = sdata.channel_stats(x_tr)
    norm = sdata.Normalize(mean, std)
    aug = [] if args.no_augment else _augmentation(ds.get("name", ""), h)
    train_tf = sdata.Compose([sdata.ToFloat(), *aug, norm])
    eval_tf = sdata.Compose([sdata.ToFloat(), norm])

    init.seed(args.seed)
    model = _build_model(args.model, num_classes, c, h)
    model.to(args.device)
    lr = args.lr
    if lr is None:
        lr = {"adam": DEFAULTS["lr"], "adamw": DEFAULTS["lr"], "sgd": 0.05}.get(args.optimizer)
    okw = {} if lr is None else {"lr": lr}
    if args.optimizer == "sgd":
        okw.update(momentum=args.momentum, nesterov=args.momentum > 0)
    elif args.optimizer == "rmsprop":
        okw.update(momentum=args.momentum)
    if args.weight_decay:
        okw["weight_decay"] = args.weight_decay
    opt = soptim.get_optimizer(args.optimizer, model.parameters(), **okw)
    sched = None
    if args.scheduler == "cosine":
        sched = soptim.CosineAnnealingLR(opt, T_max=args.epochs)
    elif args.scheduler == "step":
        sched = soptim.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)
    es = EarlyStopping(patience=args.patience if args.patience > 0 else None, monitor="val_loss")
    progress = not args.no_progress
    if progress:
        print(f"data {ds.get('name', args.data)}: train {len(x_tr)}, validation {len(x_va)}, test {len(x_te)} "
              f"images {tuple(x.shape[1:])}, {num_classes} classes | model {args.model} "
              f"({sum(p.data.size for p in model.parameters()):,} parameters) on {args.device}, "
              f"{strided.get_num_threads()} threads | {type(opt).__name__}(lr={opt.lr:g}), "
              f"{args.epochs} epochs of batch {args.batch_size}")
    trainer = Trainer(model, opt, slosses.CrossEntropyLoss(), scheduler=sched, transform=train_tf,
                      eval_transform=eval_tf, progress=progress, seed=args.seed)
    val = (x_va, y_va) if len(x_va) else None
    if val is None:
        es = None
    trainer.fit((x_tr, y_tr), epochs=args.epochs, batch_size=args.batch_size, val_data=val, early_stopping=es,
                checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    if es is not None and es.best_epoch > 0 and progress:
        print(f"restored the weights of epoch {es.best_epoch} (best validation loss {es.best:.4f})")
    if args.plot and trainer.history:
        if _plot(trainer.history, args.plot) and progress:
            print(f"curves written to {args.plot}")
    result = trainer.evaluate((x_te, y_te))
    if progress:
        print(f"{len(x_te)} test images, total time {time.perf_counter() - t_start:.1f}s")
    print(f"test accuracy: {100 * result['accuracy']:.2f}%")
    return result


def main(argv=None) -> int:
    """Entry point of `strided-train` and `python -m strided.train` (exit status 0)."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
