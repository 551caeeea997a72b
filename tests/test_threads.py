"""Threading: set/get_num_threads, OMP_NUM_THREADS honoured, the GIL released while a kernel runs."""
import os
import subprocess
import sys
import threading

import numpy as np

import strided


def test_set_and_get_num_threads():
    before = strided.get_num_threads()
    try:
        strided.set_num_threads(1)
        assert strided.get_num_threads() == 1
        strided.set_num_threads(3)
        assert strided.get_num_threads() == 3
    finally:
        strided.set_num_threads(before)


def test_omp_num_threads_is_honoured():
    for n in ("1", "3"):
        out = subprocess.run([sys.executable, "-c", "import strided; print(strided.get_num_threads())"],
                             env={**os.environ, "OMP_NUM_THREADS": n}, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == n


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, 20, 20)), rng.standard_normal((8, 4, 3, 3))
    before = strided.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            strided.set_num_threads(n)
            outs.append(strided.conv2d(x, w, padding=1))
        for y in outs[1:]:
            np.testing.assert_array_equal(y, outs[0])
    finally:
        strided.set_num_threads(before)


def test_gil_is_released_while_a_kernel_runs():
    """A Python thread keeps running while another thread is inside a long kernel."""
    x = np.random.default_rng(1).standard_normal((16, 32, 64, 64))
    w = np.random.default_rng(2).standard_normal((32, 32, 5, 5))
    ticks = 0
    with strided.conv_algorithm("simple"):  # the slow kernel: long enough to observe
        t = threading.Thread(target=strided.conv2d, args=(x, w))
        t.start()
        while t.is_alive():
            ticks += 1
            t.join(0.001)
    assert ticks > 20, f"the main thread only ran {ticks} times while the kernel ran: GIL held?"
