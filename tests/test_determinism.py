"""Results do not depend on the thread count: every kernel gives the same bits at 1, 2 and 3 threads
(set_num_threads in-process), and set_num_threads holds for every Python thread of the process."""
import threading

import numpy as np
import pytest

import strided
from strided import losses, models, nn, optim

THREADS = (1, 2, 3)
ALGOS = ("simple", "im2col", "gemm", "direct", "channels_last", "winograd", "auto")
# (x shape, w shape, stride, padding, groups): LeNet's two layers (direct and gemm backward-weight, flat
# and row-by-row bands), a depthwise layer (the rows kernels), a strided layer at N = 1 (col2im, split
# into channel blocks by thread count), a 1x1 layer (flattened), a wide first layer, one with 64 channels
# (ChannelsLast under auto) and one with 32 channels on 16x16 planes (Winograd under auto).
CONV_CASES = [
    ((1, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1),
    ((4, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    ((2, 8, 12, 12), (8, 1, 3, 3), 1, 1, 8),
    ((1, 16, 15, 15), (32, 16, 3, 3), 2, 1, 1),
    ((3, 20, 10, 10), (24, 20, 1, 1), 1, 0, 1),
    ((1, 3, 30, 30), (16, 3, 3, 3), 1, 1, 1),
    ((2, 64, 6, 6), (70, 64, 3, 3), 1, 1, 1),
    ((2, 32, 16, 16), (24, 32, 3, 3), 1, 1, 1),
]


@pytest.fixture
def restore_threads():
    before = strided.get_num_threads()
    yield
    strided.set_num_threads(before)


def at_each_thread_count(fn):
    """fn() run at 1, 2 and 3 threads; asserts every array it returns is bitwise the same."""
    runs = []
    for n in THREADS:
        strided.set_num_threads(n)
        runs.append(fn())
    for n, run in zip(THREADS[1:], runs[1:]):
        for i, (a, b) in enumerate(zip(runs[0], run)):
            assert a.dtype == b.dtype and a.shape == b.shape
            diff = np.flatnonzero(a.view(np.uint8) != b.view(np.uint8)).size
            assert diff == 0, f"output {i} differs between 1 and {n} threads ({diff} bytes)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"{c[0]}-{c[1]}-s{c[2]}" for c in CONV_CASES])
def test_conv2d_is_bitwise_the_same_at_any_thread_count(case, algo, dtype, restore_threads):
    xs, ws, stride, padding, groups = case
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=stride, padding=padding, groups=groups)
    gy = rng.standard_normal(strided.conv2d(x, w, **kw).shape).astype(dtype)
    with strided.conv_algorithm(algo):
        at_each_thread_count(lambda: (strided.conv2d(x, w, b, **kw), *strided.conv2d_backward(gy, x, w, **kw)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_and_pooling_are_bitwise_the_same_at_any_thread_count(dtype, restore_threads):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((37, 300), (70, 300), (70,)))
    gy = rng.standard_normal((37, 70)).astype(dtype)
    at_each_thread_count(lambda: (strided.linear(x, w, b), *strided.linear_backward(gy, x, w)))
    a = rng.standard_normal((3, 5, 17, 19)).astype(dtype)
    gp = rng.standard_normal((3, 5, 8, 9)).astype(dtype)
    at_each_thread_count(lambda: (strided.max_pool2d(a, 3, 2), strided.max_pool2d_backward(gp, a, 3, 2),
                                  strided.avg_pool2d(a, 3, 2), strided.avg_pool2d_backward(gp, a, 3, 2)))


def test_lenet_training_steps_are_bitwise_the_same_at_any_thread_count(restore_threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def train():
        nn.init.seed(0)
        model = models.lenet5()
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loss = losses.CrossEntropyLoss()
        for _ in range(3):
            model.zero_grad()
            loss(model(x), y)
            model.backward(loss.backward())
            opt.step()
        return [p.data for p in model.parameters()]

    at_each_thread_count(train)


def test_set_num_threads_holds_in_every_python_thread(restore_threads):
    """OpenMP's own setting is per OS thread; strided's is process-wide, and a kernel called from a new
    threading.Thread runs on it (its parallel regions report their team size through omp)."""
    for n in (1, 3):
        strided.set_num_threads(n)
        seen = {}

        def probe():
            seen["get"] = strided.get_num_threads()
            seen["team"] = strided._C.team_size()

        t = threading.Thread(target=probe)
        t.start()
        t.join()
        assert seen == {"get": n, "team": n}
        assert strided._C.team_size() == n
