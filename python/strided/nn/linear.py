"""Linear: the fully connected layer over strided.linear / linear_backward."""
from __future__ import annotations

from .. import functional as F
from . import init
from .module import Module, Parameter, _check_cached, _check_dtype


class Linear(Module):
    """Fully connected layer: y = x @ weight.T + bias, over strided.linear.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: add a learned bias (out_features,).

    Shapes: (N, in_features) -> (N, out_features); weight (out_features, in_features).
    Initialization: weight He-normal (fan_in = in_features, gain sqrt(2)), bias zeros.

    Raises:
        TypeError: an input of another float dtype than the parameters (cast one of them).
        ValueError: an input whose last axis is not in_features.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(init.empty((self.out_features, self.in_features)))
        init.kaiming_normal_(self.weight)
        if bias:
            self.bias = Parameter(init.empty((self.out_features,)))
        else:
            self.register_parameter("bias", None)
        self._x = None

    def forward(self, x):
        _check_dtype(self, x, self.weight)
        self._x = x
        return F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, gy, need_input_grad=True):
        x = _check_cached(self, self._x)
        self._x = None
        has_bias = self.bias is not None and self.bias.requires_grad
        gx, gw, gb = F.linear_backward(gy, x, self.weight.data, input_grad=need_input_grad,
                                       weight_grad=self.weight.requires_grad, bias_grad=has_bias)
        if gw is not None:
            self.weight.accumulate(gw)
        if gb is not None:
            self.bias.accumulate(gb)
        return gx

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) got per-sample input shape "
                             f"{tuple(in_shape)}")
        return (self.out_features,)

    def forward_flops(self, in_shape, out_shape):
        return 2 * self.in_features * self.out_features

    def receptive_window(self):
        return "all"

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + ("" if self.bias is not None else ", bias=False"))


__all__ = ["Linear"]
