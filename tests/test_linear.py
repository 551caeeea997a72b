"""The fully connected op (strided.linear / linear_backward, behind nn.Linear): the packed-GEMM kernel and
its simple twin against strided.reference, on every SIMD path, over shape sweeps and memory layouts."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strided
from strided import _C, reference
from oracle import DTYPES, LAYOUTS, assert_close, layout

_ORDER = ["default", "avx2", "avx512"]
CAPS = _ORDER[:_ORDER.index(_C.cpu_detected()) + 1]


def check_linear(x, w, b, gy):
    """strided.linear and linear_backward against the reference in float64; the bound is the same op on
    |inputs| (see oracle.assert_close)."""
    dtype = x.dtype
    x64, w64, gy64 = (np.asarray(a, np.float64) for a in (x, w, gy))
    b64 = None if b is None else np.asarray(b, np.float64)
    assert_close(strided.linear(x, w, b), reference.linear(x64, w64, b64),
                 reference.linear(abs(x64), abs(w64), None if b is None else abs(b64)), dtype, "linear forward")
    want = reference.linear_backward(gy64, x64, w64)
    bound = reference.linear_backward(abs(gy64), abs(x64), abs(w64))
    for got, w_, b_, what in zip(strided.linear_backward(gy, x, w), want, bound, ("gx", "gw", "gb")):
        assert_close(got, w_, b_, dtype, f"linear {what}")


def _case(rng, n, i, o, dtype, bias=True):
    return (rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((o, i)).astype(dtype),
            rng.standard_normal(o).astype(dtype) if bias else None, rng.standard_normal((n, o)).astype(dtype))


# Around the microkernel's tiles (mr rows, nr = 16-32 columns, kc = 128-256 deep): edges, exact
# multiples, one past, a single row or column, and the layer sizes of the models.
SHAPES = [(1, 1, 1), (3, 5, 7), (12, 33, 16), (13, 129, 32), (64, 400, 120), (64, 120, 84), (64, 84, 10),
          (32, 1568, 128), (32, 128, 2), (1, 300, 65), (100, 3, 1), (5, 257, 33)]


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_shapes_on_every_simd_path(cap, dtype):
    before = _C.cpu_capability()
    _C.set_cpu_capability(cap)
    try:
        rng = np.random.default_rng(1)
        for n, i, o in SHAPES:
            check_linear(*_case(rng, n, i, o, dtype, bias=(n + i) % 2 == 0))
    finally:
        _C.set_cpu_capability(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_simple_twin_matches_the_packed_kernel(dtype):
    rng = np.random.default_rng(2)
    x, w, b, gy = _case(rng, 37, 300, 70, dtype)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for simple in (True, False):
        np.testing.assert_allclose(_C.linear_forward(x, w, b, simple), reference.linear(x, w, b), **tol)
        np.testing.assert_allclose(_C.linear_backward_input(gy, w, simple), gy @ w, **tol)
        np.testing.assert_allclose(_C.linear_backward_weight(gy, x, simple), gy.T @ x, **tol)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70), i=st.integers(1, 300), o=st.integers(1, 70), dtype=st.sampled_from(DTYPES),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_random_shapes(n, i, o, dtype, bias, seed):
    check_linear(*_case(np.random.default_rng(seed), n, i, o, dtype, bias))


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(3)
    x, w, b, gy = _case(rng, 6, 40, 9, np.float64)
    check_linear(layout(x, kind), layout(w, kind), layout(b, kind), layout(gy, kind))
    np.testing.assert_array_equal(layout(x, kind), x)


def test_threads_do_not_change_the_result():
    rng = np.random.default_rng(4)
    x, w, b, gy = _case(rng, 64, 500, 300, np.float64)
    before = strided.get_num_threads()
    try:
        out = []
        for t in (1, 2, 3):
            strided.set_num_threads(t)
            out.append((strided.linear(x, w, b),) + strided.linear_backward(gy, x, w)[:2])
    finally:
        strided.set_num_threads(before)
    for other in out[1:]:
        for a, c in zip(out[0], other):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: strided.linear(np.zeros((2, 3)), np.zeros((4, 5))), ValueError, r"x has shape \(2, 3\), expected \(N, 5\)"),
    (lambda: strided.linear(np.zeros(3), np.zeros((4, 5))), ValueError,
     r"x has shape \(1, 3\), expected \(N, 5\).*x of shape \(3,\) taken as a batch of shape \(1, 3\)"),
    (lambda: strided.linear(np.zeros((2, 3)), np.zeros(3)), ValueError, r"linear weight is 2-D"),
    (lambda: strided.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)), ValueError,
     r"b has shape \(3,\), expected \(4,\)"),
    (lambda: strided.linear_backward(np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3))), ValueError,
     r"gy has shape \(2, 5\), expected \(2, 4\)"),
    (lambda: strided.linear(np.zeros((2, 3), np.float32), np.zeros((4, 3))), TypeError, "share a dtype"),
    (lambda: strided.linear(np.zeros((2, 3), np.int64), np.zeros((4, 3), np.int64)), TypeError,
     "float32 and float64"),
    (lambda: _C.linear_forward(np.zeros((2, 3)), np.zeros((4, 5)), None), ValueError, "does not match"),
    (lambda: _C.linear_backward_weight(np.zeros(3), np.zeros((4, 5))), ValueError, "must be 2-D"),
])
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
