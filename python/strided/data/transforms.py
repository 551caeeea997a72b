"""Batch transforms on NumPy image batches (N, C, H, W): conversion, normalization and seeded augmentation.

Every transform is called as ``t(x, rng)`` with a ``numpy.random.Generator`` (the DataLoader passes its own,
seeded per epoch, so an augmented run is reproducible); each sample draws its own random parameters.
``rng=None`` draws from a fresh, unseeded generator (not reproducible).
Typical training pipeline for uint8 images::

    mean, std = channel_stats(x_train)                     # statistics of the TRAINING split only
    train_tf = Compose([ToFloat(), RandomCrop(28, padding=2), Normalize(mean, std)])
    eval_tf = Compose([ToFloat(), Normalize(mean, std)])
"""
from __future__ import annotations

import numpy as np

__all__ = ["Compose", "ToFloat", "Normalize", "channel_stats", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomCrop", "RandomAffine", "RandomRotation", "GaussianNoise", "ColorJitter"]


def _rng(rng):
    return rng if rng is not None else np.random.default_rng()


class Compose:
    """Chain transforms, as torchvision's Compose: t(x, rng) for each in order, all with the same generator.

    Args:
        transforms: an iterable of callables t(x, rng) -> x; None entries are dropped (handy for optional
            steps).

    Shapes: whatever the chain takes and gives; no transforms returns x itself.
    """

    def __init__(self, transforms):
        self.transforms = [t for t in transforms if t is not None]

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class ToFloat:
    """Cast to float32: uint8 0..255 to 0..1 (the scaling of torchvision's ToTensor), other dtypes unscaled.

    Args:
        scale: multiply by this instead (any input dtype); None (default) means 1/255 for uint8, else 1.

    Shapes: any; the output is a new float32 array of the input's shape (rng is not used).
    """

    def __init__(self, scale=None):
        self.scale = scale

    def __call__(self, x, rng=None):
        scale = self.scale if self.scale is not None else (1 / 255 if x.dtype == np.uint8 else 1.0)
        out = x.astype(np.float32)
        if scale != 1.0:
            out *= np.float32(scale)
        return out

    def __repr__(self):
        return "ToFloat()"


def channel_stats(x, scale=None, chunk=4096):
    """Per-channel mean and standard deviation of images, what Normalize takes (give it the training split).

    Accumulated in float64 over chunks, so a large uint8 set needs no float copy; the standard deviation is
    the population one (ddof=0), floored at 1e-8 so Normalize accepts a constant channel.

    Args:
        x: images (N, C, H, W), any real dtype (NumPy).
        scale: the unit, as ToFloat: None (default) means 1/255 for uint8 (ToFloat's 0..1), else 1.
        chunk: images per float64 chunk (default 4096).

    Returns:
        (mean, std), two float32 arrays of shape (C,).
    """
    scale = scale if scale is not None else (1 / 255 if x.dtype == np.uint8 else 1.0)
    c = x.shape[1]
    s = np.zeros(c)
    s2 = np.zeros(c)
    n = 0
    for i in range(0, len(x), chunk):
        b = x[i:i + chunk].astype(np.float64) * scale
        s += b.sum(axis=(0, 2, 3))
        s2 += (b * b).sum(axis=(0, 2, 3))
        n += b.shape[0] * b.shape[2] * b.shape[3]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 0))
    return mean.astype(np.float32), np.maximum(std, 1e-8).astype(np.float32)


class Normalize:
    """(x - mean) / std per channel, as torchvision's Normalize (zero mean, unit variance when mean and std
    are channel_stats of the training images).

    Args:
        mean, std: per-channel values, sequences of length C (a scalar applies to every channel); kept as
            float32. Give them in the units of the input (after ToFloat for channel_stats' defaults).

    Shapes: (N, C, H, W) -> (N, C, H, W) float32 (rng is not used).

    Raises:
        ValueError: a std <= 0.
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        if np.any(self.std <= 0):
            raise ValueError("Normalize: std must be positive")

    @classmethod
    def fit(cls, x_train):
        """A Normalize with channel_stats(x_train): x_train (N, C, H, W) raw images, the statistics in ToFloat
        units (uint8 / 255), so the Normalize goes after ToFloat."""
        return cls(*channel_stats(x_train))

    def __call__(self, x, rng=None):
        return ((x - self.mean) / self.std).astype(np.float32, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().round(4).tolist()}, std={self.std.ravel().round(4).tolist()})"


class RandomHorizontalFlip:
    """Flip each sample left-right (the last axis) with probability p, as torchvision's but per sample.

    Args:
        p: the probability of a flip (default 0.5).

    Shapes: (N, ..., W) -> the same shape and dtype; a copy if any sample flips, else x itself.
    """

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, rng=None):
        flip = _rng(rng).random(len(x)) < self.p
        if flip.any():
            x = x.copy()
            x[flip] = x[flip][..., ::-1]
        return x

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip each sample upside down (the second-to-last axis) with probability p (default 0.5), as
    torchvision's but per sample.

    Shapes: (N, ..., H, W) -> the same shape and dtype; a copy if any sample flips, else x itself.
    """

    def __call__(self, x, rng=None):
        flip = _rng(rng).random(len(x)) < self.p
        if flip.any():
            x = x.copy()
            x[flip] = x[flip][..., ::-1, :]
        return x

    def __repr__(self):
        return f"RandomVerticalFlip(p={self.p})"


