"""Guards for reading data files nobody vouched for: reads bounded by what a header declares, a pickle loader
that runs no code (for CIFAR batches), and the label check every loader applies before returning.

A data file may be truncated, corrupt or hostile; each guard turns that into a ValueError naming the file
(and zip member) and the broken rule, before anything large is allocated and before anything is returned.
"""
from __future__ import annotations

import io
import pickle

import numpy as np

MAX_CLASSES = 1 << 16  # label values above this are junk, and the trainer would size its output layer by them
_CHUNK = 1 << 20


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global that plain data (dicts, lists, bytes, NumPy arrays) never needs."""


def read_at_most(f, limit: int) -> bytearray:
    """Up to limit + 1 bytes of the binary stream f, in chunks, so memory follows the data actually there
    (a single read(n) would reserve n bytes up front, whatever the stream holds)."""
    buf = bytearray()
    while len(buf) <= limit:
        chunk = f.read(min(_CHUNK, limit + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf  # not bytes(buf): that would copy a whole MNIST file once more


def _latin1(text, encoding="latin1"):
    # Python 3 writes bytes at pickle protocol < 3 as _codecs.encode(str, 'latin1'); no other codec is data
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"_codecs.encode with {encoding!r}: only latin1 (how bytes are pickled) is allowed")
    return text.encode("latin1")


def _reconstruct(subtype, shape, typecode):
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by its state; the ndarray class
    # itself is handed out only as a token, so the pickle cannot call ndarray(shape) to reserve any size
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise UnsafePickleError("numpy _reconstruct with arguments numpy never writes")
    return _RECONSTRUCT(np.ndarray, (0,), typecode)


_NDARRAY = object()
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]  # numpy.(_)core.multiarray._reconstruct, whatever numpy calls it
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy.(_)core.numeric._frombuffer (pickle protocol 5)
_ALLOWED = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1}
for _core in ("numpy.core", "numpy._core"):  # numpy 1 and 2 names (real CIFAR batches say numpy.core)
    _ALLOWED[(_core + ".multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(_core + ".numeric", "_frombuffer")] = _FROMBUFFER


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused to load the global {module}.{name}: a data pickle holds only "
                                    "dicts, lists, bytes and NumPy arrays") from None


def load_data_pickle(path):
    """Unpickle a file of plain data (as the CIFAR 'python version' batches are) without running any code:
    only NumPy's array and dtype constructors are resolved, every other global is refused."""
    with open(path, "rb") as f:
        raw = f.read()  # the whole file first: a length inside the pickle can then not reserve more than it
    try:
        return _DataUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except Exception as e:  # anything else the unpickler trips over means the file is not a data pickle
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from e


def check_labels(y, where: str) -> np.ndarray:
    """Labels as int64, refusing non-integral, non-finite, negative and absurdly large values."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "uif":
        raise ValueError(f"{where}: labels must be a 1-D array of numbers, got {y.dtype} {y.shape}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise ValueError(f"{where}: labels must be whole numbers (found NaN, infinity or a fraction)")
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise ValueError(f"{where}: labels must lie in 0..{MAX_CLASSES - 1}, found {y.min()}..{y.max()}")
    return y.astype(np.int64)
