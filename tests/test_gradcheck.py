"""Finite-difference checks of the reference's gradients in float64: the oracle's own oracle.
Inputs are drawn so that no max-pool window ties (distinct values) and every window is strictly peaked."""
import numpy as np
import pytest

from strided import reference as R

EPS = 1e-6


def numeric_grad(f, a, gy):
    """d(sum(f(a) * gy)) / da by central differences."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + EPS
        up = np.sum(f() * gy)
        a[i] = old - EPS
        down = np.sum(f() * gy)
        a[i] = old
        g[i] = (up - down) / (2 * EPS)
    return g


@pytest.mark.parametrize("geo", [
    dict(stride=1, padding=1, dilation=1, groups=1),
    dict(stride=(2, 1), padding=(0, 1, 2, 1), dilation=(1, 2), groups=2),
    dict(stride=2, padding="same", dilation=1, groups=1),
    dict(stride=1, padding="full", dilation=2, groups=2),
])
def test_conv_reference_gradients(geo):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 4 // geo["groups"], 3, 2)), \
        rng.standard_normal(4)
    check_reference_gradients(R.conv2d, R.conv2d_backward, x, w, b, geo, rng)


def check_reference_gradients(forward, backward, x, w, b, geo, rng):
    """backward's (gx, gw, gb) against central differences of sum(forward(x, w, b) * gy)."""
    gy = rng.standard_normal(forward(x, w, b, **geo).shape)
    gx, gw, gb = backward(gy, x, w, **geo)
    f = lambda: forward(x, w, b, **geo)  # noqa: E731
    np.testing.assert_allclose(gx, numeric_grad(f, x, gy), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(gw, numeric_grad(f, w, gy), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(gb, numeric_grad(f, b, gy), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("geo", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0)),
])
def test_pool_reference_gradients(geo):
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 100.0  # distinct, 0.01 apart: no ties under EPS
    gy = rng.standard_normal(R.max_pool2d(x, **geo).shape)
    np.testing.assert_allclose(R.max_pool2d_backward(gy, x, **geo),
                               numeric_grad(lambda: R.max_pool2d(x, **geo), x, gy), rtol=1e-7, atol=1e-8)
    for cip in (True, False):
        f = lambda: R.avg_pool2d(x, **geo, count_include_pad=cip)  # noqa: E731
        np.testing.assert_allclose(R.avg_pool2d_backward(gy, x, **geo, count_include_pad=cip),
                                   numeric_grad(f, x, gy), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("op,shape,kw", [
    ("batch_norm", (3, 2, 4), dict(training=True)),
    ("batch_norm", (5, 3), dict(training=True)),
    ("batch_norm", (2, 2, 3), dict(training=False)),
    ("instance_norm", (2, 3, 4), dict(use_input_stats=True)),
    ("instance_norm", (2, 2, 2, 3), dict(use_input_stats=False)),
    ("group_norm", (2, 4, 3), dict(num_groups=2)),
    ("group_norm", (3, 6), dict(num_groups=3)),
    ("layer_norm", (3, 2, 4), dict(normalized_shape=(2, 4))),
    ("layer_norm", (4, 5), dict(normalized_shape=5)),
], ids=str)
def test_norm_reference_gradients(op, shape, kw):
    rng = np.random.default_rng(len(shape) + len(op))
    x = rng.standard_normal(shape) * 2 + 1
    wshape = (shape[1],) if op != "layer_norm" else np.atleast_1d(kw["normalized_shape"]).tolist()
    w, b = rng.uniform(0.5, 1.5, wshape), rng.standard_normal(wshape)
    if op in ("batch_norm", "instance_norm"):
        kw = dict(kw, running_mean=rng.standard_normal(shape[1]), running_var=rng.uniform(0.5, 2, shape[1]),
                  momentum=0.0)  # momentum 0: the running statistics stay put while we differentiate
    f = lambda: getattr(R, op)(x, weight=w, bias=b, **kw)  # noqa: E731
    gy = rng.standard_normal(f().shape)
    gx, gw, gb = getattr(R, op + "_backward")(gy, x, weight=w, bias=b, **kw)
    for got, a in ((gx, x), (gw, w), (gb, b)):
        np.testing.assert_allclose(got, numeric_grad(f, a, gy), rtol=1e-6, atol=1e-7)
