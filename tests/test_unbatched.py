"""Unbatched inputs, as PyTorch takes them: every op given one (C, H, W) sample returns what it returns for
the batch of that one sample, less the batch axis (forward and every gradient); linear takes (...,
in_features); every layer and a whole model run on one image."""
import numpy as np
import pytest

import strided
import strided.nn as nn
from oracle import DTYPES

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 9, 8))
CONV_W = RNG.standard_normal((4, 3, 3, 2))   # conv2d: (K, C, R, S)
T_W = RNG.standard_normal((3, 2, 3, 3))      # conv_transpose2d: (C_in, C_out, R, S)

FORWARD = {  # name: (op, backward, extra arguments after x, after (gy, x))
    "conv2d": (lambda x, dt: strided.conv2d(x, CONV_W.astype(dt), np.ones(4, dt), stride=2, padding=1),
               lambda gy, x, dt: strided.conv2d_backward(gy, x, CONV_W.astype(dt), stride=2, padding=1)),
    "conv_transpose2d": (
        lambda x, dt: strided.conv_transpose2d(x, T_W.astype(dt), np.ones(2, dt), 2, 1, 1),
        lambda gy, x, dt: strided.conv_transpose2d_backward(gy, x, T_W.astype(dt), 2, 1, 1)),
    "max_pool2d": (lambda x, dt: strided.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                   lambda gy, x, dt: strided.max_pool2d_backward(gy, x, 3, 2, 1, ceil_mode=True)),
    "avg_pool2d": (lambda x, dt: strided.avg_pool2d(x, 2, 1, 1, False, False),
                   lambda gy, x, dt: strided.avg_pool2d_backward(gy, x, 2, 1, 1, False, False)),
    "relu": (lambda x, dt: strided.relu(x), lambda gy, x, dt: strided.relu_backward(gy, strided.relu(x))),
}


def _squeezed(batched):
    """The batched result with the batch axis dropped from the arrays that have it (x-shaped ones)."""
    if isinstance(batched, tuple):
        return (batched[0][0],) + batched[1:]
    return batched[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_op_unbatched_equals_batch_of_one(name, dtype):
    op, backward = FORWARD[name]
    x = X.astype(dtype)
    y1, yb = op(x, dtype), op(x[None], dtype)
    assert y1.shape == yb.shape[1:] and y1.dtype == dtype
    np.testing.assert_array_equal(y1, yb[0])
    gy = RNG.standard_normal(y1.shape).astype(dtype)
    g1, gb = backward(gy, x, dtype), backward(gy[None], x[None], dtype)
    want = _squeezed(gb)
    for got, ref in zip(g1 if isinstance(g1, tuple) else (g1,), want if isinstance(want, tuple) else (want,)):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)


def test_non_contiguous_unbatched_input():
    x = np.asfortranarray(X)[:, ::-1]
    np.testing.assert_array_equal(strided.conv2d(x, CONV_W), strided.conv2d(np.ascontiguousarray(x)[None], CONV_W)[0])


@pytest.mark.parametrize("lead", [(), (3,), (2, 3), (2, 0)])
def test_linear_any_leading_dims(lead):
    w, b = RNG.standard_normal((4, 5)), RNG.standard_normal(4)
    x = RNG.standard_normal(lead + (5,))
    y = strided.linear(x, w, b)
    assert y.shape == lead + (4,)
    flat = x.reshape(-1, 5)
    np.testing.assert_allclose(y.reshape(-1, 4), strided.linear(flat, w, b), rtol=1e-13, atol=1e-13)
    gy = RNG.standard_normal(y.shape)
    gx, gw, gb = strided.linear_backward(gy, x, w)
    want = strided.linear_backward(gy.reshape(-1, 4), flat, w)
    assert gx.shape == x.shape
    np.testing.assert_allclose(gx.reshape(-1, 5), want[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gw, want[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, want[2], rtol=1e-12, atol=1e-12)


def test_mismatched_unbatched_arguments_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"x of shape \(3, 9, 8\) taken as a batch of shape \(1, 3, 9, 8\)"):
        strided.conv2d(X, RNG.standard_normal((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"gy has shape"):
        strided.max_pool2d_backward(np.zeros((2, 3, 4, 4)), X, 2)  # a batched gy for an unbatched x
    with pytest.raises(ValueError, match=r"gy has shape"):
        strided.linear_backward(np.zeros((3, 2, 4)), np.zeros((2, 3, 5)), np.zeros((4, 5)))


LAYERS = {
    "Conv2d": lambda: nn.Conv2d(3, 4, 3, padding="same", groups=1),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(3, 2, 4, 2, 1),
    "MaxPool2d": lambda: nn.MaxPool2d(2),
    "AvgPool2d": lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True),
    "GlobalAvgPool2d": lambda: nn.GlobalAvgPool2d(),
    "ReLU": lambda: nn.ReLU(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.1),
    "ELU": lambda: nn.ELU(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "Tanh": lambda: nn.Tanh(),
    "Softplus": lambda: nn.Softplus(),
    "Dropout": lambda: nn.Dropout(0.0),
    "Identity": lambda: nn.Identity(),
    "Residual": lambda: nn.Residual(nn.Conv2d(3, 3, 3, padding=1)),
    "Concat": lambda: nn.Concat(nn.Conv2d(3, 2, 1), nn.MaxPool2d(3, 1, 1)),
    "Inception": lambda: nn.Inception(3, 2, 2, 3, 1, 2, 2, batch_norm=False),
    "Sequential": lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(0),
                                        nn.Linear(4 * 3 * 3, 5)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_unbatched_equals_batch_of_one(name):
    nn.init.seed(0)
    m = LAYERS[name]().double()
    x = X.copy()
    y1 = m(x)
    g1 = m.backward(np.ones_like(y1))
    grads1 = [None if p.grad is None else p.grad.copy() for p in m.parameters()]
    m.zero_grad()
    if name == "Sequential":  # Flatten(0) flattens one sample whole; its batched twin is Flatten(1)
        m[3].start_dim = 1
    yb = m(x[None])
    gb = m.backward(np.ones_like(yb))
    assert y1.shape == yb.shape[1:], (y1.shape, yb.shape)
    np.testing.assert_allclose(y1, yb[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(g1, gb[0], rtol=1e-13, atol=1e-13)
    for a, p in zip(grads1, m.parameters()):
        np.testing.assert_allclose(a, p.grad, rtol=1e-12, atol=1e-12)


def test_flatten_matches_torch_on_unbatched_inputs():
    torch = pytest.importorskip("torch")
    x = np.zeros((3, 4, 5))
    for args in ((), (0,), (1,), (0, 1), (-2, -1)):
        assert nn.Flatten(*args)(x).shape == tuple(torch.nn.Flatten(*args)(torch.tensor(x)).shape)
    assert nn.Flatten()(x[None]).shape == (1, 60)
    for args in ((), (0,)):
        f = nn.Flatten(*args)
        assert f.backward(np.ones(f(x).shape)).shape == x.shape
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=3, end_dim=-1\) does not fit"):
        nn.Flatten(3)(x)


def test_whole_model_on_one_image_matches_torch():
    torch = pytest.importorskip("torch")
    nn.init.seed(2)
    m = nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(0), nn.Linear(6 * 6 * 6, 10))
    x = RNG.standard_normal((1, 28, 28)).astype(np.float32)
    tm = nn.to_torch(m)
    np.testing.assert_allclose(m(x), tm(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
