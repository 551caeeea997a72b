"""Data parallelism under MPI, run by CI as `mpiexec -n 2 python -m mpi4py -m pytest -q tests/mpi`
(every test skips in a single process). Each rank also computes the one-process answer itself, on the
whole batch, so every comparison is against plain training."""
import numpy as np
import pytest

mpi4py = pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'strided[mpi]')")

from strided import data, distributed, losses, nn, optim  # noqa: E402

comm = distributed.init()
pytestmark = pytest.mark.skipif(comm.size < 2, reason="run under mpiexec -n 2")


def _model(dtype, seed=0):
    nn.init.seed(seed + comm.rank)  # different on every rank: DataParallel must broadcast rank 0's
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                      nn.Tanh(), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    return m.double() if dtype == np.float64 else m


def _batches(dtype, steps, batch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((steps * batch * comm.size, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 5, len(x))
    return x, y


def _train(model, loader, steps, dp=None):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = losses.CrossEntropyLoss()
    for i, (xb, yb) in enumerate(loader):
        if i == steps:
            break
        opt.zero_grad()
        loss(model(xb), yb)
        model.backward(loss.backward(), need_input_grad=False)
        if dp is not None:
            dp.synchronize()
        opt.step()
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_k_steps_on_2_ranks_equal_1_rank_with_the_whole_batch(dtype, rtol):
    steps, b = 4, 6
    x, y = _batches(dtype, steps, b)
    # one process, batch 2b: what every rank computes alone, from rank 0's initial weights
    ref_model = _model(dtype)
    comm.bcast_arrays([p.data for p in ref_model.parameters()])
    ref = _train(ref_model, data.DataLoader(x, y, b * comm.size, shuffle=True, seed=3), steps)
    # 2 ranks, batch b each, on the same samples (rank r takes every size-th index of each epoch's order)
    model = _model(dtype)
    dp = distributed.DataParallel(model, bucket_bytes=512)  # several buckets, started during the backward
    assert len(dp.buckets) > 1
    loader = data.DataLoader(x, y, b, shuffle=True, seed=3, num_replicas=comm.size, rank=comm.rank)
    got = _train(model, loader, steps, dp)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * 1e-2)
    assert dp.stats["steps"] == steps


def test_broadcast_makes_every_rank_start_from_rank_0():
    model = _model(np.float64, seed=11)
    distributed.DataParallel(model)
    mine = np.concatenate([p.data.ravel() for p in model.parameters()])
    root = comm.bcast(mine)
    np.testing.assert_array_equal(mine, root)


def test_frozen_parameters_are_left_out_and_keep_no_gradient():
    model = _model(np.float64)
    first = model[0]
    for p in first.parameters():
        p.requires_grad = False
    dp = distributed.DataParallel(model)
    reduced = {id(p) for b in dp.buckets for p in b.params}
    assert all(id(p) not in reduced for p in first.parameters())
    x, y = _batches(np.float64, 1, 4)
    _train(model, data.DataLoader(x, y, 4, num_replicas=comm.size, rank=comm.rank), 1, dp)
    assert all(p.grad is None for p in first.parameters())


def test_a_layer_run_twice_in_one_step_is_refused():
    lin = nn.Linear(3, 3).double()
    model = nn.Sequential(lin, nn.Tanh(), lin)
    dp = distributed.DataParallel(model)
    model(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="twice"):
        model.backward(np.ones((2, 3)))
    dp.synchronize()  # completes the reduction the first backward started


def test_sync_buffers_averages_batchnorm_statistics():
    bn = nn.BatchNorm2d(3).double()
    dp = distributed.DataParallel(bn)
    bn.running_mean[...] = comm.rank
    dp.sync_buffers()
    np.testing.assert_allclose(bn.running_mean, np.full(3, (comm.size - 1) / 2))


def test_metric_sums_are_exact():
    total, correct = comm.allreduce_sum([comm.rank + 1, 10 * (comm.rank + 1)])
    n = comm.size
    assert total == n * (n + 1) / 2 and correct == 10 * n * (n + 1) / 2
