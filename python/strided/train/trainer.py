"""The Trainer (fit / evaluate / predict / save / load) and fit(), its functional form.

The data order of epoch e is a function of (seed, e), so resuming from a checkpoint continues the run with
the batches it would have seen (Dropout masks restart from their own stream).

Under MPI with several ranks (strided.distributed) the same Trainer trains data-parallel: batch_size stays
the global batch (each rank takes batch_size / ranks samples of every batch of the one-process order), the
gradients are averaged during the backward, metrics are exact sums over the ranks, and rank 0 alone
prints, plots and writes checkpoints; so a run gives the same results on any number of ranks, up to
floating-point summation order, the per-rank augmentation and Dropout streams, and BatchNorm's batch
statistics (taken per rank, as PyTorch's DistributedDataParallel does)."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import data as sdata
from .. import distributed as sdist
from .. import losses as slosses
from .. import optim as soptim
from .._device import array_module, normalize_device, to_device
from .callbacks import EarlyStopping
from .checkpoint import load_checkpoint, save_checkpoint
from .predict import _as_float_batch, _eval_loader, _model_device, _n_correct, predict_proba


class Trainer:
    """Trains `model` (the strided.nn Module contract) with `optimizer` (a strided.optim optimizer, or its
    name: 'adam', 'sgd', ...) on `loss` (a strided.losses loss; default cross-entropy).

    transform / eval_transform: batch transforms used when data come as (x, y) arrays (augmentation +
    normalization for training; normalization only for evaluate/predict). uint8 batches left untouched by
    the transforms are scaled to [0, 1]. regularization: penalties (strided.losses.L1/L2Regularization)
    added to the loss and its gradient. device: 'cpu' or 'cuda' (moves the model; default: where it is).
    distributed: train data-parallel over the MPI ranks (strided.distributed.DataParallel); default: when
    the process runs under MPI with more than one rank. Rank 0 alone shows progress. info: a JSON-able dict
    saved in every checkpoint (what strided.load_model needs: 'model', 'model_args', 'mean', 'std',
    'classes', 'image_size', 'in_channels')."""

    def __init__(self, model, optimizer="adam", loss=None, *, scheduler=None, device=None, transform=None,
                 eval_transform=None, regularization=None, progress=True, seed=0, lr=None, distributed=None, info=None):
        self.model = model
        self.info = dict(info or {})
        if device is not None:
            model.to(normalize_device(device))
        self.device = _model_device(model)
        comm = sdist.init()
        if distributed is None:
            distributed = comm.size > 1
        self.comm = comm if distributed else sdist.Communicator(None)
        # before the optimizer reads the parameters: every rank starts from rank 0's
        self.data_parallel = sdist.DataParallel(model, self.comm) if self.comm.size > 1 else None
        progress = progress and self.comm.rank == 0
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
        """(x, y) arrays: a shuffled loader of this rank's shard; a DataLoader is taken as it is."""
        if isinstance(data, sdata.DataLoader):
            return data
        x, y = data
        size = self.comm.size
        if batch_size % size:
            raise ValueError(f"batch_size {batch_size} is the global batch, split over {size} ranks: it must "
                             f"be a multiple of {size}")
        return sdata.DataLoader(x, y, batch_size=batch_size // size, shuffle=True, seed=self.seed,
                                transform=self.transform, num_replicas=size, rank=self.comm.rank)

    def train_step(self, xb, yb):
        """One optimisation step on a batch (already on the device): returns (loss value, correct count)."""
        self.optimizer.zero_grad()
        out = self.model(xb)
        value = self.loss(out, yb)
        self.model.backward(self.loss.backward(), need_input_grad=False)
        if self.data_parallel is not None:  # before the penalties: theirs are the same on every rank
            self.data_parallel.synchronize()
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
        total, loss_sum, correct = self.comm.allreduce_sum([total, loss_sum, correct])
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
        if self.comm.rank != 0:
            log = lambda s: None  # noqa: E731
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
                early_stopping.best_state = load_checkpoint(ckpt / "best.npz", template=self.model)["model_state"]
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
        """Mean loss and accuracy of the model on data ((x, y) or a DataLoader), in eval mode. Data
        parallel, each rank evaluates every ranks-th sample of (x, y) and the sums are added, so each
        sample counts once; a DataLoader is evaluated whole on every rank."""
        was_training = getattr(self.model, "training", False)
        self.model.eval()
        total, loss_sum, correct, has_acc = 0, 0.0, 0, True
        shard = not isinstance(data, sdata.DataLoader) and self.comm.size > 1
        if shard:
            self.data_parallel.sync_buffers()
            step, r = self.comm.size, self.comm.rank
            data = (data[0][r::step], data[1][r::step]) if isinstance(data, (tuple, list)) else data[r::step]
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
        if shard:
            total, loss_sum, correct = self.comm.allreduce_sum([total, loss_sum, correct])
        return {"loss": loss_sum / max(total, 1), "accuracy": correct / total if has_acc and total else None}

    def predict(self, x, batch_size=256):
        """Probabilities (N, classes) for x (array or DataLoader), with eval_transform applied; NumPy."""
        return predict_proba(self.model, x, batch_size, self.eval_transform, self.device)

    def save(self, path):
        """Write the checkpoint (rank 0 only, with the ranks' buffers averaged first; every rank returns
        once it is on disk)."""
        extra = {"seed": self.seed, "stopped_early": self.stopped_early, "best_val_loss": self._best_val_loss}
        if self.early_stopping is not None:
            extra["early_stopping"] = self.early_stopping.state()
        if self.data_parallel is not None:
            self.data_parallel.sync_buffers()
        if self.comm.rank == 0:
            save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.epoch,
                            history=self.history, extra=extra, info=self.info)
        self.comm.barrier()

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
                self.early_stopping.best_state = load_checkpoint(best, template=self.model)["model_state"]
        return meta


def fit(model, train_data, *, epochs, batch_size=64, optimizer="adam", loss=None, val_data=None, scheduler=None,
        early_stopping=None, checkpoint_dir=None, resume=None, device=None, progress=True, seed=0,
        transform=None, eval_transform=None, regularization=None, lr=None, distributed=None):
    """Functional form of Trainer(...).fit(...): returns (history, trainer). optimizer: an Optimizer or a name
    ('adam', 'sgd', ...; built over model.parameters() with `lr` when given)."""
    trainer = Trainer(model, optimizer, loss, scheduler=scheduler, device=device, transform=transform,
                      eval_transform=eval_transform, regularization=regularization, progress=progress, seed=seed,
                      lr=lr, distributed=distributed)
    history = trainer.fit(train_data, epochs=epochs, batch_size=batch_size, val_data=val_data,
                          early_stopping=early_stopping, checkpoint_dir=checkpoint_dir, resume=resume)
    return history, trainer


__all__ = ["Trainer", "fit"]
