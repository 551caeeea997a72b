"""The functional ops, gathered from their op families (strided/ops/<family>/): each validates once, then
runs the C++/OpenMP kernels of strided._C on NumPy arrays or the CUDA kernels of strided.cuda on CuPy
arrays."""
from .ops._algorithm import conv_algorithm, conv_algorithms
from .ops.activation import relu, relu_backward
from .ops.conv2d import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .ops.interp import interpolate, interpolate_backward
from .ops.linear import linear, linear_backward
from .ops.norm import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, instance_norm,
                       instance_norm_backward, layer_norm, layer_norm_backward)
from .ops.pool2d import (avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, max_unpool2d,
                         max_unpool2d_backward)

__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward", "max_pool2d",
           "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward", "interpolate", "interpolate_backward", "linear", "linear_backward",
           "relu", "relu_backward", "batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward",
           "instance_norm", "instance_norm_backward", "layer_norm", "layer_norm_backward", "conv_algorithm",
           "conv_algorithms"]
