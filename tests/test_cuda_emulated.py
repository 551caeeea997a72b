"""The CUDA kernels of csrc/cuda, run without a GPU: g++ compiles them against a grid emulator
(tests/cuda_emu: threads as fibers, __syncthreads as a real barrier, poisoned shared memory, guarded
buffers, CUDA's launch limits) and strided.cuda.Kernels drives them with the very launch plans it makes for
CuPy. Everything goes through the public functional API (its GPU dispatch is pointed at the emulator) and is
compared with the NumPy reference by tests/oracle.py: strides, every padding form, dilation, groups, bias,
ceil_mode, count_include_pad, float32 and float64, tile-edge sizes, every algorithm."""
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strided
from strided import cuda, reference
from strided._cuda.launch import i64
from strided.ops import _dispatch
from strided.ops.conv2d import cuda as conv_cuda
from strided.ops.conv2d.args import conv_args
from strided.ops.pool2d.args import pool_args
from oracle import (CONV, CONV_T, DTYPES, POOL, case, check_conv, check_conv_case, check_conv_transpose, check_norm,
                    check_pool, check_pool_options, conv_cases, conv_t_case)
from oracle import INTERP_MODES, INTERP_SHAPES, INTERP_SPECS, NEAREST_ND, check_interp, interp_spec

sys.path.insert(0, str(Path(__file__).resolve().parent / "cuda_emu"))
import emulator  # noqa: E402

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or emulator.compiler() is None,
                                reason="the CUDA grid emulator needs Linux (ucontext) and g++")

CONV_ALGOS = ("tiled", "direct", "im2col")


@pytest.fixture(scope="session")
def emu_lib(tmp_path_factory):
    return emulator.Library(emulator.build(tmp_path_factory.mktemp("cuda_emu")))


@pytest.fixture
def emulate(emu_lib, monkeypatch):
    """emulate(algo=None, order=0, seed=0) -> Kernels: strided's GPU dispatch now runs them on the emulator
    for NumPy inputs."""
    def use(algo=None, order=0, seed=0):
        k = emulator.emulated_kernels(emu_lib, algo, order, seed)
        monkeypatch.setattr(_dispatch, "backend", lambda *arrays: k)
        return k
    return use


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", CONV_ALGOS)
@pytest.mark.parametrize("name", sorted(CONV))
def test_conv(emulate, name, algo, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = CONV[name]
    rng = np.random.default_rng(len(name))
    x, w, b = case(rng, N, C, H, W, K, R, S, groups, dtype)
    k = emulate(algo)
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng)
    ran = {launch[0] for launch in k.backend.log}
    want = {"tiled": "conv2d_forward_tiled", "direct": "conv2d_forward_direct", "im2col": "conv2d_im2col"}[algo]
    assert want in ran and "conv2d_backward_input" in ran and "conv2d_backward_bias" in ran


@pytest.mark.parametrize("name", ["basic", "depthwise", "tile_edge_plus_one", "kernel_equals_input"])
def test_conv_auto_and_no_bias(emulate, name):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = CONV[name]
    rng = np.random.default_rng(1)
    x, w, _ = case(rng, N, C, H, W, K, R, S, groups, bias=False)
    emulate()
    for algo in ("auto", "simple", "im2col"):
        with strided.conv_algorithm(algo):
            check_conv(x, w, None, stride=stride, padding=padding, dilation=dilation, groups=groups, rng=rng)


def test_weight_gradient_split_over_pixels(emulate):
    """N*OH*OW = 4608 > the work of one split: the weight gradient is summed in chunks and the partial
    tiles added in a second kernel."""
    rng = np.random.default_rng(2)
    x, w, b = case(rng, 2, 2, 48, 48, 16, 3, 3, dtype=np.float32)
    args, _ = conv_args(x, w, b, None, 1, 1)
    splits, chunk = conv_cuda.weight_splits(args)
    assert splits > 1 and (splits - 1) * chunk < 2 * 48 * 48 <= splits * chunk
    k = emulate("tiled")
    check_conv(x, w, b, padding=1, rng=rng)
    assert "conv2d_sum_splits" in {launch[0] for launch in k.backend.log}


