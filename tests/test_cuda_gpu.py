"""The CUDA backend for real: CuPy arrays through the public API (strided.conv2d(cupy_x, ...)) against the
NumPy reference, with the sweeps of the emulated tests, every algorithm, both dtypes; plus determinism,
layouts, empty batches, foreign (torch) GPU tensors and a tensor over 2^31 elements. Skips cleanly without
CuPy or without a CUDA device."""

import numpy as np
import pytest

import strided
from strided import reference
from oracle import CONV, DTYPES, POOL, case, check_conv, check_pool
from oracle import INTERP_MODES, INTERP_SHAPES, INTERP_SPECS, NEAREST_ND, check_interp, interp_spec


cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'strided[cuda12]' or '[cuda13]')")


def _device_count():
    try:
        return cp.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no device, or a CuPy built for another CUDA
        return 0


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_device_count() == 0, reason="no CUDA device")]

GPU = dict(lib=strided, to_lib=lambda a: None if a is None else cp.asarray(a),
           from_lib=lambda a: None if a is None else cp.asnumpy(a))


@pytest.fixture
def algo_kernels():
    """Force a GPU conv algorithm ('tiled', 'direct', 'im2col') for the duration of a test."""
    k = strided.cuda.kernels()
    saved = k.default_algo
    yield lambda algo: setattr(k, "default_algo", algo)
    k.default_algo = saved


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ("tiled", "direct", "im2col"))
@pytest.mark.parametrize("name", sorted(CONV))
def test_conv(algo_kernels, name, algo, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = CONV[name]
    rng = np.random.default_rng(len(name))
    x, w, b = case(rng, N, C, H, W, K, R, S, groups, dtype)
    algo_kernels(algo)
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng, **GPU)


@pytest.mark.parametrize("cpu_name", ("auto", "simple", "im2col"))
def test_conv_algorithm_selector_and_no_bias(cpu_name):
    rng = np.random.default_rng(1)
    x, w, _ = case(rng, 2, 6, 9, 8, 66, 3, 3, 3, bias=False)
    with strided.conv_algorithm(cpu_name):
        check_conv(x, w, None, padding=1, groups=3, rng=rng, **GPU)


@pytest.mark.parametrize("shape", [(2, 2, 48, 48, 16), (8, 16, 56, 56, 64), (4, 128, 14, 14, 256)])
def test_conv_larger_shapes_split_weight_gradient(shape):
    N, C, H, W, K = shape
    rng = np.random.default_rng(2)
    x, w, b = case(rng, N, C, H, W, K, 3, 3, dtype=np.float32)
    check_conv(x, w, b, padding=1, rng=rng, **GPU)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", POOL, ids=[f"p{i}" for i in range(len(POOL))])
def test_pool(geo, dtype):
    N, C, H, W, kernel, stride, padding, ceil = geo
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    check_pool(x, kernel, stride, padding, ceil, rng=rng, **GPU)
    check_pool(np.round(x * 1.5), kernel, stride, padding, ceil, rng=rng, **GPU)  # ties


def test_max_pool_nan_and_padding():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = x[0, 0, 2, 3] = np.nan
    for geo in ((2, None, 0, False), (3, 1, 1, False), (3, 2, 1, True)):
        check_pool(x, *geo, **GPU)
    neg = np.full((1, 1, 4, 4), -np.inf)
    gx = cp.asnumpy(strided.max_pool2d_backward(cp.ones((1, 1, 4, 4)), cp.asarray(neg), 3, 1, 1))
    np.testing.assert_array_equal(gx, reference.max_pool2d_backward(np.ones((1, 1, 4, 4)), neg, 3, 1, 1))


def test_results_are_bitwise_reproducible():
    rng = np.random.default_rng(3)
    x, w, b = (cp.asarray(a) for a in case(rng, 8, 32, 28, 28, 64, 3, 3, dtype=np.float32))
    gy = cp.asarray(rng.standard_normal((8, 64, 28, 28)).astype(np.float32))
    runs = [[strided.conv2d(x, w, b, padding=1), *strided.conv2d_backward(gy, x, w, padding=1),
             strided.max_pool2d_backward(gy, gy, 2)] for _ in range(2)]
    for a, c in zip(*runs):
        assert bool((a == c).all())


