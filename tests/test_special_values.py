"""Special values: inf and NaN propagate as in the reference whatever algorithm runs, and every conv2d and
linear algorithm follows one denormal rule (flush to zero: FTZ/DAZ), so they agree on denormal inputs."""
import numpy as np
import pytest

import strided
from strided import reference

ALGOS = ("simple", "im2col", "gemm", "direct", "channels_last", "auto")
# (x shape, w shape, stride, padding, groups): rows that are not a whole number of vectors, flat bands
# (stride 1 and 2), the direct rows kernels (depthwise 3x3), the channels-last GEMM, a 1x1 layer.
CASES = [
    ((2, 1, 28, 28), (6, 1, 5, 5), 1, 0, 1),
    ((2, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1),
    ((1, 3, 23, 21), (4, 3, 3, 3), 2, 1, 1),
    ((2, 4, 13, 11), (4, 1, 3, 3), 1, 0, 4),
    ((2, 4, 13, 30), (4, 1, 3, 3), 1, 1, 4),
    ((2, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    ((1, 8, 9, 19), (16, 8, 1, 1), 1, 0, 1),
]
IDS = [f"{c[0]}-{c[1]}-s{c[2]}p{c[3]}" for c in CASES]


def assert_same_specials(got, want, dtype, what):
    """inf, -inf and NaN exactly where the reference has them; the finite rest close."""
    want = want.astype(dtype).astype(np.float64)
    got = got.astype(np.float64)
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        mismatch = test(got) != test(want)
        assert not mismatch.any(), f"{what}: {name} at {mismatch.sum()} positions where the reference disagrees"
    fin = np.isfinite(want)
    scale = max(float(np.abs(want[fin]).max(initial=0.0)), 1.0)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert np.abs(got[fin] - want[fin]).max(initial=0.0) <= tol * scale, f"{what}: finite values off"


def _poke(a, rng, value, frac=0.03):
    """a with a fraction of its elements, among them every row's first and last column (what the fast
    kernels' padding and junk lanes meet), set to value."""
    a = a.copy()
    hit = rng.random(a.shape) < frac
    hit[..., ::3, 0] = hit[..., 1::3, -1] = True
    a[hit] = value
    return a


def _grads(case, algos, x, w, gy):
    """(y, gx, gw, gb) of each algorithm in algos, and of the reference in float64."""
    _, _, stride, padding, groups = case
    kw = dict(stride=stride, padding=padding, groups=groups)
    got = {}
    for algo in algos:
        with strided.conv_algorithm(algo):
            got[algo] = (strided.conv2d(x, w, **kw), *strided.conv2d_backward(gy, x, w, **kw))
    f64 = [a.astype(np.float64) for a in (x, w, gy)]
    want = (reference.conv2d(f64[0], f64[1], **kw), *reference.conv2d_backward(f64[2], f64[0], f64[1], **kw))
    return got, want


def _operands(case, dtype, seed):
    """x, w and gy, w and gy positive: a sum of products of inf with them is inf, never inf - inf."""
    xs, ws, stride, padding, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (np.abs(rng.standard_normal(ws)) + 0.1).astype(dtype)
    gy = np.abs(rng.standard_normal(strided.conv2d(x, w, stride=stride, padding=padding, groups=groups).shape))
    return rng, x, w, (gy + 0.1).astype(dtype)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_specials_in_the_data_propagate_as_in_the_reference(case, dtype, value):
    """inf/NaN in x (forward, backward-weight) and in gy (backward-input, bias): the reference's result in
    every algorithm, padded or not. The direct backward-weight once gave NaN for an inf in x: its fast
    paths multiplied zero gy (past a row's end, outside the band) by whatever input lay there."""
    rng, x, w, gy = _operands(case, dtype, 11)
    got, want = _grads(case, ALGOS, _poke(x, rng, value), w, gy)
    for algo in ALGOS:
        for i, what in ((0, "y"), (2, "gw")):
            assert_same_specials(got[algo][i], want[i], dtype, f"{algo} {what} with {value} in x")
    got, want = _grads(case, ALGOS, x, w, _poke(gy, rng, value))
    for algo in ALGOS:
        for i, what in ((1, "gx"), (3, "gb")):
            assert_same_specials(got[algo][i], want[i], dtype, f"{algo} {what} with {value} in gy")


@pytest.mark.parametrize("value", [np.inf, np.nan])
@pytest.mark.parametrize("case", [c for c in CASES if c[3] == 0], ids=[i for c, i in zip(CASES, IDS) if c[3] == 0])
def test_specials_in_weights_and_gy_without_padding(case, value):
    """inf/NaN in w (forward) and in gy (backward-weight) on unpadded layers. With padding they may meet a
    padded zero, which the reference multiplies (0 * inf = NaN) and some kernels skip."""
    dtype = np.float32
    rng, x, w, gy = _operands(case, dtype, 13)
    got, want = _grads(case, ALGOS, x, _poke(w, rng, value), gy)
    for algo in ALGOS:
        assert_same_specials(got[algo][0], want[0], dtype, f"{algo} y with {value} in w")
    got, want = _grads(case, ALGOS, x, w, _poke(gy, rng, value))
    for algo in ALGOS:
        assert_same_specials(got[algo][2], want[2], dtype, f"{algo} gw with {value} in gy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_denormals_give_the_same_result_on_every_algorithm(case, dtype):
    """Every conv2d algorithm flushes denormals (FTZ/DAZ): a denormal input reads as zero, a product
    that would underflow is zero, and all of them give the same result (that of zeros)."""
    rng, x, w, gy = _operands(case, dtype, 17)
    tiny = np.finfo(dtype).smallest_subnormal * 8
    gy = gy - 0.5  # both signs
    xd, gyd = (np.where(rng.random(a.shape) < 0.5, tiny, 0).astype(dtype) for a in (x, gy))
    _, _, stride, padding, groups = case
    kw = dict(stride=stride, padding=padding, groups=groups)
    for algo in ALGOS:
        with strided.conv_algorithm(algo):
            y = strided.conv2d(xd, w, **kw)
            gx, gw, gb = strided.conv2d_backward(gyd, x, w, **kw)
            _, gw2, _ = strided.conv2d_backward(gy, xd, w, **kw)
        for what, a in (("y", y), ("gx", gx), ("gw", gw), ("gw (denormal x)", gw2), ("gb", gb)):
            assert not a.any(), f"{algo}: {what} not flushed to zero"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_flushes_denormals_on_both_paths(dtype):
    tiny = np.finfo(dtype).smallest_subnormal * 8
    rng = np.random.default_rng(19)
    x = np.where(rng.random((5, 40)) < 0.5, tiny, 0).astype(dtype)
    w = rng.standard_normal((7, 40)).astype(dtype)
    for simple in (False, True):
        fw = strided._C.linear_forward
        assert not fw(x, w, None, simple=simple).any()
        assert not strided._C.linear_backward_weight(np.ones((5, 7), dtype), x, simple=simple).any()
