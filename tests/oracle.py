"""One comparison helper for every op test: run the op through strided (any backend) and through the
NumPy reference, and compare the forward result and every gradient.

The reference runs in float64 on the same (possibly float32) values, and the tolerance is relative to
the same op applied to |inputs|: a bound on the magnitude of the terms summed into each element, so fp32
results are held to what fp32 rounding can explain, no looser.
"""
import numpy as np
import pytest
from hypothesis import strategies as st

import strided
from strided import reference

DTYPES = (np.float32, np.float64)
# The SIMD levels this CPU can run, lowest first (for _C.set_cpu_capability).
_ORDER = ["default", "avx2", "avx512"]
CAPS = _ORDER[:_ORDER.index(strided._C.cpu_detected()) + 1]


@pytest.fixture(params=CAPS)
def cap(request):
    """A test's SIMD level, each of CAPS in turn (set in-process; the one before is restored)."""
    before = strided._C.cpu_capability()
    assert strided._C.set_cpu_capability(request.param) == request.param
    yield request.param
    strided._C.set_cpu_capability(before)
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}
LAYOUTS = ("C", "F", "strided", "negative", "readonly")


def layout(a, kind):
    """The same values as `a` in another memory layout."""
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(tuple(2 * d for d in a.shape), a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if kind == "negative":
        flip = (Ellipsis,) + (slice(None, None, -1),) * min(a.ndim, 2)
        return np.ascontiguousarray(a[flip])[flip]
    if kind == "readonly":
        c = np.array(a)
        c.setflags(write=False)
        return c
    raise ValueError(kind)


def assert_close(got, want, bound, dtype, what):
    """|got - want| <= tol(dtype) * bound elementwise (bound: the op applied to |inputs|); NaN only where
    the reference has NaN."""
    assert got is not None, f"{what}: missing"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {dtype}"
    err = np.abs(got.astype(np.float64) - want)
    limit = TOL[np.dtype(dtype)] * (bound + np.finfo(np.float64).tiny)
    bad = ~(err <= limit) & ~(np.isnan(got) & np.isnan(want))  # NaN must meet NaN
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} elements off, worst error "
                           f"{err[bad].max():.3g} against limit {limit[bad].min():.3g}")


def _f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64) for a in arrays]


def _check_conv_op(op, x, w, b, geo, gy, rng, lib, to_lib, from_lib):
    """Compare lib.<op> and lib.<op>_backward with the reference's: y, gx, gw, gb."""
    forward, backward = getattr(reference, op), getattr(reference, op + "_backward")
    dtype = x.dtype
    x64, w64, b64 = _f64(x, w, b)
    want = forward(x64, w64, b64, **geo)
    bound = forward(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **geo)
    y = from_lib(getattr(lib, op)(to_lib(x), to_lib(w), to_lib(b), **geo))
    assert_close(y, want, bound, dtype, f"{op} forward")
    if gy is None:
        gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64,) = _f64(gy)
    want = backward(gy64, x64, w64, **geo)
    bound = backward(np.abs(gy64), np.abs(x64), np.abs(w64), **geo)
    got = getattr(lib, op + "_backward")(to_lib(gy), to_lib(x), to_lib(w), **geo)
    for g, g0, gb, what in zip(got, want, bound, ("input", "weight", "bias")):
        assert_close(from_lib(g), g0, gb, dtype, f"{op} grad {what}")
    return y


def check_conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, gy=None, rng=None,
               lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare lib.conv2d and lib.conv2d_backward with the reference: y, gx, gw, gb."""
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return _check_conv_op("conv2d", x, w, b, geo, gy, rng, lib, to_lib, from_lib)


def check_conv_transpose(x, w, b=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1, gy=None,
                         rng=None, lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare lib.conv_transpose2d and its backward with the (scatter-form) reference: y, gx, gw, gb."""
    geo = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    return _check_conv_op("conv_transpose2d", x, w, b, geo, gy, rng, lib, to_lib, from_lib)