def test_backward_input_weights_too_large_for_shared_memory(emulate):
    """A 46x46 fp64 kernel does not fit the shared-memory budget: the gather reads weights from global."""
    rng = np.random.default_rng(3)
    x, w, b = case(rng, 1, 1, 46, 46, 2, 46, 46)
    args, _ = conv_args(x, w, b, None, 1, "same")
    assert conv_cuda.plan_conv2d_backward_input(args, np.float64).launches[0].shared == 0
    emulate("direct")
    check_conv(x, w, b, padding="same", rng=rng)


@pytest.mark.parametrize("algo", CONV_ALGOS)
def test_conv_empty_batch(emulate, algo):
    x, w, b = case(np.random.default_rng(4), 0, 3, 6, 6, 32, 3, 3)
    k = emulate(algo)
    y = strided.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 32, 6, 6)
    gx, gw, gb = strided.conv2d_backward(np.zeros(y.shape), x, w, padding=1)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (32,)
    assert not gw.any() and not gb.any()
    assert not [launch for launch in k.backend.log if launch[0] != "conv2d_im2col"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", POOL, ids=[f"p{i}" for i in range(len(POOL))])
def test_pool(emulate, geo, dtype):
    N, C, H, W, kernel, stride, padding, ceil = geo
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    emulate()
    check_pool(x, kernel, stride, padding, ceil, rng=rng)
    check_pool(np.round(x * 1.5), kernel, stride, padding, ceil, rng=rng)  # many ties


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geo", [(2, 3, 9, 7, 3, 2, 1, 2, True), (1, 2, 11, 13, (3, 2), (2, 1), (1, 1), (2, 3), False),
                                 (2, 2, 8, 8, 2, None, 0, 1, False), (1, 2, 10, 11, (3, 2), (2, 1), (1, 1), 1, True),
                                 (0, 3, 9, 9, 2, 2, 1, 2, False)])
def test_pool_indices_dilation_unpool_divisor(emulate, geo, dtype):
    """The kernels of the pooling options (dilation, indices and the backward through them, unpooling and
    its backward, divisor_override) against the reference, with ties and NaN."""
    N, C, H, W, kernel, stride, padding, dilation, ceil = geo
    rng = np.random.default_rng(13)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    k = emulate()
    check_pool_options(x, kernel, stride, padding, dilation, ceil, rng=rng)
    x = np.round(x * 1.5)
    x.flat[rng.integers(0, max(x.size, 1), size=min(x.size, 3))] = np.nan
    check_pool_options(x, kernel, stride, padding, dilation, ceil, rng=rng)
    ran = {launch[0] for launch in k.backend.log}
    # undilated: unpooling back to x's size, and avg pooling with a divisor
    more = {"max_unpool2d_forward", "max_unpool2d_backward", "avg_pool2d_backward"} if dilation == 1 else set()
    assert N == 0 or {"max_pool2d_backward_indices", *more} <= ran


def test_pool_indices_out_of_range_raise_before_a_launch(emulate):
    k = emulate()
    gy, x = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="indices must lie in"):
        strided.max_pool2d_backward(gy, x, 2, indices=np.full((1, 1, 2, 2), 16))
    with pytest.raises(ValueError, match="indices must lie in"):
        strided.max_unpool2d(gy, np.full((1, 1, 2, 2), -1), 2)
    assert not k.backend.log


def test_max_pool_nan_ties_and_padding(emulate):
    emulate()
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    x[0, 0, 2, 3] = np.nan
    for geo in ((2, None, 0, False), (3, 1, 1, False), (3, 2, 1, True)):
        check_pool(x, *geo)
    ones = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(strided.max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), ones, 2)[0, 0],
                                  [[5, 0], [0, 0]])
    neg = np.full((1, 1, 4, 4), -np.inf)  # padding is never picked: the gradient stays inside
    gx = strided.max_pool2d_backward(np.ones((1, 1, 4, 4)), neg, 3, 1, 1)
    assert gx.sum() == 16 and gx[0, 0, 0, 0] > 0
    np.testing.assert_array_equal(gx, reference.max_pool2d_backward(np.ones((1, 1, 4, 4)), neg, 3, 1, 1))


