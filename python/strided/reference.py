"""The NumPy reference: every op of strided in plain NumPy, written to be read. It is the oracle the
C++ and CUDA kernels are tested against, so clarity beats speed here.

Each op family keeps its reference beside its kernels (strided/ops/<family>/reference.py); this module
gathers them under the names of the functional ops.
"""
from .ops.activation.reference import relu, relu_backward
from .ops.conv2d.reference import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .ops.interp.reference import interpolate, interpolate_backward
from .ops.linear.reference import linear, linear_backward
from .ops.norm.reference import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, instance_norm,
                                 instance_norm_backward, layer_norm, layer_norm_backward)
from .ops.pool2d.reference import (avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, max_unpool2d,
                                   max_unpool2d_backward)

__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward", "max_pool2d",
           "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "max_unpool2d",
           "max_unpool2d_backward", "interpolate", "interpolate_backward", "linear", "linear_backward",
           "relu", "relu_backward", "batch_norm", "batch_norm_backward", "group_norm", "group_norm_backward",
           "instance_norm", "instance_norm_backward", "layer_norm", "layer_norm_backward"]