# Transposed-convolution sweeps for every backend: (N, C_in, H, W, C_out, R, S, stride, padding,
# output_padding, dilation, groups). Cases marked "cut" have output_padding > padding + stride - 1, so the
# last output rows/columns are reached by no input (only the bias).
CONV_T = {
    "basic": (2, 3, 5, 4, 4, 3, 3, 1, 0, 0, 1, 1),
    "stride2_pad1_outpad1": (2, 4, 7, 6, 6, 3, 3, 2, 1, 1, 1, 2),
    "dcgan_4x4_s2": (3, 8, 7, 7, 4, 4, 4, 2, 1, 0, 1, 1),
    "asym": (1, 6, 5, 7, 9, 3, 2, (1, 2), (2, 1), (1, 0), (2, 1), 3),
    "dilated": (2, 2, 6, 5, 3, 3, 2, 1, 2, 0, (2, 3), 1),
    "cut_by_dilation": (2, 2, 5, 5, 2, 2, 3, 1, 0, 2, 3, 1),  # cut
    "cut_both": (1, 3, 4, 3, 3, 2, 2, (1, 2), (0, 1), (2, 3), 4, 1),  # cut
    "depthwise": (2, 5, 6, 6, 5, 3, 3, 2, 1, 1, 1, 5),
    "channel_multiplier": (2, 4, 5, 5, 8, 3, 3, 3, 2, 2, 1, 4),
    "primes": (1, 3, 11, 13, 7, 5, 7, 3, 2, 1, 1, 1),
    "one_pixel": (2, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1, 1),
    "big_padding": (1, 2, 9, 8, 3, 3, 3, 1, 2, 0, 1, 1),
    "stride_over_kernel": (2, 2, 4, 5, 3, 2, 2, 4, 0, 3, 1, 1),
    "many_out_channels": (1, 2, 4, 4, 66, 3, 3, 2, 1, 1, 1, 1),
    "empty_batch": (0, 3, 5, 5, 4, 3, 3, 2, 1, 1, 1, 1),
}


def conv_t_case(rng, name, dtype=np.float64, bias=True):
    """x, w, b and the geometry keywords of one CONV_T case."""
    N, C, H, W, K, R, S, stride, padding, out_pad, dilation, groups = CONV_T[name]
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C, K // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b, dict(stride=stride, padding=padding, output_padding=out_pad, dilation=dilation, groups=groups)


def assert_same_max(got, want, what):
    """Max pooling selects, it never rounds: results must be equal, NaN where NaN."""
    assert got.shape == want.shape and got.dtype == want.dtype, f"{what}: {got.shape}/{got.dtype}"
    np.testing.assert_array_equal(got, want, err_msg=what)


