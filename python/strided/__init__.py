"""strided: hand-written convolution and pooling kernels (C++/OpenMP on the CPU, CUDA through CuPy on the
GPU) with a NumPy reference, PyTorch-shaped functional ops, layers and a small trainer."""
from . import _C, reference
from .ops.conv2d.args import conv_output_shape
from .ops.pool2d.args import pool_output_shape
from .functional import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_backward, conv_algorithm,
                         conv_algorithms, linear, linear_backward, max_pool2d, max_pool2d_backward, relu,
                         relu_backward)
from .functional import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, instance_norm,
                         instance_norm_backward, layer_norm, layer_norm_backward)
from . import models, nn
from . import data, losses, optim

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Threads the CPU kernels use (OpenMP); OMP_NUM_THREADS sets the starting value."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads needs a positive int, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the CPU kernels use."""
    return _C.get_num_threads()


def cpu_capability() -> str:
    """SIMD level the CPU kernels use: 'avx512', 'avx2' or 'default' (STRIDED_CPU_CAPABILITY can lower it)."""
    return _C.cpu_capability()


__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
           "avg_pool2d_backward", "linear", "linear_backward", "relu", "relu_backward", "conv_output_shape",
           "pool_output_shape", "set_num_threads", "get_num_threads", "cpu_capability", "conv_algorithm", "conv_algorithms", "__version__",
           "batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward", "instance_norm",
           "instance_norm_backward", "layer_norm", "layer_norm_backward"]
