"""The output-size rule, the one Python home of it: conv and pooling geometry (strided.ops.conv2d.args,
strided.ops.pool2d.args) both call `out_size`; the C++ has the one twin (`_C.out_size`), tested to agree.

Also the bound every geometry value and derived extent must keep (`LIMIT`, `check_extents`): the kernels
compute in 64-bit integers, and keeping each value and each padded or dilated extent within 2**62 keeps
every index they form (a multiple of a stride plus a tap offset minus a padding) inside int64. The C++
bindings check the same bound (csrc/core/common.h, geometry_fits), so a direct caller of strided._C cannot
overflow a kernel either.
"""
from __future__ import annotations

LIMIT = 2 ** 62


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


def check_limit(value, name):
    """ValueError unless 0 <= value <= LIMIT (Python ints have no overflow: this is where it is caught)."""
    if value > LIMIT:
        raise ValueError(f"{name} = {value} exceeds 2**62, the bound of every geometry value and derived "
                         "extent (the kernels index in 64-bit integers)")


def check_extents(size, kernel, dilation, pad_begin, pad_end, axis):
    """The derived extents of one axis within LIMIT: the padded input and the dilated kernel."""
    check_limit(size + pad_begin + pad_end, f"the padded input {axis} (size + padding)")
    check_limit(dilation * (kernel - 1) + 1, f"the dilated kernel {axis} (dilation * (kernel - 1) + 1)")


def check_elements(count, itemsize, name):
    """An array size (without the batch) in bytes within LIMIT, so that even an empty batch's output can be
    allocated and the kernels' offsets into one sample stay in int64."""
    check_limit(count * itemsize, f"{name} bytes per sample")
