"""`python -m strided`: the build configuration and a quick self-check of every CPU kernel against the
NumPy reference (exit status 1 if any disagrees)."""
import sys

import numpy as np

import strided
from strided import _C, reference
from strided._device import gpu_status


def self_check():
    """(name, max relative error) for every op, both dtypes, every CPU conv algorithm."""
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 4, 11, 9)).astype(dtype)
        w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
        b = rng.standard_normal(6).astype(dtype)
        geo = dict(stride=(2, 1), padding="same", dilation=(1, 2), groups=2)
        gy = rng.standard_normal(reference.conv2d(x, w, b, **geo).shape).astype(dtype)
        for algo in strided.conv_algorithms():
            with strided.conv_algorithm(algo):
                got = [strided.conv2d(x, w, b, **geo), *strided.conv2d_backward(gy, x, w, **geo)]
            want = [reference.conv2d(x, w, b, **geo), *reference.conv2d_backward(gy, x, w, **geo)]
            for name, g, r in zip(("forward", "backward_input", "backward_weight", "backward_bias"), got, want):
                rows.append((f"conv2d {name} [{algo}]", dtype, _rel(g, r)))
        pgeo = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        gp = rng.standard_normal(reference.max_pool2d(x, **pgeo).shape).astype(dtype)
        for op in ("max_pool2d", "avg_pool2d"):
            rows.append((f"{op} forward", dtype, _rel(getattr(strided, op)(x, **pgeo),
                                                      getattr(reference, op)(x, **pgeo))))
            back = op + "_backward"
            rows.append((f"{op} backward", dtype, _rel(getattr(strided, back)(gp, x, **pgeo),
                                                       getattr(reference, back)(gp, x, **pgeo))))
        xl, wl, gl = (rng.standard_normal(s).astype(dtype) for s in ((5, 70), (9, 70), (5, 9)))
        got = [strided.linear(xl, wl, b[:1].repeat(9)), *strided.linear_backward(gl, xl, wl)]
        want = [reference.linear(xl, wl, b[:1].repeat(9)), *reference.linear_backward(gl, xl, wl)]
        for name, g, r in zip(("forward", "backward_input", "backward_weight", "backward_bias"), got, want):
            rows.append((f"linear {name}", dtype, _rel(g, r)))
        gn = rng.standard_normal(x.shape).astype(dtype)
        for op, kw in (("batch_norm", dict(running_mean=None, running_var=None, training=True)),  # per channel
                       ("group_norm", dict(num_groups=2))):                                     # per group
            got = [getattr(strided, op)(x, weight=b[:4], **kw),
                   *getattr(strided, op + "_backward")(gn, x, weight=b[:4], **kw)[:2]]
            want = [getattr(reference, op)(x, weight=b[:4], **kw),
                    *getattr(reference, op + "_backward")(gn, x, weight=b[:4], **kw)[:2]]
            for name, g, r in zip(("forward", "backward_input", "backward_weight"), got, want):
                rows.append((f"{op} {name}", dtype, _rel(g, r)))
    return rows


def _rel(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def main():
    print(f"strided {strided.__version__}")
    print(f"  OpenMP threads : {strided.get_num_threads()}")
    print(f"  SIMD level     : {strided.cpu_capability()} (CPU offers {_C.cpu_detected()})")
    print(f"  conv algorithms: {', '.join(strided.conv_algorithms())}")
    print(f"  GPU            : {gpu_status()[1]}")
    limits = {np.float32: 1e-5, np.float64: 1e-12}
    failed = 0
    print("self-check against strided.reference (max relative error):")
    for name, dtype, err in self_check():
        ok = err <= limits[dtype]
        failed += not ok
        print(f"  {'ok ' if ok else 'BAD'} {name:<34} {np.dtype(dtype).name:<8} {err:.1e}")
    print("all kernels agree with the reference" if not failed else f"{failed} kernel checks FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
