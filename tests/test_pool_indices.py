"""Max pooling's dilation and indices, its backward through the indices, max unpooling and avg pooling's
divisor_override: the C++ kernels against the reference over grids of every option (tests/oracle.py),
the reference and the kernels against PyTorch (indices, ties, NaN, gradients, unpooling, divisors), the
errors, and the MaxPool2d / MaxUnpool2d / AvgPool2d layers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strided
import strided.nn as nn
from oracle import DTYPES, LAYOUTS, POOL, check_pool_options, layout
from strided import reference as R

# (N, C, H, W, kernel, stride, padding, dilation, ceil_mode): dilation with every padding, odd and prime
# sizes, ceil windows that start in the padding, N = 0.
POOL_DILATED = [
    (2, 3, 9, 7, 3, 2, 1, 2, True),
    (1, 2, 11, 13, (3, 2), (2, 1), (1, 1), (2, 3), False),
    (2, 2, 17, 19, 2, 1, 1, 3, True),
    (1, 3, 13, 11, (2, 3), (3, 2), (1, 0), (5, 2), True),
    (2, 1, 7, 7, 3, 1, 0, 3, False),
    (0, 3, 9, 9, 2, 2, 1, 2, False),
    (1, 2, 31, 29, 5, 3, 2, 2, True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", POOL, ids=[f"p{i}" for i in range(len(POOL))])
def test_grid_undilated(dtype, geo):
    N, C, H, W, k, s, p, ceil = geo
    rng = np.random.default_rng(31)
    x = np.round(rng.standard_normal((N, C, H, W)) * 1.5).astype(dtype)  # ties
    x.flat[rng.integers(0, max(x.size, 1), size=min(x.size, 3))] = np.nan
    check_pool_options(x, k, s, p, 1, ceil, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", POOL_DILATED, ids=[f"d{i}" for i in range(len(POOL_DILATED))])
def test_grid_dilated(dtype, geo):
    N, C, H, W, k, s, p, d, ceil = geo
    rng = np.random.default_rng(32)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    check_pool_options(x, k, s, p, d, ceil, rng=rng)
    check_pool_options(np.round(x * 1.5), k, s, p, d, ceil, rng=rng)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 3, 11, 9))
    xs = layout(x, kind)
    check_pool_options(xs, 3, 2, 1, 2, True, rng=rng)
    np.testing.assert_array_equal(xs, x)


@settings(max_examples=60, deadline=None)
@given(N=st.integers(0, 2), C=st.integers(1, 3), kh=st.integers(1, 4), kw=st.integers(1, 4),
       dh=st.integers(1, 3), dw=st.integers(1, 3), extra_h=st.integers(0, 7), extra_w=st.integers(0, 7),
       sh=st.integers(1, 3), sw=st.integers(1, 3), pad_frac=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       ceil=st.booleans(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16), ties=st.booleans())
def test_hypothesis_sweep(N, C, kh, kw, dh, dw, extra_h, extra_w, sh, sw, pad_frac, ceil, dtype, seed, ties):
    rng = np.random.default_rng(seed)
    ph, pw = int(pad_frac[0] * (kh // 2)), int(pad_frac[1] * (kw // 2))
    x = rng.standard_normal((N, C, dh * (kh - 1) + 1 + extra_h, dw * (kw - 1) + 1 + extra_w))
    if ties:
        x = np.round(x * 1.5)
    try:
        strided.pool_output_shape(x.shape, (kh, kw), (sh, sw), (ph, pw), ceil, (dh, dw))
    except ValueError:  # a dilated window of padding only: refused (test_errors below)
        return
    check_pool_options(x.astype(dtype), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil, rng=rng)


def test_nan_rule_is_pytorchs_last_nan_and_first_tie():
    """In row-major window order a later element is taken if greater or NaN: ties to the first maximum,
    NaNs to the last NaN; an all -inf window to its first real position. Every path agrees."""
    nan = np.nan
    x = np.array([[1, nan], [nan, 2]], np.float64)[None, None]
    for kwargs in ({}, {"dilation": 1}):
        y, idx = strided.max_pool2d(x, 2, return_indices=True, **kwargs)
        assert np.isnan(y).all() and idx.ravel().tolist() == [2]
    gx = strided.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2)
    assert gx.ravel().tolist() == [0, 0, 1, 0]
    ties = np.full((1, 1, 2, 2), 3.0)
    assert strided.max_pool2d(ties, 2, return_indices=True)[1].ravel().tolist() == [0]
    neg = np.full((1, 1, 4, 4), -np.inf)
    assert strided.max_pool2d(neg, 2, 1, 1, dilation=2, return_indices=True)[1][0, 0, 0, 0] == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_simd_backward_takes_the_last_nan(dtype):
    """The vectorized kernels (undilated, no indices) follow the same NaN rule, on interior and border
    windows, forward and backward."""
    rng = np.random.default_rng(34)
    x = rng.standard_normal((1, 2, 9, 70)).astype(dtype)
    x.flat[rng.integers(0, x.size, size=60)] = np.nan
    for k, s, p in ((2, 2, 0), (3, 1, 1), (4, 4, 1), (3, 2, 1)):
        y, idx = strided.max_pool2d(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(strided.max_pool2d(x, k, s, p), y)
        gy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, x, k, s, p),
                                   strided.max_pool2d_backward(gy, x, k, s, p, indices=idx), rtol=1e-6)


# ---------------------------------------------------------------- against PyTorch

@settings(max_examples=60, deadline=None)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), dh=st.integers(1, 3), dw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), pf=st.tuples(st.booleans(), st.booleans()),
       extra=st.tuples(st.integers(0, 6), st.integers(0, 6)), ceil=st.booleans(), nans=st.integers(0, 4),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 999))
def test_indices_and_gradients_match_torch(kh, kw, dh, dw, sh, sw, pf, extra, ceil, nans, dtype, seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    k, s, d, p = (kh, kw), (sh, sw), (dh, dw), (kh // 2 if pf[0] else 0, kw // 2 if pf[1] else 0)
    x = np.round(rng.standard_normal((2, 3, dh * (kh - 1) + 1 + extra[0], dw * (kw - 1) + 1 + extra[1])) * 1.5)
    x.flat[rng.integers(0, x.size, size=nans)] = np.nan
    x = x.astype(dtype)
    try:
        y, idx = strided.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    except ValueError:
        return
    ty, tidx = F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_array_equal(R.max_pool2d(x, k, s, p, d, ceil, return_indices=True)[1], tidx.numpy())
    gy = rng.standard_normal(y.shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    F.max_pool2d(tx, k, s, p, d, ceil).backward(torch.from_numpy(gy))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for given in (None, idx):
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, x, k, s, p, d, ceil, indices=given),
                                   tx.grad.numpy(), rtol=tol, atol=tol)
    size = x.shape[2:]
    try:
        tu = F.max_unpool2d(ty, tidx, k, s, p, output_size=size)
    except (ValueError, RuntimeError):
        with pytest.raises(ValueError):
            strided.max_unpool2d(y, idx, k, s, p, output_size=size)
        return
    np.testing.assert_array_equal(strided.max_unpool2d(y, idx, k, s, p, output_size=size), tu.numpy())


@pytest.mark.parametrize("divisor", [1, 2, 5, -3])
@pytest.mark.parametrize("geo", [(3, 2, 1, True), (2, None, 0, False), ((3, 2), (2, 1), (1, 1), True)])
def test_divisor_override_matches_torch(divisor, geo):
    torch = pytest.importorskip("torch")
    k, s, p, ceil = geo
    rng = np.random.default_rng(35)
    x = rng.standard_normal((2, 3, 9, 8))
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil, True, divisor)
    y = strided.avg_pool2d(x, k, s, p, ceil, True, divisor)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    gy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(strided.avg_pool2d_backward(gy, x, k, s, p, ceil, True, divisor), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-14)


def test_unpool_default_size_and_duplicates_match_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    idx = np.array([[[[0, 3, 3], [9, 9, 11]]]])  # duplicates: the later input wins on the CPU
    want = torch.nn.functional.max_unpool2d(torch.from_numpy(x), torch.from_numpy(idx), 2).numpy()
    got = strided.max_unpool2d(x, idx, 2)
    assert got.shape == (1, 1, 4, 6)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(R.max_unpool2d(x, idx, 2), want)


# ---------------------------------------------------------------- errors

X = np.zeros((1, 1, 4, 4))


@pytest.mark.parametrize("call, error, match", [
    (lambda: strided.max_pool2d(X, 2, padding=1, dilation=5), ValueError, "no element"),
    (lambda: strided.max_pool2d(X, 2, dilation=0), ValueError, "dilation must be positive"),
    (lambda: strided.max_pool2d(X, 3, dilation=2), ValueError, "output size"),
    (lambda: strided.max_pool2d_backward(np.zeros((1, 1, 2, 2)), X, 2, indices=np.zeros((1, 1, 2, 2))),
     TypeError, "integer"),
    (lambda: strided.max_pool2d_backward(np.zeros((1, 1, 2, 2)), X, 2, indices=np.zeros((1, 1, 2), np.int64)),
     ValueError, "shape"),
    (lambda: strided.max_pool2d_backward(np.zeros((1, 1, 2, 2)), X, 2, indices=np.full((1, 1, 2, 2), 16)),
     ValueError, "outside"),
    (lambda: strided.max_unpool2d(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), 2), ValueError, "outside"),
    (lambda: strided.max_unpool2d(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), -1), 2), ValueError, "outside"),
    (lambda: strided.max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 2, output_size=(6, 4)),
     ValueError, "invalid output_size"),
    (lambda: strided.max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 2, output_size=(4,)),
     ValueError, "2 or 4"),
    (lambda: strided.max_unpool2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2)),
                                           np.full((1, 1, 2, 2), 16), 2), ValueError, "outside"),
    (lambda: strided.avg_pool2d(X, 2, divisor_override=0), ValueError, "zero"),
    (lambda: strided.avg_pool2d(X, 2, divisor_override=2.0), TypeError, "int"),
    (lambda: strided.avg_pool2d(X, 2, divisor_override=True), TypeError, "int"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- layers

def test_maxpool_layer_keeps_indices_not_x():
    rng = np.random.default_rng(36)
    x = rng.standard_normal((2, 3, 13, 11))
    m = nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)
    y = m(x)
    assert m._x.strides == (0, 0, 0, 0) and m._indices.dtype == np.int64  # x itself is not held
    gy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(m.backward(gy), R.max_pool2d_backward(gy, x, 3, 2, 1, 2, True), rtol=1e-12)
    m.eval()
    np.testing.assert_array_equal(m(x), y)
    assert m._indices is None
    np.testing.assert_allclose(m.backward(gy), R.max_pool2d_backward(gy, x, 3, 2, 1, 2, True), rtol=1e-12)
    assert "dilation=(2, 2)" in repr(m)


def test_maxpool_return_indices_and_unpool_layers():
    rng = np.random.default_rng(37)
    x = rng.standard_normal((2, 3, 9, 9))
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    y, idx = pool(x)
    u = unpool(y, idx, output_size=x.shape)
    np.testing.assert_array_equal(u, R.max_unpool2d(y, idx, 2, output_size=x.shape))
    gu = rng.standard_normal(u.shape)
    gy = unpool.backward(gu)
    np.testing.assert_array_equal(gy, R.max_unpool2d_backward(gu, y, idx, 2, output_size=x.shape))
    np.testing.assert_allclose(pool.backward(gy), R.max_pool2d_backward(gy, x, 2), rtol=1e-12)
    seq = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))  # no ReLU/pool swap: indices differ
    np.testing.assert_array_equal(seq(-np.abs(x))[1], R.max_pool2d(np.zeros_like(x), 2, return_indices=True)[1])


def test_summary_and_shapes():
    model = nn.Sequential(nn.MaxPool2d(3, 1, 1, dilation=2), nn.MaxUnpool2d(2), nn.AvgPool2d(2, divisor_override=3))
    s = model.summary((3, 9, 9))
    assert model[0].output_shape((3, 9, 9)) == (3, 7, 7)
    assert model[1].output_shape((3, 7, 7)) == (3, 14, 14)
    assert model[2].output_shape((3, 14, 14)) == (3, 7, 7)
    assert "MaxUnpool2d" in str(s) and "divisor_override=3" in repr(model[2])
    with pytest.raises(ValueError, match="zero"):
        nn.AvgPool2d(2, divisor_override=0)