def test_avg_divisor_counts_padding_but_not_ceil_overhang(emulate):
    emulate()
    x = np.ones((1, 1, 6, 6))
    y = strided.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9) and y[0, 0, -1, -1] == pytest.approx(1 / 4)
    assert strided.avg_pool2d(x, 3, 2, 1, True, count_include_pad=False)[0, 0, -1, -1] == 1


@pytest.mark.parametrize("order", [1, 2])
def test_thread_and_block_order_does_not_matter(emu_lib, order):
    """Threads between barriers (and blocks) run ascending, descending or shuffled: a missing
    __syncthreads or a cross-block dependency would change the result; every kernel must be bitwise equal."""
    rng = np.random.default_rng(5)
    x, w, b = case(rng, 2, 6, 9, 8, 66, 3, 3, 3)
    args, _ = conv_args(x, w, b, None, 1, 1, 1, 3)
    gy = rng.standard_normal((2, 66, 9, 8))
    px = rng.standard_normal((2, 3, 9, 7))
    pargs, _ = pool_args(px, None, 3, 2, 1, True)
    pgy = rng.standard_normal((2, 3, 5, 4))

    def run(k):
        out = [k.conv2d_forward(x, w, b, args), k.conv2d_backward_input(gy, w, args),
               k.conv2d_backward_weight(gy, x, args), k.conv2d_backward_bias(gy, args),
               k.max_pool2d_forward(px, pargs), k.max_pool2d_backward(pgy, px, pargs),
               k.avg_pool2d_forward(px, pargs, True), k.avg_pool2d_backward(pgy, pargs, False),
               k.max_pool2d_backward_indices(pgy, k.max_pool2d_forward_indices(px, pargs)[1], pargs)]
        return [o.view(np.uint64) for o in out]

    for algo in ("tiled", "direct"):
        base = run(emulator.emulated_kernels(emu_lib, algo, 0))
        other = run(emulator.emulated_kernels(emu_lib, algo, order, seed=order))
        for i, (a, c) in enumerate(zip(base, other)):
            np.testing.assert_array_equal(a, c, err_msg=f"{algo} output {i}")


def test_emulator_catches_barrier_divergence_races_and_bad_launches(emu_lib):
    """The emulator itself: barrier rules, races (through the thread order), CUDA's launch limits and the
    argument types are enforced."""
    k = emulator.emulated_kernels(emu_lib)
    out = np.zeros(64)
    with pytest.raises(emulator.EmuError, match="barrier divergence"):
        k.backend.launch(cuda.Launch("emu_test_divergent_barrier", (1, 1, 1), (64, 1, 1), 0, ("out",)), "",
                         {"out": out})
    race = cuda.Launch("emu_test_shared_race", (1, 1, 1), (64, 1, 1), 64 * 8, ("out",))
    results = []
    for order in (0, 1):
        out = np.zeros(64)
        emulator.EmuBackend(emu_lib, order).launch(race, "", {"out": out})
        results.append(out)
    # ascending: each thread reads its neighbour's slot before it is written (the poison, NaN);
    # descending: the neighbour has already written it, except for the wrap-around read of thread 63.
    assert np.isnan(results[0][:-1]).all() and results[0][-1] == 0
    assert (results[1][:-1] == np.arange(1, 64)).all() and np.isnan(results[1][-1])
    bad = cuda.Launch("conv2d_backward_bias", (1, 1, 1), (2048, 1, 1), 0, ("gy", "gb") + i64(1, 1, 1))
    with pytest.raises(emulator.EmuError, match="block size"):
        k.backend.launch(bad, "double", {"gy": np.zeros(1), "gb": np.zeros(1)})
    bad = bad._replace(block=(256, 1, 1), params=("gy", "gb", np.int32(1), np.int64(1), np.int64(1)))
    with pytest.raises(emulator.EmuError, match="passed for 'q'"):
        k.backend.launch(bad, "double", {"gy": np.zeros(1), "gb": np.zeros(1)})
    bad = bad._replace(params=("gy", "gb") + i64(1, 1, 1), shared=64 * 1024)
    with pytest.raises(emulator.EmuError, match="48 KiB"):
        k.backend.launch(bad, "double", {"gy": np.zeros(1), "gb": np.zeros(1)})
    # A block size that is not a power of two breaks block_sum's tree: threads of the upper half are lost,
    # which the oracle would see; here the plan's own launch is checked to be a power of two.
    args = conv_args(np.zeros((1, 1, 3, 3)), np.zeros((2, 1, 1, 1)))[0]
    assert bin(conv_cuda.plan_conv2d_backward_bias(args, np.float64).launches[0].block[0]).count("1") == 1


