"""Reference architectures built from strided.nn (each takes num_classes and in_channels).

    lenet5            LeNet-5 (LeCun et al. 1998) on 32x32, or 28x28 MNIST with conv1 padding 2
    brain_baseline    the course's baseline CNN for 1x128x128 images: 62,338 parameters
    brain_second      the course's second CNN for 1x128x128 images: 206,050 parameters
    alexnet           AlexNet (Krizhevsky et al. 2012, single-stream, 224x224) or small=True for 32x32
    vgg11/13/16/19    VGG configurations A, B, D, E (Simonyan & Zisserman 2015); vgg16() = 138,357,544 params
    resnet18          ResNet-18 with basic blocks (He et al. 2015); 11,689,512 params for 1000 classes
    googlenet_small   a CIFAR-sized GoogLeNet of Inception modules (32x32); googlenet() the 224x224 one

Weights are drawn by strided.nn.init (seed it with strided.nn.init.seed(n) for reproducible models);
build under `with strided.nn.init.skip_init():` to only count parameters or print a summary.
resnet18, vgg11-19, alexnet and googlenet take `weights=` (a torchvision-format .safetensors or .pth file,
or a state dict) and then give torchvision's outputs; replace_head, freeze and load_torchvision (from
strided.pretrained) are here as well, for transfer learning.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from . import nn
from .pretrained import Weights, freeze, googlenet_torchvision, load_torchvision, pretrained, replace_head
from .ops.conv2d.args import conv_output_shape
from .ops.pool2d.args import pool_output_shape


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, activation: str = "relu",
           pool: str = "max") -> nn.Sequential:
    """LeNet-5: C1 conv5x5 6 -> S2 pool 2 -> C3 conv5x5 16 -> S4 pool 2 -> C5 120 -> F6 84 -> out.

    input_size 32 is the original layout; 28 (MNIST) pads conv1 by 2 so every later shape is the same
    (16x5x5 before C5; 61,706 parameters for 10 classes and 1 channel).  The defaults are the modern
    ReLU / max-pool variant; activation='tanh', pool='avg' gives the classic one.

    Args:
        num_classes: outputs of fc3.
        in_channels: channels of the input images.
        input_size: 28 or 32 (square inputs).
        activation: 'relu', 'tanh' or 'sigmoid'.
        pool: 'max' or 'avg'.

    Returns:
        nn.Sequential (conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2, act4, fc3); input
        (N, in_channels, input_size, input_size), output (N, num_classes) logits.

    Raises:
        ValueError: another input_size; KeyError: an unknown activation or pool.
    """
    if input_size not in (28, 32):
        raise ValueError(f"lenet5 takes input_size 28 (MNIST, conv1 padding 2) or 32, got {input_size}")
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    Pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pool]
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0)),
        ("act1", act()),
        ("pool1", Pool(2)),
        ("conv2", nn.Conv2d(6, 16, 5)),
        ("act2", act()),
        ("pool2", Pool(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 5 * 5, 120)),
        ("act3", act()),
        ("fc2", nn.Linear(120, 84)),
        ("act4", act()),
        ("fc3", nn.Linear(84, num_classes)),
    ]))


def brain_baseline(num_classes: int = 2, in_channels: int = 1, input_size: int = 128) -> nn.Sequential:
    """The course's baseline (Keras: Conv2D(32, 5x5, relu), MaxPooling2D(4x4), Flatten, Dense(2)):
    1x128x128 -> 32x124x124 -> 32x31x31 -> 30752 -> 2, 62,338 parameters.

    Args:
        num_classes: outputs of the Linear layer.
        in_channels: channels of the input images.
        input_size: height and width of the (square) input, at least 8; sizes the Linear layer.

    Returns:
        nn.Sequential; input (N, in_channels, input_size, input_size), output (N, num_classes) logits.

    Raises:
        ValueError: input_size too small for the conv and the 4x4 pool.
    """
    _, _, h, w = pool_output_shape(conv_output_shape((1, in_channels, input_size, input_size),
                                                     (32, in_channels, 5, 5)), 4)
    return nn.Sequential(nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(32 * h * w, num_classes))


def brain_second(num_classes: int = 2, in_channels: int = 1, input_size: int = 128) -> nn.Sequential:
    """The course's second model: Conv2D(32, 5x5, relu), MaxPool(4), Conv2D(32, 2x2, relu), MaxPool(4),
    Flatten, Dense(128, relu), Dense(2): 1x128x128 -> 32x124x124 -> 32x31x31 -> 32x30x30 -> 32x7x7 ->
    1568 -> 128 -> 2, 206,050 parameters.

    Args:
        num_classes: outputs of the last Linear layer.
        in_channels: channels of the input images.
        input_size: height and width of the (square) input, at least 24; sizes the first Linear layer.

    Returns:
        nn.Sequential; input (N, in_channels, input_size, input_size), output (N, num_classes) logits.

    Raises:
        ValueError: input_size too small for the convolutions and pools.
    """
    s = conv_output_shape((1, in_channels, input_size, input_size), (32, in_channels, 5, 5))
    s = pool_output_shape(conv_output_shape(pool_output_shape(s, 4), (32, 32, 2, 2)), 4)
    return nn.Sequential(nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Conv2d(32, 32, 2), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(32 * s[2] * s[3], 128), nn.ReLU(), nn.Linear(128, num_classes))


def _flat_features(features: nn.Sequential, in_channels: int, input_size: int) -> int:
    shape = (in_channels, input_size, input_size)
    for m in features:
        shape = m.output_shape(shape)
    return int(shape[0] * shape[1] * shape[2])


ALEXNET_WIDTHS = {"paper": (96, 256, 384, 384, 256), "torchvision": (64, 192, 384, 256, 256)}


def alexnet(num_classes: int = 1000, in_channels: int = 3, small: bool = False, dropout: float = 0.5,
            torchvision: bool = False, input_size: Optional[int] = None, hidden: Optional[int] = None,
            weights: Optional[Weights] = None) -> nn.Sequential:
    """AlexNet: `features` (convolutions, ReLUs, max pools) then `classifier` (Flatten, Dropout, Linear,
    ReLU, Dropout, Linear, ReLU, Linear).

    small=False: the paper's single-stream network on 224x224 (conv1 11x11/4 padding 2 -> 96x55x55, pool
    3/2, conv 5x5 256, pool, 3x conv3x3 384/384/256, pool -> 256x6x6, FC 4096, 4096, out; 62,378,344
    parameters for 1000 classes; LRN omitted). torchvision=True: torchvision's layout (channels
    64-192-384-256-256, as Krizhevsky 2014), the one its pretrained weights fit. small=True: a CIFAR-sized
    variant for 32x32 (3x3 convs 64-192-384-256-256, three 2x2 max pools -> 256x4x4, FC 1024, 1024, out).

    Args:
        num_classes: outputs of the last Linear.
        in_channels: channels of the input images.
        small: the 32x32 variant.
        dropout: dropout probability before the two hidden Linear layers.
        torchvision: torchvision's channel widths (ignored with small=True).
        input_size: the input's height and width (square), which sizes the first Linear: default 224 (32
            with small=True); the smallest is 63 (small=False) or 8 (small=True).
        hidden: width of the two hidden Linear layers: default 4096 (1024 with small=True).
        weights: torchvision-format AlexNet weights (a .safetensors or .pth file or a state dict): builds
            torchvision's layout with them (hidden from the weights), then replaces the head if
            num_classes differs from the weights' classes. Outputs equal torchvision's on the same input
            (its adaptive 6x6 average pool is folded into the first Linear for other input sizes).

    Returns:
        nn.Sequential with children `features` and `classifier`; input (N, in_channels, input_size,
        input_size), output (N, num_classes) logits.

    Raises:
        ValueError: input_size too small for the feature layers; weights that do not fit.
    """
    if weights is not None:
        def build(sd, classes):
            return alexnet(classes, in_channels, dropout=dropout, torchvision=True, input_size=input_size,
                           hidden=int(sd["classifier.1.weight"].shape[0]))
        return pretrained("alexnet", weights, num_classes, build)
    if small:
        features = [nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        size, width = 32, 1024
    else:
        c1, c2, c3, c4, c5 = ALEXNET_WIDTHS["torchvision" if torchvision else "paper"]
        features = [nn.Conv2d(in_channels, c1, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                    nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                    nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]
        size, width = 224, 4096
    features = nn.Sequential(*features)
    flat = _flat_features(features, in_channels, size if input_size is None else input_size)
    width = width if hidden is None else hidden
    classifier = [nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, width), nn.ReLU(),
                  nn.Dropout(dropout), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, num_classes)]
    return nn.Sequential(OrderedDict([("features", features), ("classifier", nn.Sequential(*classifier))]))


VGG_CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


VGG_ARCHS = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}


def vgg(config: str = "D", num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
        input_size: int = 224, hidden: int = 4096, dropout: float = 0.5,
        weights: Optional[Weights] = None) -> nn.Sequential:
    """VGG of a configuration of the paper's table: 3x3 convs (padding 1) + ReLU (+ BN with
    batch_norm=True), 2x2 max pools, then FC hidden, hidden, num_classes with dropout; the layer indices
    of `features` are torchvision's.

    Args:
        config: 'A', 'B', 'D' or 'E' (VGG-11, 13, 16, 19; the layers are in VGG_CONFIGS).
        num_classes: outputs of the last Linear.
        in_channels: channels of the input images.
        batch_norm: BatchNorm2d after every convolution (torchvision's vgg*_bn).
        input_size: height and width of the (square) input, a multiple of 32 (224: 512x7x7 features;
            32 for CIFAR: 512x1x1).
        hidden: width of the two hidden Linear layers.
        dropout: dropout probability after each hidden Linear.
        weights: torchvision-format VGG weights of this configuration (.safetensors / .pth file or state
            dict): batch_norm and hidden are read from them, the head is replaced when num_classes differs,
            and torchvision's adaptive 7x7 average pool is folded into the first Linear, so any input_size
            gives torchvision's outputs.

    Returns:
        nn.Sequential with children `features` and `classifier` (Flatten first); input (N, in_channels,
        input_size, input_size), output (N, num_classes) logits.

    Raises:
        ValueError: input_size not a multiple of 32, an unknown config, or weights that do not fit.
    """
    if config not in VGG_CONFIGS:
        raise ValueError(f"vgg config must be one of {sorted(VGG_CONFIGS)}, got {config!r}")
    if input_size % 32:
        raise ValueError(f"vgg needs input_size a multiple of 32, got {input_size}")
    if weights is not None:
        def build(sd, classes):
            return vgg(config, classes, in_channels, batch_norm=any(k.endswith("running_mean") for k in sd),
                       input_size=input_size, hidden=int(sd["classifier.0.weight"].shape[0]), dropout=dropout)
        return pretrained(VGG_ARCHS[config], weights, num_classes, build)
    layers, c = [], in_channels
    for v in VGG_CONFIGS[config]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers.append(nn.Conv2d(c, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            c = v
    side = input_size // 32
    classifier = [nn.Flatten(), nn.Linear(512 * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)]
    return nn.Sequential(OrderedDict([("features", nn.Sequential(*layers)),
                                      ("classifier", nn.Sequential(*classifier))]))


def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, input_size: int = 224,
          **kw) -> nn.Sequential:
    """VGG configuration A (11 weight layers): 132,863,336 parameters for 1000 classes.
    Arguments (batch_norm, input_size; hidden, dropout, weights as keywords) as vgg(); returns vgg('A', ...)."""
    return vgg("A", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg13(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, input_size: int = 224,
          **kw) -> nn.Sequential:
    """VGG configuration B (13 weight layers): 133,047,848 parameters for 1000 classes.
    Arguments (batch_norm, input_size; hidden, dropout, weights as keywords) as vgg(); returns vgg('B', ...)."""
    return vgg("B", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, input_size: int = 224,
          **kw) -> nn.Sequential:
    """VGG configuration D (16 weight layers): 138,357,544 parameters for 1000 classes.
    Arguments (batch_norm, input_size; hidden, dropout, weights as keywords) as vgg(); returns vgg('D', ...)."""
    return vgg("D", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg19(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False, input_size: int = 224,
          **kw) -> nn.Sequential:
    """VGG configuration E (19 weight layers): 143,667,240 parameters for 1000 classes.
    Arguments (batch_norm, input_size; hidden, dropout, weights as keywords) as vgg(); returns vgg('E', ...)."""
    return vgg("E", num_classes, in_channels, batch_norm, input_size, **kw)


def resnet18(num_classes: int = 1000, in_channels: int = 3, small: bool = False,
             weights: Optional[Weights] = None) -> nn.Sequential:
    """ResNet-18 (He et al. 2015): stem, four stages of two BasicBlocks (64, 128, 256, 512 channels,
    strides 1, 2, 2, 2), global average pool, linear; module names as torchvision's where the containers
    allow (conv1, bn1, layer1..layer4, fc; a block's layers sit in its `residual`).

    Args:
        num_classes: outputs of `fc`.
        in_channels: channels of the input images.
        small: False: ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool; 11,689,512 parameters for 1000
            classes, 3 channels; any input of at least 32x32 works: 64x64 gives 2x2 before the pool);
            True: CIFAR stem (3x3/1 conv, no pool).
        weights: torchvision-format resnet18 weights (.safetensors / .pth file or state dict), loaded into
            the ImageNet layout, BatchNorm running statistics included; the head is replaced when
            num_classes differs from the weights' classes.

    Returns:
        nn.Sequential; input (N, in_channels, H, W), output (N, num_classes) logits.

    Raises:
        ValueError: weights that do not fit (small=True, in_channels != 3 with ImageNet weights).
    """
    if weights is not None:
        return pretrained("resnet18", weights, num_classes,
                           lambda sd, classes: resnet18(classes, in_channels, small=small))
    if small:
        stem = [("conv1", nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)), ("bn1", nn.BatchNorm2d(64)),
                ("relu", nn.ReLU())]
    else:
        stem = [("conv1", nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)),
                ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()), ("maxpool", nn.MaxPool2d(3, 2, padding=1))]
    stages, c = [], 64
    for i, (width, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
        stages.append((f"layer{i}", nn.Sequential(nn.BasicBlock(c, width, stride), nn.BasicBlock(width, width, 1))))
        c = width
    return nn.Sequential(OrderedDict(stem + stages + [("avgpool", nn.GlobalAvgPool2d()),
                                                      ("fc", nn.Linear(512, num_classes))]))


def googlenet_small(num_classes: int = 10, in_channels: int = 3, batch_norm: bool = True,
                    dropout: float = 0.4) -> nn.Sequential:
    """A CIFAR-sized GoogLeNet (32x32 input): 3x3 conv stem (64), Inception modules at half the paper's
    widths (3a, 3b | pool | 4a, 4b | pool | 5a), global average pool, dropout, linear.

    Args:
        num_classes: outputs of `fc`.
        in_channels: channels of the input images.
        batch_norm: BatchNorm2d after every convolution (the convolutions then have no bias).
        dropout: dropout probability before `fc`.

    Returns:
        nn.Sequential; input (N, in_channels, H, W) with H, W >= 4 (32 intended), output (N, num_classes).
    """
    def conv_stem():
        layers = [("conv", nn.Conv2d(in_channels, 64, 3, padding=1, bias=not batch_norm))]
        if batch_norm:
            layers.append(("bn", nn.BatchNorm2d(64)))
        return layers + [("relu", nn.ReLU())]

    bn = batch_norm
    return nn.Sequential(OrderedDict(conv_stem() + [
        ("inception3a", nn.Inception(64, 32, 48, 64, 8, 16, 16, batch_norm=bn)),       # -> 128
        ("inception3b", nn.Inception(128, 64, 64, 96, 16, 48, 32, batch_norm=bn)),     # -> 240
        ("pool3", nn.MaxPool2d(3, 2, padding=1)),                                      # 16x16
        ("inception4a", nn.Inception(240, 96, 48, 104, 8, 24, 32, batch_norm=bn)),     # -> 256
        ("inception4b", nn.Inception(256, 80, 56, 112, 12, 32, 32, batch_norm=bn)),    # -> 256
        ("pool4", nn.MaxPool2d(3, 2, padding=1)),                                      # 8x8
        ("inception5a", nn.Inception(256, 128, 80, 160, 16, 64, 64, batch_norm=bn)),   # -> 416
        ("avgpool", nn.GlobalAvgPool2d()),
        ("dropout", nn.Dropout(dropout)),
        ("fc", nn.Linear(416, num_classes)),
    ]))


def googlenet(num_classes: int = 1000, in_channels: int = 3, dropout: Optional[float] = None,
              torchvision: bool = False, weights: Optional[Weights] = None) -> nn.Sequential:
    """GoogLeNet (Szegedy et al. 2014, Table 1) for 224x224, without LRN and auxiliary classifiers.

    Args:
        num_classes: outputs of `fc`.
        in_channels: channels of the input images.
        dropout: dropout probability before `fc`: default 0.4 (the paper), 0.2 with torchvision=True.
        torchvision: torchvision's layout and names (conv1.conv, inception3a.branch2.1.bn, ...): BatchNorm
            (eps 1e-3) after every convolution, a 3x3 convolution in the "5x5" branch, a 2x2 maxpool4;
            it takes inputs from 32x32 up.
        weights: torchvision-format GoogLeNet weights (.safetensors / .pth file or state dict; aux1/aux2 are
            skipped): builds torchvision's layout with them and replaces the head when num_classes
            differs. torchvision's pretrained GoogLeNet re-normalizes its inputs (transform_input=True);
            strided does not, so feed it (image - 0.5) / 0.5 per channel instead of ImageNet's mean/std.

    Returns:
        nn.Sequential; input (N, in_channels, H, W), output (N, num_classes) logits.

    Raises:
        ValueError: weights that do not fit.
    """
    if weights is not None:
        return pretrained("googlenet", weights, num_classes,
                           lambda sd, classes: googlenet(classes, in_channels, dropout, torchvision=True))
    if torchvision:
        return googlenet_torchvision(num_classes, in_channels, 0.2 if dropout is None else dropout)
    dropout = 0.4 if dropout is None else dropout
    I = nn.Inception
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 64, 7, stride=2, padding=3)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("conv2", nn.Conv2d(64, 64, 1)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(64, 192, 3, padding=1)), ("relu3", nn.ReLU()),
        ("pool2", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("inception3a", I(192, 64, 96, 128, 16, 32, 32)), ("inception3b", I(256, 128, 128, 192, 32, 96, 64)),
        ("pool3", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("inception4a", I(480, 192, 96, 208, 16, 48, 64)), ("inception4b", I(512, 160, 112, 224, 24, 64, 64)),
        ("inception4c", I(512, 128, 128, 256, 24, 64, 64)), ("inception4d", I(512, 112, 144, 288, 32, 64, 64)),
        ("inception4e", I(528, 256, 160, 320, 32, 128, 128)),
        ("pool4", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("inception5a", I(832, 256, 160, 320, 32, 128, 128)), ("inception5b", I(832, 384, 192, 384, 48, 128, 128)),
        ("avgpool", nn.GlobalAvgPool2d()), ("dropout", nn.Dropout(dropout)), ("fc", nn.Linear(1024, num_classes)),
    ]))


__all__ = ["lenet5", "brain_baseline", "brain_second", "alexnet", "vgg", "vgg11", "vgg13", "vgg16", "vgg19",
           "resnet18", "googlenet_small", "googlenet", "VGG_CONFIGS", "load_torchvision", "replace_head", "freeze"]


# ---- generative models: an autoencoder and a GAN pair for 1x28x28 images --------------------------------
# (The module docstring's table covers the classifiers above; these take `in_channels` but no num_classes.)

def conv_autoencoder(in_channels=1, width=16):
    """A convolutional autoencoder for 28x28 images (a denoiser in strided.train.denoise): the encoder is
    conv/ReLU/max-pool twice (width x 14 x 14, then 2*width x 7 x 7), the decoder two stride-2 4x4
    ConvTranspose2d layers back to in_channels x 28 x 28, with a linear output (clip it to the pixel range
    to display it): a final Sigmoid trained with MSE stalls at the all-background image for hundreds of
    steps on MNIST (in PyTorch as here). Upsampling by transposed convolution: the decoder learns its own
    interpolation."""
    w = int(width)
    return nn.Sequential(OrderedDict([
        ("encoder", nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, w, 3, padding=1)), ("act1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1)), ("act2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ]))),
        ("decoder", nn.Sequential(OrderedDict([
            ("up1", nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)), ("act1", nn.ReLU()),
            ("up2", nn.ConvTranspose2d(w, in_channels, 4, stride=2, padding=1)),
        ]))),
    ]))


def dcgan_generator(latent_dim=64, in_channels=1, width=64, batch_norm=True):
    """DCGAN-style generator (Radford et al. 2016) for 28x28 images: a latent code z of shape
    (N, latent_dim, 1, 1) -> ConvTranspose2d 7x7 to 2*width x 7 x 7 -> stride-2 4x4 ConvTranspose2d to
    width x 14 x 14 -> stride-2 4x4 ConvTranspose2d to in_channels x 28 x 28 -> Tanh (images in [-1, 1]).
    BatchNorm2d and ReLU between the layers (batch_norm=False drops the norms)."""
    w = int(width)

    def block(cin, cout, *geometry):
        layers = [nn.ConvTranspose2d(cin, cout, *geometry, bias=not batch_norm)]
        return layers + ([nn.BatchNorm2d(cout)] if batch_norm else []) + [nn.ReLU()]
    return nn.Sequential(*block(latent_dim, 2 * w, 7), *block(2 * w, w, 4, 2, 1),
                         nn.ConvTranspose2d(w, in_channels, 4, 2, 1), nn.Tanh())


def dcgan_discriminator(in_channels=1, width=64, batch_norm=True):
    """DCGAN-style discriminator for 28x28 images: stride-2 4x4 convolutions to width x 14 x 14 and
    2*width x 7 x 7 with LeakyReLU(0.2) (BatchNorm2d on the second), then Flatten and Linear to one logit
    per image, shape (N, 1), for BCEWithLogitsLoss."""
    w = int(width)
    second = [nn.Conv2d(w, 2 * w, 4, 2, 1, bias=not batch_norm)] + ([nn.BatchNorm2d(2 * w)] if batch_norm else [])
    return nn.Sequential(nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2), *second, nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Linear(2 * w * 7 * 7, 1))


__all__ += ["conv_autoencoder", "dcgan_generator", "dcgan_discriminator", "CLASSIFIERS", "GENERATIVE"]

# What strided-train can build by name: the classifiers (num_classes outputs); the generative models train
# with strided.train.denoise and strided.train.gan.
CLASSIFIERS = ("lenet5", "brain_baseline", "brain_second", "alexnet", "vgg", "vgg11", "vgg13", "vgg16", "vgg19",
               "resnet18", "googlenet_small", "googlenet")
GENERATIVE = ("conv_autoencoder", "dcgan_generator", "dcgan_discriminator")
