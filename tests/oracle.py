"""One comparison helper for every op test: run the op through strided (any backend) and through the
NumPy reference, and compare the forward result and every gradient.

The reference runs in float64 on the same (possibly float32) values, and the tolerance is relative to
the same op applied to |inputs|: a bound on the magnitude of the terms summed into each element, so fp32
results are held to what fp32 rounding can explain, no looser.
"""
import numpy as np

import strided
from strided import reference

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
