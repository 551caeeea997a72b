"""strided.data against hostile and broken files (issue 19): no code runs from a data file, nothing is
inflated beyond what a header declares, CSV rows match images exactly, and every refusal is a ValueError
naming the file (and zip member) and the rule. Every fixture is a small file written into tmp_path."""
import gzip
import os
import pickle
import struct
import sys
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from strided import data as D
from strided.data import _png


@pytest.fixture(autouse=True)
def no_pillow(monkeypatch):
    """The built-in PNG reader, whose failures these tests provoke (Pillow has its own)."""
    monkeypatch.setitem(sys.modules, "PIL", None)


def _peak_bytes(fn):
    """Largest traced allocation total while fn runs (fn is expected to raise ValueError)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            fn()
        return tracemalloc.get_traced_memory()[1], err.value
    finally:
        tracemalloc.stop()


# ---- CIFAR pickles ---------------------------------------------------------------------------------
class _Payload:
    """Unpickling this calls `call(*args)`: what a hostile data_batch_1 carries."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _hostile(marker):
    return {"os.system": _Payload(os.system, f"touch {marker}"),
            "exec": _Payload(exec, f"open({str(marker)!r}, 'w').write('ran')"),
            "in a dict": {b"data": _Payload(os.system, f"touch {marker}"), b"labels": [1]}}


@pytest.mark.parametrize("kind", ["os.system", "exec", "in a dict"])
def test_cifar_pickle_runs_no_code(tmp_path, kind):
    root = tmp_path / "cifar"
    root.mkdir()
    marker = tmp_path / "marker"
    batch = root / "data_batch_1"
    batch.write_bytes(pickle.dumps(_hostile(marker)[kind], protocol=2))
    for load in (D.load_cifar10, D.load_dataset):  # load_dataset detects CIFAR by the data_batch_* name
        with pytest.raises(D.UnsafePickleError, match="data_batch_1.*refused to load the global") as err:
            load(root)
        assert isinstance(err.value, ValueError) and isinstance(err.value, pickle.UnpicklingError)
        assert ("system" in str(err.value)) != (kind == "exec")
        assert not marker.exists()


def _real_like_batch(n, rng):
    return {b"batch_label": b"training batch 1 of 5", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL, "numpy 1 names"])
def test_cifar_real_like_batches_still_load(tmp_path, protocol):
    rng = np.random.default_rng(0)
    batch = _real_like_batch(5, rng)
    raw = pickle.dumps(batch, protocol=2 if protocol == "numpy 1 names" else protocol)
    if protocol == "numpy 1 names":  # what the distributed batches (pickled under numpy 1) name
        raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        assert b"cnumpy.core.multiarray\n_reconstruct" in raw
    (tmp_path / "data_batch_1").write_bytes(raw)
    meta = {b"label_names": [f"k{i}".encode() for i in range(10)], b"num_vis": 3072, b"num_cases_per_batch": 5}
    (tmp_path / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    d = D.load_dataset(tmp_path)
    x, y = d["train"]
    np.testing.assert_array_equal(x.reshape(5, -1), batch[b"data"])
    assert y.tolist() == batch[b"labels"] and d["classes"] == [f"k{i}" for i in range(10)]


# hand-written pickles that use only admitted names, in ways numpy never writes
_NDARRAY_CALL = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x10\x85R."  # ndarray((2**28,)): reserve 2 GiB
_ROT13 = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."


@pytest.mark.parametrize("raw, rule", [
    (pickle.dumps([1, 2, 3]), "not a dict"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}), "2 images but 1 labels"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}), "3072"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [-1]}), "0..65535"),
    (pickle.dumps({b"data": np.zeros((1, 3072)), b"labels": [1]}), "integers in 0..255"),
    (b"\x80\x02}q\x00(X\x04", "not a readable pickle"),
    (_NDARRAY_CALL, "not a readable pickle"),
    (_ROT13, "only latin1"),
])
def test_cifar_malformed_batches_name_file_and_rule(tmp_path, raw, rule):
    (tmp_path / "test_batch").write_bytes(raw)
    with pytest.raises(ValueError, match=rule) as err:
        D.load_cifar10(tmp_path / "test_batch")
    assert str(tmp_path / "test_batch") in str(err.value)


