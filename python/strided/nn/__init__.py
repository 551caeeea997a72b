"""strided.nn: layers with explicit forward/backward on top of the strided kernels.

    import strided.nn as nn
    model = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(30752, 2))
    y = model(x)                                   # forward, caches what backward needs
    model.zero_grad(); model.backward(dL_dy, need_input_grad=False)   # fills p.grad (accumulates)
    print(model.summary((1, 128, 128)))            # Keras-style table

Every layer keeps the dtype of its input; parameters are float32 unless the model is cast with
`model.double()` / `model.astype(np.float64)` (the gradient checks run in float64).

What lives where: module.py (the Module contract, Parameter, Sequential / Residual / Concat / Identity),
one file per layer family mirroring the ops (conv.py, linear.py, pooling.py, activation.py, dropout.py,
norm.py, shape.py, upsample.py), blocks.py (BasicBlock, Inception), summary.py (model.summary), init.py (the
default initializations), interop.py (to_torch), serialization.py (model.save / model.load: safetensors).
"""
from . import init
from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .blocks import BasicBlock, Inception
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .interop import to_torch
from .linear import Linear
from .module import Concat, Identity, Module, Parameter, Residual, Sequential
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from .pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d, MaxUnpool2d
from .serialization import load_weights, save_weights
from .shape import Flatten
from .summary import Summary, summarize
from .upsample import Upsample

__all__ = ["init", "Module", "Parameter", "Sequential", "Identity", "Residual", "Concat", "Conv2d",
           "ConvTranspose2d", "Linear", "MaxPool2d", "MaxUnpool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten",
           "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softplus", "Dropout", "BatchNorm1d", "BatchNorm2d",
           "GroupNorm", "LayerNorm", "InstanceNorm2d", "BasicBlock", "Inception", "Upsample", "Summary",
           "summarize", "to_torch", "save_weights", "load_weights"]