def check_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, *, gy=None, rng=None,
               lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare both poolings, forward and backward, with the reference."""
    geo = dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    dtype = x.dtype
    want = reference.max_pool2d(x, **geo)
    assert_same_max(from_lib(lib.max_pool2d(to_lib(x), **geo)), want, "max_pool2d forward")
    if gy is None:
        gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64,) = _f64(gy)
    # Each gx element sums gy over the windows whose maximum it is: the bound is that sum of |gy|.
    gx0 = reference.max_pool2d_backward(gy64, np.asarray(x, np.float64), **geo)
    gxb = reference.max_pool2d_backward(np.abs(gy64), np.asarray(x, np.float64), **geo)
    assert_close(from_lib(lib.max_pool2d_backward(to_lib(gy), to_lib(x), **geo)), gx0, gxb, dtype,
                 "max_pool2d backward")
    (x64,) = _f64(x)
    for cip in (True, False):
        want = reference.avg_pool2d(x64, **geo, count_include_pad=cip)
        bound = reference.avg_pool2d(np.abs(x64), **geo, count_include_pad=cip)
        assert_close(from_lib(lib.avg_pool2d(to_lib(x), **geo, count_include_pad=cip)), want, bound, dtype,
                     f"avg_pool2d forward (count_include_pad={cip})")
        gx0 = reference.avg_pool2d_backward(gy64, x64, **geo, count_include_pad=cip)
        gxb = reference.avg_pool2d_backward(np.abs(gy64), x64, **geo, count_include_pad=cip)
        assert_close(from_lib(lib.avg_pool2d_backward(to_lib(gy), to_lib(x), **geo, count_include_pad=cip)),
                     gx0, gxb, dtype, f"avg_pool2d backward (count_include_pad={cip})")


def check_pool_options(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, divisor=3,
                       rng=None, lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare the pooling options with the reference: max pooling with dilation and its indices (equal),
    its backward with and without the indices, max unpooling through the indices back to x's size (when
    the unpooling size rule admits it) and its backward, and avg pooling with a divisor_override."""
    geo = dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    dtype = x.dtype
    want, want_idx = reference.max_pool2d(x, **geo, dilation=dilation, return_indices=True)
    y, idx = (from_lib(a) for a in lib.max_pool2d(to_lib(x), **geo, dilation=dilation, return_indices=True))
    assert_same_max(y, want, "max_pool2d forward with indices")
    assert idx.dtype == np.int64, idx.dtype
    np.testing.assert_array_equal(idx, want_idx, err_msg="max_pool2d indices")
    assert_same_max(from_lib(lib.max_pool2d(to_lib(x), **geo, dilation=dilation)), want, "max_pool2d forward")
    gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64, x64) = _f64(gy, x)
    gx0 = reference.max_pool2d_backward(gy64, x64, **geo, dilation=dilation)
    gxb = reference.max_pool2d_backward(np.abs(gy64), x64, **geo, dilation=dilation)
    for given in (None, idx):
        gx = lib.max_pool2d_backward(to_lib(gy), to_lib(x), **geo, dilation=dilation,
                                     indices=None if given is None else to_lib(given))
        assert_close(from_lib(gx), gx0, gxb, dtype, f"max_pool2d backward (indices given: {given is not None})")
    k, s, p = (np.broadcast_to(v, 2) for v in (kernel_size, kernel_size if stride is None else stride, padding))
    default, size = (np.array(want.shape[2:]) - 1) * s + k - 2 * p, np.array(x.shape[2:])
    if ((default - s < size) & (size < default + s)).all():  # PyTorch's rule for an explicit output_size
        ugeo = dict(kernel_size=kernel_size, stride=stride, padding=padding, output_size=x.shape[2:])
        u = from_lib(lib.max_unpool2d(to_lib(y), to_lib(idx), **ugeo))
        np.testing.assert_array_equal(u, reference.max_unpool2d(y, idx, **ugeo), err_msg="max_unpool2d")
        gu = rng.standard_normal(u.shape).astype(dtype) if rng is not None else np.ones_like(u)
        np.testing.assert_array_equal(from_lib(lib.max_unpool2d_backward(to_lib(gu), to_lib(y), to_lib(idx), **ugeo)),
                                      reference.max_unpool2d_backward(gu, y, idx, **ugeo),
                                      err_msg="max_unpool2d backward")
    if dilation in (1, (1, 1)):
        for d in (divisor, -divisor):
            want = reference.avg_pool2d(x64, **geo, divisor_override=d)
            bound = np.abs(reference.avg_pool2d(np.abs(x64), **geo, divisor_override=d))
            assert_close(from_lib(lib.avg_pool2d(to_lib(x), **geo, divisor_override=d)), want, bound, dtype,
                         f"avg_pool2d forward (divisor_override={d})")
            want = reference.avg_pool2d_backward(gy64, x64, **geo, divisor_override=d)
            bound = np.abs(reference.avg_pool2d_backward(np.abs(gy64), x64, **geo, divisor_override=d))
            assert_close(from_lib(lib.avg_pool2d_backward(to_lib(gy), to_lib(x), **geo, divisor_override=d)),
                         want, bound, dtype, f"avg_pool2d backward (divisor_override={d})")


