"""Datasets from local files (nothing is ever downloaded).

Every loader returns images as uint8 NCHW arrays and labels as int64 arrays:

* ``load_mnist_sample()``: the bundled 5,000-image MNIST subset (500 per digit), see THIRD_PARTY.md;
* ``load_mnist(dir)``: the original IDX files (train-images-idx3-ubyte, ..., optionally .gz);
* ``load_cifar10(dir)``: the CIFAR-10 "python version" pickle batches (data_batch_1..5, test_batch);
* ``load_malaria(path)``: the course's malaria-cell homework layout: a folder or a .zip of cell images plus
  a labels CSV (train_data.zip + train_labels.csv), or a folder/zip with one sub-folder per class
  (Parasitized/, Uninfected/ as in the NIH "cell_images" set). Images are resized to ``size`` x ``size``;
* ``load_dataset(path)`` guesses which of these a path holds.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from ._png import read_png

__all__ = ["load_mnist_sample", "read_idx", "write_idx", "load_mnist", "load_cifar10", "load_malaria",
           "load_images", "decode_image", "resize_image", "load_dataset", "MNIST_SAMPLE_PATH"]

MNIST_SAMPLE_PATH = Path(__file__).with_name("mnist_5k.npz")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


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
    """Read one IDX file (the MNIST format), gzip-compressed when its name ends in .gz."""
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic {data[:4].hex()})")
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    count = int(np.prod(shape)) if ndim else 1
    body = data[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX header says {shape} ({count * dtype.itemsize} bytes), file has {len(body)}")
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
        out[split] = (np.ascontiguousarray(x[:, None].astype(np.uint8)), y.astype(np.int64))
    return out


# ---- CIFAR-10 --------------------------------------------------------------------------------------
def _cifar_batch(path):
    # The CIFAR "python version" is a pickle; only open files you trust (as with any pickle).
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    labels = d.get("labels", d.get("fine_labels"))
    if "data" not in d or labels is None:
        raise ValueError(f"{path}: not a CIFAR python batch (keys {sorted(d)})")
    x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(labels, dtype=np.int64)


def load_cifar10(path) -> dict:
    """CIFAR-10 from the python-version directory (cifar-10-batches-py: data_batch_1..5, test_batch,
    batches.meta) or a single batch file: {'train': (X, y), 'test': (X, y), 'classes', 'name'} with X uint8
    (N, 3, 32, 32). Batches are pickles: load only files you trust."""
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
        with open(meta[0], "rb") as f:
            m = pickle.load(f, encoding="bytes")
        names = m.get(b"label_names") or m.get("label_names")
        if names:
            out["classes"] = [n.decode() if isinstance(n, bytes) else n for n in names]
    return out


# ---- images ----------------------------------------------------------------------------------------
def decode_image(data: bytes, name: str = "") -> np.ndarray:
    """Image bytes -> uint8 (H, W) or (H, W, C). Uses Pillow when importable (every format), else the built-in
    PNG reader (PNG only: other formats then ask for Pillow)."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in ("L", "RGB", "RGBA", "LA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            return np.asarray(im, dtype=np.uint8)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return read_png(data)
    raise ImportError(f"{name or 'image'}: only PNG can be read without Pillow; install it (pip install pillow)")


