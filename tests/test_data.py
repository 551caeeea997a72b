"""strided.data: the bundled MNIST sample, loaders of small files written here (IDX, CIFAR batches, PNG
images in folders and zips + labels CSV), the pure PNG reader, splits, the DataLoader and the transforms."""
import io
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np
import pytest

from strided import data as D
from strided.data import _png

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow is optional
    Image = None

needs_pil = pytest.mark.skipif(Image is None, reason="Pillow not installed")


@pytest.fixture
def no_pillow(monkeypatch):
    """Make `from PIL import Image` fail, so the built-in PNG reader is used."""
    monkeypatch.setitem(sys.modules, "PIL", None)


# ---- bundled sample ---------------------------------------------------------------------------------
def test_mnist_sample():
    x, y = D.load_mnist_sample()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert x.max() == 255 and x.min() == 0
    assert 20 < x.mean() < 60  # MNIST's mean ink level is ~33/255
    assert len({x[i].tobytes() for i in range(0, 5000, 7)}) == len(range(0, 5000, 7))  # distinct images


# ---- IDX ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / ("a.idx" + (".gz" if gz else ""))
    D.write_idx(p, a)
    b = D.read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_the_mnist_one(tmp_path):
    p = tmp_path / "labels"
    D.write_idx(p, np.array([7, 2, 1], np.uint8))
    raw = p.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x01" and struct.unpack(">I", raw[4:8]) == (3,) and raw[8:] == b"\x07\x02\x01"
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX"):
        D.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="bytes"):
        D.read_idx(tmp_path / "short")


def test_load_mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    ytr = rng.integers(0, 10, 6).astype(np.uint8)
    xte = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    yte = rng.integers(0, 10, 3).astype(np.uint8)
    D.write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr)
    D.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", ytr)
    D.write_idx(tmp_path / "t10k-images-idx3-ubyte", xte)
    D.write_idx(tmp_path / "t10k-labels-idx1-ubyte", yte)
    d = D.load_mnist(tmp_path)
    np.testing.assert_array_equal(d["train"][0][:, 0], xtr)
    np.testing.assert_array_equal(d["train"][1], ytr)
    np.testing.assert_array_equal(d["test"][0][:, 0], xte)
    assert d["train"][1].dtype == np.int64 and d["train"][0].shape == (6, 1, 28, 28)
    assert D.load_dataset(tmp_path)["name"] == "mnist"
    with pytest.raises(FileNotFoundError):
        D.load_mnist(tmp_path / "nowhere")


# ---- CIFAR -------------------------------------------------------------------------------------------
def _cifar_batch(path, n, rng, label_key=b"labels"):
    x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    y = rng.integers(0, 10, n).tolist()
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", label_key: y, b"data": x, b"filenames": [b"a"] * n}, f)
    return x, y


def test_load_cifar10(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    b1 = _cifar_batch(root / "data_batch_1", 4, rng)
    b2 = _cifar_batch(root / "data_batch_2", 3, rng)
    bt = _cifar_batch(root / "test_batch", 2, rng)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    d = D.load_cifar10(tmp_path)
    x, y = d["train"]
    assert x.shape == (7, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:4].reshape(4, -1), b1[0])
    np.testing.assert_array_equal(x[4:].reshape(3, -1), b2[0])
    assert y.tolist() == b1[1] + b2[1]
    # channel-first layout: the first 1024 bytes of a row are the red plane
    np.testing.assert_array_equal(x[0, 0].ravel(), b1[0][0, :1024])
    np.testing.assert_array_equal(d["test"][0].reshape(2, -1), bt[0])
    assert d["classes"] == [f"c{i}" for i in range(10)]
    assert D.load_dataset(tmp_path)["name"] == "cifar10"
    single = D.load_cifar10(root / "test_batch")
    assert single["train"][1].tolist() == bt[1]
    _cifar_batch(tmp_path / "fine", 2, rng, label_key=b"fine_labels")  # CIFAR-100 style keys
    assert D.load_cifar10(tmp_path / "fine")["train"][0].shape == (2, 3, 32, 32)


