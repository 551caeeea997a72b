"""strided.nn: layers with explicit forward/backward on top of the strided kernels.

    import strided.nn as nn
    model = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(30752, 2))
    y = model(x)                                   # forward, caches what backward needs
    model.zero_grad(); model.backward(dL_dy, need_input_grad=False)   # fills p.grad (accumulates)
    print(model.summary((1, 128, 128)))            # Keras-style table

See strided.nn.module for the Module contract and strided.nn.init for the default initializations.
"""
from . import init
from .layers import (ELU, AvgPool2d, BasicBlock, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                     GlobalAvgPool2d, Inception, LeakyReLU, Linear, MaxPool2d, ReLU, Sigmoid, Softplus, Tanh)
from .interop import to_torch
from .module import Concat, Identity, Module, Parameter, Residual, Sequential
from .summary import Summary, summarize

__all__ = ["init", "Module", "Parameter", "Sequential", "Identity", "Residual", "Concat", "Conv2d", "Linear",
           "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "ReLU", "LeakyReLU", "ELU", "Sigmoid",
           "Tanh", "Softplus", "Dropout", "BatchNorm1d", "BatchNorm2d", "BasicBlock", "Inception", "Summary",
           "summarize", "to_torch"]