def resize_image(img: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of a (C, H, W) array to (C, size_h, size_w) (half-pixel centres; area-like average
    first when shrinking by 2x or more, so small cells do not alias). Returns float32."""
    sh, sw = (size, size) if np.isscalar(size) else size
    x = np.asarray(img, dtype=np.float32)
    c, h, w = x.shape
    while h >= 2 * sh and w >= 2 * sw:  # box-filter halving before the bilinear step
        x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        c, h, w = x.shape
    if (h, w) == (sh, sw):
        return x

    def coords(n_in, n_out):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = coords(h, sh)
    x0, x1, fx = coords(w, sw)
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bot = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return top * (1 - fy[:, None]) + bot * fy[:, None]


def _to_chw(img: np.ndarray, channels: int) -> np.ndarray:
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] in (2, 4):  # drop alpha
        img = img[:, :, :-1]
    img = np.moveaxis(img, 2, 0)
    if channels == 3 and img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    elif channels == 1 and img.shape[0] == 3:
        luma = np.array([0.299, 0.587, 0.114], np.float32)[:, None, None]
        img = (img.astype(np.float32) * luma).sum(0, keepdims=True)
    return img


class _Source:
    """Files of a folder or of a .zip archive, by relative path."""

    def __init__(self, path):
        self.path = Path(path)
        self.zip = zipfile.ZipFile(self.path) if self.path.is_file() and zipfile.is_zipfile(self.path) else None
        if self.zip is None and not self.path.is_dir():
            raise FileNotFoundError(f"{path}: neither a folder nor a .zip archive")

    def names(self):
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        return [str(p.relative_to(self.path)).replace(os.sep, "/") for p in sorted(self.path.rglob("*")) if p.is_file()]

    def read(self, name) -> bytes:
        if self.zip is not None:
            return self.zip.read(name)
        return (self.path / name).read_bytes()

    def close(self):
        if self.zip is not None:
            self.zip.close()


def _image_names(src):
    return sorted(n for n in src.names() if n.lower().endswith(IMAGE_EXTENSIONS)
                  and not Path(n).name.startswith("."))


def _load_list(src, names, size, channels):
    out = np.empty((len(names), channels, size, size), np.uint8)
    for i, n in enumerate(names):
        img = _to_chw(decode_image(src.read(n), n), channels)
        out[i] = np.clip(np.rint(resize_image(img, size)), 0, 255).astype(np.uint8)
    return out


def load_images(path, size=64, channels=3):
    """Every image of a folder or .zip (sorted by path), resized: (X uint8 (N, channels, size, size), names)."""
    src = _Source(path)
    try:
        names = _image_names(src)
        return _load_list(src, names, size, channels), names
    finally:
        src.close()


_NAME_COLS = ("filename", "file", "file_name", "image", "img", "image_id", "img_name", "id", "name", "path")
_LABEL_COLS = ("label", "labels", "class", "target", "y", "category", "parasitized", "infected")


def _read_labels_csv(text: str):
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError("empty labels CSV")
    header = [c.strip().lower() for c in rows[0]]
    has_header = any(h in _NAME_COLS + _LABEL_COLS for h in header) or not any(
        re.fullmatch(r"-?\d+(\.0*)?", c.strip()) for c in rows[0])
    body = rows[1:] if has_header else rows
    if has_header:
        ni = next((header.index(c) for c in _NAME_COLS if c in header), 0)
        li = next((header.index(c) for c in _LABEL_COLS if c in header), len(header) - 1 if ni == 0 else 0)
    else:
        ni, li = 0, len(rows[0]) - 1
    return [(r[ni].strip(), r[li].strip()) for r in body]


def _encode_labels(raw):
    """Integer labels stay as they are; strings map to classes (parasitized/infected -> 1, uninfected -> 0)."""
    if all(re.fullmatch(r"-?\d+(\.0*)?", v) for v in raw):
        y = np.array([int(float(v)) for v in raw], np.int64)
        return y, [str(i) for i in range(int(y.max()) + 1 if len(y) else 0)]
    low = sorted({v.lower() for v in raw})
    if set(low) <= {"parasitized", "uninfected"}:
        classes = ["uninfected", "parasitized"]
    else:
        classes = low
    return np.array([classes.index(v.lower()) for v in raw], np.int64), classes


def load_malaria(path, labels=None, size=64, channels=3) -> dict:
    """The malaria-cell homework (cells parasitized = 1, uninfected = 0): `path` is a folder or .zip of cell
    images (train_data.zip); `labels` a CSV of (image name, label) rows, by default the *labels*.csv next to
    or inside `path` (train_labels.csv). Image names match with or without folders and extensions.
    Without any CSV, one sub-folder per class is used (Parasitized/, Uninfected/).
    Returns {'train': (X uint8 (N, channels, size, size), y int64), 'names', 'classes', 'name'}."""
    p = Path(path)
    src = _Source(p)
    try:
        names = _image_names(src)
        if not names:
            raise FileNotFoundError(f"{p}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        text = None
        if labels is not None:
            text = Path(labels).read_text()
        else:
            inside = [n for n in src.names() if n.lower().endswith(".csv")]
            near = sorted(p.parent.glob("*label*.csv")) if src.zip is not None else sorted(p.glob("*label*.csv"))
            if near:
                text = near[0].read_text()
            elif inside:
                text = src.read(sorted(inside, key=lambda n: "label" not in n.lower())[0]).decode()
        if text is not None:
            pairs = _read_labels_csv(text)
            index = {}
            for n in names:
                for key in (n, Path(n).name, Path(n).stem):
                    index.setdefault(key, n)
            chosen, raw, missing = [], [], []
            for key, lab in pairs:
                n = index.get(key) or index.get(Path(key).name) or index.get(Path(key).stem)
                if n is None:
                    missing.append(key)
                    continue
                chosen.append(n)
                raw.append(lab)
            if missing:
                raise FileNotFoundError(f"{len(missing)} labelled images are not in {p} (first: {missing[0]!r})")
        else:
            folders = sorted({Path(n).parent.name for n in names})
            if len(folders) < 2:
                raise FileNotFoundError(f"{p}: no labels CSV and no per-class sub-folders")
            chosen, raw = names, [Path(n).parent.name for n in names]
        y, classes = _encode_labels(raw)
        x = _load_list(src, chosen, size, channels)
    finally:
        src.close()
    return {"name": "malaria", "train": (x, y), "names": chosen, "classes": classes}


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