class RandomCrop:
    """Pad every side by `padding`, then crop `size` at a uniformly random offset per sample, as torchvision's
    RandomCrop (the classic CIFAR shift augmentation).

    Args:
        size: the crop, an int (square) or (th, tw).
        padding: an int, added to each side of H and W (default 0: no padding).
        fill: the padding value for mode 'constant' (default 0.0; cast to the input's dtype).
        mode: an np.pad mode, torchvision's padding_mode: 'constant' (default), 'edge', 'reflect', 'symmetric'.

    Shapes: (N, C, H, W) -> (N, C, th, tw), the input's dtype.

    Raises:
        ValueError: at the call, a crop larger than the padded image.
    """

    def __init__(self, size, padding=0, fill=0.0, mode="constant"):
        self.size = (size, size) if np.isscalar(size) else tuple(size)
        self.padding = int(padding)
        self.fill = fill
        self.mode = mode

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        p = self.padding
        if p:
            kw = {"constant_values": self.fill} if self.mode == "constant" else {}
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode=self.mode, **kw)
        n, c, h, w = x.shape
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"RandomCrop: crop {self.size} larger than the padded image {(h, w)}")
        oy = rng.integers(0, h - th + 1, n)
        ox = rng.integers(0, w - tw + 1, n)
        rows = oy[:, None] + np.arange(th)  # (n, th)
        cols = ox[:, None] + np.arange(tw)  # (n, tw)
        idx = np.arange(n)[:, None, None, None]
        return x[idx, np.arange(c)[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self):
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomAffine:
    """Random affine map per sample about the image centre, as torchvision's RandomAffine, but sampled by
    inverse mapping with bilinear interpolation (translations are not rounded to whole pixels); taps outside
    the image read `fill`.

    Args:
        degrees: rotation angle drawn from [-degrees, degrees] (a number; default 0.0).
        translate: None (default) or (a, b): shifts drawn from [-a W, a W] and [-b H, b H] pixels.
        scale: None (default: 1) or (lo, hi): the scale factor drawn from [lo, hi].
        shear: shear angle in degrees, drawn from [-shear, shear] (default 0.0): it tilts the vertical axis.
        fill: the value outside the image (default 0.0).

    Shapes: (N, C, H, W) -> (N, C, H, W) float32.
    """

    def __init__(self, degrees=0.0, translate=None, scale=None, shear=0.0, fill=0.0):
        self.degrees = float(degrees)
        self.translate = translate
        self.scale = scale
        self.shear = float(shear)
        self.fill = float(fill)

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        n, c, h, w = x.shape
        ang = np.deg2rad(rng.uniform(-self.degrees, self.degrees, n))
        sh = np.deg2rad(rng.uniform(-self.shear, self.shear, n))
        sc = rng.uniform(*self.scale, n) if self.scale else np.ones(n)
        if self.translate:
            tx = rng.uniform(-self.translate[0], self.translate[0], n) * w
            ty = rng.uniform(-self.translate[1], self.translate[1], n) * h
        else:
            tx = ty = np.zeros(n)
        # forward map about the centre: p' = S R Sh p + t; sample the input at the inverse image of each output
        cos_a, sin_a, cos_as, sin_as = np.cos(ang), np.sin(ang), np.cos(ang + sh), np.sin(ang + sh)
        det = sc * sc * (cos_a * cos_as + sin_as * sin_a)
        # inverse of sc * [[cos a, -sin(a+s)], [sin a, cos(a+s)]]
        i00, i01 = sc * cos_as / det, sc * sin_as / det
        i10, i11 = -sc * sin_a / det, sc * cos_a / det
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        ox = xx[None] - tx[:, None, None]
        oy = yy[None] - ty[:, None, None]
        e = (slice(None), None, None)
        sx = i00[e] * ox + i01[e] * oy + cx
        sy = i10[e] * ox + i11[e] * oy + cy
        return _bilinear(x.astype(np.float32, copy=False), sy, sx, self.fill)

    def __repr__(self):
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear})")


