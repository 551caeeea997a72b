"""interpolate ('nearest', 'bilinear') and nn.Upsample: the C++ kernels against the NumPy reference over
grids of sizes, scale factors, modes, align_corners, dtypes and layouts; the reference against finite
differences and against PyTorch (when installed); the errors."""
import numpy as np
import pytest

import strided
import strided.nn as nn
from strided import reference
from oracle import (DTYPES, INTERP_MODES, INTERP_SHAPES, INTERP_SPECS, LAYOUTS, NEAREST_ND, assert_close,
                    assert_same_max, check_interp, interp_spec, layout)

SPEC_IDS = [repr(s) for s in INTERP_SPECS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
@pytest.mark.parametrize("spec", INTERP_SPECS, ids=SPEC_IDS)
def test_matches_reference(spec, mode, align_corners, dtype):
    rng = np.random.default_rng(0)
    for shape in INTERP_SHAPES:
        geo = interp_spec(spec, shape)
        if geo is not None:
            check_interp(rng.standard_normal(shape).astype(dtype), **geo, mode=mode, align_corners=align_corners,
                         rng=rng)


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
def test_any_layout(kind, mode, align_corners):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    gy = rng.standard_normal((2, 3, 9, 4)).astype(np.float32)
    check_interp(layout(x, kind), size=(9, 4), mode=mode, align_corners=align_corners, gy=layout(gy, kind))


@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
def test_empty_batch(mode, align_corners):
    x = np.zeros((0, 3, 4, 5), np.float32)
    y = strided.interpolate(x, scale_factor=1.5, mode=mode, align_corners=align_corners)
    assert y.shape == (0, 3, 6, 7) and y.dtype == np.float32
    gx = strided.interpolate_backward(y, x, scale_factor=1.5, mode=mode, align_corners=align_corners)
    assert gx.shape == x.shape and gx.dtype == np.float32
    assert strided.interp_output_shape(x.shape, scale_factor=1.5) == (0, 3, 6, 7)


def test_kernels_are_deterministic_across_threads():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 17, 13))
    gy = rng.standard_normal((2, 3, 7, 40))
    saved = strided.get_num_threads()
    try:
        results = []
        for n in (1, 3):
            strided.set_num_threads(n)
            results.append(strided.interpolate_backward(gy, x, size=(7, 40), mode="bilinear"))
        np.testing.assert_array_equal(results[0], results[1])
    finally:
        strided.set_num_threads(saved)


def test_nearest_maps_in_float32_as_pytorch():
    """31 rows scaled by 2.3: output row 69 reads row 29 as PyTorch's float32 floor(69 * (1 / 2.3)) does,
    not row 30 as the same product (or 69 / 2.3) in double would."""
    x = np.arange(31.0).reshape(1, 1, 31, 1)
    for lib in (strided, reference):
        y = lib.interpolate(x, scale_factor=(2.3, 1.0))
        assert y.shape == (1, 1, 71, 1) and y[0, 0, 68:71, 0].tolist() == [29.0, 29.0, 30.0]


@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
@pytest.mark.parametrize("geo", [dict(size=(5, 7)), dict(scale_factor=(0.6, 1.7)), dict(size=(2, 2))])
def test_reference_backward_is_the_finite_difference(mode, align_corners, geo):
    """The op is linear in x, so central differences of <gy, f(x)> are exact up to rounding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 3))
    kw = dict(**geo, mode=mode, align_corners=align_corners)
    gy = rng.standard_normal(reference.interpolate(x, **kw).shape)
    gx = reference.interpolate_backward(gy, x, **kw)
    eps = 1e-3
    for index in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[index] = eps
        fd = (np.vdot(gy, reference.interpolate(x + d, **kw)) - np.vdot(gy, reference.interpolate(x - d, **kw)))
        assert abs(fd / (2 * eps) - gx[index]) < 1e-9, index


# ---- nearest over 1 and 3 spatial dimensions: (N, C, W) and (N, C, D, H, W), as PyTorch reads them ---------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,geo", NEAREST_ND, ids=[f"{s}-{g}" for s, g in NEAREST_ND])
def test_nearest_1d_3d_matches_reference(shape, geo, dtype):
    """The kernels run a 5-D input as two passes (H and W, then D): the reference picks per axis at once."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    check_interp(x, **geo, rng=rng)
    for kind in ("F", "strided", "negative"):
        check_interp(layout(x, kind), **geo, rng=rng)
    empty = np.zeros((0, *shape[1:]), dtype)
    out = strided.interp_output_shape(shape, **geo)
    assert strided.interpolate(empty, **geo).shape == (0, *out[1:])
    assert strided.interpolate_backward(np.zeros((0, *out[1:]), dtype), empty, **geo).shape == empty.shape