# Shape sweeps shared by every backend's tests (C++ algorithms, the CUDA emulator, a real GPU): strides,
# every padding form, dilation, groups, odd and prime sizes, and K around the GPU's 64-wide tiles.
CONV = {  # name: (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    "basic": (2, 3, 9, 7, 4, 3, 2, 1, 1, 1, 1),
    "same_stride_groups": (1, 4, 11, 10, 34, 3, 3, 2, "same", 1, 2),
    "asym_pad_dilation": (3, 6, 8, 9, 66, 2, 4, (2, 3), (1, 2, 0, 3), (2, 1), 3),
    "full_dilated": (2, 2, 7, 7, 64, 3, 3, 3, "full", 2, 2),
    "tile_edge_plus_one": (2, 5, 13, 11, 65, 5, 3, (1, 2), (2, 1), 1, 1),
    "tile_exact": (1, 16, 8, 8, 64, 1, 1, 1, 0, 1, 1),
    "one_by_one": (1, 17, 5, 6, 15, 1, 1, 1, 0, 1, 1),
    "depthwise": (2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 16),
    "depthwise_multiplier": (2, 4, 6, 6, 8, 3, 3, 2, 1, 1, 4),
    "primes_7x7": (1, 3, 31, 29, 5, 7, 7, 2, 3, 1, 1),
    "same_even_kernel": (2, 2, 10, 8, 2, 4, 2, 3, "same", 2, 1),
    "same_even_square": (2, 1, 9, 9, 3, 4, 4, 1, "same", 1, 1),
    "same_with_stride": (2, 2, 9, 8, 3, 3, 3, 2, "same", 1, 1),
    "kernel_equals_input": (2, 3, 5, 4, 64, 5, 4, 1, 0, 1, 1),
    "one_pixel": (2, 3, 1, 1, 2, 1, 1, 1, 0, 1, 1),
    "padding_over_kernel": (1, 2, 3, 3, 2, 2, 2, 1, 3, 1, 1),
    "stride_over_kernel": (2, 2, 11, 11, 17, 2, 2, 4, 0, 1, 1),
    "dilation_with_padding": (2, 2, 9, 9, 3, 3, 3, 1, 2, 2, 1),
    "single_channel": (3, 1, 8, 8, 2, 3, 3, 1, 0, 1, 1),
    "batch_one": (1, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1),
    "weights_in_several_chunks": (1, 2, 8, 8, 96, 7, 7, 1, 3, 1, 1),  # GPU backward_input stages 41/83 of 96
}

POOL = [  # (N, C, H, W, kernel, stride, padding, ceil_mode)
    (2, 3, 8, 8, 2, None, 0, False),
    (2, 3, 9, 7, 3, 2, 1, True),
    (1, 2, 10, 11, (3, 2), (2, 1), (1, 1), True),
    (2, 2, 5, 5, 3, 3, 1, True),
    (1, 1, 7, 7, 7, 1, 0, False),
    (3, 2, 13, 17, (2, 5), (3, 2), (1, 2), False),
    (1, 3, 6, 6, 4, 1, 2, True),
    (2, 2, 11, 13, 1, 3, 0, True),
    (1, 2, 17, 16, 3, 1, 1, False),
    (0, 3, 6, 6, 2, 2, 0, False),
    (2, 3, 13, 18, 4, 4, 0, False),  # 4x4/4, the course model's pool, H not a multiple of 4
    (1, 2, 11, 70, 4, 4, 1, True),
    (2, 2, 9, 21, 2, 1, 0, False),
    (1, 3, 10, 67, 3, 1, 1, False),  # 65 outputs a row: one past a block of vectors
    (2, 2, 12, 25, 3, 2, 0, True),
    (1, 2, 17, 40, 5, 3, 2, False),
    (1, 2, 9, 61, (2, 7), (1, 7), (1, 3), True),
    (1, 1, 9, 80, 8, 8, 0, False),  # the widest column stride with a vectorized kernel
    (1, 1, 10, 60, (2, 9), (2, 9), 0, True),  # one wider: general code only
    (2, 2, 7, 33, (3, 1), (2, 3), (1, 0), False),  # windows narrower than the stride
]


