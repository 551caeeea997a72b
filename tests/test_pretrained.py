"""Transfer learning (strided.pretrained through strided.models): torchvision-format weights load into
strided's resnet18 / vgg11-19 / alexnet / googlenet and give torchvision's outputs.

torchvision does not import beside the torch build here, so each architecture has a PyTorch twin below,
written with torchvision's module names and forward (adaptive average pools included); its random state
dict (BatchNorm statistics randomized too) goes through .safetensors and .pth files into strided."""
import numpy as np
import pytest

import strided.models as models
import strided.nn as nn
from strided import losses, optim
from strided.pretrained import _adaptive_pool_matrix, read_state_dict
from strided.train import Trainer

torch = pytest.importorskip("torch")
tnn = torch.nn


# ---- PyTorch twins with torchvision's names --------------------------------------------------------------
class TvBasicBlock(tnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class TvResNet18(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1, self.bn1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64)
        self.relu, self.maxpool = tnn.ReLU(), tnn.MaxPool2d(3, 2, 1)
        c = 64
        for i, (w, s) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
            setattr(self, f"layer{i}", tnn.Sequential(TvBasicBlock(c, w, s), TvBasicBlock(w, w, 1)))
            c = w
        self.avgpool, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TvClassifierNet(tnn.Module):
    """torchvision's VGG and AlexNet: features, AdaptiveAvgPool2d, flatten, classifier."""

    def __init__(self, features, pooled, classifier):
        super().__init__()
        self.features, self.avgpool, self.classifier = features, tnn.AdaptiveAvgPool2d(pooled), classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def tv_vgg(config, batch_norm, hidden, num_classes):
    layers, c = [], 3
    for v in models.VGG_CONFIGS[config]:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(c, v, 3, padding=1)] + ([tnn.BatchNorm2d(v)] if batch_norm else []) + [tnn.ReLU()]
            c = v
    classifier = tnn.Sequential(tnn.Linear(512 * 49, hidden), tnn.ReLU(), tnn.Dropout(), tnn.Linear(hidden, hidden),
                                tnn.ReLU(), tnn.Dropout(), tnn.Linear(hidden, num_classes))
    return TvClassifierNet(tnn.Sequential(*layers), 7, classifier)


