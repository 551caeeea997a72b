"""Every model of strided.models at a small input, for the export tests (ONNX, to_torch, safetensors), and a
layer-coverage model holding each layer type and option the exporters convert."""
from collections import OrderedDict

import strided.models as models
import strided.nn as nn

# name -> (builder, kwargs, one sample's input shape); the smallest sizes each model takes, or near them.
MODELS = {
    "lenet5": (models.lenet5, {}, (1, 28, 28)),
    "lenet5_classic": (models.lenet5, dict(input_size=32, activation="tanh", pool="avg"), (1, 32, 32)),
    "brain_baseline": (models.brain_baseline, dict(input_size=32), (1, 32, 32)),
    "brain_second": (models.brain_second, dict(input_size=64), (1, 64, 64)),
    "alexnet": (models.alexnet, dict(num_classes=5, input_size=63, hidden=32), (3, 63, 63)),
    "alexnet_torchvision": (models.alexnet, dict(num_classes=5, torchvision=True, input_size=63, hidden=32),
                            (3, 63, 63)),
    "alexnet_small": (models.alexnet, dict(num_classes=5, small=True, hidden=32), (3, 32, 32)),
    "vgg11": (models.vgg11, dict(num_classes=5, input_size=32, hidden=32, batch_norm=True), (3, 32, 32)),
    "vgg13": (models.vgg13, dict(num_classes=5, input_size=32, hidden=32), (3, 32, 32)),
    "vgg16": (models.vgg16, dict(num_classes=5, input_size=32, hidden=32), (3, 32, 32)),
    "vgg19": (models.vgg19, dict(num_classes=5, input_size=32, hidden=32), (3, 32, 32)),
    "resnet18": (models.resnet18, dict(num_classes=5), (3, 32, 32)),
    "resnet18_small": (models.resnet18, dict(num_classes=5, small=True), (3, 16, 16)),
    "googlenet_small": (models.googlenet_small, dict(num_classes=5), (3, 32, 32)),
    "googlenet": (models.googlenet, dict(num_classes=5), (3, 64, 64)),
    "googlenet_torchvision": (models.googlenet, dict(num_classes=5, torchvision=True), (3, 32, 32)),
    "conv_autoencoder": (models.conv_autoencoder, {}, (1, 28, 28)),
    "dcgan_generator": (models.dcgan_generator, dict(latent_dim=8, width=8), (8, 1, 1)),
    "dcgan_discriminator": (models.dcgan_discriminator, dict(width=8), (1, 28, 28)),
}

# Functions of strided.models that do not build a model of their own.
NOT_MODELS = {"vgg", "load_torchvision", "replace_head", "freeze", "CLASSIFIERS", "GENERATIVE"}


def untested_models():
    """Model functions of strided.models that MODELS does not build (a new model needs an entry)."""
    built = {builder.__name__ for builder, _, _ in MODELS.values()}
    return sorted(n for n in models.__all__ if callable(getattr(models, n)) and n not in NOT_MODELS | built)


def build(name):
    builder, kwargs, shape = MODELS[name]
    return builder(**kwargs), shape


def layer_zoo():
    """Each layer and option to_onnx / to_torch convert: conv padding forms (asymmetric 'same' at stride 2,
    'full', a 4-tuple), dilation, groups, no bias; pools with padding, ceil_mode, count_include_pad=False;
    every activation; BatchNorm2d/1d (one without affine); Dropout; Residual with and without shortcut;
    Concat; GlobalAvgPool2d(keepdim)."""
    return nn.Sequential(OrderedDict([
        ("same", nn.Conv2d(3, 8, 4, stride=2, padding="same")),        # 16 -> 8, pads (1, 2, 1, 2)
        ("up", nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, groups=2)),  # 8 -> 16
        ("down", nn.Conv2d(8, 8, 2, stride=2)),                       # 16 -> 8
        ("bn", nn.BatchNorm2d(8)),
        ("leaky", nn.LeakyReLU(0.2)),
        ("full", nn.Conv2d(8, 8, 3, padding="full", dilation=2, groups=2, bias=False)),   # 8 -> 12
        ("elu", nn.ELU(0.7)),
        ("avg", nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)),  # 12 -> 7
        ("tuple", nn.Conv2d(8, 6, 3, padding=(0, 1, 2, 1))),           # 7 -> (6, 8)
        ("bn_plain", nn.BatchNorm2d(6, affine=False)),
        ("res", nn.Residual(nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.Sigmoid()))),
        ("res_proj", nn.Residual(nn.Sequential(nn.Conv2d(6, 4, 3, padding=1), nn.Tanh()), nn.Conv2d(6, 4, 1))),
        ("avg_pad", nn.AvgPool2d(2, 1, padding=1)),                    # count_include_pad=True -> (7, 9)
        ("cat", nn.Concat(nn.Sequential(nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), nn.Softplus(beta=2)),
                          nn.Sequential(nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.Softplus()))),
        ("gap", nn.GlobalAvgPool2d(keepdim=True)),
        ("flat3", nn.Flatten(2)),                                     # (C, 1, 1) -> (C, 1)
        ("flat", nn.Flatten()),
        ("drop", nn.Dropout(0.3)),
        ("fc", nn.Linear(7, 5)),
        ("bn1d", nn.BatchNorm1d(5)),
        ("relu", nn.ReLU()),
        ("fc2", nn.Linear(5, 3, bias=False)),
    ])), (3, 16, 16)


def norm_zoo():
    """The normalizations and upsampling: GroupNorm, LayerNorm, InstanceNorm2d (with and without running
    statistics), Upsample nearest / bilinear by scale factor and by size."""
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(3, 8, 3, padding=1)),
        ("gn", nn.GroupNorm(4, 8)),
        ("up", nn.Upsample(scale_factor=1.5)),                              # 9 -> 13
        ("inorm", nn.InstanceNorm2d(8, affine=True)),
        ("bilinear", nn.Upsample(size=(7, 11), mode="bilinear")),
        ("itrack", nn.InstanceNorm2d(8, track_running_stats=True)),
        ("corners", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),   # (14, 22)
        ("ln", nn.LayerNorm((14, 22))),
        ("tanh", nn.Tanh()),
        ("gap", nn.GlobalAvgPool2d()),
        ("lnf", nn.LayerNorm(8, bias=False)),
        ("fc", nn.Linear(8, 3)),
    ])), (3, 9, 9)


def randomize_norms(model, rng):
    """Random normalization statistics and affine parameters, so that an exporter that drops them shows."""
    for m in model.modules():
        if getattr(m, "running_mean", None) is not None:
            m.running_mean[...] = rng.normal(0, 0.2, m.running_mean.shape)
            m.running_var[...] = rng.uniform(0.5, 1.5, m.running_var.shape)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)):
            if m.weight is not None:
                m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = rng.normal(0, 0.2, m.bias.shape)
    return model