def test_registry_matches_name_expressions(emu_lib):
    ours = sorted(n for n in emu_lib.kernels if not n.startswith("emu_test_"))
    assert ours == sorted(n for s in cuda.SOURCES for n in cuda.name_expressions(s))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(c=conv_cases(CONV_ALGOS, max_kg=20))
def test_conv_hypothesis_sweep(emulate, c):
    emulate(c["algo"])
    check_conv_case(c)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(0, 2), C=st.integers(1, 3), kh=st.integers(1, 4), kw=st.integers(1, 4),
       extra_h=st.integers(0, 8), extra_w=st.integers(0, 8), sh=st.integers(1, 4), sw=st.integers(1, 4),
       pad_frac=st.tuples(st.floats(0, 1), st.floats(0, 1)), ceil=st.booleans(), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16), ties=st.booleans())
def test_pool_hypothesis_sweep(emulate, N, C, kh, kw, extra_h, extra_w, sh, sw, pad_frac, ceil, dtype, seed,
                               ties):
    rng = np.random.default_rng(seed)
    ph, pw = int(pad_frac[0] * (kh // 2)), int(pad_frac[1] * (kw // 2))
    x = rng.standard_normal((N, C, kh + extra_h, kw + extra_w))
    if ties:
        x = np.round(x * 1.5)
    emulate()
    check_pool(x.astype(dtype), (kh, kw), (sh, sw), (ph, pw), ceil, rng=rng)


def test_portable_ucontext_switch(tmp_path_factory):
    """The ucontext fallback of the emulator (non-x86-64 hosts) gives the same results and catches the same
    barrier misuse as the assembly context switch."""
    lib = emulator.Library(emulator.build(tmp_path_factory.mktemp("cuda_emu_ucontext"), ["EMU_USE_UCONTEXT"]))
    k = emulator.emulated_kernels(lib, "tiled")
    rng = np.random.default_rng(9)
    x, w, b = case(rng, 1, 4, 9, 9, 20, 3, 3)
    args, _ = conv_args(x, w, b, None, 1, 1)
    np.testing.assert_allclose(k.conv2d_forward(x, w, b, args), reference.conv2d(x, w, b, padding=1),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(emulator.EmuError, match="barrier divergence"):
        k.backend.launch(cuda.Launch("emu_test_divergent_barrier", (1, 1, 1), (64, 1, 1), 0, ("out",)), "",
                         {"out": np.zeros(64)})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONV_T))
def test_conv_transpose(emulate, name, dtype):
    """conv_transpose2d runs conv2d's GPU kernels with the roles swapped: forward on backward_input, input
    gradient on the forward, weight gradient on backward_weight."""
    rng = np.random.default_rng(len(name))
    x, w, b, geo = conv_t_case(rng, name, dtype)
    for algo in ("tiled", "direct"):
        k = emulate(algo)
        check_conv_transpose(x, w, b, **geo, rng=rng)
        ran = {launch[0] for launch in k.backend.log}
        if x.shape[0]:
            assert {"conv2d_backward_input", f"conv2d_forward_{algo}"} <= ran


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align_corners", INTERP_MODES)
def test_interp(emulate, mode, align_corners, dtype):
    """interp.cu against the reference over the shared sweep; backward gathers by binary search."""
    rng = np.random.default_rng(7)
    k = emulate()
    for shape in INTERP_SHAPES + [(0, 2, 3, 3)]:
        for spec in INTERP_SPECS + [dict(scale_factor=(3.1, 1.1))]:
            geo = interp_spec(spec, shape)
            if geo is not None:
                check_interp(rng.standard_normal(shape).astype(dtype), **geo, mode=mode,
                             align_corners=align_corners, rng=rng)
    ran = {launch[0] for launch in k.backend.log}
    assert ran == {f"upsample_{mode}2d_forward", f"upsample_{mode}2d_backward"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_nearest_1d_3d(emulate, dtype):
    """(N, C, W) and (N, C, D, H, W) inputs: one or two passes of the 2-D kernel on reshaped views."""
    rng = np.random.default_rng(9)
    k = emulate()
    for shape, geo in NEAREST_ND:
        check_interp(rng.standard_normal(shape).astype(dtype), **geo, rng=rng)
    assert {launch[0] for launch in k.backend.log} == {"upsample_nearest2d_forward", "upsample_nearest2d_backward"}


@pytest.mark.parametrize("order", [1, 2])
def test_interp_thread_order_does_not_matter(emu_lib, monkeypatch, order):
    rng = np.random.default_rng(8)
    x, gy = rng.standard_normal((2, 3, 7, 5)), rng.standard_normal((2, 3, 16, 3))
    results = []
    for o in (0, order):
        k = emulator.emulated_kernels(emu_lib, None, o, seed=o)
        monkeypatch.setattr(_dispatch, "backend", lambda *arrays: k)
        results.append(strided.interpolate_backward(gy, x, scale_factor=(2.3, 0.7), mode="bilinear"))
    np.testing.assert_array_equal(results[0], results[1])


NORM_CASES = [  # (op, shape, options): channels and groups, ranks 2-5, odd and prime sizes, empty batches
    ("batch_norm", (3, 5, 7), dict(training=True, running=True)),
    ("batch_norm", (7, 3), dict(training=True, running=False)),
    ("batch_norm", (2, 3, 5, 3), dict(training=False, running=True)),
    ("batch_norm", (0, 3, 4), dict(training=True, running=True)),
    ("instance_norm", (2, 3, 5, 3), dict(use_input_stats=True, running=True)),
    ("instance_norm", (2, 3, 2, 3, 2), dict(use_input_stats=False, running=True)),
    ("group_norm", (2, 6, 11), dict(num_groups=3)),
    ("group_norm", (3, 4), dict(num_groups=2)),
    ("layer_norm", (3, 2, 13), dict(normalized_shape=(2, 13))),
    ("layer_norm", (5, 7), dict(normalized_shape=7)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("op,shape,opts", NORM_CASES, ids=[f"{c[0]}{c[1]}" for c in NORM_CASES])
def test_norm(emulate, op, shape, opts, affine, dtype):
    rng = np.random.default_rng(sum(shape))
    opts = dict(opts)
    C = shape[1]
    kw = dict(running_mean=None, running_var=None) if op == "batch_norm" else {}
    if opts.pop("running", False):
        kw = dict(running_mean=rng.standard_normal(C).astype(dtype),
                  running_var=rng.uniform(0.5, 2, C).astype(dtype))
    if affine:
        wshape = np.atleast_1d(opts["normalized_shape"]).tolist() if op == "layer_norm" else [C]
        kw.update(weight=rng.uniform(0.5, 1.5, wshape).astype(dtype), bias=rng.standard_normal(wshape).astype(dtype))
    k = emulate()
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    check_norm(op, x, rng=rng, **opts, **kw)
    ran = {launch[0] for launch in k.backend.log}
    assert ran >= ({"norm_apply", "norm_backward_input"} if x.size else set())


def test_norm_grid_capped_units_and_thread_order(emu_lib):
    """More units than blocks would be odd on a GPU; here the kernels' block loop over units is checked by
    running them in every block and thread order: sums are bitwise equal."""
    from strided.ops.norm.args import group_norm_args
    rng = np.random.default_rng(12)
    x, gy = rng.standard_normal((3, 4, 37)), rng.standard_normal((3, 4, 37))
    w = rng.uniform(0.5, 1.5, 4)
    a, _ = group_norm_args(x, 2, w, None)
    outs = []
    for order in (0, 1, 2):
        k = emulator.emulated_kernels(emu_lib, None, order, seed=order)
        mean, var = k.norm_stats(x, a)
        invstd = 1 / np.sqrt(var + 1e-5)
        outs.append([mean, var, k.norm_apply(x, mean, invstd, w, None, a),
                     *k.norm_backward(gy, x, mean, invstd, w, a, True, True, True, True)])
    for other in outs[1:]:
        for u, v in zip(outs[0], other):
            np.testing.assert_array_equal(u.view(np.uint64), v.view(np.uint64))
