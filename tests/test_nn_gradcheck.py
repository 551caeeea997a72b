"""Finite-difference checks (float64) of every strided.nn layer's backward and of whole models:
parameter gradients and the input gradient of L = sum(model(x) * gy).

Inputs are drawn away from the kinks: no ReLU-family input near 0, distinct values for max pooling
(no window ties), softplus inputs away from its threshold; Dropout runs with a fixed mask."""
import zlib

import numpy as np
import pytest

import strided.nn as nn

EPS = 1e-6


def _loss(model, x, gy):
    return float(np.sum(model(x) * gy))


def _check(numeric, analytic, scale, what):
    tol = 1e-6 * scale + 1e-5 * np.abs(analytic)
    bad = np.abs(numeric - analytic) > tol
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} entries off; numeric {numeric[bad][:4]} "
                           f"analytic {analytic[bad][:4]}")


def _fd_entries(model, x, gy, array, idxs):
    out = []
    for i in idxs:
        old = array[i]
        array[i] = old + EPS
        up = _loss(model, x, gy)
        array[i] = old - EPS
        down = _loss(model, x, gy)
        array[i] = old
        out.append((up - down) / (2 * EPS))
    return np.array(out)


def _sample(shape, n, rng):
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= n else rng.choice(size, n, replace=False)
    return [np.unravel_index(int(k), shape) for k in flat]


def gradcheck(model, x, rng, n=12, check_input=True):
    """Compare backward with central differences on up to n entries of every parameter and of x."""
    model.double()
    x = np.asarray(x, np.float64)
    y = model(x)
    gy = rng.standard_normal(y.shape)
    model.zero_grad()
    gx = model.backward(gy, need_input_grad=check_input)
    checked = 0
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert p.grad.shape == p.data.shape and p.grad.dtype == np.float64
        idxs = _sample(p.shape, n, rng)
        analytic = np.array([p.grad[i] for i in idxs])
        numeric = _fd_entries(model, x, gy, p.data, idxs)
        _check(numeric, analytic, np.abs(p.grad).max() + 1e-3, name)
        checked += 1
    if check_input:
        assert gx is not None and gx.shape == x.shape and gx.dtype == np.float64
        idxs = _sample(x.shape, 3 * n, rng)
        analytic = np.array([gx[i] for i in idxs])
        numeric = _fd_entries(model, x, gy, x, idxs)
        _check(numeric, analytic, np.abs(gx).max() + 1e-3, "input")
    else:
        assert gx is None
    return checked


def away_from_zero(rng, shape, margin=0.1):
    """Normal-ish values with |x| >= margin."""
    v = rng.standard_normal(shape)
    return np.sign(v) * (margin + np.abs(v))


def distinct(rng, shape):
    """A permutation of evenly spaced values in [-1, 1]: every max-pool window has a unique maximum."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n * 2 - 1).astype(np.float64)


LAYERS = {
    "conv_s2_p1": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6), "normal"),
    "conv_same_dil_groups": (lambda: nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, groups=2),
                             (2, 4, 5, 6), "normal"),
    "conv_full_nobias": (lambda: nn.Conv2d(2, 3, 2, padding="full", bias=False), (1, 2, 4, 3), "normal"),
    "conv_4pad_stride": (lambda: nn.Conv2d(2, 2, 3, stride=(2, 1), padding=(0, 1, 2, 1)), (2, 2, 6, 5), "normal"),
    "linear": (lambda: nn.Linear(5, 3), (4, 5), "normal"),
    "linear_nobias": (lambda: nn.Linear(5, 3, bias=False), (4, 5), "normal"),
    "maxpool2": (lambda: nn.MaxPool2d(2), (2, 3, 6, 4), "distinct"),
    "maxpool_ceil_pad": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 2, 6, 7), "distinct"),
    "avgpool2": (lambda: nn.AvgPool2d(2), (2, 3, 6, 4), "normal"),
    "avgpool_ceil_nopad": (lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
                           (2, 2, 6, 7), "normal"),
    "global_avg": (lambda: nn.GlobalAvgPool2d(), (2, 3, 4, 5), "normal"),
    "global_avg_keepdim": (lambda: nn.GlobalAvgPool2d(keepdim=True), (2, 3, 4, 5), "normal"),
    "flatten": (lambda: nn.Flatten(), (2, 3, 2, 2), "normal"),
    "relu": (lambda: nn.ReLU(), (3, 4, 3, 3), "away"),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4, 3), "away"),
    "elu": (lambda: nn.ELU(0.7), (3, 4, 3), "away"),
    "sigmoid": (lambda: nn.Sigmoid(), (3, 5), "normal"),
    "tanh": (lambda: nn.Tanh(), (3, 5), "normal"),
    "softplus": (lambda: nn.Softplus(beta=2, threshold=1.5), (4, 6), "softplus"),
    "batchnorm1d_2d_input": (lambda: nn.BatchNorm1d(4), (5, 4), "normal"),
    "batchnorm1d_3d_input": (lambda: nn.BatchNorm1d(3), (4, 3, 5), "normal"),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 3), "normal"),
    "batchnorm2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 4, 3), "normal"),
    "groupnorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3), "normal"),
    "layernorm": (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4), "normal"),
    "instancenorm2d": (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 3), "normal"),
}


def _input(kind, shape, rng):
    if kind == "distinct":
        return distinct(rng, shape)
    if kind == "away":
        return away_from_zero(rng, shape)
    if kind == "softplus":  # beta*x away from the threshold 1.5 on both sides
        v = rng.uniform(-2, 2, shape)
        return np.where(np.abs(2 * v - 1.5) < 0.2, v + 0.3, v)
    return rng.standard_normal(shape)


def _randomize(model, rng):
    """Non-trivial BN affine parameters (ones and zeros would hide mistakes)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)) \
                and m.weight is not None:
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.data[...] = rng.standard_normal(m.bias.shape)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients(name):
    make, shape, kind = LAYERS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    layer = make().double()
    _randomize(layer, rng)
    gradcheck(layer, _input(kind, shape, rng), rng)


