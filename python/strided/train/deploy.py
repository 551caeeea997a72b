"""Using a trained model: load_model (a checkpoint -> a ready model in eval mode, rebuilt from the name and
arguments the checkpoint records, with its preprocessing and class names), Preprocess (raw images -> the
normalized batch the model was trained on) and read_image_files (image files, folders or .zip archives)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import _image_names, _read_file, _Source, _to_chw, decode_image, resize_image
from .build import UsageError, build_model
from .checkpoint import load_checkpoint, read_checkpoint_info


class Preprocess:
    """What the model was trained on, applied to new images: channel conversion (RGB <-> gray, alpha
    dropped), bilinear resize to image_size, uint8 scaled to [0, 1] (float input is taken as [0, 1]),
    then (x - mean) / std per channel.

    __call__ takes one image, (H, W) or (C, H, W), a batch (N, C, H, W), or a list of images of any sizes,
    and returns a float32 (N, in_channels, image_size, image_size) batch (N = 1 for one image).
    `from_file_image` takes what an image decoder gives, (H, W) or (H, W, C)."""

    def __init__(self, image_size, in_channels, mean, std):
        self.image_size = int(image_size)
        self.in_channels = int(in_channels)
        self.mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(-1, 1, 1)

    def _one(self, img, hwc):
        img = np.asarray(img)
        if img.ndim not in (2, 3):
            raise ValueError(f"Preprocess: an image is (H, W) or (C, H, W), got shape {img.shape}")
        scale = 1 / 255 if img.dtype == np.uint8 else 1.0
        if img.ndim == 3 and not hwc:
            img = np.moveaxis(img, 0, 2)
        chw = _to_chw(img, self.in_channels).astype(np.float32)
        if chw.shape[0] != self.in_channels:
            raise ValueError(f"Preprocess: an image with {chw.shape[0]} channels for a model of {self.in_channels}")
        if chw.shape[1:] != (self.image_size, self.image_size):
            chw = resize_image(chw, self.image_size)
        return (chw * np.float32(scale) - self.mean) / self.std

    def __call__(self, images):
        if isinstance(images, (list, tuple)):
            return np.stack([self._one(im, False) for im in images]).astype(np.float32)
        images = np.asarray(images)
        if images.ndim == 4:
            return np.stack([self._one(im, False) for im in images]).astype(np.float32)
        return self._one(images, False)[None].astype(np.float32)

    def from_file_image(self, img):
        """One decoded image file, (H, W) or (H, W, C), to a (1, C, size, size) batch."""
        return self._one(img, True)[None].astype(np.float32)

    def __repr__(self):
        return (f"Preprocess(image_size={self.image_size}, in_channels={self.in_channels}, "
                f"mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})")


def load_model(path, device="cpu"):
    """The model of a checkpoint written by strided-train (or a Trainer given `info`), rebuilt from the
    strided.models name and arguments it records, its weights loaded (checked first: see load_checkpoint),
    in eval mode, on `device`. It carries `model.preprocess` (a Preprocess: raw images -> its input batch),
    `model.classes` (class names) and `model.info` (the checkpoint's description):

        model = strided.load_model("ckpt/best.npz")
        probs = strided.train.predict_proba(model, model.preprocess(image))   # (1, classes)

    Raises ValueError when the checkpoint does not say which model it holds (it was saved without info)."""
    path = Path(path)
    meta = read_checkpoint_info(path)
    info = meta.get("info") or {}
    missing = [k for k in ("model", "model_args", "image_size", "in_channels", "mean", "std") if k not in info]
    if missing:
        raise ValueError(f"{path}: the checkpoint does not describe its model (no {', '.join(missing)} in its "
                         "info); rebuild the model yourself and use strided.train.load_checkpoint")
    from ..nn import init

    try:
        with init.skip_init():  # every weight is overwritten by the checkpoint's
            model = build_model(info["model"], dict(info["model_args"]))
    except UsageError as e:
        raise ValueError(f"{path}: {e}") from e
    load_checkpoint(path, model)
    model.eval()
    model.to(device)
    model.preprocess = Preprocess(info["image_size"], info["in_channels"], info["mean"], info["std"])
    model.classes = list(info.get("classes") or [])
    model.info = info
    return model


def _magic(p):
    with open(p, "rb") as f:
        return f.read(2)


def read_image_files(paths):
    """Yield (name, decoded image) for every image among `paths`: image files, folders (every image in
    them, sorted) and .zip archives (every image member). ValueError/FileNotFoundError name the file."""
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_file() and not (p.suffix.lower() == ".zip" or _magic(p) == b"PK"):
            yield str(p), decode_image(_read_file(p), str(p))
            continue
        src = _Source(p)
        try:
            for n in _image_names(src):
                yield src.where(n), decode_image(src.read(n), src.where(n))
        finally:
            src.close()


__all__ = ["Preprocess", "load_model", "read_image_files"]
