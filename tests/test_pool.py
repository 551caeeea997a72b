"""Max and average pooling, forward and backward, in C++ against the reference; the semantics the
issue fixes (padding never picked, ceil_mode, ties, NaN) are asserted directly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strided
from oracle import CAPS, DTYPES, LAYOUTS, POOL, check_pool, layout
from strided import _C

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", POOL, ids=[f"p{i}" for i in range(len(POOL))])
def test_grid(dtype, geo):
    N, C, H, W, k, s, p, ceil = geo
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    check_pool(x, k, s, p, ceil, rng=rng)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 9, 8))
    gy = rng.standard_normal((2, 3, 5, 4))
    xs, gys = layout(x, kind), layout(gy, kind)
    check_pool(xs, 3, 2, 1, False, gy=gys)
    np.testing.assert_array_equal(xs, x)


def test_course_example_max_pool_4x4():
    """File 001: 2x2 max pooling with stride 2 of the printed 4x4 map gives [[6, 8], [3, 4]]."""
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float64)[None, None]
    np.testing.assert_array_equal(strided.max_pool2d(x, 2, 2)[0, 0], [[6, 8], [3, 4]])


def test_padding_never_picked_even_when_everything_is_negative():
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    y = strided.max_pool2d(x, 3, 1, padding=1)
    assert (y < 0).all()
    np.testing.assert_array_equal(y, strided.reference.max_pool2d(x, 3, 1, 1))
    x[:] = -np.inf  # all -inf: the gradient still lands inside the input, on the first real position
    gx = strided.max_pool2d_backward(np.ones((1, 1, 4, 4)), x, 3, 1, 1)
    assert gx.sum() == 16 and gx[0, 0, 0, 0] > 0


def test_ties_go_to_first_maximum():
    x = np.ones((1, 1, 2, 2))
    gx = strided.max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), x, 2)
    np.testing.assert_array_equal(gx[0, 0], [[5, 0], [0, 0]])


def test_nan_propagates_and_takes_the_gradient():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y = strided.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:, :]).any() and not np.isnan(y[0, 0, :, 1]).any()
    gx = strided.max_pool2d_backward(np.ones(y.shape), x, 2)
    assert gx[0, 0, 1, 0] == 1 and gx[0, 0, :2, :2].sum() == 1
    check_pool(x, 2)


def test_ceil_mode_drops_window_starting_in_padding():
    # H=5, k=2, s=2, p=1: ceil gives 4 windows, but the 4th would start at row 6 = H + p: dropped (PyTorch).
    assert strided.pool_output_shape((5, 5), 2, 2, 1, ceil_mode=True) == (3, 3)
    assert strided.pool_output_shape((6, 6), 3, 2, 0, ceil_mode=True) == (3, 3)
    assert strided.pool_output_shape((6, 6), 3, 2, 0, ceil_mode=False) == (2, 2)


def test_avg_divisor_counts_padding_but_not_ceil_overhang():
    x = np.ones((1, 1, 6, 6))
    y = strided.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)
    # Corner window covers 2x2 real + padding: 4/9. Last window: rows 5..7 -> clipped at H + pad = 7,
    # so it counts row 5 (real) and row 6 (padding): 2 rows x 2 cols, divisor 4 -> 1 for a real 1x1.
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert y[0, 0, -1, -1] == pytest.approx(1 / 4)
    assert strided.avg_pool2d(x, 3, 2, 1, True, count_include_pad=False)[0, 0, -1, -1] == 1


@settings(max_examples=80, deadline=None)
@given(N=st.integers(0, 2), C=st.integers(1, 3), kh=st.integers(1, 7), kw=st.integers(1, 7),
       extra_h=st.integers(0, 8), extra_w=st.integers(0, 40), sh=st.integers(1, 4), sw=st.integers(1, 9),
       pad_frac=st.tuples(st.floats(0, 1), st.floats(0, 1)), ceil=st.booleans(),
       stride_none=st.booleans(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       ties=st.booleans())
def test_hypothesis_sweep(N, C, kh, kw, extra_h, extra_w, sh, sw, pad_frac, ceil, stride_none, dtype, seed,
                          ties):
    rng = np.random.default_rng(seed)
    ph, pw = int(pad_frac[0] * (kh // 2)), int(pad_frac[1] * (kw // 2))
    x = rng.standard_normal((N, C, kh + extra_h, kw + extra_w))
    if ties:  # small integers make equal maxima common
        x = np.round(x * 1.5)
    check_pool(x.astype(dtype), (kh, kw), None if stride_none else (sh, sw), (ph, pw), ceil, rng=rng)


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_overlapping_backward_rows_on_every_simd_path(cap, dtype):
    """The backward kernels of overlapping windows (max: a pick per window, added at it; avg: per input
    row, sums of shifted gradient rows interleaved by column phase) on each SIMD path: strides 1..8,
    windows narrower than the stride and over twice as wide, 1 to 65 interior windows a row (scalar,
    narrow and full vectors, one past a block), the last column phase partial, border windows on both
    sides, ties and NaN."""
    rng = np.random.default_rng(21)
    before = _C.cpu_capability()
    assert _C.set_cpu_capability(cap) == cap
    try:
        for sw in (1, 2, 3, 5, 7, 8):
            for kw in sorted({max(1, sw - 1), sw + 1, 2 * sw + 1}):
                for n in (1, 8, 9, 33, 65):
                    x = rng.standard_normal((1, 2, 7, sw * (n - 1) + kw + n % sw))
                    x[0, 0] = np.round(x[0, 0] * 1.5)  # equal maxima in one plane
                    x.flat[rng.integers(0, x.size, size=2)] = np.nan
                    check_pool(x.astype(dtype), (3, kw), (2, sw), (1, kw // 2), n % 2 == 1, rng=rng)
    finally:
        _C.set_cpu_capability(before)


def test_pytorch_argument_forms():
    """As PyTorch's functional pools: a 1-tuple means both dimensions, an empty stride the kernel size."""
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(strided.avg_pool2d(x, (3,), (), (1,)), strided.avg_pool2d(x, 3, 3, 1))
    np.testing.assert_array_equal(strided.max_pool2d(x, (2,), []), strided.max_pool2d(x, 2))
    with pytest.raises(ValueError, match="pair"):
        strided.avg_pool2d(x, (3, 3, 3))