# ---- IDX ---------------------------------------------------------------------------------------------
def _idx_header(code, *dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("raw, rule", [
    (_idx_header(0x08, 60000, 28, 28)[:10], "ends inside"),  # cut to 10 bytes: inside the dims
    (_idx_header(0x08, 1 << 16, 1 << 16, 1 << 16, 1 << 16), "header says"),  # 2**64 bytes: int64 wraps to 0
    (_idx_header(0x08, 3) + b"\x01\x02\x03\x04", "has more bytes"),
])
def test_idx_truncated_or_lying_headers(tmp_path, raw, rule):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match=rule) as err:
        D.read_idx(p)
    assert str(p) in str(err.value)


def test_idx_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(_idx_header(0x08, 4) + bytes(4 + (32 << 20)), compresslevel=1))
    assert p.stat().st_size < 1 << 20
    peak, err = _peak_bytes(lambda: D.read_idx(p))
    assert "has more bytes" in str(err) and str(p) in str(err)
    assert peak < 4 << 20, peak  # the 32 MiB body is never held
    p.write_bytes(b"\x1f\x8b\x08\x00 not deflate data at all")
    with pytest.raises(ValueError, match="corrupt gzip"):
        D.read_idx(p)


def test_mnist_nan_pixels_and_negative_labels(tmp_path):
    x = np.zeros((2, 28, 28), np.float32)
    x[1, 3, 4] = np.nan
    D.write_idx(tmp_path / "train-images-idx3-ubyte", x)
    D.write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: pixel values must be finite"):
        D.load_mnist(tmp_path)
    D.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.float32) + 300)
    with pytest.raises(ValueError, match="0..255"):
        D.load_mnist(tmp_path)
    D.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    D.write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, -1], np.int8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: labels must lie in 0"):
        D.load_mnist(tmp_path)


# ---- images, zips and labels CSVs --------------------------------------------------------------------
def _img(value):
    return np.full((4, 4, 3), value, np.uint8)


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body if isinstance(body, bytes) else _png.write_png(body))
    return path


def test_csv_rows_match_paths_exactly(tmp_path):
    z = _zip(tmp_path / "cells.zip", {"sub/a/x.png": _img(10)})
    (tmp_path / "labels.csv").write_text("file,label\nsub/b/x.png,1\n")
    with pytest.raises(FileNotFoundError, match="sub/b/x.png"):  # not sub/a/x.png under the same name
        D.load_malaria(z, size=4)
    z = _zip(tmp_path / "cells.zip", {"sub/a/x.png": _img(10), "sub/b/x.png": _img(200)})
    (tmp_path / "labels.csv").write_text("file,label\nsub/b/x.png,1\nsub/a/x.png,0\n")
    d = D.load_malaria(z, size=4)
    assert d["names"] == ["sub/b/x.png", "sub/a/x.png"] and d["train"][0][:, 0, 0, 0].tolist() == [200, 10]
    (tmp_path / "labels.csv").write_text("file,label\nb/x,1\nx.png,0\n")  # a unique tail still finds its image
    with pytest.raises(ValueError, match=r"labels.csv line 3: 'x.png' fits 2 images"):
        D.load_malaria(z, size=4)
    (tmp_path / "labels.csv").write_text("file,label\nb/x,1\nsub/b/x.png,0\n")
    with pytest.raises(ValueError, match="line 3: 'sub/b/x.png' is already labelled on line 2"):
        D.load_malaria(z, size=4)


@pytest.mark.parametrize("text, rule", [
    (b"id,label\nc0,1\nc1\n", "line 3: each row needs an image name"),
    (b"id,label\nc0,1\nc1,\n", "line 3: each row needs an image name"),
    (b"id\nc0\nc1\n", "needs an image-name column and a label column"),
    (bytes(range(128, 256)) * 4, "not a readable CSV"),
    (b"id,label\nc0,99999999999999999999\nc1,0\n", "0..65535"),
    (b"id,label\nc0,-1\nc1,0\n", "0..65535"),
])
def test_malformed_labels_csv_names_file_and_rule(tmp_path, text, rule):
    folder = tmp_path / "cells"
    folder.mkdir()
    for i in range(2):
        (folder / f"c{i}.png").write_bytes(_png.write_png(_img(i)))
    (tmp_path / "l.csv").write_bytes(text)
    with pytest.raises(ValueError, match=rule) as err:
        D.load_malaria(folder, labels=tmp_path / "l.csv", size=4)
    assert str(tmp_path / "l.csv") in str(err.value)


