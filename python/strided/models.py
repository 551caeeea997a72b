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
"""
from __future__ import annotations

from collections import OrderedDict

from . import nn
from .ops.conv2d.args import conv_output_shape
from .ops.pool2d.args import pool_output_shape


def lenet5(num_classes=10, in_channels=1, input_size=28, activation="relu", pool="max"):
    """LeNet-5: C1 conv5x5 6 -> S2 pool 2 -> C3 conv5x5 16 -> S4 pool 2 -> C5 120 -> F6 84 -> out.

    input_size 32 is the original layout; 28 (MNIST) pads conv1 by 2 so every later shape is the same
    (16x5x5 before C5; 61,706 parameters for 10 classes and 1 channel).  The defaults are the modern
    ReLU / max-pool variant; activation='tanh', pool='avg' gives the classic one."""
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


def brain_baseline(num_classes=2, in_channels=1, input_size=128):
    """The course's baseline (Keras: Conv2D(32, 5x5, relu), MaxPooling2D(4x4), Flatten, Dense(2)):
    1x128x128 -> 32x124x124 -> 32x31x31 -> 30752 -> 2, 62,338 parameters."""
    _, _, h, w = pool_output_shape(conv_output_shape((1, in_channels, input_size, input_size),
                                                     (32, in_channels, 5, 5)), 4)
    return nn.Sequential(nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(32 * h * w, num_classes))


def brain_second(num_classes=2, in_channels=1, input_size=128):
    """The course's second model: Conv2D(32, 5x5, relu), MaxPool(4), Conv2D(32, 2x2, relu), MaxPool(4),
    Flatten, Dense(128, relu), Dense(2): 1x128x128 -> 32x124x124 -> 32x31x31 -> 32x30x30 -> 32x7x7 ->
    1568 -> 128 -> 2, 206,050 parameters."""
    s = conv_output_shape((1, in_channels, input_size, input_size), (32, in_channels, 5, 5))
    s = pool_output_shape(conv_output_shape(pool_output_shape(s, 4), (32, 32, 2, 2)), 4)
    return nn.Sequential(nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Conv2d(32, 32, 2), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(32 * s[2] * s[3], 128), nn.ReLU(), nn.Linear(128, num_classes))


def alexnet(num_classes=1000, in_channels=3, small=False, dropout=0.5, input_size=None):
    """AlexNet.  small=False: the paper's single-stream network on 224x224 (conv1 11x11/4 padding 2 ->
    96x55x55, pool 3/2, conv 5x5 256, pool, 3x conv3x3 384/384/256, pool -> 256x6x6, FC 4096, 4096, out;
    62,378,344 parameters for 1000 classes; LRN omitted).  small=True: a CIFAR-sized variant for 32x32
    (3x3 convs 64-192-384-256-256, three 2x2 max pools -> 256x4x4, FC 1024, 1024, out).  input_size (default
    224, or 32 when small) sizes the first FC layer for other images: the features then end at
    256 x side x side."""
    if small:
        features = [nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        hidden = 1024
    else:
        features = [nn.Conv2d(in_channels, 96, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                    nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                    nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]
        hidden = 4096
    side = input_size if input_size is not None else 32 if small else 224
    shape = (in_channels, side, side)
    for layer in features:
        shape = layer.output_shape(shape)
    flat = shape[0] * shape[1] * shape[2]
    classifier = [nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(),
                  nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
    return nn.Sequential(OrderedDict([("features", nn.Sequential(*features)),
                                      ("classifier", nn.Sequential(*classifier))]))


VGG_CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def vgg(config="D", num_classes=1000, in_channels=3, batch_norm=False, input_size=224, hidden=4096, dropout=0.5):
    """VGG of a configuration of the paper's table ('A', 'B', 'D' (default: VGG-16), 'E'): 3x3 convs
    (padding 1) + ReLU (+ BN with batch_norm=True), 2x2 max pools, then FC hidden, hidden, num_classes with dropout.
    input_size must be a multiple of 32 (224: 512x7x7 features; 32 for CIFAR: 512x1x1)."""
    if input_size % 32:
        raise ValueError(f"vgg needs input_size a multiple of 32, got {input_size}")
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


def vgg11(num_classes=1000, in_channels=3, batch_norm=False, input_size=224, **kw):
    """VGG configuration A (11 weight layers): 132,863,336 parameters for 1000 classes."""
    return vgg("A", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg13(num_classes=1000, in_channels=3, batch_norm=False, input_size=224, **kw):
    """VGG configuration B (13 weight layers): 133,047,848 parameters for 1000 classes."""
    return vgg("B", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg16(num_classes=1000, in_channels=3, batch_norm=False, input_size=224, **kw):
    """VGG configuration D (16 weight layers): 138,357,544 parameters for 1000 classes."""
    return vgg("D", num_classes, in_channels, batch_norm, input_size, **kw)


def vgg19(num_classes=1000, in_channels=3, batch_norm=False, input_size=224, **kw):
    """VGG configuration E (19 weight layers): 143,667,240 parameters for 1000 classes."""
    return vgg("E", num_classes, in_channels, batch_norm, input_size, **kw)


def resnet18(num_classes=1000, in_channels=3, small=False):
    """ResNet-18: stem, four stages of two BasicBlocks (64, 128, 256, 512 channels, strides 1, 2, 2, 2),
    global average pool, linear.  small=False: ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool;
    11,689,512 parameters for 1000 classes, 3 channels); small=True: CIFAR stem (3x3/1 conv, no pool)."""
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


def googlenet_small(num_classes=10, in_channels=3, batch_norm=True, dropout=0.4):
    """A CIFAR-sized GoogLeNet (32x32 input): 3x3 conv stem (64), Inception modules at half the paper's
    widths (3a, 3b | pool | 4a, 4b | pool | 5a), global average pool, dropout, linear."""
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


def googlenet(num_classes=1000, in_channels=3, dropout=0.4):
    """GoogLeNet (Szegedy et al. 2014, Table 1) for 224x224 without LRN and auxiliary classifiers."""
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
           "resnet18", "googlenet_small", "googlenet", "VGG_CONFIGS"]


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


__all__ += ["conv_autoencoder", "dcgan_generator", "dcgan_discriminator"]
