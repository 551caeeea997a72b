"""Valid-but-extreme arguments (issue 19): strides, paddings, dilations and kernel sizes up to 2**63-1 and
beyond, and huge planes with an empty batch. Every op and every conv algorithm either returns what the
oracle gives or raises ValueError / MemoryError with a message; nothing crashes, hangs or overflows into
a wrong value. Geometry beyond 2**62 (strided.ops._size.LIMIT) is refused where arguments are validated.

The oracles here index in Python integers, without padding arrays: a direct loop over the taps for conv2d
(so that a padding of 2**61 costs nothing) and strided.reference's window loop for pooling.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import strided
from strided import reference
from strided.ops.conv2d.args import conv_args

ALGOS = strided.conv_algorithms()
X = np.ones((1, 2, 8, 8), np.float32)
W = np.ones((3, 2, 3, 3), np.float32)
HUGE = [2 ** 20, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 60, 2 ** 61, 2 ** 62 - 1, 2 ** 62, 2 ** 62 + 1, 2 ** 63 - 1,
        2 ** 63, 2 ** 64, 2 ** 100]


def _taps(size, out, stride, pad, dil, kernel):
    """Per tap: (output positions whose tap lies in the input, the input positions they read)."""
    result = []
    for r in range(kernel):
        pos = [(o, o * stride - pad + r * dil) for o in range(out)]
        pos = [(o, i) for o, i in pos if 0 <= i < size]
        result.append((np.array([o for o, _ in pos], np.intp), np.array([i for _, i in pos], np.intp)))
    return result


def conv_oracle(x, w, gy, a):
    """(y, gx, gw) of conv2d in float64 for the geometry a (ConvArgs), by a loop over the taps."""
    x, w, gy = (np.asarray(v, np.float64) for v in (x, w, gy))
    y, gx, gw = np.zeros(gy.shape), np.zeros(x.shape), np.zeros(w.shape)
    cg, kg = a.C // a.groups, a.K // a.groups
    rows = _taps(a.H, a.OH, a.stride_h, a.pad_top, a.dil_h, a.R)
    cols = _taps(a.W, a.OW, a.stride_w, a.pad_left, a.dil_w, a.S)
    for r, (oh, ih) in enumerate(rows):
        for q, (ow, iw) in enumerate(cols):
            if not len(oh) or not len(ow):
                continue
            for g in range(a.groups):
                cs, ks = slice(g * cg, (g + 1) * cg), slice(g * kg, (g + 1) * kg)
                patch = x[:, cs][:, :, ih][:, :, :, iw]
                wt = w[ks, :, r, q]
                y[:, ks, oh[:, None], ow[None, :]] += np.einsum("nchw,kc->nkhw", patch, wt)
                g_out = gy[:, ks][:, :, oh][:, :, :, ow]
                gw[ks, :, r, q] += np.einsum("nkhw,nchw->kc", g_out, patch)
                contrib = np.einsum("nkhw,kc->nchw", g_out, wt)
                for j, i in enumerate(ih):  # taps of one row may repeat input rows only with stride < dil
                    np.add.at(gx[:, cs, i], (slice(None), slice(None), iw), contrib[:, :, j])
    return y, gx, gw


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def run_conv_everywhere(x, w, stride, padding, dilation, groups=1):
    """conv2d forward and backward through every algorithm: all raise the same error, or all match the oracle."""
    try:
        args, _ = conv_args(x, w, None, None, stride, padding, dilation, groups)
    except ValueError as e:
        assert str(e)
        for algo in ALGOS:
            with strided.conv_algorithm(algo):
                with pytest.raises(ValueError, match=".+"):
                    strided.conv2d(x, w, None, stride, padding, dilation, groups)
                gy = np.ones((x.shape[0], w.shape[0], 1, 1), x.dtype)
                with pytest.raises(ValueError, match=".+"):
                    strided.conv2d_backward(gy, x, w, stride, padding, dilation, groups)
        return None
    if args.N * args.K * args.OH * args.OW > 4096:
        return args  # an output too large to check here (the callers keep these rare)
    gy = np.random.default_rng(0).standard_normal((args.N, args.K, args.OH, args.OW)).astype(x.dtype)
    want_y, want_gx, want_gw = conv_oracle(x, w, gy, args)
    for algo in ALGOS:
        with strided.conv_algorithm(algo):
            _close(strided.conv2d(x, w, None, stride, padding, dilation, groups), want_y)
            gx, gw, gb = strided.conv2d_backward(gy, x, w, stride, padding, dilation, groups)
            _close(gx, want_gx)
            _close(gw, want_gw)
            _close(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)))
    return args


geometry = st.one_of(st.integers(1, 4), st.sampled_from(HUGE))
paddings = st.one_of(st.integers(0, 3), st.sampled_from(HUGE))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 3), k=st.integers(1, 3), depthwise=st.booleans(),
       r=st.integers(1, 3), s=st.integers(1, 3), stride=st.tuples(geometry, geometry),
       padding=st.tuples(paddings, paddings, paddings, paddings), dilation=st.tuples(geometry, geometry),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_conv2d_extreme_geometry(h, w, c, k, depthwise, r, s, stride, padding, dilation, dtype):
    groups = c if depthwise else 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k * groups if groups > 1 else k, c // groups, r, s)).astype(dtype)
    # A huge padding with a small stride gives a huge output; the validation refuses it or, when it fits
    # in 2**62 bytes, numpy cannot allocate it: don't ask for one that the machine could allocate.
    try:
        shape = strided.conv_output_shape(x.shape, wt.shape, stride, padding, dilation, groups)
        assume(shape[1] * shape[2] * shape[3] <= 4096)
    except ValueError:
        pass
    run_conv_everywhere(x, wt, stride, padding, dilation, groups)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), kernel=st.tuples(geometry, geometry),
       stride=st.one_of(st.none(), st.tuples(geometry, geometry)), pad=st.tuples(paddings, paddings),
       ceil_mode=st.booleans(), op=st.sampled_from(["max", "avg", "avg_nopad"]))
def test_pool_extreme_geometry(h, w, kernel, stride, pad, ceil_mode, op):
    x = np.random.default_rng(2).permutation(h * w).reshape(1, 1, h, w).astype(np.float64)  # no ties
    pad = (min(pad[0], kernel[0] // 2), min(pad[1], kernel[1] // 2))  # pool padding: at most half the kernel
    name = "max_pool2d" if op == "max" else "avg_pool2d"
    kw = {} if op == "max" else {"count_include_pad": op == "avg"}
    try:
        shape = strided.pool_output_shape(x.shape, kernel, stride, pad, ceil_mode)
    except ValueError as e:
        assert str(e)
        with pytest.raises(ValueError, match=".+"):
            getattr(strided, name)(x, kernel, stride, pad, ceil_mode=ceil_mode, **kw)
        return
    assume(shape[2] * shape[3] <= 4096)
    y = getattr(strided, name)(x, kernel, stride, pad, ceil_mode=ceil_mode, **kw)
    np.testing.assert_allclose(y, getattr(reference, name)(x, kernel, stride, pad, ceil_mode=ceil_mode, **kw), rtol=1e-12)
    gy = np.random.default_rng(3).standard_normal(y.shape)
    gx = getattr(strided, name + "_backward")(gy, x, kernel, stride, pad, ceil_mode=ceil_mode, **kw)
    want = getattr(reference, name + "_backward")(gy, x, kernel, stride, pad, ceil_mode=ceil_mode, **kw)
    np.testing.assert_allclose(gx, want, rtol=1e-12, atol=1e-300)


@settings(max_examples=25, deadline=None)
@given(h=st.sampled_from([1, 7, 10 ** 6, 2 ** 30, 2 ** 40]), w=st.sampled_from([1, 5, 10 ** 6, 2 ** 20]),
       c=st.integers(1, 3), kernel=st.integers(1, 4), stride=geometry)
def test_empty_batch_with_huge_planes(h, w, c, kernel, stride):
    """N = 0 returns empty results (zero weight gradients) whatever the plane size, allocating nothing big."""
    assume(c * h * w * 8 <= 2 ** 62)  # what numpy can describe
    x = np.empty((0, c, h, w), np.float32)
    wt = np.ones((2, c, kernel, kernel), np.float32)
    try:
        shape = strided.conv_output_shape(x.shape, wt.shape, stride)
    except ValueError as e:
        assert str(e)
        return
    gy = np.empty(shape, np.float32)
    for algo in ALGOS:
        with strided.conv_algorithm(algo):
            assert strided.conv2d(x, wt, stride=stride).shape == shape
            gx, gw, gb = strided.conv2d_backward(gy, x, wt, stride=stride)
            assert gx.shape == x.shape and not gw.any() and not gb.any()
    pshape = strided.pool_output_shape(x.shape, kernel, stride)
    gp = np.empty(pshape, np.float32)
    for name in ("max_pool2d", "avg_pool2d"):
        assert getattr(strided, name)(x, kernel, stride).shape == pshape
        assert getattr(strided, name + "_backward")(gp, x, kernel, stride).shape == x.shape


# ---------------------------------------------------------------- the cases of issue 19, one by one

def test_huge_padding_and_dilation_beyond_the_bound_is_refused():
    for algo in ALGOS:
        with strided.conv_algorithm(algo):
            with pytest.raises(ValueError, match="padded input height .* exceeds 2\\*\\*62"):
                strided.conv2d(X, W, stride=8, padding=2 ** 61, dilation=2 ** 61)


@pytest.mark.parametrize("stride,pad,dil", [(8, 2 ** 60, 2 ** 60), (8, 2 ** 61 - 4, 2 ** 61 - 4),
                                            (2 ** 62, 2 ** 61 - 4, 2 ** 60), (1, 2 ** 61 - 4, 2 ** 61 - 2)])
def test_largest_accepted_padding_and_dilation(stride, pad, dil):
    """Taps entirely in the padding, or one real row and column among them: every algorithm agrees."""
    assert run_conv_everywhere(X, W, stride, pad, dil) is not None


@pytest.mark.parametrize("stride", [10 ** 6, 2 ** 40, 2 ** 62])
def test_huge_stride_gives_one_output_pixel(stride):
    for algo in ALGOS:
        with strided.conv_algorithm(algo):
            assert np.array_equal(strided.conv2d(X, W, stride=stride), np.full((1, 3, 1, 1), 18, np.float32))
    run_conv_everywhere(X, W, stride, 0, 1)


@pytest.mark.parametrize("value", [2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30])
def test_ints_beyond_int64_get_a_message(value):
    for kwargs in ({"stride": value}, {"padding": value}, {"dilation": value}, {"groups": value}):
        with pytest.raises(ValueError, match="exceeds 2\\*\\*62"):
            strided.conv2d(X, W, **kwargs)
    with pytest.raises(ValueError, match="exceeds 2\\*\\*62"):
        strided.max_pool2d(X, value)
    with pytest.raises(ValueError, match="exceeds 2\\*\\*62"):
        strided.avg_pool2d(X, 2, stride=value)


def test_avg_pool_divisor_does_not_overflow():
    with pytest.raises(ValueError, match="window area"):
        strided.avg_pool2d(np.ones((1, 1, 8, 8), np.float32), 2 ** 32, padding=2 ** 31)
    # The largest window accepted: 2**31 x 2**31 = 2**62 positions, 64 of them real.
    y = strided.avg_pool2d(np.ones((1, 1, 8, 8), np.float64), 2 ** 31, padding=2 ** 30)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 64 / 2 ** 62
    g = strided.avg_pool2d_backward(np.ones_like(y), np.ones((1, 1, 8, 8)), 2 ** 31, padding=2 ** 30)
    assert np.all(g == 1 / 2 ** 62)


def test_output_too_large_is_refused():
    with pytest.raises(ValueError, match="bytes per sample"):
        strided.conv2d(X, W, padding=2 ** 40)


def test_direct_callers_of_C_cannot_overflow():
    """strided._C checks the bound itself: out_size gives -1 past it and the kernels refuse the geometry."""
    C = strided._C
    assert C.out_size(8, 3, 1, 2 ** 62, 2 ** 62, 1, False) == -1
    assert C.out_size(8, 3, 2 ** 63 - 1, 0, 0, 1, False) == -1
    assert C.out_size(8, 2 ** 62, 1, 0, 0, 2 ** 62, False) == -1
    assert C.out_size(8, 3, 2 ** 62, 0, 0, 1, False) == 1
    geom = [1, 2, 8, 8, 3, 3, 3, 1, 1, 8, 8, 2 ** 62, 2 ** 62, 2 ** 62, 2 ** 62, 2 ** 62, 2 ** 62, 1]
    with pytest.raises(ValueError, match="2\\*\\*62"):
        C.conv2d_forward(X, W, None, geom, 0)
    bad_groups = [1, 2, 8, 8, 3, 3, 3, 6, 6, 1, 1, 0, 0, 0, 0, 1, 1, 0]
    with pytest.raises(ValueError, match="groups"):
        C.conv2d_forward(X, W, None, bad_groups, 0)
    pool = [1, 2, 8, 8, 1, 1, 2 ** 32, 2 ** 32, 2 ** 32, 2 ** 32, 2 ** 31, 2 ** 31, 0, 1, 1]
    with pytest.raises(ValueError, match="window area"):
        C.avg_pool2d_forward(X, pool, True)
    over_half = [1, 2, 8, 8, 10, 10, 1, 1, 1, 1, 1, 1, 0, 1, 1]
    with pytest.raises(ValueError, match="half the kernel"):
        C.max_pool2d_forward(X, over_half)


def test_linear_edge_shapes():
    x = np.ones((0, 1000), np.float32)
    w = np.ones((3, 1000), np.float32)
    assert strided.linear(x, w).shape == (0, 3)
    gx, gw, gb = strided.linear_backward(np.ones((0, 3), np.float32), x, w)
    assert gx.shape == (0, 1000) and not gw.any() and not gb.any()
    x = np.ones((2, 0), np.float32)
    assert np.array_equal(strided.linear(x, np.ones((3, 0), np.float32), np.ones(3, np.float32)), np.ones((2, 3)))


# ---------------------------------------------------------------- scratch memory bounded by a tile

SCRATCH_MIB = 64  # kScratchBytes (csrc/kern/gemm_util.h): per thread, besides weight-sized buffers

_MEASURE = """
import numpy as np, strided
def hwm():
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024
{setup}
strided.set_num_threads(2)
before = hwm()
{call}
print(hwm() - before, strided.get_num_threads())
"""


def _peak_growth_mib(setup, call):
    """Growth of the peak RSS (MiB) during `call`, in a fresh process, and its thread count."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent(_MEASURE).format(setup=setup, call=call)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "STRIDED_MALLOC_TUNING": "0"})
    assert out.returncode == 0, out.stderr
    growth, threads = out.stdout.split()
    return int(growth), int(threads)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_stride_1000_conv_scratch_is_bounded():
    setup = ("x = np.ones((1, 2, 8, 8), np.float32); w = np.ones((3, 2, 3, 3), np.float32)\n"
             "strided.conv2d(x, w)")  # the kernels' first call, whatever it loads, before the measure
    call = ("y = strided.conv2d(x, w, stride=1000)\n"
            "g = strided.conv2d_backward(np.ones_like(y), x, w, stride=1000)")
    growth, threads = _peak_growth_mib(setup, call)
    assert growth <= threads * SCRATCH_MIB, growth  # was 1 GiB


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_pool_backward_of_a_large_plane_has_bounded_scratch():
    setup = ("x = np.full((1, 1, 8192, 8192), 1, np.float32)  # a 256 MiB plane\n"
             "gy = np.ones((1, 1, 4096, 4096), np.float32)\n"
             "strided.max_pool2d_backward(gy[:, :, :8, :8], x[:, :, :16, :16], 2)")
    call = ("gx = strided.max_pool2d_backward(gy, x, 2); del gx\n"
            "gx = strided.avg_pool2d_backward(gy, x, 2); del gx")
    growth, threads = _peak_growth_mib(setup, call)
    assert growth <= 256 + threads * SCRATCH_MIB, growth  # gx itself, plus the scratch (was 6x the plane)


