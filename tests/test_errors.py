"""Every bad-input rule raises the stated exception with a message that names the shapes and the rule."""
import numpy as np
import pytest

import strided
from strided import reference

X = np.zeros((2, 4, 8, 8))
W = np.zeros((6, 2, 3, 3))
IMPLS = [strided, reference]


@pytest.mark.parametrize("impl", IMPLS, ids=["strided", "reference"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128, object, np.float16])
def test_non_float_dtypes_are_type_errors(impl, dtype):
    with pytest.raises(TypeError, match="float32 and float64"):
        impl.conv2d(X.astype(dtype), W)
    with pytest.raises(TypeError, match="float32 and float64"):
        impl.max_pool2d(X.astype(dtype), 2)
    with pytest.raises(TypeError, match="float32 and float64"):
        impl.avg_pool2d_backward(np.zeros((2, 4, 4, 4)), X.astype(dtype), 2)


def test_mixed_dtypes_and_non_arrays():
    with pytest.raises(TypeError, match="share a dtype"):
        strided.conv2d(X, W.astype(np.float32))
    with pytest.raises(TypeError, match="share a dtype"):
        strided.conv2d(X, W, np.zeros(6, np.float32), groups=2)
    with pytest.raises(TypeError, match="must be an array"):
        strided.conv2d(X.tolist(), W)
    with pytest.raises(TypeError, match="x must be an array"):  # None only stands for an optional array
        strided.conv2d(None, W, np.zeros(6))


@pytest.mark.parametrize("call,pattern", [
    (lambda: strided.conv2d(X[0, 0], W), r"\(N, C, H, W\).*\(8, 8\)"),  # (C, H, W) is one unbatched sample
    (lambda: strided.conv2d(X, W[0]), r"\(K, C/groups, R, S\).*\(2, 3, 3\)"),
    (lambda: strided.conv2d(X, W), r"C/groups = 4.*got 2"),
    (lambda: strided.conv2d(X, W, groups=3), r"groups=3 must divide"),
    (lambda: strided.conv2d(X, W, groups=0), r"groups must be positive"),
    (lambda: strided.conv2d(X, W, np.zeros(5), groups=2), r"b has shape \(5,\), expected \(6,\)"),
    (lambda: strided.conv2d(X, W, stride=0, groups=2), r"stride must be positive"),
    (lambda: strided.conv2d(X, W, dilation=(1, -1), groups=2), r"dilation must be positive"),
    (lambda: strided.conv2d(X, W, stride=(1, 2, 3), groups=2), r"stride must be an int or a pair"),
    (lambda: strided.conv2d(X, W, padding=-1, groups=2), r"padding must be non-negative"),
    (lambda: strided.conv2d(X, W, padding="middle", groups=2), r"'valid', 'same' or 'full'"),
    (lambda: strided.conv2d(X, W, padding=(1, 2, 3), groups=2), r"\(top, bottom, left, right\)"),
    (lambda: strided.conv2d(X, np.zeros((6, 2, 9, 3)), groups=2), r"output size would be 0x6 < 1"),
    (lambda: strided.conv2d(X, W, dilation=5, groups=2), r"smaller than the dilated kernel 11x11"),
    (lambda: strided.conv2d(X, np.zeros((6, 2, 0, 3)), groups=2), r"positive K, C/groups, R and S"),
    (lambda: strided.conv2d(np.zeros((2, 4, 0, 8)), W, groups=2), r"positive H and W"),
    (lambda: strided.conv2d_backward(np.zeros((2, 6, 5, 5)), X, W, groups=2),
     r"gy has shape \(2, 6, 5, 5\), expected \(2, 6, 6, 6\)"),
    (lambda: strided.max_pool2d(X, 0), r"kernel_size must be positive"),
    (lambda: strided.max_pool2d(X, 2, stride=0), r"stride must be positive"),
    (lambda: strided.max_pool2d(X, 3, padding=2), r"at most half the kernel size"),
    (lambda: strided.avg_pool2d(X, 2, padding=-1), r"padding must be non-negative"),
    (lambda: strided.max_pool2d(X, 9), r"output size would be 0x0 < 1"),
    (lambda: strided.max_pool2d(X[0, 0], 2), r"\(N, C, H, W\)"),  # (C, H, W) is one unbatched sample
    (lambda: strided.max_pool2d_backward(np.zeros((2, 4, 3, 4)), X, 2),
     r"gy has shape \(2, 4, 3, 4\), expected \(2, 4, 4, 4\)"),
    (lambda: strided.avg_pool2d_backward(np.zeros((2, 4, 3, 4)), X, 2), r"expected \(2, 4, 4, 4\)"),
])
def test_value_errors(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_type_errors_for_argument_types():
    with pytest.raises(TypeError, match="stride must be an int"):
        strided.conv2d(X, W, stride=1.5, groups=2)
    with pytest.raises(TypeError, match="groups must be an int"):
        strided.conv2d(X, W, groups=2.0)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        strided.max_pool2d(X, "2")
    with pytest.raises(TypeError, match="padding must be an int"):
        strided.conv2d(X, W, padding=None, groups=2)


def test_cached_geometry_refuses_what_the_check_refuses():
    """The geometry of a call is cached per shapes and settings: an argument equal to a cached one but of a
    refused type (a float or a bool inside a pair, groups 2.0) must still be refused, every time."""
    strided.conv2d(X, W, stride=(1, 1), groups=2)  # cached: (1, 1), groups 2
    strided.max_pool2d(X, (2, 2))
    for _ in range(2):
        for bad in ((1.0, 1), (1, True)):
            with pytest.raises(TypeError, match="stride must be an int"):
                strided.conv2d(X, W, stride=bad, groups=2)
        with pytest.raises(TypeError, match="groups must be an int"):
            strided.conv2d(X, W, stride=(1, 1), groups=2.0)
        with pytest.raises(TypeError, match="kernel_size must be an int"):
            strided.max_pool2d(X, (2.0, 2))
        with pytest.raises(ValueError, match="stride must be positive"):
            strided.conv2d(X, W, stride=(0, 1), groups=2)
    # what the check accepts but cannot key the cache runs uncached, with the same result
    y = strided.conv2d(X, W, stride=(1, 1), padding=(1, 1), groups=2)
    np.testing.assert_array_equal(strided.conv2d(X, W, stride=[np.int64(1), 1], padding=[1, 1], groups=2), y)


def test_arrays_of_two_devices_are_a_type_error():
    """A GPU array beside a NumPy one, without CuPy: a stand-in whose type lives in a cupy module."""
    from strided.ops import _dispatch
    gpu = type("ndarray", (), {"__module__": "cupy._core.core"})()
    for arrays in ((np.zeros(3), gpu), (gpu, None, np.zeros(3))):
        with pytest.raises(TypeError, match="same device"):
            _dispatch.backend(*arrays)
    assert _dispatch.backend(np.zeros(3), None) is None


def test_set_num_threads_rejects_nonsense():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            strided.set_num_threads(bad)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown conv algorithm"):
        with strided.conv_algorithm("winograd9000"):
            pass
