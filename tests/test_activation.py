"""strided.relu / relu_backward (the C++ pass behind nn.ReLU) against strided.reference: values, special
values, any shape and memory layout, and bad input."""
import numpy as np
import pytest

import strided
from strided import reference
from oracle import DTYPES, LAYOUTS, layout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 1000), (2, 3, 5, 7), (4, 1, 33, 31)])
def test_matches_reference(dtype, shape):
    rng = np.random.default_rng(sum(shape) + 1)
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y = strided.relu(x)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_array_equal(y, reference.relu(x))
    np.testing.assert_array_equal(strided.relu_backward(gy, y), reference.relu_backward(gy, y))


def test_special_values():
    x = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1e-45, 1e-45, -3.0, 2.0], np.float32)
    y = strided.relu(x)
    np.testing.assert_array_equal(y, [np.nan, 0, np.inf, 0, 0, 0, x[6], 0, 2])  # NaN stays NaN
    gy = np.arange(1.0, 10.0, dtype=np.float32)
    # the gradient passes only where y > 0: not at 0, not at NaN
    np.testing.assert_array_equal(strided.relu_backward(gy, y), [0, 0, 3, 0, 0, 0, 7, 0, 9])


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(5)
    x, gy = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 5))
    xs = layout(x, kind)
    np.testing.assert_array_equal(strided.relu(xs), reference.relu(x))
    np.testing.assert_array_equal(strided.relu_backward(layout(gy, kind), xs), reference.relu_backward(gy, x))
    np.testing.assert_array_equal(xs, x)


def test_bad_input():
    with pytest.raises(TypeError, match="float32 and float64"):
        strided.relu(np.arange(4))
    with pytest.raises(TypeError, match="share a dtype"):
        strided.relu_backward(np.zeros(3, np.float32), np.zeros(3))
    with pytest.raises(ValueError, match=r"gy has shape \(3,\), expected \(4,\)"):
        strided.relu_backward(np.zeros(3), np.zeros(4))