@pytest.mark.parametrize("dtype,shape", [(np.float32, (2400, 2400)), (np.float64, (1856, 1856))])
def test_pool_backward_beyond_the_scratch_bound_is_right(dtype, shape):
    """Planes whose scratch would pass the bound are built in place: the same gradients."""
    h, w = shape
    x = np.random.default_rng(4).permutation(h * w).reshape(1, 1, h, w).astype(dtype)
    gy = np.random.default_rng(5).standard_normal((1, 1, h // 2, w // 2)).astype(dtype)
    blocks = x.reshape(h // 2, 2, w // 2, 2).transpose(0, 2, 1, 3).reshape(h // 2, w // 2, 4)
    pick = np.eye(4, dtype=dtype)[blocks.argmax(axis=2)] * gy[0, 0, :, :, None]
    want = pick.reshape(h // 2, w // 2, 2, 2).transpose(0, 2, 1, 3).reshape(1, 1, h, w)
    assert np.array_equal(strided.max_pool2d_backward(gy, x, 2), want)
    want_avg = np.repeat(np.repeat(gy / 4, 2, axis=2), 2, axis=3)
    np.testing.assert_allclose(strided.avg_pool2d_backward(gy, x, 2), want_avg, rtol=1e-6)


_OOM = """
import resource, numpy as np, strided
strided.set_num_threads(2)
x = np.ones((1, 1, 8, 8)); w = np.ones((1, 1, 1448, 1448))  # a 16 MiB weight
gy = np.ones((1, 1, 3, 3))
strided.conv2d_backward(np.ones((1, 1, 6, 6)), x, np.ones((1, 1, 3, 3)))  # threads and arenas exist now
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (24 << 20), resource.RLIM_INFINITY))
for algo in ("direct", "gemm", "im2col", "channels_last"):
    for input_grad in (False, True):
        with strided.conv_algorithm(algo):
            try:
                strided.conv2d_backward(gy, x, w, padding=721, input_grad=input_grad, bias_grad=False)
                print(algo, "ok")
            except MemoryError as e:
                print(algo, "MemoryError" if str(e) else "no message")
"""


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs /proc (Linux)")
@pytest.mark.skipif("libasan" in __import__("os").environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves its shadow memory beyond any address-space limit")
def test_allocation_failure_is_a_memory_error():
    """A workspace that cannot be allocated (per-thread partial gradients, flipped or packed weights) raises
    MemoryError instead of terminating the process, in every algorithm that allocates one."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _OOM], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    algos = ("direct", "gemm", "im2col", "channels_last")
    assert out.stdout.split("\n")[:-1] == [f"{a} MemoryError" for a in algos for _ in "ab"]


def test_dispatch_keeps_growing_tiles_within_the_bound():
    """The direct band grows with stride and dilation, the channels-last backward-weight GEMM's with the
    padded row: past the bound the dispatcher (and a forced algorithm) takes one whose tiles do not."""
    C = strided._C
    small, _ = conv_args(X, W, stride=2)
    huge, _ = conv_args(X, W, stride=1000)
    assert C.conv_choice(small, "forward", "direct") == "direct"
    assert [C.conv_choice(huge, p, "direct") for p in C.conv_passes] == ["gemm", "gemm", "gemm"]
    assert C.conv_choice(huge, "backward_weight") == "gemm"
    # A 1x1 layer runs flattened: one 4096 x 4096 plane with 64 channels is one 4 GiB row.
    plane, _ = conv_args(np.empty((1, 64, 4096, 4096), np.float32), np.empty((64, 64, 1, 1), np.float32))
    assert C.conv_choice(plane, "backward_weight") == "im2col"
    assert C.conv_choice(plane, "backward_weight", "gemm") == "im2col"


def test_avg_pool_backward_overlapping_beyond_the_scratch_bound_is_right():
    """Overlapping windows (3x3/2, padding 1) on a plane whose scratch planes would pass the bound: the
    kernel writes gx directly, edge windows included, with either divisor."""
    h, w = 2400, 2401
    gy = np.random.default_rng(6).standard_normal((1, 1, 1200, 1201)).astype(np.float32)
    inside = np.pad(np.ones((h, w)), 1)  # the windows' real elements, on the padded plane
    taps = [(i, j) for i in range(3) for j in range(3)]
    for cip in (True, False):
        count = 9 if cip else sum(inside[i:i + 2 * 1200:2, j:j + 2 * 1201:2] for i, j in taps)
        g, want = gy[0, 0] / count, np.zeros((h + 2, w + 2))
        for i, j in taps:
            want[i:i + 2 * 1200:2, j:j + 2 * 1201:2] += g
        got = strided.avg_pool2d_backward(gy, np.zeros((1, 1, h, w), np.float32), 3, 2, 1, False, cip)
        np.testing.assert_allclose(got[0, 0], want[1:-1, 1:-1], rtol=1e-5, atol=1e-6)
