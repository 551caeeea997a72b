"""Export to PyTorch: the same network, with the same weights, as a torch.nn.Sequential — for comparing
with PyTorch (tests, benchmarks) or handing a trained model on. PyTorch is optional: imported on call."""
from __future__ import annotations

import numpy as np

from .activation import ReLU
from .conv import Conv2d
from .linear import Linear
from .pooling import MaxPool2d
from .shape import Flatten


def to_torch(model):
    """torch.nn.Sequential twin of a Sequential of Conv2d / Linear / ReLU / MaxPool2d / Flatten layers (the
    course's plain CNNs); its dtype follows the model's parameters."""
    import torch

    layers = []
    for m in model.children():
        if isinstance(m, Conv2d):
            t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                m.groups, bias=m.bias is not None)
        elif isinstance(m, Linear):
            t = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        elif isinstance(m, MaxPool2d):
            t = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
        elif isinstance(m, ReLU):
            t = torch.nn.ReLU()
        elif isinstance(m, Flatten):
            t = torch.nn.Flatten()
        else:
            raise TypeError(f"to_torch has no PyTorch twin for {type(m).__name__}")
        with torch.no_grad():
            for name, p in m.named_parameters():
                if p is not None:
                    getattr(t, name).copy_(torch.from_numpy(np.asarray(p.data)))
        layers.append(t)
    dtype = next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))
    return torch.nn.Sequential(*layers).to(torch.float64 if dtype == np.float64 else torch.float32)
