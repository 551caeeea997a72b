"""strided.models: exact parameter counts against the papers / the course, output shapes of a forward
(and a backward) pass for the small variants, reproducible construction."""
import numpy as np
import pytest

import strided.models as M
import strided.nn as nn

COUNTS = {  # (builder, kwargs): parameters
    ("lenet5", ()): 61706,
    ("lenet5", (("input_size", 32),)): 61706,
    ("brain_baseline", ()): 62338,
    ("brain_second", ()): 206050,
    ("alexnet", ()): 62378344,          # the paper's single-stream AlexNet ("60 million")
    ("vgg11", ()): 132863336,           # VGG table 2: A 133M
    ("vgg13", ()): 133047848,           #              B 133M
    ("vgg16", ()): 138357544,           #              D 138M
    ("vgg19", ()): 143667240,           #              E 144M
    ("resnet18", ()): 11689512,
}


@pytest.mark.parametrize("key", sorted(COUNTS), ids=lambda k: k[0] + "".join(f"-{a}{b}" for a, b in k[1]))
def test_parameter_counts(key):
    name, kwargs = key
    with nn.init.skip_init():
        model = getattr(M, name)(**dict(kwargs))
    assert model.num_parameters() == COUNTS[key]


def test_vgg_weight_layers_match_configurations():
    with nn.init.skip_init():
        for fn, layers in ((M.vgg11, 11), (M.vgg13, 13), (M.vgg16, 16), (M.vgg19, 19)):
            model = fn()
            assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == layers
            assert all(m.kernel_size == (3, 3) for m in model.modules() if isinstance(m, nn.Conv2d))
        bn = M.vgg16(batch_norm=True)
        assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 13


def _fwd_bwd(model, shape, num_classes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = model(x)
    assert y.shape == (shape[0], num_classes) and y.dtype == np.float32 and np.isfinite(y).all()
    assert model.summary(shape[1:]).output_shape == (num_classes,)
    model.zero_grad()
    assert model.backward(np.ones_like(y), need_input_grad=False) is None
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_lenet5_on_mnist_and_32x32():
    m = M.lenet5(num_classes=10, in_channels=1, input_size=28)
    assert m.conv1.padding == (2, 2)
    _fwd_bwd(m, (3, 1, 28, 28), 10)
    s = m.summary((1, 28, 28))
    assert [r.output_shape for r in s.rows if r.name in ("conv1", "pool1", "conv2", "pool2")] == \
        [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    _fwd_bwd(M.lenet5(input_size=32, in_channels=3, activation="tanh", pool="avg"), (2, 3, 32, 32), 10)
    with pytest.raises(ValueError, match="input_size"):
        M.lenet5(input_size=64)


def test_brain_models_forward():
    _fwd_bwd(M.brain_baseline(), (2, 1, 128, 128), 2)
    _fwd_bwd(M.brain_second(), (2, 1, 128, 128), 2)
    assert M.brain_baseline(input_size=64).num_parameters() == 832 + (32 * 15 * 15 + 1) * 2


def test_small_variants_forward_backward():
    _fwd_bwd(M.alexnet(num_classes=10, small=True), (2, 3, 32, 32), 10)
    _fwd_bwd(M.vgg11(num_classes=10, input_size=32, hidden=64, batch_norm=True), (2, 3, 32, 32), 10)
    _fwd_bwd(M.resnet18(num_classes=10, small=True), (2, 3, 8, 8), 10)
    _fwd_bwd(M.googlenet_small(num_classes=10), (2, 3, 16, 16), 10)
    _fwd_bwd(M.resnet18(num_classes=5, in_channels=1), (1, 1, 32, 32), 5)


def test_googlenet_shapes_follow_the_paper_table():
    with nn.init.skip_init():
        s = M.googlenet().summary((3, 224, 224))
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["inception3a"] == (256, 28, 28) and shapes["inception3b"] == (480, 28, 28)
    assert shapes["inception4e"] == (832, 14, 14) and shapes["inception5b"] == (1024, 7, 7)
    assert shapes["fc"] == (1000,)


def test_seeded_construction_is_reproducible():
    nn.init.seed(7)
    a = M.lenet5().state_dict()
    nn.init.seed(7)
    b = M.lenet5().state_dict()
    nn.init.seed(8)
    c = M.lenet5().state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