def test_batchnorm_eval_gradients():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm2d(3).double()
    _randomize(bn, rng)
    bn.running_mean[...] = rng.standard_normal(3)
    bn.running_var[...] = rng.uniform(0.5, 2, 3)
    bn.eval()
    gradcheck(bn, rng.standard_normal((2, 3, 3, 3)), rng)


def test_dropout_fixed_mask_gradients():
    rng = np.random.default_rng(2)
    d = nn.Dropout(0.4)
    d.fixed_mask = (rng.random((3, 7)) >= 0.4) / 0.6
    gradcheck(d, rng.standard_normal((3, 7)), rng)


def test_residual_identity_and_concat_gradients():
    rng = np.random.default_rng(3)
    res = nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh()))
    gradcheck(res, rng.standard_normal((2, 3, 4, 4)), rng)
    cat = nn.Concat(nn.Conv2d(2, 3, 1), nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Sigmoid()),
                    nn.AvgPool2d(3, 1, padding=1))
    gradcheck(cat, rng.standard_normal((2, 2, 4, 3)), rng)


def test_inception_gradients():
    rng = np.random.default_rng(4)
    block = nn.Inception(3, 2, 2, 3, 1, 2, 2)
    assert block.out_channels == 9
    x = rng.standard_normal((2, 3, 5, 5))
    assert block.double()(x).shape == (2, 9, 5, 5)
    gradcheck(block, x, rng, n=6)


def test_basic_block_gradients_projection_and_identity():
    rng = np.random.default_rng(5)
    for block in (nn.BasicBlock(2, 3, stride=2), nn.BasicBlock(3, 3, stride=1)):
        _randomize(block, rng)
        c = block[0].body[0].in_channels
        gradcheck(block, rng.standard_normal((3, c, 5, 5)), rng, n=6)


def test_whole_model_gradients():
    """conv + BN (training) + ReLU + BasicBlock (projection shortcut) + max pool + avg pool + dropout
    (fixed mask) + linear + tanh + linear: every parameter and the input."""
    nn.init.seed(0)
    rng = np.random.default_rng(6)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.BasicBlock(4, 6, stride=2),
        nn.MaxPool2d(2),
        nn.AvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(6 * 2 * 2, 5), nn.Tanh(), nn.Linear(5, 3))
    _randomize(model, rng)
    model[7].fixed_mask = (rng.random((3, 24)) >= 0.3) / 0.7
    model.train()
    checked = gradcheck(model, rng.standard_normal((3, 2, 8, 8)), rng, n=8)
    assert checked == len(list(model.parameters())) == 2 + 2 + 9 + 4  # conv, bn, block (3 convs, 3 bns), 2 linears


def test_whole_model_first_layer_skips_input_grad():
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 2))
    gradcheck(model, rng.standard_normal((2, 1, 5, 5)), rng, check_input=False)