# ---- PNG ---------------------------------------------------------------------------------------------
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _png_with_filters(img, filters):
    """Encode uint8 (H, W, C) with the given filter type per row (byte-by-byte, the PNG spec's formulas)."""
    h, w, c = img.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = img.reshape(h, w * c).astype(int)
    out = bytearray()
    for r in range(h):
        ft = filters[r % len(filters)]
        prev = rows[r - 1] if r else np.zeros(w * c, int)
        line = [ft]
        for i in range(w * c):
            a = rows[r, i - c] if i >= c else 0
            b = prev[i]
            cc = prev[i - c] if i >= c else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, cc)][ft]
            line.append((rows[r, i] - pred) % 256)
        out += bytes(line)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (_png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_reader_every_filter(channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 256, (7, 5, channels), dtype=np.uint8)
    got = _png.read_png(_png_with_filters(img, [0, 1, 2, 3, 4, 4, 3]))
    np.testing.assert_array_equal(got, img[:, :, 0] if channels == 1 else img)


def test_png_writer_round_trip_and_errors():
    rng = np.random.default_rng(3)
    for shape in [(4, 6), (4, 6, 3), (3, 2, 4)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(_png.read_png(_png.write_png(img)), img)
    with pytest.raises(ValueError, match="PNG"):
        _png.read_png(b"GIF89a....")


@needs_pil
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "1", "I;16"])
def test_png_reader_matches_pillow(mode):
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
    rgb[4:9, 3:8] = 200  # flat areas make Pillow pick Sub/Up/Paeth filters
    im = Image.fromarray(rgb).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        im = Image.fromarray((np.asarray(im).astype(np.uint16) * 257))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    got = _png.read_png(buf.getvalue())
    ref = Image.open(io.BytesIO(buf.getvalue()))
    if mode == "P":
        ref = ref.convert("RGB")
    if mode == "1":
        ref = ref.convert("L")
    expected = np.asarray(ref)
    if mode == "I;16":
        expected = (expected >> 8).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)


def test_resize_image():
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_array_equal(D.resize_image(img, 4), img)
    half = D.resize_image(img, 2)  # 2x2 box averages
    np.testing.assert_allclose(half[0], [[2.5, 4.5], [10.5, 12.5]])
    up = D.resize_image(np.ones((3, 5, 7), np.float32) * 9, (10, 3))
    assert up.shape == (3, 10, 3) and np.allclose(up, 9)
    ramp = D.resize_image(np.tile(np.arange(8, dtype=np.float32), (1, 8, 1)), 16)
    assert np.all(np.diff(ramp[0, 0]) >= 0)  # monotone stays monotone


# ---- malaria layout ----------------------------------------------------------------------------------
def _cells(rng, n=6, size=(10, 12)):
    return [rng.integers(0, 256, size + (3,), dtype=np.uint8) for _ in range(n)]


