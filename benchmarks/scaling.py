"""Data-parallel scaling: training images/s on 1 rank and on 2 ranks (1 thread each), the time each step
waits on the gradient allreduce after its backward, how much of the allreduce the backward hid, and a model
of larger jobs built on these measurements.

    python benchmarks/scaling.py                  # brain_second and resnet18; prints the tables
    python benchmarks/scaling.py --models resnet18 --steps 20 --json scaling.json

Needs the mpi extra (pip install 'strided[mpi]'). Each configuration is its own `mpiexec` job: warm-up
steps, then `--steps` timed steps on random data (per-rank batch: brain_second 32 at 1x128x128, resnet18
64 at 3x32x32). "allreduce" is what one blocking allreduce of all the gradient buckets takes on its own
(median of 5); "waited" the median time a step spent in DataParallel.synchronize() after its backward
(the allreduce left over, plus any skew between the ranks). The 2-rank run is repeated with every
allreduce started only after the backward (overlap=False): hidden = (that step - the overlapped step) /
allreduce, the share of the allreduce the backward absorbed.

The model: a node is this machine running one rank on all its cores (measured: the 1 rank x 2 threads
step). Its backward makes the buckets ready at the fractions of the backward measured on 2 ranks; each
bucket then needs a ring allreduce of 2 (p - 1) / p * bytes / bandwidth + 2 (p - 1) * latency, one bucket
after another on the link; what ends after the backward is exposed. efficiency = step / (step + exposed).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONFIGS = {"brain_second": dict(batch=32, shape=(1, 128, 128), classes=2, kw={}),
           "resnet18": dict(batch=64, shape=(3, 32, 32), classes=10, kw={"small": True})}
# (ranks, threads each, overlap): 1 core; 2 cores as 2 ranks, with and without overlap; 2 cores as 1 rank
RUNS = ((1, 1, True), (2, 1, True), (2, 1, False), (1, 2, True))
LATENCY_S = 20e-6                # per ring step: a typical MPI latency over TCP or RoCE


def _worker(name, steps, warmup, threads, overlap):
    from strided import distributed, losses, models, nn, optim

    comm = distributed.init(threads=threads)
    cfg = CONFIGS[name]
    nn.init.seed(0)
    model = getattr(models, name)(num_classes=cfg["classes"], in_channels=cfg["shape"][0], **cfg["kw"])
    dp = distributed.DataParallel(model, overlap=overlap)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss = losses.CrossEntropyLoss()
    rng = np.random.default_rng(comm.rank)
    x = rng.standard_normal((cfg["batch"],) + cfg["shape"]).astype(np.float32)
    y = rng.integers(0, cfg["classes"], cfg["batch"])
    times, waits, schedules = [], [], []
    for i in range(warmup + steps):
        comm.barrier()
        t0 = time.perf_counter()
        w0 = dp.stats["wait_s"]
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward(), need_input_grad=False)
        dp.synchronize()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            waits.append(dp.stats["wait_s"] - w0)
            schedules.append(dp.schedule)
    blocking = []
    if comm.size > 1:
        from mpi4py import MPI

        for _ in range(5):
            comm.barrier()
            t0 = time.perf_counter()
            for b in dp.buckets:
                comm.comm.Allreduce(MPI.IN_PLACE, b.buf, op=MPI.SUM)
            blocking.append(time.perf_counter() - t0)
    step = float(np.median(times))
    result = {"model": name, "ranks": comm.size, "threads": threads, "overlap": overlap, "batch_per_rank": cfg["batch"],
              "step_ms": 1e3 * step, "images_per_s": comm.size * cfg["batch"] / step,
              "waited_ms": 1e3 * float(np.median(waits)),
              "allreduce_ms": 1e3 * float(np.median(blocking)) if blocking else 0.0,
              "grad_mb": sum(p.data.nbytes for p in model.parameters()) / 2 ** 20}
    if schedules[0] is not None:  # bucket readiness as fractions of the backward, medians over the steps
        result["backward_fraction"] = float(np.median([s["backward_s"] for s in schedules])) / step
        result["buckets"] = [[float(np.median([s["buckets"][k][0] / s["backward_s"] for s in schedules])),
                              schedules[0]["buckets"][k][1]] for k in range(len(schedules[0]["buckets"]))]
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def predict(node_step_s, backward_fraction, buckets, nodes, gbit_per_s):
    """Efficiency of `nodes` nodes on a `gbit_per_s` network (see the module docstring)."""
    bandwidth = gbit_per_s * 1e9 / 8
    backward = backward_fraction * node_step_s
    end = 0.0
    for ready, nbytes in buckets:
        ring = 2 * (nodes - 1) / nodes * nbytes / bandwidth + 2 * (nodes - 1) * LATENCY_S
        end = max(end, ready * backward) + ring
    exposed = max(0.0, end - backward)
    return node_step_s / (node_step_s + exposed), exposed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="brain_second,resnet18")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--no-overlap", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return _worker(a.worker, a.steps, a.warmup, a.threads, not a.no_overlap)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install 'strided[mpi]'")
    rows = []
    for name in a.models.split(","):
        for ranks, threads, overlap in RUNS:
            cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--worker", name,
                   "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(threads)]
            cmd += [] if overlap else ["--no-overlap"]
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
            rows.append(json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:]))
    base = {r["model"]: r["images_per_s"] for r in rows if r["ranks"] == 1 and r["threads"] == 1}
    print(f"{'model':14}{'ranks x thr':>12}{'overlap':>8}{'batch/rank':>11}{'step ms':>10}{'img/s':>9}{'vs 1x1':>8}"
          f"{'grad MB':>9}{'buckets':>8}{'allreduce ms':>13}{'waited ms':>10}{'hidden':>8}")
    for r in rows:
        r["scaling"] = r["images_per_s"] / base[r["model"]]
        serial = [q for q in rows if q["model"] == r["model"] and q["ranks"] > 1 and not q["overlap"]]
        r["hidden"] = None
        if r["ranks"] > 1 and r["overlap"] and serial and r["allreduce_ms"]:
            r["hidden"] = (serial[0]["step_ms"] - r["step_ms"]) / r["allreduce_ms"]
        hidden = f"{100 * r['hidden']:>7.0f}%" if r["hidden"] is not None else f"{'':>8}"
        print(f"{r['model']:14}{r['ranks']:>8} x {r['threads']}{'yes' if r['overlap'] else 'no':>8}"
              f"{r['batch_per_rank']:>11}{r['step_ms']:>10.1f}"
              f"{r['images_per_s']:>9.1f}{r['scaling']:>7.2f}x{r['grad_mb']:>9.2f}{len(r.get('buckets', [])):>8}"
              f"{r['allreduce_ms']:>13.2f}{r['waited_ms']:>10.2f}{hidden}")
    print(f"\nmodel of larger jobs (a node = 1 rank x 2 threads; latency {LATENCY_S * 1e6:.0f} us per ring step):")
    print(f"{'model':14}{'nodes':>6}{'Gb/s':>6}{'node step ms':>13}{'exposed ms':>11}{'efficiency':>11}")
    for name in a.models.split(","):
        node = next(r for r in rows if r["model"] == name and r["ranks"] == 1 and r["threads"] == 2)
        two = next(r for r in rows if r["model"] == name and r["ranks"] == 2 and r["overlap"])
        for nodes in (8, 64):
            for gbit in (10, 100):
                eff, exposed = predict(node["step_ms"] / 1e3, two["backward_fraction"], two["buckets"], nodes, gbit)
                print(f"{name:14}{nodes:>6}{gbit:>6}{node['step_ms']:>13.1f}{1e3 * exposed:>11.1f}{100 * eff:>10.0f}%")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