@pytest.mark.parametrize("shape,geo", NEAREST_ND[:2] + NEAREST_ND[-3:])
def test_nearest_1d_3d_reference_backward_is_the_finite_difference(shape, geo):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    gy = rng.standard_normal(reference.interpolate(x, **geo).shape)
    gx = reference.interpolate_backward(gy, x, **geo)
    for index in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[index] = 1e-3
        fd = np.vdot(gy, reference.interpolate(x + d, **geo) - reference.interpolate(x - d, **geo)) / 2e-3
        assert abs(fd - gx[index]) < 1e-9, index


@pytest.mark.parametrize("shape,geo", NEAREST_ND, ids=[f"{s}-{g}" for s, g in NEAREST_ND])
def test_nearest_1d_3d_matches_pytorch(shape, geo):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.interpolate(xt, **geo)
    gy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_array_equal(strided.interpolate(x, **geo), yt.detach().numpy())
    np.testing.assert_allclose(strided.interpolate_backward(gy, x, **geo), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(nn.Upsample(**geo)(x), yt.detach().numpy())


def test_bilinear_keeps_corners_and_constants():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    y = strided.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True)
    assert y[0, 0, 0, 0] == 0 and y[0, 0, -1, -1] == 11 and y[0, 0, 0, -1] == 3 and y[0, 0, -1, 0] == 8
    ones = strided.interpolate(np.ones((1, 1, 5, 3)), scale_factor=2.3, mode="bilinear")
    np.testing.assert_allclose(ones, 1.0, rtol=0, atol=1e-15)


# ---- PyTorch (installed torch is the spec) --------------------------------------------------------------

TORCH_SPECS = INTERP_SPECS + [dict(scale_factor=(3.1, 1.1)), dict(scale_factor=0.7, recompute_scale_factor=True),
                              dict(scale_factor=1.7, recompute_scale_factor=False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align_corners", INTERP_MODES + [("bilinear", None)])
@pytest.mark.parametrize("spec", TORCH_SPECS, ids=[repr(s) for s in TORCH_SPECS])
def test_matches_pytorch(spec, mode, align_corners, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    for shape in INTERP_SHAPES + [(1, 1, 31, 12)]:
        geo = interp_spec(spec, shape)
        if geo is None:
            continue
        kw = dict(**geo, mode=mode, align_corners=align_corners)
        x = rng.standard_normal(shape).astype(dtype)
        xt = torch.from_numpy(x).requires_grad_()
        yt = F.interpolate(xt, **kw)
        gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(torch.from_numpy(gy))
        # Sums in another order round differently: bounded by the op on |inputs| (tests/oracle.py).
        y_bound = reference.interpolate(np.abs(x).astype(np.float64), **kw)
        gx_bound = reference.interpolate_backward(np.abs(gy).astype(np.float64), x.astype(np.float64), **kw)
        for lib in (strided, reference):
            what = f"{lib.__name__} {kw} {shape}"
            y = lib.interpolate(x, **kw)
            if mode == "nearest":
                assert_same_max(y, yt.detach().numpy(), what)
            else:
                assert_close(y, yt.detach().numpy().astype(np.float64), y_bound, dtype, what)
            assert_close(lib.interpolate_backward(gy, x, **kw), xt.grad.numpy().astype(np.float64), gx_bound,
                         dtype, what + " backward")


def test_upsample_matches_pytorch_layer():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 5, 6))
    for kw in (dict(scale_factor=2), dict(size=(7, 3), mode="bilinear"),
               dict(scale_factor=1.5, mode="bilinear", align_corners=True)):
        want = torch.nn.Upsample(**kw)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(nn.Upsample(**kw)(x), want, rtol=1e-14, atol=1e-14)


# ---- the layer ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
def test_upsample_layer(mode, align_corners):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    m = nn.Upsample(scale_factor=(2, 1.5), mode=mode, align_corners=align_corners)
    y = m(x)
    kw = dict(scale_factor=(2, 1.5), mode=mode, align_corners=align_corners)
    np.testing.assert_array_equal(y, strided.interpolate(x, **kw))
    gy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(m.backward(gy), strided.interpolate_backward(gy, x, **kw))
    assert m(x) is not None and m.backward(gy, need_input_grad=False) is None
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        m.backward(gy)
    assert m.num_parameters() == 0


def test_upsample_summary_and_repr():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Upsample(scale_factor=2),
                          nn.Upsample(size=(30, 20), mode="bilinear", align_corners=False))
    s = model.summary((1, 7, 5))
    assert [r.output_shape for r in s.rows[1:]] == [(4, 14, 10), (4, 30, 20)]
    assert [r.flops for r in s.rows[1:]] == [4 * 14 * 10, 9 * 4 * 30 * 20]
    assert model(np.zeros((2, 1, 7, 5), np.float32)).shape == (2, 4, 30, 20)
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2, mode='nearest')"
    assert repr(nn.Upsample(size=3, mode="bilinear", align_corners=True)) == \
        "Upsample(size=3, mode='bilinear', align_corners=True)"


# ---- errors -------------------------------------------------------------------------------------------

