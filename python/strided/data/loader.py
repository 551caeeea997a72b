"""Seeded train/validation/test splits and a batch iterator."""
from __future__ import annotations

import numpy as np

__all__ = ["train_val_test_split", "DataLoader"]


def _count(frac, n):
    if frac is None or frac == 0:
        return 0
    if isinstance(frac, (int, np.integer)) and not isinstance(frac, bool) and frac >= 1:
        return int(frac)
    if not 0 < frac < 1:
        raise ValueError(f"split sizes are fractions in (0, 1) or counts >= 1, got {frac}")
    return int(round(frac * n))


def train_val_test_split(x, y, val=0.1, test=0.2, seed: int = 0, stratify: bool = True):
    """Shuffle (seeded) and split into ((x_train, y_train), (x_val, y_val), (x_test, y_test)).

    Args:
        x: samples (N, ...), any array-like (taken through np.asarray); y: labels (N,) or (N, ...).
        val, test: fractions of the whole set in (0, 1) (rounded to a count) or absolute int counts >= 1
            (0 or None: an empty split). Defaults 0.1 and 0.2.
        seed: the shuffle's seed (the same seed gives the same split).
        stratify: keep every class's share (nearly) equal across the splits, each class split in the same
            proportions; applies to 1-D integer labels only, other labels get a plain shuffle.

    Returns:
        three (x, y) pairs of NumPy arrays, train first; the train split takes what val and test leave.

    Raises:
        ValueError: len(x) != len(y), a val or test that is neither in (0, 1) nor an int >= 1, or val + test
            leaving no training sample.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"{n} samples but {len(y)} labels")
    n_test, n_val = _count(test, n), _count(val, n)
    if n_test + n_val >= n:
        raise ValueError(f"val ({n_val}) + test ({n_test}) leave no training samples out of {n}")
    rng = np.random.default_rng(seed)
    if stratify and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        # spread each class over the splits: order samples class by class (each class shuffled), deal the
        # test and validation positions evenly over that order, so every class contributes its share
        order = np.concatenate([rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)])
        slots = np.zeros(n, np.int8)  # 0 train, 1 val, 2 test
        test_pos = np.floor(np.arange(n_test) * n / max(n_test, 1)).astype(np.int64) if n_test else []
        slots[test_pos] = 2
        rest = np.flatnonzero(slots == 0)
        if n_val:
            slots[rest[np.floor(np.arange(n_val) * len(rest) / n_val).astype(np.int64)]] = 1
        parts = [rng.permutation(order[slots == k]) for k in (0, 1, 2)]
    else:
        perm = rng.permutation(n)
        parts = [perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]]
    return tuple((x[p], y[p]) for p in parts)


class DataLoader:
    """Mini-batches (x, y) of arrays x (N, ...) and optional y (N, ...), like PyTorch's DataLoader over a
    tensor dataset with automatic batching (no worker processes, no collate_fn: a batch indexes the arrays).

    shuffle: a new seeded permutation every epoch (epoch e uses numpy's default_rng([seed, e]), so a
    resumed run sees exactly the batches it would have seen). transform: called as transform(xb, rng) on
    every batch (augmentation / normalization) with the same per-epoch generator. The epoch counter moves on
    after each full pass; set_epoch(e) sets it explicitly (the trainer does, for resume).

    num_replicas / rank: the shard of one of `num_replicas` data-parallel ranks (PyTorch's
    DistributedSampler): every rank draws the same order for the epoch, pads it by wrap-around to a
    multiple of num_replicas (the first samples of the order come again at its end), and takes every
    num_replicas-th sample from position `rank`; its transform draws from seed + rank instead.

    Args:
        x: samples (N, ...), any indexable array (NumPy, CuPy). y: labels (N, ...) or None.
        batch_size: samples per batch, default 64 (the last one may be smaller unless drop_last).
        shuffle: draw a new order every epoch (default False: the stored order).
        seed: the int seed of the per-epoch generators (default 0).
        transform: None (default) or a callable transform(xb, rng) -> xb, e.g. a strided.data.Compose.
        drop_last: leave out a last short batch (default False).
        num_replicas, rank: the data-parallel shard, as above (default 1, 0: the whole set).

    Yields:
        (xb, yb) per batch: xb = x[indices] (after transform), yb = y[indices] or None. Unshuffled on one
        replica the indices are a slice, so x[indices] and y[indices] are views of NumPy x and y.

    Raises:
        ValueError: batch_size < 1, len(y) != len(x), or rank outside [0, num_replicas).
    """

    def __init__(self, x, y=None, batch_size: int = 64, shuffle: bool = False, seed: int = 0, transform=None,
                 drop_last: bool = False, num_replicas: int = 1, rank: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{len(x)} samples but {len(y)} labels")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas): got rank {rank} of {num_replicas}")
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.transform = transform
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def _shard_size(self):
        return -(-len(self.x) // self.num_replicas)

    def __len__(self):
        """Batches per epoch on this rank: ceil(S / batch_size), or floor with drop_last, where S is the
        shard size ceil(N / num_replicas) (N with one replica)."""
        n = self._shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self):
        """Samples one epoch yields on this rank: the shard size ceil(N / num_replicas), or with drop_last
        len(self) * batch_size."""
        return len(self) * self.batch_size if self.drop_last else self._shard_size()

    def set_epoch(self, epoch):
        """Set the epoch (an int) whose order and transform draws the next pass uses, as PyTorch's
        DistributedSampler.set_epoch; each full pass then moves it on by one."""
        self.epoch = int(epoch)

    def __iter__(self):
        # the transform's stream: seed + rank; rank 0's first draw is the order that every rank takes
        rng = np.random.default_rng([int(self.seed) + self.rank, self.epoch])
        n = len(self.x)
        order = rng.permutation(n) if self.shuffle else None
        if self.num_replicas > 1:
            if self.shuffle and self.rank:
                order = np.random.default_rng([int(self.seed), self.epoch]).permutation(n)
            order = np.arange(n) if order is None else order
            order = np.resize(order, self._shard_size() * self.num_replicas)[self.rank::self.num_replicas]
            n = len(order)
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            sl = slice(start, min(start + self.batch_size, n))
            idx = order[sl] if order is not None else sl
            xb = self.x[idx]
            if self.transform is not None:
                xb = self.transform(xb, rng)
            yield (xb, self.y[idx]) if self.y is not None else (xb, None)
        self.epoch += 1