def case(rng, N, C, H, W, K, R, S, groups=1, dtype=np.float64, bias=True):
    """Random x, w (and b) for one conv geometry."""
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b


@st.composite
def conv_cases(draw, algos, max_kg=4):
    """A random conv geometry whose input holds at least one dilated window, with a dtype, bias, algorithm
    (one of `algos`) and seed."""
    groups = draw(st.integers(1, 3))
    C, K = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, max_kg))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(
        st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
        st.tuples(*[st.integers(0, 3)] * 4), st.sampled_from(["valid", "same", "full"])))
    H = draw(st.integers(dil[0] * (R - 1) + 1, dil[0] * (R - 1) + 9))
    W = draw(st.integers(dil[1] * (S - 1) + 1, dil[1] * (S - 1) + 9))
    return dict(N=draw(st.integers(0, 3)), C=C, H=H, W=W, K=K, R=R, S=S, groups=groups, stride=stride,
                padding=padding, dilation=dil, dtype=draw(st.sampled_from(DTYPES)), bias=draw(st.booleans()),
                algo=draw(st.sampled_from(algos)), seed=draw(st.integers(0, 2**16)))


def check_conv_case(c, layout_kind="C"):
    """check_conv on a case drawn by conv_cases (the algorithm is chosen by the caller)."""
    rng = np.random.default_rng(c["seed"])
    x, w, b = case(rng, c["N"], c["C"], c["H"], c["W"], c["K"], c["R"], c["S"], c["groups"], c["dtype"],
                   c["bias"])
    return check_conv(layout(x, layout_kind), layout(w, layout_kind), b, stride=c["stride"],
                      padding=c["padding"], dilation=c["dilation"], groups=c["groups"], rng=rng)


def check_interp(x, size=None, scale_factor=None, mode="nearest", align_corners=None, *, gy=None, rng=None,
                 lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare lib.interpolate and lib.interpolate_backward with the reference. Nearest selects, so its
    forward must be exact; bilinear's weights are non-negative, so the op on |x| bounds its terms."""
    geo = dict(size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners)
    dtype = x.dtype
    (x64,) = _f64(x)
    ref = dict(geo, coordinates=dtype)  # float64 sums over the call's own (float32) coordinate mapping
    want = reference.interpolate(x64, **ref)
    y = from_lib(lib.interpolate(to_lib(x), **geo))
    if mode == "nearest":
        assert_same_max(y, want.astype(dtype), "interpolate forward (nearest)")
    else:
        assert_close(y, want, reference.interpolate(np.abs(x64), **ref), dtype, f"interpolate forward ({mode})")
    if gy is None:
        gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64,) = _f64(gy)
    gx0 = reference.interpolate_backward(gy64, x64, **ref)
    gxb = reference.interpolate_backward(np.abs(gy64), x64, **ref)
    assert_close(from_lib(lib.interpolate_backward(to_lib(gy), to_lib(x), **geo)), gx0, gxb, dtype,
                 f"interpolate backward ({mode})")
    return y


# Interpolation sweeps (sizes up and down, odd, prime, 1; integer and fractional scale factors; the
# copy and shift shortcuts of PyTorch's nearest) shared by the CPU and emulator tests.
INTERP_SHAPES = [(2, 3, 1, 1), (1, 2, 3, 5), (2, 1, 7, 4), (1, 2, 13, 11), (2, 2, 5, 17), (1, 1, 31, 3)]
INTERP_SPECS = [dict(size=1), dict(size=(5, 3)), dict(size=(17, 13)), dict(size="same"), dict(size="double"),
                dict(size=(2, 19)), dict(scale_factor=2), dict(scale_factor=1.5), dict(scale_factor=0.5),
                dict(scale_factor=2.3), dict(scale_factor=(0.7, 3.1)), dict(scale_factor=1.2)]
