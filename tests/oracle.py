"""One comparison helper for every op test: run the op through strided (any backend) and through the
NumPy reference, and compare the forward result and every gradient.

The reference runs in float64 on the same (possibly float32) values, and the tolerance is relative to
the same op applied to |inputs|: a bound on the magnitude of the terms summed into each element, so fp32
results are held to what fp32 rounding can explain, no looser.
"""
import numpy as np
from hypothesis import strategies as st

import strided
from strided import reference

DTYPES = (np.float32, np.float64)
# The SIMD levels this CPU can run, lowest first (for _C.set_cpu_capability).
_ORDER = ["default", "avx2", "avx512"]
CAPS = _ORDER[:_ORDER.index(strided._C.cpu_detected()) + 1]
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


def check_conv(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, gy=None, rng=None,
               lib=strided, to_lib=lambda a: a, from_lib=lambda a: a):
    """Compare lib.conv2d and lib.conv2d_backward with the reference: y, gx, gw, gb."""
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    dtype = x.dtype
    x64, w64, b64 = _f64(x, w, b)
    want = reference.conv2d(x64, w64, b64, **geo)
    bound = reference.conv2d(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **geo)
    y = from_lib(lib.conv2d(to_lib(x), to_lib(w), to_lib(b), **geo))
    assert_close(y, want, bound, dtype, "conv2d forward")
    if gy is None:
        gy = (rng or np.random.default_rng(0)).standard_normal(want.shape).astype(dtype)
    (gy64,) = _f64(gy)
    gx0, gw0, gb0 = reference.conv2d_backward(gy64, x64, w64, **geo)
    gxb, gwb, gbb = reference.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), **geo)
    gx, gw, gb = (from_lib(g) for g in lib.conv2d_backward(to_lib(gy), to_lib(x), to_lib(w), **geo))
    assert_close(gx, gx0, gxb, dtype, "conv2d grad input")
    assert_close(gw, gw0, gwb, dtype, "conv2d grad weight")
    assert_close(gb, gb0, gbb, dtype, "conv2d grad bias")
    return y


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
