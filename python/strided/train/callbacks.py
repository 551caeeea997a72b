"""Training callbacks: EarlyStopping (stop when a monitored metric stops improving, keep the best weights)."""
from __future__ import annotations

import math


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


__all__ = ["EarlyStopping"]
