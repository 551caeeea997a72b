"""Datasets from local files (nothing is ever downloaded).

Every loader returns images as uint8 NCHW arrays and labels as int64 arrays:

* ``load_mnist_sample()``: the bundled 5,000-image MNIST subset (500 per digit), see THIRD_PARTY.md;
* ``load_mnist(dir)``: the original IDX files (train-images-idx3-ubyte, ..., optionally .gz);
* ``load_cifar10(dir)``: the CIFAR-10 "python version" pickle batches (data_batch_1..5, test_batch), read
  without running any code the pickles might carry;
* ``load_malaria(path)`` (in images.py): the course's malaria-cell homework layout, a folder or .zip of
  cell images plus a labels CSV, or one sub-folder per class;
* ``load_dataset(path)`` guesses which of these a path holds.
"""
from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ._safe import check_labels, load_data_pickle, read_at_most
from .images import load_malaria

__all__ = ["load_mnist_sample", "read_idx", "write_idx", "load_mnist", "load_cifar10", "load_dataset",
           "MNIST_SAMPLE_PATH"]

MNIST_SAMPLE_PATH = Path(__file__).with_name("mnist_5k.npz")


def load_mnist_sample():
    """The bundled MNIST subset: images uint8 (5000, 1, 28, 28), labels int64 (5000,), 500 of each digit."""
    with np.load(MNIST_SAMPLE_PATH, allow_pickle=False) as z:
        return z["images"][:, None, :, :].copy(), z["labels"].astype(np.int64)


