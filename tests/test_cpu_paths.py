"""Every CPU convolution algorithm on every SIMD path, and the pooling and normalization fast paths, against
strided.reference.

The SIMD level is switched in-process with _C.set_cpu_capability (the env variable STRIDED_CPU_CAPABILITY
does the same at import; one subprocess test checks that). Outputs are compared with a tolerance relative
to the output's scale: 1e-12 in float64, 1e-4 in float32. Before each kernel call the allocator is
"poisoned" with a NaN-filled block of the output's size, so an output element a kernel forgets to write
most likely reads back as NaN (best effort: large blocks come fresh from mmap, zeroed).
"""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import strided
from oracle import CAPS, cap  # noqa: F401 (cap: a fixture)
from strided import _C
from strided import reference as ref
from strided.ops.conv2d.args import conv_args
FAST = ["gemm", "direct", "channels_last", "winograd"]
ALGOS = ["simple", "im2col", "gemm", "direct", "channels_last", "winograd", "auto"]
DTYPES = [np.float32, np.float64]
rng = np.random.default_rng(1234)


def _tol(dtype):
    return 1e-12 if dtype == np.float64 else 1e-4


def _close(got, want, dtype, what):
    assert got.shape == want.shape, what
    assert not np.isnan(got).any() or np.isnan(want).any(), f"{what}: NaN in output (unwritten element?)"
    scale = max(float(np.abs(want).max()) if want.size else 0.0, 1e-30)
    err = float(np.abs(got - want).max()) / scale if want.size else 0.0
    assert err <= _tol(dtype), f"{what}: max error {err:.3g} of scale {scale:.3g}"


