"""conv2d and its gradients in C++ against the NumPy reference: a product grid, edge cases, memory
layouts, and a hypothesis sweep, for every CPU algorithm."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strided
from oracle import LAYOUTS, check_conv, layout

ALGORITHMS = strided.conv_algorithms()
DTYPES = (np.float32, np.float64)


def case(rng, N, C, H, W, K, R, S, groups=1, dtype=np.float64, bias=True):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b


GRID = [  # (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    (2, 3, 9, 7, 4, 3, 2, 1, 1, 1, 1),
    (1, 4, 11, 10, 6, 3, 3, 2, "same", 1, 2),
    (3, 6, 8, 9, 6, 2, 4, (2, 3), (1, 2, 0, 3), (2, 1), 3),
    (2, 2, 7, 7, 4, 3, 3, 3, "full", 2, 2),
    (2, 5, 13, 11, 7, 5, 3, (1, 2), (2, 1), 1, 1),
    (1, 17, 5, 6, 15, 1, 1, 1, 0, 1, 1),
    (2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 16),
    (1, 3, 31, 29, 5, 7, 7, 2, 3, 1, 1),
    (2, 1, 9, 9, 3, 4, 4, 1, "same", 1, 1),
    (2, 2, 10, 8, 2, 4, 2, 3, "same", 2, 1),
]


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", GRID, ids=[f"g{i}" for i in range(len(GRID))])
def test_grid(algo, dtype, geo):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geo
    rng = np.random.default_rng(len(str(geo)))
    x, w, b = case(rng, N, C, H, W, K, R, S, groups, dtype)
    with strided.conv_algorithm(algo):
        check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng)


EDGES = {  # name: (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    "kernel_equals_input": (2, 3, 5, 4, 2, 5, 4, 1, 0, 1, 1),
    "one_by_one": (2, 5, 6, 7, 3, 1, 1, 1, 0, 1, 1),
    "batch_one": (1, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1),
    "single_channel": (3, 1, 8, 8, 2, 3, 3, 1, 0, 1, 1),
    "stride_over_kernel": (2, 2, 11, 11, 3, 2, 2, 4, 0, 1, 1),
    "same_even_kernel": (2, 2, 7, 7, 3, 4, 2, 1, "same", 1, 1),
    "same_with_stride": (2, 2, 9, 8, 3, 3, 3, 2, "same", 1, 1),
    "same_even_kernel_stride": (1, 2, 10, 9, 2, 2, 4, 3, "same", 1, 1),
    "dilation_with_padding": (2, 2, 9, 9, 3, 3, 3, 1, 2, 2, 1),
    "empty_batch": (0, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1),
    "one_pixel_input": (2, 3, 1, 1, 2, 1, 1, 1, 0, 1, 1),
    "padding_bigger_than_kernel": (1, 2, 3, 3, 2, 2, 2, 1, 3, 1, 1),
    "depthwise": (2, 8, 7, 7, 8, 3, 3, 1, 1, 1, 8),
    "depthwise_multiplier": (2, 4, 6, 6, 8, 3, 3, 2, 1, 1, 4),
}


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_cases(algo, dtype, name):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = EDGES[name]
    rng = np.random.default_rng(7)
    x, w, b = case(rng, N, C, H, W, K, R, S, groups, dtype)
    with strided.conv_algorithm(algo):
        y = check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng)
    assert y.shape == strided.conv_output_shape(x.shape, w.shape, stride, padding, dilation, groups)


def test_empty_batch_gives_zero_weight_and_bias_grads():
    x, w, b = case(np.random.default_rng(1), 0, 3, 6, 6, 4, 3, 3)
    y = strided.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 4, 6, 6)
    gx, gw, gb = strided.conv2d_backward(np.zeros(y.shape), x, w, padding=1)
    assert gx.shape == x.shape and not gw.any() and gw.shape == w.shape and not gb.any()


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_memory_layouts_and_inputs_untouched(kind, dtype):
    rng = np.random.default_rng(3)
    x, w, b = case(rng, 2, 4, 7, 6, 6, 3, 2, 2, dtype)
    gy = rng.standard_normal((2, 6, 7, 6)).astype(dtype)
    xs, ws, bs, gys = (layout(a, kind) for a in (x, w, b, gy))
    before = [a.copy() for a in (xs, ws, bs, gys)]
    check_conv(xs, ws, bs, padding="same", groups=2, gy=gys)
    for a, c in zip((xs, ws, bs, gys), before):
        np.testing.assert_array_equal(a, c)


def test_no_bias_and_grads_not_asked_for():
    x, w, _ = case(np.random.default_rng(4), 2, 3, 6, 6, 4, 3, 3)
    y = strided.conv2d(x, w)
    np.testing.assert_allclose(y, strided.reference.conv2d(x, w), rtol=1e-12, atol=1e-12)
    for flags in itertools.product((True, False), repeat=3):
        grads = strided.conv2d_backward(y, x, w, input_grad=flags[0], weight_grad=flags[1], bias_grad=flags[2])
        assert [g is not None for g in grads] == list(flags)


def test_output_dtype_follows_input():
    for dtype in DTYPES:
        x, w, b = case(np.random.default_rng(5), 1, 2, 5, 5, 2, 3, 3, dtype=dtype)
        assert strided.conv2d(x, w, b).dtype == dtype


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    C, K = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(
        st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
        st.tuples(*[st.integers(0, 3)] * 4), st.sampled_from(["valid", "same", "full"])))
    # The input must hold at least one dilated window once padded ('valid' and small pads need room).
    H = draw(st.integers(dil[0] * (R - 1) + 1, dil[0] * (R - 1) + 9))
    W = draw(st.integers(dil[1] * (S - 1) + 1, dil[1] * (S - 1) + 9))
    return dict(N=draw(st.integers(0, 3)), C=C, H=H, W=W, K=K, R=R, S=S, groups=groups, stride=stride,
                padding=padding, dilation=dil, dtype=draw(st.sampled_from(DTYPES)),
                bias=draw(st.booleans()), layout=draw(st.sampled_from(LAYOUTS)),
                algo=draw(st.sampled_from(ALGORITHMS)), seed=draw(st.integers(0, 2**16)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_hypothesis_sweep(c):
    rng = np.random.default_rng(c["seed"])
    x, w, b = case(rng, c["N"], c["C"], c["H"], c["W"], c["K"], c["R"], c["S"], c["groups"], c["dtype"],
                   c["bias"])
    x, w = layout(x, c["layout"]), layout(w, c["layout"])
    with strided.conv_algorithm(c["algo"]):
        check_conv(x, w, b, stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                   groups=c["groups"], rng=rng)