def tv_alexnet(hidden, num_classes):
    spec = [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"]
    layers, c = [], 3
    for v in spec:
        if v == "M":
            layers.append(tnn.MaxPool2d(3, 2))
        else:
            layers += [tnn.Conv2d(c, v[0], v[1], v[2], v[3]), tnn.ReLU()]
            c = v[0]
    classifier = tnn.Sequential(tnn.Dropout(), tnn.Linear(256 * 36, hidden), tnn.ReLU(), tnn.Dropout(),
                                tnn.Linear(hidden, hidden), tnn.ReLU(), tnn.Linear(hidden, num_classes))
    return TvClassifierNet(tnn.Sequential(*layers), 6, classifier)


class TvBasicConv2d(tnn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TvInception(tnn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        B = TvBasicConv2d
        self.branch1 = B(cin, c1, 1)
        self.branch2 = tnn.Sequential(B(cin, c3r, 1), B(c3r, c3, 3, padding=1))
        self.branch3 = tnn.Sequential(B(cin, c5r, 1), B(c5r, c5, 3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True), B(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


GOOGLENET = [("inception3a", (192, 64, 96, 128, 16, 32, 32)), ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
             ("maxpool3", 3), ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
             ("inception4b", (512, 160, 112, 224, 24, 64, 64)), ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
             ("inception4d", (512, 112, 144, 288, 32, 64, 64)), ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
             ("maxpool4", 2), ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
             ("inception5b", (832, 384, 192, 384, 48, 128, 128))]


class TvGoogLeNet(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = TvBasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.conv3 = TvBasicConv2d(64, 64, 1), TvBasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.body = [name for name, _ in GOOGLENET]
        for name, spec in GOOGLENET:
            setattr(self, name, TvInception(*spec) if isinstance(spec, tuple) else tnn.MaxPool2d(spec, 2, ceil_mode=True))
        self.aux1 = tnn.Linear(4, 4)  # stands for torchvision's auxiliary classifiers, which strided skips
        self.avgpool, self.dropout, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Dropout(0.2), tnn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        for name in self.body:
            x = getattr(self, name)(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def randomized(twin, seed):
    """The twin in eval mode with random BatchNorm statistics and affine parameters (so that a missed or
    misrouted buffer shows in the outputs) and num_batches_tracked = 7."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(7)
    return twin.eval()


# arch, twin builder, strided builder taking weights=, input side
CASES = {
    "resnet18": (lambda: TvResNet18(5), lambda w: models.resnet18(5, weights=w), 64),
    "vgg11": (lambda: tv_vgg("A", False, 32, 4), lambda w: models.vgg11(4, input_size=64, weights=w), 64),
    "vgg11_bn": (lambda: tv_vgg("A", True, 32, 4), lambda w: models.vgg11(4, input_size=32, weights=w), 32),
    "vgg13": (lambda: tv_vgg("B", False, 16, 3), lambda w: models.vgg13(3, input_size=32, weights=w), 32),
    "vgg16": (lambda: tv_vgg("D", False, 16, 3), lambda w: models.vgg16(3, input_size=32, weights=w), 32),
    "vgg19": (lambda: tv_vgg("E", False, 16, 3), lambda w: models.vgg19(3, input_size=32, weights=w), 32),
    "alexnet": (lambda: tv_alexnet(32, 4), lambda w: models.alexnet(4, input_size=63, weights=w), 63),
    "googlenet": (lambda: TvGoogLeNet(4), lambda w: models.googlenet(4, weights=w), 32),
}


def _save(twin, tmp_path, fmt):
    if fmt == "pth":
        path = tmp_path / "weights.pth"
        torch.save(twin.state_dict(), path)
    else:
        from safetensors.numpy import save_file
        path = tmp_path / "weights.safetensors"
        save_file({k: v.numpy() for k, v in twin.state_dict().items()}, str(path))
    return path


def _close(y, ty):
    ty = ty.detach().numpy()
    np.testing.assert_allclose(y, ty, rtol=1e-4, atol=1e-4 * float(np.abs(ty).max()))


# .pth and .safetensors files meet in read_state_dict: every architecture goes through one, two through both.
@pytest.mark.parametrize("case, fmt", [(case, "safetensors") for case in CASES]
                         + [("resnet18", "pth"), ("alexnet", "pth")])
def test_torchvision_weights_give_torchvision_outputs(case, fmt, tmp_path):
    if fmt == "safetensors":
        pytest.importorskip("safetensors")
    make_twin, make_model, side = CASES[case]
    twin = randomized(make_twin(), 0)
    model = make_model(_save(twin, tmp_path, fmt)).eval()
    x = np.random.default_rng(1).standard_normal((2, 3, side, side)).astype(np.float32)
    _close(model(x), twin(torch.from_numpy(x)))
    tracked = [v for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")]
    assert all(int(v) == 7 for v in tracked)


def test_adaptive_pool_fold_matches_torch():
    for size, out in ((1, 7), (2, 7), (3, 6), (7, 7), (9, 7), (13, 6)):
        x = torch.randn(1, 1, size, 1, dtype=torch.float64)
        ref = torch.nn.functional.adaptive_avg_pool2d(x, (out, 1))[0, 0, :, 0].numpy()
        np.testing.assert_allclose(_adaptive_pool_matrix(size, out) @ x[0, 0, :, 0].numpy(), ref)


def test_new_head_keeps_the_backbone_and_freezing_trains_only_the_head(tmp_path):
    twin = randomized(TvResNet18(1000), 2)
    path = _save(twin, tmp_path, "pth")
    model = models.resnet18(num_classes=3, weights=path)
    assert model.fc.weight.shape == (3, 512)
    sd = read_state_dict(path)
    np.testing.assert_array_equal(model.layer4[1].residual.body.conv2.weight.data, sd["layer4.1.conv2.weight"])
    models.freeze(model, except_head=True)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    assert model.summary((3, 32, 32)).trainable_params == 3 * 512 + 3
    before = model.state_dict()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    Trainer(model.eval(), opt, losses.CrossEntropyLoss(), progress=False).train_step(x, np.array([0, 1, 2, 0]))
    after = model.state_dict()
    changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"]
    models.freeze(model, except_head=False, trainable=["layer4"])
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"layer4"}


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    twin = randomized(TvResNet18(10), 0)
    with pytest.raises(ValueError, match="not a torchvision vgg11"):
        models.vgg11(weights=twin.state_dict())
    with pytest.raises(ValueError, match=r"conv1.weight: \(64, 3, 7, 7\)"):
        models.load_torchvision(models.resnet18(10, small=True), twin.state_dict(), "resnet18")
    with pytest.raises(ValueError, match="load_torchvision knows"):
        models.load_torchvision(models.resnet18(10), twin.state_dict(), "resnet50")
    with pytest.raises(FileNotFoundError):
        models.resnet18(weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="positive int"):
        models.replace_head(models.lenet5(), 0)
