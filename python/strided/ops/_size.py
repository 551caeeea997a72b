"""The output-size rule, the one Python home of it: conv and pooling geometry (strided.ops.conv2d.args,
strided.ops.pool2d.args) both call `out_size`; the C++ has the one twin (`_C.out_size`), tested to agree."""
from __future__ import annotations


def out_size(size, kernel, stride, pad_begin, pad_end, dilation=1, ceil_mode=False):
    """The output-size rule (N - F + pads) / stride + 1, with F the dilated kernel extent.

    ceil_mode rounds up, but (as PyTorch) a last window that would start in the end padding is dropped.
    """
    extent = dilation * (kernel - 1) + 1
    span = size + pad_begin + pad_end - extent
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def transposed_out_size(size, kernel, stride, padding, dilation=1, output_padding=0):
    """A transposed convolution's output size, (size - 1) * stride - 2 * padding + dilation * (kernel - 1)
    + output_padding + 1: the input size of the convolution whose gradient it is."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