# ---- IDX (MNIST) -----------------------------------------------------------------------------------
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path):
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzip-compressed when its name ends in .gz. The body is read up
    to the size the header declares (and one byte more, to notice excess), so a small .gz that inflates to
    far more than it declares is refused without being held in memory."""
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise ValueError(f"{path}: not an IDX file (magic {magic.hex()})")
            dtype, ndim = _IDX_TYPES[magic[2]], magic[3]
            dims = f.read(4 * ndim)
            if len(dims) != 4 * ndim:
                raise ValueError(f"{path}: IDX header declares {ndim} dimensions, the file ends inside them")
            shape = struct.unpack(f">{ndim}I", dims)
            nbytes = math.prod(shape) * dtype.itemsize  # Python integers: no overflow to a small count
            body = read_at_most(f, nbytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({type(e).__name__}: {e})") from e
    if len(body) != nbytes:
        have = "more" if len(body) > nbytes else len(body)
        raise ValueError(f"{path}: IDX header says {shape} ({nbytes} bytes), the file has {have} bytes")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write an array as an IDX file (gzip-compressed when the name ends in .gz)."""
    array = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}[array.dtype.newbyteorder("=")]
    body = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(_IDX_TYPES[code]).tobytes())
    path = Path(path)
    with (gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")) as f:
        f.write(body)


def _find(directory: Path, patterns):
    names = {p.name: p for p in directory.rglob("*") if p.is_file()}
    for pat in patterns:
        rx = re.compile(pat)
        for name in sorted(names):
            if rx.fullmatch(name):
                return names[name]
    return None


def load_mnist(path) -> dict:
    """MNIST (or Fashion-MNIST) from a directory of IDX files: returns {'train': (X, y), 'test': (X, y),
    'classes', 'name'} with X uint8 (N, 1, 28, 28). Names as distributed: train-images-idx3-ubyte[.gz],
    train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (the '.' variant
    train-images.idx3-ubyte is accepted too). The test pair is optional."""
    d = Path(path)
    out = {"name": "mnist", "classes": [str(i) for i in range(10)]}
    for split, stem in (("train", "train"), ("test", "t10k")):
        imgs = _find(d, [rf"{stem}-images[-.]idx3-ubyte(\.gz)?"])
        labs = _find(d, [rf"{stem}-labels[-.]idx1-ubyte(\.gz)?"])
        if imgs is None or labs is None:
            if split == "train":
                raise FileNotFoundError(f"{d}: no train-images-idx3-ubyte / train-labels-idx1-ubyte (.gz) files")
            continue
        x, y = read_idx(imgs), read_idx(labs)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{imgs.name} {x.shape} and {labs.name} {y.shape} do not pair up")
        if (x.dtype.kind == "f" and not np.isfinite(x).all()) or (x.size and (x.min() < 0 or x.max() > 255)):
            raise ValueError(f"{imgs}: pixel values must be finite and lie in 0..255")
        out[split] = (np.ascontiguousarray(x[:, None].astype(np.uint8)), check_labels(y, str(labs)))
    return out


# ---- CIFAR-10 --------------------------------------------------------------------------------------
def _cifar_batch(path):
    d = load_data_pickle(path)  # batches are pickles: loaded without resolving anything but NumPy arrays
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a CIFAR python batch (holds a {type(d).__name__}, not a dict)")
    d = {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}
    labels = d.get("labels", d.get("fine_labels"))
    if "data" not in d or labels is None:
        raise ValueError(f"{path}: not a CIFAR python batch (keys {sorted(d)})")
    try:
        x = np.asarray(d["data"])
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: 'data' is not an array ({e})") from e
    if x.dtype.kind not in "ui" or x.size % 3072 or (x.size and (x.min() < 0 or x.max() > 255)):
        raise ValueError(f"{path}: 'data' must hold integers in 0..255, 3072 (3x32x32) per image; "
                         f"got {x.dtype} {x.shape}")
    x = x.astype(np.uint8).reshape(-1, 3, 32, 32)
    y = check_labels(labels, str(path))
    if len(y) != len(x):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels")
    return x, y


def _cifar_classes(path):
    m = load_data_pickle(path)
    names = m.get(b"label_names", m.get("label_names")) if isinstance(m, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise ValueError(f"{path}: not a CIFAR batches.meta (a dict with a 'label_names' list of names)")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def load_cifar10(path) -> dict:
    """CIFAR-10 from the python-version directory (cifar-10-batches-py: data_batch_1..5, test_batch,
    batches.meta) or a single batch file: {'train': (X, y), 'test': (X, y), 'classes', 'name'} with X uint8
    (N, 3, 32, 32). The batches are pickles: they are read as plain data, any other global they name
    (a function a hostile file would have run) raises UnsafePickleError naming the file."""
    p = Path(path)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    if p.is_file():
        return {"name": "cifar10", "classes": classes, "train": _cifar_batch(p)}
    train = sorted(p.rglob("data_batch_*"), key=lambda q: q.name)
    if not train:
        raise FileNotFoundError(f"{p}: no CIFAR data_batch_* files")
    xs, ys = zip(*(_cifar_batch(q) for q in train))
    out = {"name": "cifar10", "classes": classes, "train": (np.concatenate(xs), np.concatenate(ys))}
    test = list(p.rglob("test_batch"))
    if test:
        out["test"] = _cifar_batch(test[0])
    meta = list(p.rglob("batches.meta"))
    if meta:
        out["classes"] = _cifar_classes(meta[0]) or classes
    return out


def load_dataset(path=None, **kwargs) -> dict:
    """Guess the format: None -> the bundled MNIST sample (as {'train': ...}); a folder of IDX files -> MNIST;
    CIFAR batches -> CIFAR-10; otherwise a folder/zip of images -> malaria layout (kwargs such as labels=,
    size=, channels= go to load_malaria; None values are ignored)."""
    if path is None:
        return {"name": "mnist_5k", "train": load_mnist_sample(), "classes": [str(i) for i in range(10)]}
    malaria_kw = {k: v for k, v in kwargs.items() if v is not None}
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if p.is_dir():
        files = [q.name for q in p.rglob("*") if q.is_file()]
        if any(re.fullmatch(r"train-images[-.]idx3-ubyte(\.gz)?", f) for f in files):
            return load_mnist(p)
        if any(f.startswith("data_batch_") for f in files):
            return load_cifar10(p)
    elif p.name.startswith(("data_batch_", "test_batch")):
        return load_cifar10(p)
    return load_malaria(p, **malaria_kw)
