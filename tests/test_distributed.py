"""strided.distributed: the data shards in one process, and whole jobs launched with `mpiexec -n 2`
(skipped without mpi4py and an mpiexec): the main job, a rank that raises, a rank killed with SIGKILL,
and resuming across different numbers of ranks. The in-job checks (gradient equivalence with one process,
broadcast, buffers) are in tests/mpi/, which CI runs under mpiexec."""
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from strided import data, distributed


@pytest.mark.parametrize("n, replicas", [(10, 2), (11, 2), (7, 3), (2, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_cover_every_sample_and_pad_by_wrap_around(n, replicas, shuffle):
    x = np.arange(n)
    shards = []
    for r in range(replicas):
        dl = data.DataLoader(x, x, batch_size=3, shuffle=shuffle, seed=5, num_replicas=replicas, rank=r)
        dl.set_epoch(2)
        shards.append(np.concatenate([xb for xb, _ in dl]))
        assert len(dl) == -(-len(shards[-1]) // 3)
    per = -(-n // replicas)
    assert all(len(s) == per for s in shards)
    order = np.random.default_rng([5, 2]).permutation(n) if shuffle else np.arange(n)
    padded = np.concatenate([order, order[:per * replicas - n]])
    for r, s in enumerate(shards):
        np.testing.assert_array_equal(s, padded[r::replicas])


def test_one_replica_is_the_plain_loader():
    x = np.arange(20)
    a = [xb for xb, _ in data.DataLoader(x, x, 6, shuffle=True, seed=1)]
    b = [xb for xb, _ in data.DataLoader(x, x, 6, shuffle=True, seed=1, num_replicas=1, rank=0)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_augmentation_streams_differ_per_rank():
    seen = {}
    for r in range(2):
        draws = []
        dl = data.DataLoader(np.zeros((4, 1)), None, 4, seed=0, num_replicas=2, rank=r,
                             transform=lambda xb, rng: draws.append(rng.random()) or xb)
        list(dl)
        seen[r] = draws[0]
    assert seen[0] != seen[1]


def test_shard_arguments_are_checked():
    with pytest.raises(ValueError, match="rank"):
        data.DataLoader(np.zeros(4), batch_size=2, num_replicas=2, rank=2)


def test_one_process_runs_without_mpi4py_and_reduces_nothing():
    comm = distributed.init()
    if comm.size != 1:
        pytest.skip("inside an MPI job")
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert comm.allreduce_sum([2, 3]) == [2.0, 3.0]


# ---- whole jobs under mpiexec -------------------------------------------------------------------


def _mpiexec():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'strided[mpi]')")
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("no mpiexec (pip install 'strided[mpi]' brings MPICH's)")
    if distributed.init().size > 1:
        pytest.skip("already inside an MPI job")
    return exe


def _job(n, args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        env.pop(var, None)
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", *args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p, time.monotonic() - t0


@pytest.mark.slow
def test_main_job_on_2_ranks_prints_once_and_reaches_the_accuracy_band():
    p, _ = _job(2, ["-m", "strided.train", "--no-progress"])
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.splitlines() if l.startswith("test accuracy:")]
    assert len(lines) == 1, p.stdout
    assert float(lines[0].split()[-1].rstrip("%")) >= 96.5


FAULTY = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from strided import data, distributed, losses, models, nn
    from strided.train import Trainer
    mode, ckpt = sys.argv[1], sys.argv[2]
    comm = distributed.init()
    x, y = data.load_mnist_sample()
    x, y = x[:256], y[:256]
    calls = [0]
    def tf(xb, rng):
        calls[0] += 1
        if comm.rank == 1 and calls[0] == 6:   # epoch 2 (4 batches an epoch on each rank)
            if mode == "raise":
                raise RuntimeError("boom on rank 1")
            os.kill(os.getpid(), signal.SIGKILL)
        return xb.astype(np.float32) / 255
    nn.init.seed(0)
    t = Trainer(models.lenet5(), "adam", losses.CrossEntropyLoss(), transform=tf, progress=False)
    t.fit((x, y), epochs=3, batch_size=64, checkpoint_dir=ckpt)
""")


@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_a_failing_rank_ends_the_job_and_keeps_the_checkpoint(tmp_path, mode):
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY)
    p, seconds = _job(2, [str(script), mode, str(tmp_path / "ckpt")], timeout=120)
    assert p.returncode != 0
    assert seconds < 60
    if mode == "raise":
        assert "boom on rank 1" in p.stderr
    from strided import models
    from strided.train import load_checkpoint

    meta = load_checkpoint(tmp_path / "ckpt" / "last.npz", models.lenet5())
    assert meta["epoch"] == 1


RESUMABLE = textwrap.dedent("""
    import sys
    from strided import data, distributed, losses, models, nn
    from strided.train import Trainer
    epochs, ckpt = int(sys.argv[1]), sys.argv[2]
    x, y = data.load_mnist_sample()
    nn.init.seed(0)
    t = Trainer(models.lenet5(), "adam", losses.CrossEntropyLoss(), transform=data.ToFloat(), progress=False)
    t.fit((x[:256], y[:256]), epochs=epochs, batch_size=64, checkpoint_dir=ckpt,
          resume=ckpt if epochs > 1 else None)
    if distributed.is_main():
        print("EPOCHS", len(t.history["epoch"]), t.epoch)
""")


@pytest.mark.parametrize("first, second", [(2, 1), (1, 2)])
def test_resume_on_another_number_of_ranks(tmp_path, first, second):
    _mpiexec()
    script = tmp_path / "resume.py"
    script.write_text(RESUMABLE)
    ckpt = str(tmp_path / "ckpt")
    runs = []
    for n, epochs in ((first, 1), (second, 2)):
        if n == 1:
            p = subprocess.run([sys.executable, str(script), str(epochs), ckpt], capture_output=True, text=True,
                               timeout=300)
        else:
            p, _ = _job(n, [str(script), str(epochs), ckpt])
        assert p.returncode == 0, p.stderr
        runs.append(p.stdout)
    assert "EPOCHS 2 2" in runs[1]
