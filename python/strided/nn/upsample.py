"""Upsample: the layer over strided.interpolate ('nearest' or 'bilinear'), as torch.nn.Upsample."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..ops.interp.args import interp_mode, interp_output_shape
from .module import Module, _check_cached


class Upsample(Module):
    """Resample H and W to `size` or by `scale_factor` (exactly one); mode 'nearest' or 'bilinear'
    (align_corners only for bilinear). No parameters."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        interp_mode(mode, align_corners)  # a bad mode fails here, not at the first forward
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self._x = None

    def _options(self):
        return dict(size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                    align_corners=self.align_corners, recompute_scale_factor=self.recompute_scale_factor)

    def forward(self, x):
        self._x = x
        return F.interpolate(x, **self._options())

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        return F.interpolate_backward(gy, x, **self._options()) if need_input_grad else None

    def output_shape(self, in_shape):
        return interp_output_shape((1, *in_shape), self.size, self.scale_factor, self.recompute_scale_factor)[1:]

    def forward_flops(self, in_shape, out_shape):
        # Nearest copies (counted one per output, the summary's convention); bilinear blends four inputs
        # with 6 multiplications and 3 additions per output.
        return int(np.prod(out_shape)) * (1 if self.mode == "nearest" else 9)

    def extra_repr(self):
        s = f"size={self.size!r}" if self.size is not None else f"scale_factor={self.scale_factor!r}"
        s += f", mode={self.mode!r}"
        if self.align_corners is not None:
            s += f", align_corners={self.align_corners!r}"
        return s


__all__ = ["Upsample"]
