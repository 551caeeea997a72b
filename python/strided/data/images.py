"""Image folders and .zip archives: decoding, resizing, and the malaria-cell homework layout (images plus a
labels CSV, or one sub-folder per class).

Hostile or broken inputs end in a ValueError naming the file (and zip member) and the rule: no file over
MAX_FILE_BYTES is read (a zip's declared sizes are checked and the read itself is bounded, as sizes can
lie), CSV rows match image paths exactly or by a unique path tail, never by a guess.
"""
from __future__ import annotations

import csv
import io
import os
import posixpath
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._png import read_png
from ._safe import MAX_CLASSES, check_labels, read_at_most

__all__ = ["load_malaria", "load_images", "decode_image", "resize_image", "IMAGE_EXTENSIONS", "MAX_FILE_BYTES"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
MAX_FILE_BYTES = 64 << 20  # one image or labels CSV; a cell image is a few kB, a photo a few MB


def decode_image(data: bytes, name: str = "") -> np.ndarray:
    """Image bytes -> uint8 (H, W) or (H, W, C). Uses Pillow when importable (every format), else the built-in
    PNG reader (PNG only: other formats then ask for Pillow). Bytes that do not decode raise ValueError
    naming `name`."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.mode not in ("L", "RGB", "RGBA", "LA"):
                    im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
                return np.asarray(im, dtype=np.uint8)
        except Exception as e:  # Pillow signals broken files with many types (OSError, SyntaxError, ...)
            raise ValueError(f"{name or 'image'}: not a readable image ({type(e).__name__}: {e})") from e
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        try:
            return read_png(data)
        except (ValueError, NotImplementedError) as e:
            raise type(e)(f"{name or 'image'}: {e}") from e
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


def _read_file(path) -> bytearray:
    with open(path, "rb") as f:
        data = read_at_most(f, MAX_FILE_BYTES)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than the {MAX_FILE_BYTES >> 20} MiB limit for one file")
    return data


class _Source:
    """Files of a folder or of a .zip archive, by relative path."""

    def __init__(self, path):
        self.path = Path(path)
        self.zip = None
        if self.path.is_file():
            with open(self.path, "rb") as f:
                magic = f.read(2)
            if magic != b"PK" and self.path.suffix.lower() != ".zip" and not zipfile.is_zipfile(self.path):
                raise FileNotFoundError(f"{path}: neither a folder nor a .zip archive")
            try:
                self.zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
                raise ValueError(f"{path}: corrupt zip archive ({type(e).__name__}: {e})") from e
            seen = set()
            for n in self.zip.namelist():
                if n in seen:  # zipfile would read the last copy; which one the labels mean is a guess
                    self.zip.close()
                    raise ValueError(f"{path}: corrupt zip archive (two members named {n!r})")
                seen.add(n)
        elif not self.path.is_dir():
            raise FileNotFoundError(f"{path}: neither a folder nor a .zip archive")

    def names(self):
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        return [str(p.relative_to(self.path)).replace(os.sep, "/") for p in sorted(self.path.rglob("*")) if p.is_file()]

    def where(self, name) -> str:
        """How errors name a file of this source."""
        return f"{self.path} member {name}" if self.zip is not None else str(self.path / name)

    def read(self, name) -> bytearray:
        if self.zip is None:
            return _read_file(self.path / name)
        info = self.zip.getinfo(name)
        if info.file_size > MAX_FILE_BYTES:
            raise ValueError(f"{self.where(name)}: declares {info.file_size} bytes, over the "
                             f"{MAX_FILE_BYTES >> 20} MiB limit for one file")
        try:
            with self.zip.open(info) as f:
                data = read_at_most(f, MAX_FILE_BYTES)  # the declared size may lie: the read is bounded too
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            raise ValueError(f"{self.where(name)}: unreadable zip member ({type(e).__name__}: {e})") from e
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"{self.where(name)}: larger than the {MAX_FILE_BYTES >> 20} MiB limit for one file")
        return data

    def close(self):
        if self.zip is not None:
            self.zip.close()


def _image_names(src):
    return sorted(n for n in src.names() if n.lower().endswith(IMAGE_EXTENSIONS)
                  and not Path(n).name.startswith("."))


def _load_list(src, names, size, channels):
    out = np.empty((len(names), channels, size, size), np.uint8)
    for i, n in enumerate(names):
        img = _to_chw(decode_image(src.read(n), src.where(n)), channels)
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
_INTEGER = re.compile(r"-?\d+(\.0*)?")


def _read_labels_csv(raw: bytes, where: str):
    """(line number, image name, label) for every row of a labels CSV; rows lacking either are an error."""
    try:
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
        rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{where}: not a readable CSV text file ({e})") from e
    if not rows:
        raise ValueError(f"{where}: empty labels CSV")
    first = rows[0][1]
    header = [c.strip().lower() for c in first]
    has_header = any(h in _NAME_COLS + _LABEL_COLS for h in header) or not any(
        _INTEGER.fullmatch(c.strip()) for c in first)
    body = rows[1:] if has_header else rows
    if has_header:
        ni = next((header.index(c) for c in _NAME_COLS if c in header), 0)
        li = next((header.index(c) for c in _LABEL_COLS if c in header), len(header) - 1 if ni == 0 else 0)
    else:
        ni, li = 0, len(first) - 1
    if ni == li:
        raise ValueError(f"{where}: a labels CSV needs an image-name column and a label column, "
                         f"found {len(first)} column(s)")
    out = []
    for line, r in body:
        name, label = (r[i].strip() if i < len(r) else "" for i in (ni, li))
        if not name or not label:
            raise ValueError(f"{where} line {line}: each row needs an image name (column {ni + 1}) and a label "
                             f"(column {li + 1}), got {r!r:.100}")
        out.append((line, name, label))
    return out


def _encode_labels(raw, where):
    """Integer labels stay as they are; strings map to classes (parasitized/infected -> 1, uninfected -> 0)."""
    if all(_INTEGER.fullmatch(v) for v in raw):
        y = check_labels(np.array([float(v) for v in raw]), where)
        return y, [str(i) for i in range(int(y.max()) + 1 if len(y) else 0)]
    low = sorted({v.lower() for v in raw})
    if set(low) <= {"parasitized", "uninfected"}:
        classes = ["uninfected", "parasitized"]
    elif len(low) <= MAX_CLASSES:
        classes = low
    else:
        raise ValueError(f"{where}: {len(low)} distinct labels, more than {MAX_CLASSES} classes")
    return np.array([classes.index(v.lower()) for v in raw], np.int64), classes


def _match_rows(names, rows, where, src_path):
    """The image of every CSV row: its exact relative path, else the one image whose path ends with the row's
    name in whole folders, with or without the image's extension ('cell_3' finds train_data/cell_3.png).
    A name that fits several images is an error, never a guess; so is an image labelled twice."""
    tails = {}
    for n in names:
        parts = n.split("/")
        bare = parts[:-1] + [os.path.splitext(parts[-1])[0]]
        for k in range(len(parts)):
            for key in {"/".join(parts[k:]), "/".join(bare[k:])}:
                tails.setdefault(key, []).append(n)
    exact = set(names)
    chosen, raw, missing, line_of = [], [], [], {}
    for line, key, label in rows:
        k = posixpath.normpath(key.replace("\\", "/")).lstrip("/")
        found = [k] if k in exact else tails.get(k, [])
        if len(found) > 1:
            raise ValueError(f"{where} line {line}: {key!r} fits {len(found)} images ({found[0]!r}, "
                             f"{found[1]!r}, ...); give the path inside {src_path}")
        if not found:
            missing.append(key)
            continue
        if found[0] in line_of:
            raise ValueError(f"{where} line {line}: {found[0]!r} is already labelled on line {line_of[found[0]]}")
        line_of[found[0]] = line
        chosen.append(found[0])
        raw.append(label)
    if missing:
        raise FileNotFoundError(f"{len(missing)} images labelled in {where} are not in {src_path} "
                                f"(first: {missing[0]!r})")
    left = [n for n in names if n not in line_of]
    if left:
        warnings.warn(f"{src_path}: {len(left)} of {len(names)} images have no row in {where} and are left out "
                      f"(first: {left[0]!r})", stacklevel=3)
    return chosen, raw


def _labels_csv(src, p, labels):
    """(bytes, name for errors) of the labels CSV: `labels`, else *label*.csv next to the folder/zip's
    contents, else a CSV inside it; None when there is none."""
    if labels is not None:
        return _read_file(labels), str(labels)
    near = sorted(p.parent.glob("*label*.csv")) if src.zip is not None else sorted(p.glob("*label*.csv"))
    if near:
        return _read_file(near[0]), str(near[0])
    inside = [n for n in src.names() if n.lower().endswith(".csv")]
    if inside:
        n = sorted(inside, key=lambda n: "label" not in n.lower())[0]
        return src.read(n), src.where(n)
    return None


def load_malaria(path, labels=None, size=64, channels=3) -> dict:
    """The malaria-cell homework (cells parasitized = 1, uninfected = 0): `path` is a folder or .zip of cell
    images (train_data.zip); `labels` a CSV of (image name, label) rows, by default the *labels*.csv next to
    or inside `path` (train_labels.csv). A row names an image by its path, or by a unique path tail such as
    its file name, with or without the extension; images without a row are left out with a warning.
    Without any CSV, one sub-folder per class is used (Parasitized/, Uninfected/).
    Returns {'train': (X uint8 (N, channels, size, size), y int64), 'names', 'classes', 'name'}."""
    p = Path(path)
    src = _Source(p)
    try:
        names = _image_names(src)
        if not names:
            raise FileNotFoundError(f"{p}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        found = _labels_csv(src, p, labels)
        if found is not None:
            where = found[1]
            chosen, raw = _match_rows(names, _read_labels_csv(*found), where, p)
        else:
            folders = sorted({Path(n).parent.name for n in names})
            if len(folders) < 2:
                raise FileNotFoundError(f"{p}: no labels CSV and no per-class sub-folders")
            where = str(p)
            chosen, raw = names, [Path(n).parent.name for n in names]
        y, classes = _encode_labels(raw, where)
        x = _load_list(src, chosen, size, channels)
    finally:
        src.close()
    return {"name": "malaria", "train": (x, y), "names": chosen, "classes": classes}