def RandomRotation(degrees, fill=0.0):
    """Random rotation by an angle drawn from [-degrees, degrees] per sample (a function in place of
    torchvision's RandomRotation class).

    Args:
        degrees: the largest angle in degrees (a number). fill: the value outside the image (default 0.0).

    Returns:
        a RandomAffine(degrees=degrees, fill=fill): bilinear, about the centre, float32 output.
    """
    return RandomAffine(degrees=degrees, fill=fill)


def _bilinear(img, sy, sx, fill):
    """Sample a batch img (N, C, H, W) at float coordinates sy, sx of shape (N, H', W'); `fill` outside."""
    n, c, h, w = img.shape
    y0 = np.floor(sy).astype(np.int64)
    x0 = np.floor(sx).astype(np.int64)
    fy = (sy - y0).astype(np.float32)
    fx = (sx - x0).astype(np.float32)
    flat = img.reshape(n, c, h * w)
    out = np.zeros((n, c) + sy.shape[1:], np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yi, xi = y0 + dy, x0 + dx
            inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            idx = (np.clip(yi, 0, h - 1) * w + np.clip(xi, 0, w - 1)).reshape(n, 1, -1)
            vals = np.take_along_axis(flat, idx, axis=2).reshape(out.shape)
            out += np.where(inside[:, None], vals, np.float32(fill)) * (wy * wx)[:, None]
    return out


class GaussianNoise:
    """Add Gaussian noise N(0, std^2) to every element; the result is not clipped.

    Args:
        std: the noise's standard deviation (default 0.05).
        per_sample_std: draw each sample's standard deviation uniformly from [0, std] (default False).

    Shapes: any (N, ...) -> the same shape, float32; per_sample_std needs (N, C, H, W).
    """

    def __init__(self, std=0.05, per_sample_std=False):
        self.std = float(std)
        self.per_sample_std = per_sample_std

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        s = rng.uniform(0, self.std, (len(x), 1, 1, 1)) if self.per_sample_std else self.std
        return (x + rng.standard_normal(x.shape, dtype=np.float32) * np.asarray(s, np.float32)).astype(np.float32)

    def __repr__(self):
        return f"GaussianNoise(std={self.std})"


class ColorJitter:
    """Random brightness, contrast and saturation per sample, as torchvision's ColorJitter (no hue), on float
    images in 0..1: after ToFloat, before Normalize.

    Each factor is drawn from [max(0, 1 - v), 1 + v] for its value v (0: left out), applied in a fixed order:
    brightness scales x; contrast blends x with the mean of its grayscale image (ITU-R 601 luma for 3
    channels, the channel mean otherwise); saturation blends x with its grayscale image. The result is
    clipped to [0, 1] once, at the end.

    Args:
        brightness, contrast, saturation: the values v (default 0.0 each); saturation acts on 3-channel
            images only (others are left as they are).

    Shapes: (N, C, H, W) -> (N, C, H, W) float32, a new array.
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0):
        self.brightness, self.contrast, self.saturation = float(brightness), float(contrast), float(saturation)

    def __call__(self, x, rng=None):
        rng = _rng(rng)
        n = len(x)
        x = x.astype(np.float32, copy=True)

        def factor(v):
            return rng.uniform(max(0.0, 1 - v), 1 + v, (n, 1, 1, 1)).astype(np.float32)

        def gray(z):
            if z.shape[1] == 3:
                return (z * np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]).sum(1, keepdims=True)
            return z.mean(axis=1, keepdims=True)

        if self.brightness:
            x *= factor(self.brightness)
        if self.contrast:
            m = gray(x).mean(axis=(2, 3), keepdims=True)
            x = (x - m) * factor(self.contrast) + m
        if self.saturation and x.shape[1] == 3:
            g = gray(x)
            x = (x - g) * factor(self.saturation) + g
        return np.clip(x, 0.0, 1.0)

    def __repr__(self):
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"
