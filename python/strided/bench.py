"""The CPU benchmark report: ``python -m strided.bench``.

Times every pass of a fixed set of convolution layers and pooling shapes with strided's CPU kernels
(the dispatcher's choice, or the algorithms named by --algos) and, when it is importable, PyTorch on
the same data and thread count, then prints one table: time (median), GFLOP/s (GB/s for pooling), the
share of this machine's peak measured on the spot (an FMA-throughput probe in strided._C on the same
threads with the widest SIMD path in use; a parallel memcpy of 256 MiB for bandwidth, bytes read +
written), the ratio to PyTorch, the thread count, and the share of peak and ratio from each side's best
call (on a shared machine the medians move with the other tenants' load; the best calls much less).
A convolution's GFLOP/s count the direct sum's operations (2 N K C/g R S OH OW) whatever the algorithm,
so a pass run by Winograd, which multiplies less, can read above 100% of the peak.

    python -m strided.bench [--threads 1,2] [--dtype float32[,float64]] [--layers a,b] [--algos auto,gemm]
                            [--isa avx2,avx512] [--json out.json] [--plot out.png] [--quick]

--isa runs the whole report once per SIMD level, each in its own process with strided forced to the level
(STRIDED_CPU_CAPABILITY) and PyTorch capped to the same one (ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY,
which must be set before torch is imported); the FMA peak is probed per level.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import _C
from . import functional as F
from .ops.conv2d.args import conv_args, conv_shape_args
from .ops.conv2d.args import conv_flops as conv_args_flops

# name: (N, C, H=W, K, kernel, stride, padding, groups)
LAYERS = {
    "lenet_c1": (64, 1, 32, 6, 5, 1, 0, 1),
    "brain_c1": (32, 1, 128, 32, 5, 1, 0, 1),
    "vgg_3x3_64": (32, 64, 32, 64, 3, 1, 1, 1),      # also ResNet-18's first stage on 3x32x32
    "res_3x3_128": (16, 128, 28, 128, 3, 1, 1, 1),
    "res_stem_7x7s2": (8, 3, 224, 64, 7, 2, 3, 1),
    "res_1x1_256": (16, 256, 14, 64, 1, 1, 0, 1),
    "down_3x3s2": (16, 64, 56, 128, 3, 2, 1, 1),
    "dw_3x3_128": (16, 128, 28, 128, 3, 1, 1, 128),
    # ResNet-18 on 3x32x32 at batch 32: the later stages, their stride-2 downsamples and 1x1 shortcuts
    "r18_3x3_128": (32, 128, 16, 128, 3, 1, 1, 1),
    "r18_3x3_256": (32, 256, 8, 256, 3, 1, 1, 1),
    "r18_3x3_512": (32, 512, 4, 512, 3, 1, 1, 1),
    "r18_down_128": (32, 64, 32, 128, 3, 2, 1, 1),
    "r18_down_256": (32, 128, 16, 256, 3, 2, 1, 1),
    "r18_down_512": (32, 256, 8, 512, 3, 2, 1, 1),
    "r18_short_128": (32, 64, 32, 128, 1, 2, 0, 1),
    "r18_short_256": (32, 128, 16, 256, 1, 2, 0, 1),
    "r18_short_512": (32, 256, 8, 512, 1, 2, 0, 1),
}
# The layers big enough for fp64 to be a compute question (and the 1.0x-of-PyTorch goal).
BIG_LAYERS = ("vgg_3x3_64", "res_3x3_128", "res_1x1_256", "down_3x3s2")
# SIMD level -> PyTorch's caps for it: oneDNN's ISA name and ATen's capability.
TORCH_ISA = {"avx512": ("AVX512_CORE", "avx512"), "avx2": ("AVX2", "avx2"), "default": ("SSE41", "default")}
# name: (x shape, kind, kernel, stride, padding)
POOLS = {
    "maxpool_2x2s2": ((32, 64, 56, 56), "max", 2, 2, 0),
    "avgpool_2x2s2": ((32, 64, 56, 56), "avg", 2, 2, 0),
    "maxpool_3x3s2": ((8, 64, 112, 112), "max", 3, 2, 1),
    "avgpool_3x3s2": ((8, 64, 112, 112), "avg", 3, 2, 1),
}
CONV_PASSES = ("forward", "backward_input", "backward_weight")
POOL_PASSES = ("forward", "backward")


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _times(fns, reps, min_time):
    """(median, best) wall time of each fn() (None for a missing one) over at least `reps` rounds and
    `min_time` seconds, after one warm-up each. A round calls them in turn, so the two sides of a ratio sample
    the same moments of a shared machine (timed one after the other, a busy second could fall on one side)."""
    live = [f for f in fns if f is not None]
    for f in live:
        f()
    times = [[] for _ in live]
    start = time.perf_counter()
    while len(times[0]) < reps or (time.perf_counter() - start < min_time and len(times[0]) < 50):
        for f, ts in zip(live, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    stats = iter([(statistics.median(ts), min(ts)) for ts in times])
    return [None if f is None else next(stats) for f in fns]


def _timed(row, times, amount, peak, rate):
    """row with both sides' median and best times, our rate (amount per second, as `rate`: FLOP or bytes,
    in G), its % of peak and the ratios to PyTorch, from the medians and (best_*) from the best calls."""
    (t, best), theirs = times
    tt, tbest = theirs or (None, None)
    row.update(time_s=t, best_time_s=best, torch_time_s=tt, torch_best_time_s=tbest)
    row[rate] = amount / t * 1e-9
    row.update(pct_peak=100 * amount / t * 1e-9 / peak, best_pct_peak=100 * amount / best * 1e-9 / peak,
               vs_torch=tt / t if tt else None, best_vs_torch=tbest / best if tbest else None)
    return row


def conv_flops(layer):
    N, C, H, K, k, s, p, g = LAYERS[layer]
    return conv_args_flops(conv_shape_args((N, C, H, H), (K, C // g, k, k), s, p, 1, g))


def _conv_fns(layer, dtype, algo, torch, rng):
    """{pass: (strided callable, torch callable or None)} on the same random data."""
    N, C, H, K, k, s, p, g = LAYERS[layer]
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C // g, k, k)).astype(dtype)
    args, _ = conv_args(x, w, None, None, s, p, 1, g)
    gy = rng.standard_normal((N, K, args.OH, args.OW)).astype(dtype)
    code = _C.conv_algorithms[algo]
    ours = {
        "forward": lambda: _C.conv2d_forward(x, w, None, args, code),
        "backward_input": lambda: _C.conv2d_backward_input(gy, w, args, code),
        "backward_weight": lambda: _C.conv2d_backward_weight(gy, x, args, code)[0],
    }
    theirs = dict.fromkeys(CONV_PASSES)
    if torch is not None:
        tx, tw, tgy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(gy)
        cb = torch.ops.aten.convolution_backward

        def tb(mask):
            return lambda: cb(tgy, tx, tw, None, [s, s], [p, p], [1, 1], False, [0, 0], g, mask)
        theirs = {
            "forward": lambda: torch.nn.functional.conv2d(tx, tw, None, s, p, 1, g),
            "backward_input": tb([True, False, False]),
            "backward_weight": tb([False, True, False]),
        }
    return args, ours, theirs


def _pool_fns(name, dtype, torch, rng):
    shape, kind, k, s, p = POOLS[name]
    x = rng.standard_normal(shape).astype(dtype)
    fwd = F.max_pool2d if kind == "max" else F.avg_pool2d
    bwd = F.max_pool2d_backward if kind == "max" else F.avg_pool2d_backward
    y = fwd(x, k, s, p)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ours = {"forward": lambda: fwd(x, k, s, p), "backward": lambda: bwd(gy, x, k, s, p)}
    # bytes that must move: input + output forward; backward reads gy, writes gx. Max pooling runs as
    # nn.MaxPool2d trains (and as PyTorch's max_pool2d_with_indices below): the forward also writes the
    # picks' indices, the backward routes the gradient through them.
    nbytes = {"forward": x.nbytes + y.nbytes, "backward": gy.nbytes + x.nbytes}
    if kind == "max":
        _, picks = F.max_pool2d(x, k, s, p, return_indices=True)
        ours["forward"] = lambda: fwd(x, k, s, p, return_indices=True)
        ours["backward"] = lambda: bwd(gy, x, k, s, p, indices=picks)
        nbytes["forward"] += picks.nbytes
        nbytes["backward"] += picks.nbytes
    theirs = dict.fromkeys(POOL_PASSES)
    if torch is not None:
        tx = torch.from_numpy(x)
        tf = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
        if kind == "max":
            ty, idx = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
            tgy = torch.from_numpy(gy)
            tb = lambda: torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, [k, k], [s, s], [p, p],
                                                                          [1, 1], False, idx)
        else:
            tgy = torch.from_numpy(gy)
            tb = lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, [k, k], [s, s], [p, p], False, True, None)
        tfwd = (lambda: tf(tx, k, s, p, return_indices=True)) if kind == "max" else (lambda: tf(tx, k, s, p))
        theirs = {"forward": tfwd, "backward": tb}
    return ours, theirs, nbytes


def run(threads=(1, 2), dtypes=("float32",), layers=None, algos=("auto",), pools=True, quick=False,
        out=sys.stdout):
    """Runs the benchmark and returns {"machine": {...}, "rows": [...]}; prints the table as it goes."""
    layers = list(layers or LAYERS)
    reps, min_time = (3, 0.0) if quick else (7, 0.3)
    rng = np.random.default_rng(0)
    before = _C.get_num_threads()
    machine = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_name(), "python": platform.python_version(), "numpy": np.__version__,
        "simd": _C.cpu_capability(), "peaks": {},
    }
    rows = []
    header = (f"{'layer':<16} {'pass':<16} {'dtype':<7} {'algo':<13} {'thr':>3} {'time ms':>9} "
              f"{'rate':>13} {'%peak':>6} {'torch ms':>9} {'vs torch':>8} {'best%':>6} {'best vs':>8}")
    try:
        for nt in threads:
            _C.set_num_threads(nt)
            torch = _torch(nt)
            if torch is not None:
                machine["torch"] = torch.__version__
            bw = _bandwidth(quick)
            for dt in dtypes:
                peak = _peak(dt, quick)
                machine["peaks"][f"{dt}/{nt}"] = {"gflops": peak, "memcpy_gbs": bw}
                print(f"\n# {nt} thread(s), {dt}: FMA peak {peak:.1f} GFLOP/s ({_C.cpu_capability()}), "
                      f"memcpy {bw:.1f} GB/s", file=out)
                print(header, file=out)
                for layer in layers:
                    if dt == "float64" and len(dtypes) > 1 and layer not in BIG_LAYERS:
                        continue  # the fp64 figures that matter are the big layers'
                    flops = conv_flops(layer)
                    for algo in algos:
                        args, ours, theirs = _conv_fns(layer, np.dtype(dt), algo, torch, rng)
                        for ps in CONV_PASSES:
                            row = _timed(dict(layer=layer, kind="conv", **{"pass": ps}, dtype=dt,
                                              algo=_C.conv_choice(args, ps, algo, dt), asked=algo, threads=nt),
                                         _times([ours[ps], theirs[ps]], reps, min_time), flops, peak, "gflops")
                            rows.append(row)
                            _print_row(row, out)
                if pools and (dt == "float32" or len(dtypes) == 1):
                    for name in POOLS:
                        ours, theirs, nbytes = _pool_fns(name, np.dtype(dt), torch, rng)
                        for ps in POOL_PASSES:
                            row = _timed(dict(layer=name, kind="pool", **{"pass": ps}, dtype=dt, algo="stream",
                                              asked="auto", threads=nt),
                                         _times([ours[ps], theirs[ps]], reps, min_time), nbytes[ps], bw, "gbs")
                            rows.append(row)
                            _print_row(row, out)
                _reprobe(machine["peaks"][f"{dt}/{nt}"], dt, quick, out)
                _print_summary([r for r in rows if r["threads"] == nt and r["dtype"] == dt], out)
    finally:
        _C.set_num_threads(before)
    return {"machine": machine, "rows": rows}


def _peak(dt, quick):
    """The FMA peak, best of three short probes: on a shared machine one probe can land on a busy moment."""
    return max(_C.fma_peak(dt, 0.05 if quick else 0.15) for _ in range(3))


def _bandwidth(quick):
    return _C.memcpy_bandwidth(int(128 << 20) if quick else int(256 << 20), 3 if quick else 5)


def _reprobe(peaks, dt, quick, out):
    """The probes again after a section's rows: a busy moment of a shared host during the first ones reads
    the peak low, and the section's rows then pass 100%. Both readings are kept; a higher one is printed."""
    again, bw = _peak(dt, quick), _bandwidth(quick)
    peaks.update(gflops_after=again, memcpy_gbs_after=bw)
    if again > 1.1 * peaks["gflops"] or bw > 1.1 * peaks["memcpy_gbs"]:
        print(f"# probed again after these rows: FMA peak {again:.1f} GFLOP/s, memcpy {bw:.1f} GB/s; the %peak "
              f"column above used {peaks['gflops']:.1f} and {peaks['memcpy_gbs']:.1f} (read on a busy moment)",
              file=out)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _print_row(r, out):
    rate = f"{r['gflops']:8.1f} GF/s" if r["kind"] == "conv" else f"{r['gbs']:8.1f} GB/s"
    tt = f"{r['torch_time_s'] * 1e3:9.3f}" if r["torch_time_s"] else f"{'-':>9}"
    vs = f"{r['vs_torch']:7.2f}x" if r["vs_torch"] else f"{'-':>8}"
    bvs = f"{r['best_vs_torch']:7.2f}x" if r["best_vs_torch"] else f"{'-':>8}"
    print(f"{r['layer']:<16} {r['pass']:<16} {r['dtype']:<7} {r['algo']:<13} {r['threads']:>3} "
          f"{r['time_s'] * 1e3:9.3f} {rate:>13} {r['pct_peak']:5.1f}% {tt} {vs} {r['best_pct_peak']:5.1f}% {bvs}",
          file=out, flush=True)


