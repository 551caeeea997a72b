"""Data-parallel scaling: training images/s on 1 rank and on N ranks (1 thread each), the time each step
waits on the gradient allreduce after the backward, and how much of the allreduce the backward hid.

    python benchmarks/scaling.py                  # launches 1 rank, then 2 ranks, and prints the table
    python benchmarks/scaling.py --ranks 1,2 --steps 20 --models brain_second,resnet18

Needs the mpi extra (pip install 'strided[mpi]'). Each configuration runs as its own `mpiexec` job:
warm-up steps, then `--steps` timed steps on random data (per-rank batch: brain_second 32 at 1x128x128,
resnet18 64 at 3x32x32). "allreduce" is the time one blocking allreduce of all the gradient buckets takes
on its own (median of 5); "waited" the median time a step spent in DataParallel.synchronize() after its
backward; hidden = 1 - waited / allreduce.
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

CONFIGS = {"brain_second": dict(batch=32, shape=(1, 128, 128), classes=2),
           "resnet18": dict(batch=64, shape=(3, 32, 32), classes=10)}


def _worker(name, steps, warmup):
    from strided import distributed, losses, models, nn, optim

    comm = distributed.init(threads=1)
    cfg = CONFIGS[name]
    nn.init.seed(0)
    kw = {"num_classes": cfg["classes"], "in_channels": cfg["shape"][0]}
    if name == "resnet18":
        kw["small"] = True
    model = getattr(models, name)(**kw)
    dp = distributed.DataParallel(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss = losses.CrossEntropyLoss()
    rng = np.random.default_rng(comm.rank)
    x = rng.standard_normal((cfg["batch"],) + cfg["shape"]).astype(np.float32)
    y = rng.integers(0, cfg["classes"], cfg["batch"])
    times, waits = [], []
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
    result = {"model": name, "ranks": comm.size, "batch_per_rank": cfg["batch"], "step_ms": 1e3 * step,
              "images_per_s": comm.size * cfg["batch"] / step, "waited_ms": 1e3 * float(np.median(waits)),
              "allreduce_ms": 1e3 * float(np.median(blocking)) if blocking else 0.0,
              "grad_mb": sum(p.data.nbytes for p in model.parameters()) / 2 ** 20,
              "buckets": len(dp.buckets)}
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--models", default="brain_second,resnet18")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return _worker(a.worker, a.steps, a.warmup)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install 'strided[mpi]'")
    rows = []
    for name in a.models.split(","):
        for n in (int(r) for r in a.ranks.split(",")):
            cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py", __file__, "--worker", name,
                   "--steps", str(a.steps), "--warmup", str(a.warmup)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
            rows.append(json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:]))
    base = {r["model"]: r["images_per_s"] for r in rows if r["ranks"] == 1}
    print(f"{'model':14}{'ranks':>6}{'batch/rank':>11}{'step ms':>10}{'img/s':>9}{'scaling':>9}"
          f"{'grad MB':>9}{'buckets':>8}{'allreduce ms':>13}{'waited ms':>10}{'hidden':>8}")
    for r in rows:
        scale = r["images_per_s"] / base[r["model"]] if r["model"] in base else float("nan")
        hidden = 1 - r["waited_ms"] / r["allreduce_ms"] if r["allreduce_ms"] else float("nan")
        r["scaling"], r["hidden"] = scale, hidden
        print(f"{r['model']:14}{r['ranks']:>6}{r['batch_per_rank']:>11}{r['step_ms']:>10.1f}"
              f"{r['images_per_s']:>9.1f}{scale:>8.2f}x{r['grad_mb']:>9.2f}{r['buckets']:>8}"
              f"{r['allreduce_ms']:>13.2f}{r['waited_ms']:>10.2f}{100 * hidden:>7.0f}%")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