INTERP_MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]
# Nearest over (N, C, W) and (N, C, D, H, W): (shape, size or scale_factor)
NEAREST_ND = [((2, 3, 7), dict(size=4)), ((1, 2, 5), dict(size=(11,))), ((2, 1, 6), dict(scale_factor=2.3)),
              ((1, 1, 8), dict(scale_factor=(0.5,))), ((2, 3, 1), dict(size=3)),
              ((2, 2, 3, 5, 4), dict(size=(4, 7, 2))), ((1, 3, 4, 4, 4), dict(scale_factor=2)),
              ((2, 1, 5, 3, 6), dict(scale_factor=(0.6, 1.7, 2.3))), ((1, 2, 1, 3, 2), dict(size=(3, 3, 3))),
              ((1, 1, 7, 2, 9), dict(size=(7, 4, 9))), ((1, 1, 31, 2, 1), dict(scale_factor=(2.3, 1.0, 1.0))),
              ((1, 1, 31), dict(scale_factor=2.3))]  # 2.3: where the float32 mapping matters (below)


def interp_spec(spec, shape):
    """A spec of INTERP_SPECS for x of `shape`, or None where its output would be empty."""
    H, W = shape[2:]
    size = spec.get("size")
    if size == "same":
        return dict(size=(H, W))
    if size == "double":
        return dict(size=(2 * H, 2 * W))
    s = spec.get("scale_factor")
    if s is not None:
        sh, sw = (s, s) if np.isscalar(s) else s
        if int(H * sh) < 1 or int(W * sw) < 1:
            return None
    return dict(spec)


def check_norm(op, x, *, gy=None, rng=None, lib=strided, to_lib=lambda a: a, from_lib=lambda a: a, **kw):
    """Compare lib.<op> (batch_norm, group_norm, layer_norm, instance_norm) and lib.<op>_backward with the
    reference: y, the running statistics it updates in place (kw running_mean / running_var, each side on
    its own copy), gx, gw, gb. A normalization mixes every element of a unit, so the bound is the largest
    magnitude of each result (and 1: outputs are of order one by construction)."""
    dtype = x.dtype
    arrays = {k: v for k, v in kw.items() if isinstance(v, np.ndarray)}

    def call(fn, conv, *args, **extra):
        return fn(*(None if a is None else conv(a) for a in args),
                  **{k: (conv(v.copy()) if k in arrays else v) for k, v in kw.items()}, **extra)

    def bound(want):
        return np.full(want.shape, max(float(np.abs(want).max(initial=0.0)), 1.0))

    ref_running = {k: np.asarray(arrays[k], np.float64).copy() for k in ("running_mean", "running_var") if k in arrays}
    ref_kw = {k: (ref_running[k] if k in ref_running else np.asarray(v, np.float64) if k in arrays else v)
              for k, v in kw.items()}
    (x64,) = _f64(x)
    want = getattr(reference, op)(x64, **ref_kw)
    lib_running = {k: to_lib(arrays[k].copy()) for k in ref_running}
    got = getattr(lib, op)(to_lib(x), **{k: (lib_running[k] if k in lib_running else to_lib(v) if k in arrays else v)
                                         for k, v in kw.items()})
    assert_close(from_lib(got), want, bound(want), dtype, f"{op} forward")
    for k, v in ref_running.items():  # updated in place, in the running statistics' own dtype
        assert_close(from_lib(lib_running[k]), v, bound(v), arrays[k].dtype, f"{op} {k} update")
    if gy is None:
        gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64,) = _f64(gy)
    wants = call(getattr(reference, op + "_backward"), lambda a: np.asarray(a, np.float64), gy64, x64)
    gots = call(getattr(lib, op + "_backward"), to_lib, gy, x)
    for name, g, w in zip(("grad input", "grad weight", "grad bias"), gots, wants):
        if w is None:
            assert g is None, f"{op} {name}: expected None"
        else:
            assert_close(from_lib(g), w, bound(w), dtype, f"{op} {name}")
    return got