X = np.zeros((1, 2, 4, 4), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: strided.interpolate(X.astype(np.int32), size=2), TypeError, "float32 and float64"),
    (lambda: strided.interpolate_backward(np.zeros((1, 2, 2, 2)), X, size=2), TypeError, "share a dtype"),
    (lambda: strided.interpolate(X[0], size=2, mode="bilinear"), ValueError, r"\(N, C, H, W\), got shape \(2, 4, 4\)"),
    (lambda: strided.interpolate(X[0, 0], size=2), ValueError, r"\(N, C, W\) or \(N, C, H, W\) or \(N, C, D, H, W\)"),
    (lambda: strided.interpolate(X[None], size=2, mode="bilinear"), ValueError, r"expects x of shape \(N, C, H, W\)"),
    (lambda: strided.interpolate(X[0], size=(2, 2)), ValueError, "same number of spatial dimensions"),
    (lambda: strided.interpolate(X[None], scale_factor=(2, 2)), ValueError, "same number of spatial dimensions"),
    (lambda: strided.interpolate(X, size=2, scale_factor=2), ValueError, "exactly one of size or scale_factor.*both"),
    (lambda: strided.interpolate(X), ValueError, "exactly one.*neither"),
    (lambda: strided.interpolate(X, size=2, align_corners=True), ValueError, "align_corners option"),
    (lambda: strided.interpolate(X, size=2, align_corners=False), ValueError, "align_corners option"),
    (lambda: strided.interpolate(X, size=2, mode="bicubic"), ValueError, "'nearest' or 'bilinear'"),
    (lambda: strided.interpolate(X, size=0), ValueError, "output size would be 0x0"),
    (lambda: strided.interpolate(X, size=(3, -1)), ValueError, "must be positive"),
    (lambda: strided.interpolate(X, size=(2, 2, 2)), ValueError, "sequence of 2"),
    (lambda: strided.interpolate(X, size=2.0), TypeError, "size must be an int"),
    (lambda: strided.interpolate(X, scale_factor=0.1), ValueError, "output size would be 0x0"),
    (lambda: strided.interpolate(X, scale_factor=-2.0), ValueError, "positive and finite"),
    (lambda: strided.interpolate(X, scale_factor=float("nan")), ValueError, "positive and finite"),
    (lambda: strided.interpolate(X, scale_factor="2"), TypeError, "scale_factor"),
    (lambda: strided.interpolate(X, scale_factor=(2.0, 2.0, 2.0)), ValueError, "one per spatial dimension"),
    (lambda: strided.interpolate(X, scale_factor=(2.0, None)), TypeError, "scale_factor"),
    (lambda: strided.interpolate(X, size=2, recompute_scale_factor=True), ValueError, "not meaningful"),
    (lambda: strided.interpolate(np.zeros((1, 0, 4, 4)), size=2), ValueError, "positive C and spatial sizes"),
    (lambda: strided.interpolate_backward(np.zeros((1, 2, 3, 3), np.float32), X, size=2), ValueError,
     r"gy has shape \(1, 2, 3, 3\), expected \(1, 2, 2, 2\)"),
    (lambda: nn.Upsample(scale_factor=2, mode="trilinear"), ValueError, "'nearest' or 'bilinear'"),
    (lambda: nn.Upsample(scale_factor=2, align_corners=True), ValueError, "align_corners option"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bindings_check_the_geometry():
    """A direct caller of strided._C cannot make the kernels read out of bounds."""
    from strided.ops.interp.args import InterpArgs
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="does not match the geometry"):
        strided._C.upsample_nearest2d_forward(x, InterpArgs(1, 1, 5, 4, 2, 2, False, 0.0, 0.0))
    with pytest.raises(ValueError, match="follow the scale factors"):
        strided._C.upsample_bilinear2d_forward(x, InterpArgs(1, 1, 4, 4, 9, 8, False, 2.0, 2.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(270, 2), (37, 2), (1000, 2)])
def test_bilinear_weights_are_pytorchs_to_the_bit(size, dtype):
    """Rows alternating 0 and 1 make each output one of its two weights (or their sum): they must be
    PyTorch's exactly, whose CPU build computes (dst + 0.5) * scale - 0.5 with one rounding (a fused
    multiply-add); two roundings put 345 -> 270 rows off by 1.5e-5 in float32."""
    torch = pytest.importorskip("torch")
    H = 345 if size[0] == 270 else 100 if size[0] == 37 else 13
    x = np.repeat((np.arange(H) % 2).astype(dtype)[:, None], 3, 1).reshape(1, 1, H, 3)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="bilinear").numpy()
    for lib in (strided, reference):
        np.testing.assert_array_equal(lib.interpolate(x, size=size, mode="bilinear"), want, err_msg=lib.__name__)


def test_antialias_is_refused_only_when_asked():
    x = np.ones((1, 1, 4, 4), np.float32)
    np.testing.assert_array_equal(strided.interpolate(x, scale_factor=2, antialias=False),
                                  strided.interpolate(x, scale_factor=2))
    with pytest.raises(ValueError, match="antialias"):
        strided.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