def _check_malaria(d, imgs, labels, size):
    x, y = d["train"]
    assert x.shape == (len(imgs), 3, size, size) and x.dtype == np.uint8
    assert y.tolist() == labels
    for xi, img in zip(x, imgs):
        ref = D.resize_image(np.moveaxis(img, 2, 0), size)
        np.testing.assert_array_equal(xi, np.clip(np.rint(ref), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("pil", [False, pytest.param(True, marks=needs_pil)])
def test_malaria_zip_with_labels_csv(tmp_path, pil, monkeypatch):
    if not pil:
        monkeypatch.setitem(sys.modules, "PIL", None)
    rng = np.random.default_rng(5)
    imgs = _cells(rng)
    labels = [1, 0, 0, 1, 1, 0]
    with zipfile.ZipFile(tmp_path / "train_data.zip", "w") as zf:
        for i, img in enumerate(imgs):
            zf.writestr(f"train_data/cell_{i}.png", _png.write_png(img))
        zf.writestr("__MACOSX/._cell_0.png", b"junk")
    # labels CSV next to the zip, rows in a different order than the files, ids without extension
    order = [3, 0, 5, 1, 4, 2]
    (tmp_path / "train_labels.csv").write_text("id,label\n" + "".join(f"cell_{i},{labels[i]}\n" for i in order))
    d = D.load_malaria(tmp_path / "train_data.zip", size=8)
    _check_malaria(d, [imgs[i] for i in order], [labels[i] for i in order], 8)
    assert d["names"][0] == "train_data/cell_3.png"
    assert D.load_dataset(tmp_path / "train_data.zip", size=8)["name"] == "malaria"


def test_malaria_folder_string_labels_and_class_folders(tmp_path, no_pillow):
    rng = np.random.default_rng(6)
    imgs = _cells(rng, 4, (9, 9))
    folder = tmp_path / "cells"
    folder.mkdir()
    for i, img in enumerate(imgs):
        (folder / f"c{i}.png").write_bytes(_png.write_png(img))
    names = ["Parasitized", "Uninfected", "Uninfected", "Parasitized"]
    (folder / "my_labels.csv").write_text("filename,class\n" + "".join(f"c{i}.png,{n}\n" for i, n in enumerate(names)))
    d = D.load_malaria(folder, size=9)
    _check_malaria(d, imgs, [1, 0, 0, 1], 9)
    assert d["classes"] == ["uninfected", "parasitized"]
    # explicit labels= path, no header, integer labels
    csv = tmp_path / "l.csv"
    csv.write_text("".join(f"c{i},{i % 2}\n" for i in range(4)))
    assert D.load_malaria(folder, labels=csv, size=4)["train"][1].tolist() == [0, 1, 0, 1]
    # one folder per class, no CSV (the NIH cell_images layout)
    root = tmp_path / "cell_images"
    for cls, idx in (("Parasitized", [0, 3]), ("Uninfected", [1, 2])):
        (root / cls).mkdir(parents=True)
        for i in idx:
            (root / cls / f"{i}.png").write_bytes(_png.write_png(imgs[i]))
    d = D.load_malaria(root, size=5)
    assert d["train"][1].tolist() == [1, 1, 0, 0] and d["train"][0].shape == (4, 3, 5, 5)
    # unlabeled test images (load_images) and missing files
    x, names = D.load_images(folder, size=6)
    assert x.shape == (4, 3, 6, 6) and names == [f"c{i}.png" for i in range(4)]
    g, _ = D.load_images(folder, size=9, channels=1)  # RGB -> luma
    luma = (imgs[0].astype(np.float32) * [0.299, 0.587, 0.114]).sum(2)
    np.testing.assert_allclose(g[0, 0], np.clip(np.rint(luma), 0, 255), atol=1)
    (tmp_path / "bad.csv").write_text("id,label\nnot_there,1\n")
    with pytest.raises(FileNotFoundError, match="not_there"):
        D.load_malaria(folder, labels=tmp_path / "bad.csv")


def test_jpeg_without_pillow_is_a_clear_error(no_pillow):
    with pytest.raises(ImportError, match="Pillow"):
        D.decode_image(b"\xff\xd8\xff\xe0 fake jpeg", "x.jpg")


# ---- splits and loader -------------------------------------------------------------------------------
def test_train_val_test_split():
    x = np.arange(1000)
    y = np.repeat(np.arange(4), [100, 200, 300, 400])
    tr, va, te = D.train_val_test_split(x, y, val=0.1, test=0.2, seed=3)
    assert (len(tr[0]), len(va[0]), len(te[0])) == (700, 100, 200)
    allx = np.concatenate([tr[0], va[0], te[0]])
    assert sorted(allx.tolist()) == list(range(1000))  # disjoint and complete
    for part, n in ((te, 200), (va, 100)):
        np.testing.assert_array_equal(part[1], y[part[0]])
        counts = np.bincount(part[1], minlength=4)
        np.testing.assert_allclose(counts, n * np.array([0.1, 0.2, 0.3, 0.4]), atol=1)  # stratified
    again = D.train_val_test_split(x, y, val=0.1, test=0.2, seed=3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip((tr, va, te), again))
    other = D.train_val_test_split(x, y, val=0.1, test=0.2, seed=4)
    assert not np.array_equal(other[2][0], te[0])
    tr, va, te = D.train_val_test_split(x, y, val=50, test=0, seed=0, stratify=False)
    assert (len(tr[0]), len(va[0]), len(te[0])) == (950, 50, 0)
    with pytest.raises(ValueError):
        D.train_val_test_split(x, y, val=0.6, test=0.5)


def test_dataloader_batches_and_seeded_shuffle():
    x = np.arange(10)[:, None]
    y = np.arange(10) * 2
    dl = D.DataLoader(x, y, batch_size=4)
    batches = list(dl)
    assert [len(b[0]) for b in batches] == [4, 4, 2] and len(dl) == 3
    np.testing.assert_array_equal(np.concatenate([b[0][:, 0] for b in batches]), np.arange(10))
    assert len(D.DataLoader(x, y, batch_size=4, drop_last=True)) == 2
    sh = D.DataLoader(x, y, batch_size=3, shuffle=True, seed=7)
    e0 = np.concatenate([b[0][:, 0] for b in sh])
    e1 = np.concatenate([b[0][:, 0] for b in sh])  # the epoch counter moved on: a new order
    assert sorted(e0.tolist()) == list(range(10)) and not np.array_equal(e0, e1)
    for xb, yb in sh:
        np.testing.assert_array_equal(yb, xb[:, 0] * 2)  # pairs stay together
    sh2 = D.DataLoader(x, y, batch_size=3, shuffle=True, seed=7)
    sh2.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate([b[0][:, 0] for b in sh2]), e1)  # resumable
    seen = []
    tf = D.DataLoader(x.astype(np.float32), y, batch_size=5, transform=lambda b, rng: (seen.append(rng), b + 100)[1])
    assert next(iter(tf))[0][0, 0] == 100 and isinstance(seen[0], np.random.Generator)
    with pytest.raises(ValueError):
        D.DataLoader(x, y[:3])


# ---- transforms --------------------------------------------------------------------------------------
def test_normalize_with_training_statistics():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (50, 3, 6, 6), dtype=np.uint8)
    mean, std = D.channel_stats(x)
    f = x.astype(np.float64) / 255
    np.testing.assert_allclose(mean, f.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, f.std(axis=(0, 2, 3)), rtol=1e-5)
    z = D.Compose([D.ToFloat(), D.Normalize.fit(x)])(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_flips_and_crop():
    x = np.arange(2 * 1 * 3 * 4, dtype=np.float32).reshape(2, 1, 3, 4)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(D.RandomHorizontalFlip(p=1.0)(x, rng), x[..., ::-1])
    np.testing.assert_array_equal(D.RandomVerticalFlip(p=1.0)(x, rng), x[..., ::-1, :])
    np.testing.assert_array_equal(D.RandomHorizontalFlip(p=0.0)(x, rng), x)
    np.testing.assert_array_equal(D.RandomCrop((3, 4))(x, rng), x)
    big = np.random.default_rng(1).normal(size=(20, 2, 8, 8)).astype(np.float32)
    out = D.RandomCrop(8, padding=2)(big, np.random.default_rng(2))
    assert out.shape == big.shape
    padded = np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(20):  # every crop is a window of the padded image
        assert any(np.array_equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(5) for dx in range(5))
    a = D.RandomCrop(8, padding=2)(big, np.random.default_rng(9))
    b = D.RandomCrop(8, padding=2)(big, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)  # seeded


def test_affine():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(D.RandomAffine()(x, rng), x, atol=1e-6)
    # a quarter turn about the centre is a 90 degree array rotation (either direction)
    rot = D.RandomAffine(degrees=90)

    class Fixed:
        def uniform(self, lo, hi, n=None):
            return np.full(n, hi) if n is not None else hi
    out = rot(x, Fixed())
    assert any(np.allclose(out, np.rot90(x, k, axes=(2, 3)), atol=1e-5) for k in (1, 3))
    # integer translation moves pixels, filling with 0
    tr = D.RandomAffine(translate=(1 / 7, 0))
    out = tr(x, Fixed())
    np.testing.assert_allclose(out[..., 1:], x[..., :-1], atol=1e-5)
    np.testing.assert_allclose(out[..., 0], 0)
    small = D.RandomRotation(10)(x, np.random.default_rng(1))
    assert small.shape == x.shape and np.isfinite(small).all()


def test_noise_and_colour_jitter():
    rng = np.random.default_rng(0)
    x = np.full((200, 3, 8, 8), 0.5, np.float32)
    n = D.GaussianNoise(0.1)(x, rng)
    assert abs(float((n - x).std()) - 0.1) < 0.005 and n.dtype == np.float32
    img = rng.uniform(size=(50, 3, 5, 5)).astype(np.float32)
    cj = D.ColorJitter(0.4, 0.4, 0.4)(img, rng)
    assert cj.shape == img.shape and cj.min() >= 0 and cj.max() <= 1 and not np.allclose(cj, img)
    np.testing.assert_array_equal(D.ColorJitter()(img, rng), img)
    gray = np.repeat(img[:, :1], 3, axis=1)  # saturation leaves grey images grey
    sat = D.ColorJitter(saturation=0.9)(gray, rng)
    np.testing.assert_allclose(sat, gray, atol=1e-6)