def _print_summary(rows, out):
    conv = [r for r in rows if r["kind"] == "conv" and r["vs_torch"] and r["asked"] == "auto"]
    if conv:
        gm, best = (math.exp(sum(math.log(r[k]) for r in conv) / len(conv)) for k in ("vs_torch", "best_vs_torch"))
        print(f"geometric mean vs torch over {len(conv)} conv passes: {gm:.2f}x (best calls: {best:.2f}x)", file=out)


def plot(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install strided[plot])", file=sys.stderr)
        return False
    rows = [r for r in result["rows"] if r["asked"] == "auto"]
    groups = sorted({(r["threads"], r["dtype"]) for r in rows})
    labels = list(dict.fromkeys(f"{r['layer']}\n{r['pass']}" for r in rows))
    fig, ax = plt.subplots(figsize=(max(10, 0.45 * len(labels)), 5))
    width = 0.8 / max(len(groups), 1)
    for gi, (nt, dt) in enumerate(groups):
        vals = {f"{r['layer']}\n{r['pass']}": r["pct_peak"] for r in rows if (r["threads"], r["dtype"]) == (nt, dt)}
        xs = [i + gi * width for i, lab in enumerate(labels) if lab in vals]
        ax.bar(xs, [vals[lab] for lab in labels if lab in vals], width, label=f"{nt} thread(s) {dt}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_ylabel("% of measured peak (FLOP/s conv, memcpy GB/s pooling)")
    ax.set_title(f"strided CPU kernels, {result['machine']['cpu']}, {result['machine']['date']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m strided.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1,2 or 1 with --quick)")
    ap.add_argument("--dtype", default="float32", help="float32, float64 or both comma-separated "
                    "(with both, float64 runs only on the big layers)")
    ap.add_argument("--layers", default=None, help=f"comma-separated subset of {','.join(LAYERS)}")
    ap.add_argument("--algos", default="auto", help=f"comma-separated from {','.join(sorted(_C.conv_algorithms))}")
    ap.add_argument("--no-pool", action="store_true", help="skip the pooling rows")
    ap.add_argument("--json", default=None, help="save the rows and machine figures here")
    ap.add_argument("--plot", default=None, help="bar chart (needs matplotlib)")
    ap.add_argument("--quick", action="store_true", help="3 repetitions, no minimum time (< 60 s)")
    ap.add_argument("--isa", default=None, help="comma-separated SIMD levels (avx512, avx2, default): the report "
                    "once per level, strided and PyTorch both held to it")
    a = ap.parse_args(argv)
    if a.isa:
        return run_levels(a.isa.split(","), argv if argv is not None else sys.argv[1:], a.json, ap)
    threads = [int(t) for t in (a.threads or ("2" if a.quick else "1,2")).split(",")]
    dtypes = a.dtype.split(",")
    for d in dtypes:
        if d not in ("float32", "float64"):
            ap.error(f"--dtype must be float32 or float64, got {d}")
    layers = a.layers.split(",") if a.layers else None
    for name in layers or ():
        if name not in LAYERS:
            ap.error(f"unknown layer {name}; choose from {','.join(LAYERS)}")
    algos = a.algos.split(",")
    for name in algos:
        if name not in _C.conv_algorithms:
            ap.error(f"unknown algorithm {name}; choose from {','.join(sorted(_C.conv_algorithms))}")
    result = run(threads, dtypes, layers, algos, pools=not a.no_pool, quick=a.quick)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if a.plot:
        plot(result, a.plot)


def run_levels(levels, argv, json_path, ap):
    """The report once per SIMD level, each in a fresh process (the caps must precede torch's import)."""
    order = ["default", "avx2", "avx512"]
    for level in levels:
        if level not in TORCH_ISA:
            ap.error(f"unknown --isa level {level}; choose from {','.join(order)}")
        if order.index(level) > order.index(_C.cpu_detected()):
            ap.error(f"this CPU has no {level} (it has {_C.cpu_detected()})")
    rest, skip = [], False
    for arg in argv:  # the same options, less --isa and --json
        if skip:
            skip = False
        elif arg in ("--isa", "--json"):
            skip = True
        elif not arg.startswith(("--isa=", "--json=")):
            rest.append(arg)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            onednn, aten = TORCH_ISA[level]
            env = dict(os.environ, STRIDED_CPU_CAPABILITY=level, ONEDNN_MAX_CPU_ISA=onednn, ATEN_CPU_CAPABILITY=aten)
            out = os.path.join(tmp, f"{level}.json")
            args = [f"{root}-{level}{ext}" if i and rest[i - 1] == "--plot" else arg  # one plot per level
                    for i, arg in enumerate(rest) for root, ext in [os.path.splitext(arg)]]
            print(f"\n## SIMD level {level} (PyTorch capped: ONEDNN_MAX_CPU_ISA={onednn}, "
                  f"ATEN_CPU_CAPABILITY={aten})", flush=True)
            subprocess.run([sys.executable, "-m", "strided.bench", *args, "--json", out], env=env, check=True)
            with open(out) as f:
                results[level] = json.load(f)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"levels": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
