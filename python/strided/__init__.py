"""strided: hand-written convolution and pooling kernels (C++/OpenMP on the CPU, CUDA through CuPy on the
GPU) with a NumPy reference, PyTorch-shaped functional ops, layers and a small trainer."""
from . import _C, reference
from .ops.conv2d.args import conv_output_shape
from .ops.interp.args import interp_output_shape
from .ops.pool2d.args import pool_output_shape
from .functional import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_backward, conv_algorithm,
                         conv_algorithms, conv_transpose2d, conv_transpose2d_backward, interpolate,
                         interpolate_backward, linear, linear_backward, max_pool2d, max_pool2d_backward,
                         max_unpool2d, max_unpool2d_backward, relu, relu_backward)
from .functional import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, instance_norm,
                         instance_norm_backward, layer_norm, layer_norm_backward)
from . import models, nn
from . import data, export, losses, optim

from ._version import __version__


def set_num_threads(n: int) -> None:
    """Set the number of threads the CPU kernels use (OpenMP), for the whole process.

    OMP_NUM_THREADS sets the starting value. The CuPy (GPU) kernels are not affected.

    Args:
        n: a positive int.

    Raises:
        ValueError: n is not a positive int (bools are refused).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads needs a positive int, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the CPU kernels use (see set_num_threads)."""
    return _C.get_num_threads()


def load_model(path, device="cpu"):
    """A checkpoint of strided-train as a ready model: eval mode, `model.preprocess(images)` (raw images ->
    its normalized input batch; one image works), `model.classes`. See strided.train.deploy.load_model."""
    from .train.deploy import load_model as _load

    return _load(path, device)


def cpu_capability() -> str:
    """The SIMD level the CPU kernels were dispatched to on this machine.

    Returns:
        'avx512', 'avx2' or 'default'; the environment variable STRIDED_CPU_CAPABILITY (read at import)
        can lower it, e.g. to compare paths.
    """
    return _C.cpu_capability()


__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward", "max_pool2d",
           "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward", "interpolate", "interpolate_backward", "linear", "linear_backward",
           "relu", "relu_backward", "batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward",
           "instance_norm", "instance_norm_backward", "layer_norm", "layer_norm_backward",
           "conv_output_shape", "pool_output_shape", "interp_output_shape", "set_num_threads",
           "get_num_threads", "cpu_capability", "conv_algorithm", "conv_algorithms", "load_model",
           "__version__"]