def test_layouts_and_inputs_untouched():
    rng = np.random.default_rng(4)
    x, w, b = case(rng, 2, 4, 7, 6, 6, 3, 2, 2)
    xs = cp.asarray(np.asfortranarray(x))
    big = cp.zeros((4, 8, 14, 12))
    big[::2, ::2, ::2, ::2] = cp.asarray(x)
    for xv in (xs, big[::2, ::2, ::2, ::2], cp.asarray(x)[:, :, ::-1, ::-1][:, :, ::-1, ::-1]):
        before = xv.copy()
        y = strided.conv2d(xv, cp.asarray(w), cp.asarray(b), padding="same", groups=2)
        np.testing.assert_allclose(cp.asnumpy(y), reference.conv2d(x, w, b, padding="same", groups=2),
                                   rtol=1e-12, atol=1e-12)
        assert bool((xv == before).all())


def test_empty_batch():
    x, w, b = (cp.asarray(a) for a in case(np.random.default_rng(5), 0, 3, 6, 6, 32, 3, 3))
    y = strided.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 32, 6, 6)
    gx, gw, gb = strided.conv2d_backward(cp.zeros(y.shape), x, w, padding=1)
    assert gx.shape == x.shape and not bool(gw.any()) and not bool(gb.any())
    assert strided.max_pool2d(x, 2).shape == (0, 3, 3, 3)


def test_mixing_devices_is_an_error():
    x, w, _ = case(np.random.default_rng(6), 1, 2, 5, 5, 2, 3, 3)
    with pytest.raises(TypeError, match="same device"):
        strided.conv2d(cp.asarray(x), w)


def test_torch_cuda_tensors_zero_copy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    rng = np.random.default_rng(7)
    x, w, b = case(rng, 2, 3, 8, 8, 4, 3, 3)
    y = strided.conv2d(torch.as_tensor(x, device="cuda"), torch.as_tensor(w, device="cuda"),
                       torch.as_tensor(b, device="cuda"), padding=1)
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(y), reference.conv2d(x, w, b, padding=1), rtol=1e-12, atol=1e-12)
    ref = torch.nn.functional.conv2d(torch.as_tensor(x, device="cuda"), torch.as_tensor(w, device="cuda"),
                                     torch.as_tensor(b, device="cuda"), padding=1)
    np.testing.assert_allclose(cp.asnumpy(y), ref.cpu().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.slow
def test_tensor_over_2_31_elements():
    """64-bit indexing: 2 x 1 x 32768 x 32800 float32 (2.15e9 elements, 8.6 GB)."""
    free, _ = cp.cuda.runtime.memGetInfo()
    if free < 24 * 2**30:
        pytest.skip("needs about 24 GiB of free GPU memory")
    x = cp.empty((2, 1, 32768, 32800), cp.float32)
    assert x.size > 2**31
    x[...] = 1
    x[1, 0, -4:, -4:] = cp.arange(16, dtype=cp.float32).reshape(4, 4)
    y = strided.max_pool2d(x, 2)
    np.testing.assert_array_equal(cp.asnumpy(y[1, 0, -2:, -2:]), [[5, 7], [13, 15]])
    a = strided.avg_pool2d(x, 2)
    np.testing.assert_allclose(cp.asnumpy(a[1, 0, -1, -1]), (10 + 11 + 14 + 15) / 4)
    gx = strided.avg_pool2d_backward(a, x, 2)
    assert float(gx[1, 0, -1, -1]) == pytest.approx(12.5 / 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
def test_interp(mode, align_corners, dtype):
    rng = np.random.default_rng(7)
    for shape in INTERP_SHAPES + [(0, 2, 3, 3)]:
        for spec in INTERP_SPECS:
            geo = interp_spec(spec, shape)
            if geo is not None:
                check_interp(rng.standard_normal(shape).astype(dtype), **geo, mode=mode,
                             align_corners=align_corners, rng=rng, **GPU)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nearest_1d_3d(dtype):
    rng = np.random.default_rng(9)
    for shape, geo in NEAREST_ND:
        check_interp(rng.standard_normal(shape).astype(dtype), **geo, rng=rng, **GPU)
