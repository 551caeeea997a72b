"""conv_transpose2d ("deconvolution") and its gradients, built on the convolution kernels with no kernel of
its own: its forward is conv2d's input gradient, its input gradient is conv2d's forward, its weight gradient
is conv2d's weight gradient with the roles of x and gy swapped (args.TransposeArgs holds the convolution
geometry). NumPy arrays run strided._C, CuPy arrays the CUDA kernels, so both run at conv2d's speed."""
from __future__ import annotations

from ... import _C
from ..._device import array_module
from .. import _algorithm, _dispatch
from .._dispatch import contiguous as _c
from .._dispatch import external as _external
from .._dispatch import unbatched
from .._types import Array, Grads, IntPair, OptArray
from .args import TransposeArgs, conv_transpose_args


def _reached(y, t: TransposeArgs, like, dtype):
    """The full output from the rows and columns some input reaches (y, None when none is): the rest is
    zero. Only output_padding beyond padding + stride - 1 (or a huge padding) leaves such rows."""
    if y is not None and tuple(y.shape) == t.out_shape:
        return y
    full = array_module(like).zeros(t.out_shape, dtype)
    if y is not None:
        full[:, :, :t.reach[0], :t.reach[1]] = y
    return full


@unbatched("x")
def conv_transpose2d(x: Array, w: Array, b: OptArray = None, stride: IntPair = 1, padding: IntPair = 0,
                     output_padding: IntPair = 0, groups: int = 1, dilation: IntPair = 1) -> Array:
    """2-D transposed convolution (the gradient of conv2d with respect to its input, "deconvolution").

    Args:
        x: input of shape (N, C_in, H, W), or (C_in, H, W) unbatched; float32 or float64.
        w: weight of shape (C_in, C_out/groups, R, S) (PyTorch's layout for transposed convolution).
        b: optional bias of shape (C_out,).
        stride, dilation: an int or (h, w) pair each, as for the conv2d this is the gradient of.
        padding: an int or (h, w): crops that many rows/columns off each side of the full
            (H - 1) * stride + dilation * (R - 1) + 1 output (PyTorch's "dilation * (R - 1) - padding
            zero-padding of the input").
        output_padding: an int or (h, w) added to the bottom/right of the output size to pick among the
            sizes a strided conv2d maps to the same input size; each must be smaller than the stride or
            the dilation of its dimension.
        groups: split C_in and C_out into `groups` independent blocks.

    Returns:
        y of shape (N, C_out, OH, OW) (unbatched: (C_out, OH, OW)) with
        OH = (H - 1) * stride - 2 * padding + dilation * (R - 1) + output_padding + 1, likewise OW.

    Raises:
        TypeError: an argument is not a float32/float64 array, or the dtypes differ.
        ValueError: wrong ndim, w's first dimension is not C_in, groups does not divide C_in,
            output_padding not smaller than stride or dilation, a non-positive output size, a bias
            not of shape (C_out,).
    """
    x, w, b = _external(x, w, b)
    t, dtype = conv_transpose_args(x, w, b, None, stride, padding, output_padding, groups, dilation)
    a = t.conv
    y = None
    if a is not None:
        gpu = _dispatch.backend(x, w, b)
        if gpu is not None:
            y = gpu.conv2d_backward_input(x, w, a)
        else:
            y = _C.conv2d_backward_input(_c(x, dtype), _c(w, dtype), a, _C.conv_algorithms[_algorithm.current()])
    y = _reached(y, t, x, dtype)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


@unbatched("x", "gy", out=(0,))
def conv_transpose2d_backward(gy: Array, x: Array, w: Array, stride: IntPair = 1, padding: IntPair = 0,
                              output_padding: IntPair = 0, groups: int = 1, dilation: IntPair = 1, *,
                              input_grad: bool = True, weight_grad: bool = True, bias_grad: bool = True) -> Grads:
    """Gradients (gx, gw, gb) of conv_transpose2d for the output gradient gy; one not asked for is None.

    Args:
        gy: output gradient, of the shape conv_transpose2d returned for x and w.
        x, w, stride, padding, output_padding, groups, dilation: as given to conv_transpose2d.
        input_grad, weight_grad, bias_grad: which gradients to compute.

    Returns:
        (gx, gw, gb) of the shapes of x, w and (C_out,); None for each gradient not asked for.

    Raises:
        TypeError, ValueError: as conv_transpose2d, and ValueError for gy not of the output's shape.
    """
    gy, x, w = _external(gy, x, w)
    t, dtype = conv_transpose_args(x, w, None, gy, stride, padding, output_padding, groups, dilation)
    a, xp = t.conv, array_module(x)
    gb = gy.sum(axis=(0, 2, 3)).astype(dtype, copy=False) if bias_grad else None
    if a is None:  # no input element reaches the output: x and w get no gradient
        return (xp.zeros(x.shape, dtype) if input_grad else None,
                xp.zeros(w.shape, dtype) if weight_grad else None, gb)
    g = gy[:, :, :a.H, :a.W]  # the reached part: the convolution's input
    gpu = _dispatch.backend(gy, x, w)
    if gpu is not None:
        return (gpu.conv2d_forward(g, w, None, a) if input_grad else None,
                gpu.conv2d_backward_weight(x, g, a) if weight_grad else None, gb)
    algo = _C.conv_algorithms[_algorithm.current()]
    g = _c(g, dtype)
    gx = _C.conv2d_forward(g, _c(w, dtype), None, a, algo) if input_grad else None
    gw = _C.conv2d_backward_weight(_c(x, dtype), g, a, algo, False)[0] if weight_grad else None
    return gx, gw, gb


__all__ = ["conv_transpose2d", "conv_transpose2d_backward"]
