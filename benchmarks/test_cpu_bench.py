"""pytest-benchmark suite of the CPU kernels: every layer of strided.bench.LAYERS, every pass, every CPU
algorithm strided has plus the dispatcher's choice ('auto'), strided.reference on the small layers (it is
slow), and PyTorch CPU when it is importable; the pooling shapes of strided.bench.POOLS likewise.

    pytest benchmarks/test_cpu_bench.py --benchmark-columns=median,ops -k "vgg and auto"

Each benchmark records its FLOP (or byte) count in extra_info, so GFLOP/s = flops / median.
The summary table with % of peak and ratios is `python -m strided.bench`.
"""
import numpy as np
import pytest

import strided
from strided import _C
from strided import reference as ref
from strided.bench import CONV_PASSES, LAYERS, POOL_PASSES, POOLS, conv_flops
from strided.ops.conv2d.args import conv_args

try:
    import torch
except ImportError:  # the PyTorch rows skip
    torch = None

ALGOS = sorted(_C.conv_algorithms)          # auto, direct, gemm, im2col, simple
SMALL = ("lenet_c1", "dw_3x3_128")          # where the slow implementations still finish in seconds
IMPLS = ALGOS + ["reference", "torch"]


def _data(layer, dtype=np.float32):
    N, C, H, K, k, s, p, g = LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C // g, k, k)).astype(dtype)
    args, _ = conv_args(x, w, None, None, s, p, 1, g)
    gy = rng.standard_normal((N, K, args.OH, args.OW)).astype(dtype)
    return x, w, gy, (s, p, 1, g)


def _conv_fn(impl, ps, x, w, gy, geom):
    s, p, d, g = geom
    if impl == "torch":
        tx, tw, tgy = (torch.from_numpy(a) for a in (x, w, gy))
        if ps == "forward":
            return lambda: torch.nn.functional.conv2d(tx, tw, None, s, p, d, g)
        mask = [ps == "backward_input", ps == "backward_weight", False]
        return lambda: torch.ops.aten.convolution_backward(tgy, tx, tw, None, [s, s], [p, p], [d, d], False,
                                                           [0, 0], g, mask)
    mod = ref if impl == "reference" else strided
    if ps == "forward":
        return lambda: mod.conv2d(x, w, None, s, p, d, g)
    kw = dict(input_grad=ps == "backward_input", weight_grad=ps == "backward_weight", bias_grad=False)
    return lambda: mod.conv2d_backward(gy, x, w, s, p, d, g, **kw)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ps", CONV_PASSES)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_conv(benchmark, layer, ps, impl):
    if impl == "torch" and torch is None:
        pytest.skip("PyTorch is not importable")
    if impl in ("reference", "simple", "im2col") and layer not in SMALL:
        pytest.skip(f"{impl} is too slow for {layer}; it runs on {', '.join(SMALL)}")
    fn = _conv_fn(impl, ps, *_data(layer))
    benchmark.group = f"{layer} {ps}"
    benchmark.extra_info.update(flops=conv_flops(layer), threads=strided.get_num_threads())
    if impl in ALGOS:
        args, _ = conv_args(*_data(layer)[:2], None, None, *_data(layer)[3])
        benchmark.extra_info["algo"] = _C.conv_choice(args, ps, impl)
        with strided.conv_algorithm(impl):
            benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    else:
        benchmark.pedantic(fn, rounds=3 if impl == "reference" else 5, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["strided", "reference", "torch"])
@pytest.mark.parametrize("ps", POOL_PASSES)
@pytest.mark.parametrize("name", list(POOLS))
def test_pool(benchmark, name, ps, impl):
    if impl == "torch" and torch is None:
        pytest.skip("PyTorch is not importable")
    shape, kind, k, s, p = POOLS[name]
    if impl == "reference":
        shape = (1, 8) + shape[2:]  # the reference loops over output positions in Python
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = strided.max_pool2d(x, k, s, p) if kind == "max" else strided.avg_pool2d(x, k, s, p)
    gy = np.ones_like(y)
    benchmark.group = f"{name} {ps}"
    benchmark.extra_info.update(shape=list(shape), threads=strided.get_num_threads())
    if impl == "torch":
        tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
        if ps == "forward":
            f = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
            fn = lambda: f(tx, k, s, p)
        elif kind == "max":
            _, idx = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
            fn = lambda: torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, [k, k], [s, s], [p, p], [1, 1],
                                                                         False, idx)
        else:
            fn = lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, [k, k], [s, s], [p, p], False, True, None)
    else:
        mod = ref if impl == "reference" else strided
        if ps == "forward":
            f = mod.max_pool2d if kind == "max" else mod.avg_pool2d
            fn = lambda: f(x, k, s, p)
        else:
            f = mod.max_pool2d_backward if kind == "max" else mod.avg_pool2d_backward
            fn = lambda: f(gy, x, k, s, p)
    benchmark.pedantic(fn, rounds=3 if impl == "reference" else 7, warmup_rounds=1)