def test_unlabelled_images_are_counted_in_a_warning(tmp_path):
    folder = tmp_path / "cells"
    folder.mkdir()
    for i in range(3):
        (folder / f"c{i}.png").write_bytes(_png.write_png(_img(i)))
    (folder / "labels.csv").write_text("id,label\nc2,1\nc0,0\n")
    with pytest.warns(UserWarning, match=r"1 of 3 images have no row in .*labels.csv.*'c1.png'"):
        d = D.load_malaria(folder, size=4)
    assert d["names"] == ["c2.png", "c0.png"] and d["train"][1].tolist() == [1, 0]


def _set_sizes(raw: bytes, size: int) -> bytes:
    """Overwrite the uncompressed size a zip declares for its one member (local header and directory)."""
    raw = bytearray(raw)
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.index(sig)
        raw[at + off:at + off + 4] = struct.pack("<I", size)
    return bytes(raw)


def test_zip_members_are_read_within_bounds(tmp_path):
    z = _zip(tmp_path / "cells.zip", {"cells/big.png": bytes(16 << 20)})
    raw = z.read_bytes()
    z.write_bytes(_set_sizes(raw, 1 << 31))  # declares 2 GiB: refused before reading
    with pytest.raises(ValueError, match=r"cells.zip member cells/big.png: declares 2147483648 bytes"):
        D.load_images(z, size=4)
    z.write_bytes(_set_sizes(raw, 100))  # declares 100 bytes but inflates to 16 MiB
    peak, err = _peak_bytes(lambda: D.load_images(z, size=4))
    assert "member cells/big.png: unreadable zip member" in str(err)
    assert peak < 4 << 20, peak  # a bounded chunk, not the 16 MiB


def test_corrupt_zip_and_bad_members_are_named(tmp_path):
    z = _zip(tmp_path / "cells.zip", {f"cells/c{i}.png": _img(i) for i in range(3)})
    raw = z.read_bytes()
    z.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match="cells.zip: corrupt zip archive"):
        D.load_images(z)
    good = _png.write_png(_img(7))
    idat = good.index(b"IDAT")
    bomb = bytearray(good[:idat - 4])
    body = zlib.compress(bytes(32 << 20))  # a 4x4 image whose data inflates to 32 MiB
    bomb += struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    for name, body, rule in (("cells/junk.png", b"\x89PNG\r\n\x1a\njunk", "PNG without an IHDR"),
                             ("cells/cut.png", good[:idat + 12], "PNG image data"),
                             ("cells/huge.png", good[:16] + struct.pack(">II", 60000, 60000) + good[24:],
                              "60000x60000 pixels: refused"),
                             ("cells/bomb.png", bytes(bomb), "PNG image data has 53 bytes, expected 52")):
        z = _zip(tmp_path / "cells.zip", {"cells/ok.png": _img(1), name: body})
        peak, err = _peak_bytes(lambda: D.load_images(z, size=4))
        assert f"cells.zip member {name}: " in str(err) and rule in str(err), str(err)
        assert peak < 4 << 20, (name, peak)


def test_folder_files_over_the_limit_are_refused(tmp_path, monkeypatch):
    from strided.data import images
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    folder = tmp_path / "cells"
    folder.mkdir()
    (folder / "c0.png").write_bytes(_png.write_png(_img(0)))
    (folder / "c1.png").write_bytes(_png.write_png(np.random.default_rng(0).integers(0, 256, (50, 20, 3), dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"cells/c1.png: larger than the"):
        D.load_images(folder, size=4)
    (folder / "c1.png").unlink()
    (tmp_path / "l.csv").write_text("id,label\nc0,1\n" + "x,0\n" * 500)
    with pytest.raises(ValueError, match=r"l.csv: larger than the"):
        D.load_malaria(folder, labels=tmp_path / "l.csv", size=4)