def _poison(nbytes):
    junk = np.full(max(nbytes // 8, 1), np.nan)
    del junk


def _conv_case(N, C, H, W, K, R, S, stride, padding, dilation, groups, dtype, algo, bias=True):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    y_ref = ref.conv2d(x, w, b, stride, padding, dilation, groups)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    gx_ref, gw_ref, gb_ref = ref.conv2d_backward(gy, x, w, stride, padding, dilation, groups)
    what = f"{algo} N{N} C{C} {H}x{W} K{K} {R}x{S} s{stride} p{padding} d{dilation} g{groups} {np.dtype(dtype).name}"
    with strided.conv_algorithm(algo):
        _poison(y_ref.nbytes)
        y = strided.conv2d(x, w, b, stride, padding, dilation, groups)
        _poison(x.nbytes)
        gx, _, _ = strided.conv2d_backward(gy, x, w, stride, padding, dilation, groups,
                                           weight_grad=False, bias_grad=False)
        _poison(w.nbytes)
        _, gw, gb = strided.conv2d_backward(gy, x, w, stride, padding, dilation, groups, input_grad=False)
    _close(y, y_ref, dtype, "forward " + what)
    _close(gx, gx_ref, dtype, "backward_input " + what)
    _close(gw, gw_ref, dtype, "backward_weight " + what)
    _close(gb, gb_ref, dtype, "backward_bias " + what)


# (N, C, H, W, K, R, S, stride, padding, dilation, groups): strides, every padding form (int, pair,
# asymmetric 4-tuple, 'same' with even kernels, 'valid', 'full', padding beyond the kernel), dilation,
# groups and depthwise, 1x1, primes and tile edges.
CASES = [
    (2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1),
    (1, 1, 17, 13, 6, 5, 5, 1, 0, 1, 1),
    (2, 4, 10, 10, 4, 3, 3, 2, 1, 1, 4),
    (2, 6, 8, 9, 9, 2, 3, (2, 1), "same", 1, 3),
    (1, 16, 7, 7, 17, 1, 1, 1, 0, 1, 1),
    (2, 5, 12, 15, 7, 3, 2, 2, (1, 0, 2, 1), (2, 1), 1),
    (3, 17, 6, 35, 13, 3, 3, 1, "same", 1, 1),
    (1, 32, 15, 15, 40, 3, 3, 2, 1, 1, 2),
    (2, 3, 31, 29, 20, 7, 7, 2, 3, 1, 1),
    (1, 8, 5, 5, 8, 3, 3, 1, 4, 1, 8),
    (1, 4, 6, 8, 6, 4, 4, 1, "same", 1, 2),
    (2, 2, 7, 9, 3, 2, 2, 3, "full", 2, 1),
    (1, 15, 9, 13, 16, 3, 3, 1, "valid", 1, 1),
    (2, 24, 14, 14, 24, 3, 3, 1, 1, 1, 24),
    (1, 12, 11, 11, 24, 3, 3, 2, 1, 1, 12),
    (1, 3, 13, 13, 17, 5, 5, 3, 2, 2, 1),
    (2, 64, 5, 6, 8, 1, 1, 1, 0, 1, 1),     # 1x1: flattened rows, padded channels-last stride
    (1, 64, 7, 7, 16, 1, 1, 2, 1, 1, 2),
    (2, 1, 12, 10, 16, 3, 5, 1, (1, 0, 2, 1), (2, 1), 1),  # one channel per group, K/g >= 16: backward-input
    (1, 4, 9, 9, 64, 3, 3, 1, 1, 1, 4),                    # by GEMM + col2im at stride 1 too
    (5, 40, 8, 8, 32, 3, 3, 1, 1, 1, 1),    # small planes under big weights: backward-weight by blocks of
    (17, 16, 4, 4, 32, 3, 3, 1, 1, 1, 2),   # input channels, over several passes of images
    (1, 64, 20, 20, 8, 3, 3, 1, 1, 1, 1),   # backward-weight by bands with a padded pixel stride: a GEMM per tap
    (1, 1, 40, 64, 64, 3, 3, 1, 1, 1, 1),   # backward-input by the rows kernel on 64 channels of gy: bands
]                                           # past the L2 target, whole row blocks and a short last band


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:7])))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_all_algorithms(cap, case, dtype):
    algos = ALGOS if cap == CAPS[-1] else FAST + ["auto"]  # simple/im2col do not depend on the ISA
    for algo in algos:
        _conv_case(*case, dtype, algo)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_widths(cap, dtype):
    """Output widths 1..35 cross every vector and block edge of the direct kernel and the GEMM panels."""
    for W in range(1, 36):
        for algo in FAST:
            _conv_case(1, 3, 4, W + 2, 5, 3, 3, 1, 1, 1, 1, dtype, algo)
    for W in (1, 2, 16, 17, 31, 33):
        for algo in FAST:
            _conv_case(1, 2, 5, W, 3, 3, 3, 2, "same", 1, 1, dtype, algo)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_channel_counts(cap, dtype):
    """Channel counts around the micro-tile sizes (6, 12, 32 rows; 1..12 output-channel blocks)."""
    for C, K in itertools.product((1, 3, 15, 16, 17), (1, 3, 15, 16, 17)):
        for algo in FAST:
            _conv_case(1, C, 6, 7, K, 3, 3, 1, 1, 1, 1, dtype, algo, bias=(C + K) % 2 == 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_one_output_channel_rows(cap, dtype):
    """One output channel a group at stride 1 (depthwise 3x3, one-channel 5x5, and their backward-input with
    one input channel a group) runs blocks of 8 and 4 rows: row counts around them, rows of one to several
    column blocks whose last block spills onto the next row, padding rows skipped. Their backward-weight
    slides gy rows through registers over the same bands."""
    for H, W in itertools.product((4, 12, 13, 21), (5, 17, 33, 40, 70)):
        for algo in FAST:
            _conv_case(2, 2, H, W, 2, 3, 3, 1, 1, 1, 2, dtype, algo)
            _conv_case(1, 1, H + 2, W, 1, 5, 5, 1, (2, 0), 1, 1, dtype, algo, bias=H % 2 == 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_channels_last_tiles(cap, dtype):
    """ChannelsLast's edges: runs of 16 input channels (15-33), output-channel blocks of 1-4 vectors (the
    last one partial), tiles of 6 pixels and tasks of 132 crossing images, strides, dilation and groups,
    and backward-input's padding beyond the window (pad > dil*(R-1)). Strided backward-input runs phases
    of gx pixels (stride 2: four, of 1, 2, 2 and 4 taps) in tasks of up to 4 x 132 pixels crossing rows and
    images; a stride beyond the window leaves pixels no tap reaches (zeros), or every pixel."""
    for C, K in ((15, 17), (16, 31), (17, 33), (33, 65), (64, 70)):
        _conv_case(2, C, 5, 6, K, 3, 3, 1, 1, 1, 1, dtype, "channels_last", bias=C % 2 == 1)
    for N, H, W in ((1, 11, 12), (1, 7, 19), (3, 4, 4), (7, 5, 5), (1, 1, 1)):
        _conv_case(N, 8, H, W, 16, 3, 3, 1, 1, 1, 1, dtype, "channels_last")
        _conv_case(N, 16, H, W, 8, 3, 3, 2, 1, 1, 1, dtype, "channels_last")
    _conv_case(2, 12, 9, 8, 18, 3, 2, (2, 1), (1, 0, 2, 1), (2, 1), 3, dtype, "channels_last")
    _conv_case(2, 16, 6, 7, 16, 3, 3, 1, 4, 1, 2, dtype, "channels_last")
    _conv_case(3, 17, 23, 21, 33, 3, 3, 2, 1, 1, 1, dtype, "channels_last")
    _conv_case(2, 8, 13, 11, 20, 3, 2, (3, 2), (2, 1, 0, 3), (2, 3), 2, dtype, "channels_last")
    _conv_case(2, 8, 10, 9, 8, 2, 2, 3, 0, 1, 1, dtype, "channels_last")  # rows and columns no tap reaches
    _conv_case(1, 4, 2, 2, 4, 3, 3, 5, 3, 1, 1, dtype, "channels_last")  # no tap reaches any pixel
    _conv_case(2, 8, 9, 9, 8, 3, 3, 2, 4, 1, 1, dtype, "channels_last")  # padding beyond the window


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv_winograd_tiles(cap, dtype):
    """Winograd's edges: every padding of 0-2 on each side (backward-input runs the flipped problem, padding
    2 - p), odd and even output sizes (the last row and column of 2x2 tiles half outside, gy zero-padded
    for backward-weight), one output pixel, runs of 16 input channels (15-33), output-channel blocks of 1-4
    vectors (the last one partial; backward-weight's gy padded to whole vectors), tasks of tiles crossing rows
    and images (backward-weight: runs of tasks summed in order), with and without bias; shapes it does not run
    (stride, dilation, groups, padding beyond 2, other windows) fall to the next algorithm."""
    for pad in (0, 1, 2, (0, 2, 1, 0), (2, 0, 0, 1)):
        for H, W in ((5, 6), (6, 5), (3, 3), (8, 9)):
            _conv_case(2, 5, H, W, 7, 3, 3, 1, pad, 1, 1, dtype, "winograd", bias=H % 2 == 0)
    _conv_case(1, 3, 1, 1, 2, 3, 3, 1, 1, 1, 1, dtype, "winograd")
    for C, K in ((15, 17), (16, 31), (17, 33), (33, 65), (64, 70)):
        _conv_case(2, C, 5, 6, K, 3, 3, 1, 1, 1, 1, dtype, "winograd", bias=C % 2 == 1)
    for N, H, W in ((9, 7, 9), (13, 16, 16), (40, 4, 4)):
        _conv_case(N, 24, H, W, 20, 3, 3, 1, 1, 1, 1, dtype, "winograd")
    for stride, pad, dil, groups, R in ((2, 1, 1, 1, 3), (1, 2, 2, 1, 3), (1, 1, 1, 2, 3), (1, 3, 1, 1, 3),
                                        (1, 1, 1, 1, 5), (1, 0, 1, 1, 1)):
        _conv_case(2, 8, 9, 8, 6, R, R, stride, pad, dil, groups, dtype, "winograd")


@pytest.mark.parametrize("algo", ["channels_last", "winograd"])
def test_conv_channels_last_chunks(algo):
    """More images than one copy of the input holds (64 MiB: 56 of these in float64) run in chunks."""
    _conv_case(57, 1024, 10, 10, 2, 3, 3, 1, 1, 1, 1, np.float64, algo)


@pytest.mark.parametrize("algo", ALGOS)
def test_conv_empty_and_single(algo):
    for dtype in DTYPES:
        _conv_case(0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, dtype, algo)
        _conv_case(1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, dtype, algo)
        _conv_case(1, 40, 3, 3, 50, 3, 3, 1, 1, 1, 1, dtype, algo)  # N = 1: split over channels


def test_thread_counts_agree():
    """1 and 2 threads give the same answer to rounding (the parallel split must not change the math)."""
    before = strided.get_num_threads()
    try:
        for threads in (1, 3):
            strided.set_num_threads(threads)
            for algo in FAST:
                _conv_case(1, 8, 9, 10, 12, 3, 3, 1, 1, 1, 1, np.float64, algo)
                _conv_case(3, 1, 20, 20, 6, 5, 5, 1, 0, 1, 1, np.float64, algo)
    finally:
        strided.set_num_threads(before)


# The benchmark layers and the algorithm the dispatcher documents for each pass
# (forward, backward_input, backward_weight); see the rule in csrc/conv2d/dispatch.cpp.
LAYERS = {
    "lenet_c1": ((64, 1, 32, 6, 5, 1, 0, 1), ("direct", "direct", "direct")),
    "brain_c1": ((32, 1, 128, 32, 5, 1, 0, 1), ("direct", "direct", "direct")),
    "vgg_3x3_64": ((32, 64, 32, 64, 3, 1, 1, 1), ("winograd", "winograd", "winograd")),
    "res_3x3_128": ((16, 128, 28, 128, 3, 1, 1, 1), ("winograd", "winograd", "winograd")),
    "res_stem_7x7s2": ((8, 3, 224, 64, 7, 2, 3, 1), ("direct", "gemm", "gemm")),
    "res_1x1_256": ((16, 256, 14, 64, 1, 1, 0, 1), ("gemm", "gemm", "gemm")),
    "down_3x3s2": ((16, 64, 56, 128, 3, 2, 1, 1), ("channels_last", "channels_last", "gemm")),
    "r18_3x3_512": ((32, 512, 4, 512, 3, 1, 1, 1), ("winograd", "winograd", "gemm")),
    "r18_short_256": ((32, 128, 16, 256, 1, 2, 0, 1), ("gemm", "gemm", "gemm")),
    "dw_3x3_128": ((16, 128, 28, 128, 3, 1, 1, 128), ("direct", "direct", "direct")),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dispatcher_choice(name):
    (N, C, H, K, k, s, p, g), want = LAYERS[name]
    args, _ = conv_args(np.empty((N, C, H, H), np.float32), np.empty((K, C // g, k, k), np.float32),
                        None, None, s, p, 1, g)
    got = tuple(_C.conv_choice(args, pass_) for pass_ in _C.conv_passes)
    assert got == want
    assert _C.conv_choice(args, "forward", "simple") == "simple"


def test_dispatcher_backward_weight_rows(cap):
    """Backward-weight's GEMM-or-direct rule is per ISA (Table::bwdw_gemm_rows): a 3-channel 3x3 stem's 9
    tile rows take the GEMM on AVX2 only; 12 rows take it everywhere, 1 input channel nowhere."""
    def choice(C, K, k):
        args, _ = conv_args(np.empty((8, C, 16, 16), np.float32), np.empty((K, C, k, k), np.float32), None,
                            None, 1, 1, 1, 1)
        return _C.conv_choice(args, "backward_weight")
    assert choice(3, 64, 3) == ("gemm" if cap == "avx2" else "direct")
    assert choice(4, 64, 3) == "gemm"
    assert choice(1, 64, 5) == "direct"
    assert choice(3, 8, 3) == "direct"  # K/g < 16


def test_dispatcher_winograd():
    """Winograd takes 3x3 layers at unit stride and dilation, one group and padding 0-2, with 16+ channels in
    and out, 64+ tiles of 2x2 in the batch and 80% of their outputs in the image; backward-input by the same
    rule on its flipped problem (padding 2 - p), backward-weight with 64-256 channels in and out."""
    def choice(N=8, C=64, H=16, K=64, k=3, stride=1, pad=1, dilation=1, groups=1, pass_="forward"):
        args, _ = conv_args(np.empty((N, C, H, H), np.float32), np.empty((K, C // groups, k, k), np.float32),
                            None, None, stride, pad, dilation, groups)
        return _C.conv_choice(args, pass_)
    for pass_ in ("forward", "backward_input"):
        assert choice(pass_=pass_) == choice(pad=0, pass_=pass_) == choice(pad=2, pass_=pass_) == "winograd"
        assert choice(C=16, K=16, pass_=pass_) == choice(N=1, pass_=pass_) == "winograd"  # 16 ch; 64 tiles
        assert choice(C=15, pass_=pass_) != "winograd" and choice(K=15, pass_=pass_) != "winograd"
        assert choice(N=1, H=14, pass_=pass_) != "winograd"  # 49 tiles
        assert choice(H=7, pass_=pass_) != "winograd"  # 49 of 64 outputs
        for odd in (dict(stride=2), dict(dilation=2), dict(groups=2), dict(pad=3), dict(k=5), dict(k=1, pad=0)):
            assert choice(pass_=pass_, **odd) != "winograd", odd
    # backward-weight: 64 to 256 channels (64x64 to 256x256 weights), and the batch's copies within the bound
    w = "backward_weight"
    assert choice(pass_=w) == choice(C=256, K=256, pass_=w) == choice(C=64, K=128, pass_=w) == "winograd"
    assert choice(C=32, pass_=w) == choice(K=32, pass_=w) == choice(C=256, K=512, pass_=w) == "gemm"
    assert choice(N=4096, H=64, pass_=w) == "gemm"  # the batch's copies past the bound
    args, _ = conv_args(np.empty((1, 16, 2, 2), np.float32), np.empty((100000, 16, 3, 3), np.float32), None,
                        None, 1, 1, 1, 1)  # a task's 6 tiles of gy's 100000 channels past it
    assert _C.conv_choice(args, w, "winograd") != "winograd"
    assert _C.conv_choice(args, "forward", "winograd") == "winograd"


def test_dispatcher_winograd_weight_bytes():
    """Winograd pays while its transformed weights (16 C K elements) take at most 16 MiB: float32 up to
    512x512 channels, float64 up to 256x512; beyond, Auto takes ChannelsLast (forcing Winograd still runs it)."""
    def choice(C, K, dtype, pass_="forward", algo="auto"):
        args, _ = conv_args(np.empty((32, C, 4, 4), np.float32), np.empty((K, C, 3, 3), np.float32), None, None,
                            1, 1, 1, 1)
        return _C.conv_choice(args, pass_, algo, dtype)
    for pass_ in ("forward", "backward_input"):
        assert choice(512, 512, "float32", pass_) == choice(256, 512, "float64", pass_) == "winograd"
        assert choice(512, 512, "float64", pass_) == choice(384, 384, "float64", pass_) == "channels_last"
        assert choice(512, 512, "float64", pass_, "winograd") == "winograd"
    with pytest.raises(ValueError, match="dtype"):
        choice(64, 64, "float16")


def test_dispatcher_backward_input_one_channel():
    """One input channel per group: backward-input takes the flipped direct kernel while its rows kernel
    applies (3x3 or 5x5 at unit stride and dilation) and K/g <= 64, else the GEMM with col2im."""
    def choice(K, k, stride=1, dilation=1, groups=1):
        args, _ = conv_args(np.empty((8, groups, 32, 32), np.float32), np.empty((K, 1, k, k), np.float32), None,
                            None, stride, 1, dilation, groups)
        return _C.conv_choice(args, "backward_input")
    assert choice(16, 5) == choice(64, 3) == "direct"
    assert choice(128, 5) == choice(32, 7) == choice(32, 3, dilation=2) == "gemm"
    assert choice(32, 3, stride=2) == "gemm"
    assert choice(8, 7) == "direct"  # K/g < 16: the rule for every shape


def test_env_capability_subprocess():
    code = "import strided; print(strided.cpu_capability())"
    for cap_name in CAPS:
        env = dict(os.environ, STRIDED_CPU_CAPABILITY=cap_name)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == cap_name


def test_fma_probe():
    assert _C.fma_peak("float32", 0.02) > 0 and _C.fma_peak("float64", 0.02) > 0


# ---------------------------------------------------------------- pooling

POOLS = [  # (shape, kernel, stride, padding, ceil_mode): windows that tile the plane (their own backward
    # kernels), overlapping ones, strides 1..8, padding and ceil_mode edges, rows of 1..65 outputs (scalar,
    # narrow vectors, one past a block of full ones)
    ((2, 3, 8, 8), 2, 2, 0, False), ((1, 2, 7, 9), 2, 2, 0, False), ((1, 2, 7, 9), 2, 2, 0, True),
    ((2, 3, 2, 5), 2, 2, 0, True), ((2, 3, 11, 12), 3, 2, 1, False), ((1, 2, 12, 11), 3, 2, 1, True),
    ((1, 1, 3, 3), 3, 2, 1, False), ((1, 2, 2, 2), 3, 2, 1, False), ((2, 2, 33, 35), 3, 2, 1, False),
    ((1, 2, 34, 33), 2, 2, 0, False), ((1, 2, 9, 10), 3, 1, 1, False), ((1, 1, 10, 9), (2, 3), (1, 2), (1, 1), True),
    ((2, 3, 13, 18), 4, 4, 0, False), ((1, 2, 11, 70), 4, 4, 1, True), ((2, 2, 9, 21), 2, 1, 0, False),
    ((1, 2, 10, 67), 3, 1, 1, False), ((2, 2, 12, 25), 3, 2, 0, True), ((1, 2, 17, 40), 5, 3, 2, False),
    ((1, 2, 9, 61), (2, 7), (1, 7), (1, 3), True), ((1, 1, 9, 80), 8, 8, 0, False),
    ((1, 1, 4, 131), 2, 2, 0, True), ((2, 2, 5, 13), 3, 2, 1, False), ((1, 2, 6, 4), 2, 2, 0, False),
]


@pytest.mark.parametrize("case", POOLS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_pooling(cap, case, dtype):
    shape, k, s, p, ceil = case
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[rng.integers(0, x.size, size=max(1, x.size // 17))] = np.nan  # NaN propagates in max pooling
    x.flat[::5] = x.flat[1::5][: x.flat[::5].size] if x.size > 5 else x.flat[::5]  # ties: first max wins
    for with_nan in (False, True):
        xi = x if with_nan else np.nan_to_num(x)
        y_ref, i_ref = ref.max_pool2d(xi, k, s, p, ceil_mode=ceil, return_indices=True)
        _poison(y_ref.nbytes)
        y = strided.max_pool2d(xi, k, s, p, ceil_mode=ceil)
        np.testing.assert_array_equal(y, y_ref)
        _poison(y_ref.nbytes + i_ref.nbytes)
        y, i = strided.max_pool2d(xi, k, s, p, ceil_mode=ceil, return_indices=True)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(i, i_ref)
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        gx_ref = ref.max_pool2d_backward(gy, xi, k, s, p, ceil_mode=ceil)
        _poison(xi.nbytes)
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, xi, k, s, p, ceil_mode=ceil), gx_ref,
                                   rtol=_tol(dtype), atol=_tol(dtype))
    x = np.nan_to_num(x)
    for cip in (True, False):
        y_ref = ref.avg_pool2d(x, k, s, p, ceil, cip)
        _poison(y_ref.nbytes)
        np.testing.assert_allclose(strided.avg_pool2d(x, k, s, p, ceil, cip), y_ref,
                                   rtol=_tol(dtype), atol=_tol(dtype))
        gy = rng.standard_normal(y_ref.shape).astype(dtype)
        _poison(x.nbytes)
        np.testing.assert_allclose(strided.avg_pool2d_backward(gy, x, k, s, p, ceil, cip),
                                   ref.avg_pool2d_backward(gy, x, k, s, p, ceil, cip),
                                   rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_pooling_backward_streams_large_gx(cap, dtype):
    """A gx of 4 MiB or more leaves its scratch planes by non-temporal stores of whole vectors: planes of
    161 x 163 start at every alignment, so the scalar head and tail of each copy run too. Max pooling's
    backward through given indices streams its planes the same way."""
    x = rng.standard_normal((1, (4 << 20) // (161 * 163 * np.dtype(dtype).itemsize) + 1, 161, 163)).astype(dtype)
    for k, s, p in ((2, 2, 0), (3, 2, 1)):
        gy = rng.standard_normal(ref.max_pool2d(x, k, s, p).shape).astype(dtype)
        want = ref.max_pool2d_backward(gy, x, k, s, p)
        _poison(x.nbytes)
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, x, k, s, p), want,
                                   rtol=_tol(dtype), atol=_tol(dtype))
        _, picks = strided.max_pool2d(x, k, s, p, return_indices=True)
        _poison(x.nbytes)
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, x, k, s, p, indices=picks), want,
                                   rtol=_tol(dtype), atol=_tol(dtype))
        _poison(x.nbytes)
        np.testing.assert_allclose(strided.avg_pool2d_backward(gy, x, k, s, p), ref.avg_pool2d_backward(gy, x, k, s, p),
                                   rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool_infinities(cap, dtype):
    """All -inf windows (the padding row of 3x3/2 is -inf inside the fast path) and +inf ties."""
    x = rng.standard_normal((2, 3, 9, 12)).astype(dtype)
    x[0, :, :3, :] = -np.inf
    x[1, 0, :, :5] = np.inf
    x[1, 1, 2, 3] = np.nan
    for k, s, p in ((3, 2, 1), (2, 2, 0), (4, 4, 0), (3, 1, 1), (2, 1, 0), (3, 2, 0), (5, 3, 2)):
        y, indices = ref.max_pool2d(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(strided.max_pool2d(x, k, s, p), y)
        for got, want in zip(strided.max_pool2d(x, k, s, p, return_indices=True), (y, indices)):
            np.testing.assert_array_equal(got, want)
        gy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(strided.max_pool2d_backward(gy, x, k, s, p), ref.max_pool2d_backward(gy, x, k, s, p),
                                   rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool_signed_zero(cap, dtype):
    """The forward value is the window's first maximum: of -0 and +0 tied, the one first in row-major order."""
    x = -np.abs(rng.standard_normal((2, 2, 11, 37))).astype(dtype)
    zero = rng.random(x.shape) < 0.5
    x[zero] = np.where(rng.random(int(zero.sum())) < 0.5, 0.0, -0.0)
    for k, s, p in ((2, 2, 0), (4, 4, 0), (3, 1, 1), (3, 2, 1), (5, 3, 2), ((2, 3), (1, 2), (1, 1))):
        want = ref.max_pool2d(x, k, s, p)
        got = strided.max_pool2d(x, k, s, p)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


# (N, C, H, W), odd sizes so that the normalization loops end in partial vectors
NORM_SHAPES = [(3, 6, 5, 7), (2, 16, 9, 1), (1, 4, 3, 1)]


@pytest.mark.parametrize("shape", NORM_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_norms(cap, shape, dtype):
    """Batch norm (training and running statistics) and group norm, forward and every gradient: their
    sums and streaming passes are per-ISA loops."""
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    for training in (True, False):
        what = f"batch_norm training={training} {shape} {np.dtype(dtype).name}"
        _close(strided.batch_norm(x, rm.copy(), rv.copy(), w, b, training),
               ref.batch_norm(x, rm.copy(), rv.copy(), w, b, training), dtype, what)
        for got, want, name in zip(strided.batch_norm_backward(gy, x, rm.copy(), rv.copy(), w, b, training),
                                   ref.batch_norm_backward(gy, x, rm.copy(), rv.copy(), w, b, training),
                                   ("gx", "gw", "gb")):
            _close(got, want, dtype, f"{what} {name}")
    groups = 2
    what = f"group_norm {shape} {np.dtype(dtype).name}"
    _close(strided.group_norm(x, groups, w, b), ref.group_norm(x, groups, w, b), dtype, what)
    for got, want, name in zip(strided.group_norm_backward(gy, x, groups, w, b),
                               ref.group_norm_backward(gy, x, groups, w, b), ("gx", "gw", "gb")):
        _close(got, want, dtype, f"{what} {name}")
