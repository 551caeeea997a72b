"""pytest-benchmark suite of the GPU kernels (strided.cuda): every layer of strided.bench.LAYERS (and its
batch-256 variant), every pass, our kernels ('auto', 'tiled', 'direct'), the im2col + cuBLAS path
('im2col'), and cuDNN through PyTorch ('torch_cudnn') or CuPy ('cupy_cudnn') when importable; the pooling
shapes of strided.bench.POOLS likewise. Skips cleanly without CuPy or a CUDA device.

    pytest benchmarks/test_gpu.py --benchmark-columns=median,ops -k "res_3x3_128 and forward"

Each timed call ends with a device synchronize, so the figure is kernel time plus launch and the ~10 us
of argument validation. Each benchmark records its FLOP count (conv) or shape (pool) in extra_info,
so GFLOP/s = flops / median.
"""
import numpy as np
import pytest

import strided
from strided.bench import CONV_PASSES, LAYERS, POOL_PASSES, POOLS, conv_flops
from strided.ops.conv2d import cuda as conv_cuda
from strided.ops.conv2d.args import conv_args

cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'strided[cuda12]' or '[cuda13]')")
try:
    HAVE_GPU = cp.cuda.runtime.getDeviceCount() > 0
except Exception:
    HAVE_GPU = False
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAVE_GPU, reason="no CUDA device")]

try:
    import torch
    HAVE_TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch, HAVE_TORCH_CUDA = None, False

OURS = ("auto", "tiled", "direct", "im2col")
IMPLS = OURS + ("torch_cudnn", "cupy_cudnn")
BATCHES = (None, 256)


def _sync():
    cp.cuda.Device().synchronize()


def _timed(fn):
    def run():
        out = fn()
        _sync()
        return out
    return run


def _data(layer, batch, dtype=np.float32):
    N, C, H, K, k, s, p, g = LAYERS[layer]
    N = batch or N
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H), dtype=np.float32).astype(dtype)
    w = (rng.standard_normal((K, C // g, k, k), dtype=np.float32) / np.sqrt(C // g * k * k)).astype(dtype)
    args, _ = conv_args(x, w, None, None, s, p, 1, g)
    gy = rng.standard_normal((N, K, args.OH, args.OW), dtype=np.float32).astype(dtype)
    return args, (s, p, g), [cp.asarray(a) for a in (x, w, gy)]


def _cupy_cudnn():
    for name in ("cupy.cudnn", "cupyx.cudnn"):
        try:
            module = __import__(name, fromlist=["convolution_forward"])
            if cp.cuda.cudnn.getVersion():  # raises when libcudnn is absent
                return module
        except Exception:
            continue
    return None


def _conv_fn(impl, ps, args, geom, x, w, gy):
    s, p, g = geom
    if impl in OURS:
        k = strided.cuda.kernels()
        algo = None if impl == "auto" else impl
        if ps == "forward":
            return lambda: k.conv2d_forward(x, w, None, args, algo)
        if ps == "backward_input":
            return lambda: k.conv2d_backward_input(gy, w, args, algo)
        return lambda: k.conv2d_backward_weight(gy, x, args, algo)
    if impl == "torch_cudnn":
        if not HAVE_TORCH_CUDA:
            pytest.skip("PyTorch with CUDA is not importable")
        torch.backends.cudnn.benchmark = True
        tx, tw, tgy = (torch.as_tensor(a, device="cuda") for a in (x, w, gy))
        if ps == "forward":
            return lambda: torch.nn.functional.conv2d(tx, tw, None, s, p, 1, g)
        mask = [ps == "backward_input", ps == "backward_weight", False]
        return lambda: torch.ops.aten.convolution_backward(tgy, tx, tw, None, [s, s], [p, p], [1, 1], False,
                                                           [0, 0], g, mask)
    cudnn = _cupy_cudnn()
    if cudnn is None:
        pytest.skip("CuPy's cuDNN bindings (and libcudnn) are not available")
    y = cp.empty((args.N, args.K, args.OH, args.OW), x.dtype)
    gx, gw = cp.empty_like(x), cp.empty_like(w)
    common = dict(pad=(p, p), stride=(s, s), dilation=(1, 1), groups=g, auto_tune=True, tensor_core="auto")
    try:
        if ps == "forward":
            fn = lambda: cudnn.convolution_forward(x, w, None, y, **common)
        elif ps == "backward_input":
            fn = lambda: cudnn.convolution_backward_data(w, gy, None, gx, **common)
        else:
            fn = lambda: cudnn.convolution_backward_filter(x, gy, gw, **common)
        fn()
    except Exception as e:  # the bindings' signatures vary across CuPy versions
        pytest.skip(f"CuPy cuDNN call failed: {e}")
    return fn


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ps", CONV_PASSES)
@pytest.mark.parametrize("batch", BATCHES, ids=["b_default", "b256"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_conv(benchmark, layer, batch, ps, impl):
    args, geom, (x, w, gy) = _data(layer, batch)
    fn = _conv_fn(impl, ps, args, geom, x, w, gy)
    benchmark.group = f"gpu {layer} b{args.N} {ps}"
    flops = conv_flops(layer) * args.N // LAYERS[layer][0]
    benchmark.extra_info.update(flops=flops, device=cp.cuda.runtime.getDeviceProperties(0)["name"].decode(),
                                batch=args.N)
    if impl in ("auto", "tiled", "direct"):
        pick = conv_cuda.forward_algorithm if ps == "forward" else conv_cuda.weight_algorithm
        benchmark.extra_info["algo"] = (pick(args, impl) if ps != "backward_input" else "gather")
    benchmark.pedantic(_timed(fn), rounds=10, iterations=3, warmup_rounds=2)


@pytest.mark.parametrize("impl", ["strided", "torch_cuda"])
@pytest.mark.parametrize("ps", POOL_PASSES)
@pytest.mark.parametrize("name", list(POOLS))
def test_pool(benchmark, name, ps, impl):
    shape, kind, k, s, p = POOLS[name]
    x = cp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
    y = strided.max_pool2d(x, k, s, p) if kind == "max" else strided.avg_pool2d(x, k, s, p)
    gy = cp.ones_like(y)
    benchmark.group = f"gpu {name} {ps}"
    benchmark.extra_info.update(shape=list(shape), bytes=int(x.nbytes + y.nbytes))
    if impl == "torch_cuda":
        if not HAVE_TORCH_CUDA:
            pytest.skip("PyTorch with CUDA is not importable")
        tx, tgy = torch.as_tensor(x, device="cuda"), torch.as_tensor(gy, device="cuda")
        if ps == "forward":
            f = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
            fn = lambda: f(tx, k, s, p)
        elif kind == "max":
            _, idx = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
            fn = lambda: torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, [k, k], [s, s], [p, p], [1, 1],
                                                                         False, idx)
        else:
            fn = lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, [k, k], [s, s], [p, p], False, True, None)
    elif ps == "forward":
        f = strided.max_pool2d if kind == "max" else strided.avg_pool2d
        fn = lambda: f(x, k, s, p)
    else:
        f = strided.max_pool2d_backward if kind == "max" else strided.avg_pool2d_backward
        fn = lambda: f(gy, x, k, s, p)
    benchmark.pedantic(_timed(fn), rounds=10, iterations=3, warmup_rounds=2)
