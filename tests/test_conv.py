"""conv2d and its gradients in C++ against the NumPy reference: a product grid, edge cases, memory
layouts, and a hypothesis sweep, for every CPU algorithm."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strided
from oracle import CONV, DTYPES, LAYOUTS, case, check_conv, check_conv_case, conv_cases, layout

ALGORITHMS = strided.conv_algorithms()


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONV))
def test_cases(algo, dtype, name):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = CONV[name]
    rng = np.random.default_rng(len(name))
    x, w, b = case(rng, N, C, H, W, K, R, S, groups, dtype)
    with strided.conv_algorithm(algo):
        y = check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng)
    assert y.shape == strided.conv_output_shape(x.shape, w.shape, stride, padding, dilation, groups)


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_empty_batch_gives_empty_output_and_zero_grads(algo):
    x, w, b = case(np.random.default_rng(1), 0, 3, 6, 6, 4, 3, 3)
    with strided.conv_algorithm(algo):
        y = check_conv(x, w, b, padding=1)
        gx, gw, gb = strided.conv2d_backward(np.zeros(y.shape), x, w, padding=1)
    assert y.shape == (0, 4, 6, 6)
    assert gx.shape == x.shape and gw.shape == w.shape and not gw.any() and not gb.any()


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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(ALGORITHMS), st.sampled_from(LAYOUTS))
def test_hypothesis_sweep(c, kind):
    with strided.conv_algorithm(c["algo"]):
        check_conv_case(c, kind)
