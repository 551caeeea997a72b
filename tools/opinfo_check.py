"""Run PyTorch's own test inputs for the ops strided mirrors through strided, and count what agrees.

    pip install torch==2.13.0 expecttest
    python tools/opinfo_check.py [--ops conv2d,max_pool2d] [--dtypes float64,float32] [-v]

For every OpInfo entry of torch.testing._internal.common_methods_invocations.op_db named in OPS, each
sample of `sample_inputs` and `reference_inputs` is called in PyTorch (autograd gives the reference
gradients for a random output gradient) and in strided on NumPy copies (forward, then `<op>_backward`);
each sample is counted as agreeing, refused (strided raised where PyTorch did not: the message is kept),
missing (strided has no such op) or wrong (different values or shapes). Every `error_inputs` sample must
raise in strided too. Complex and integer dtypes are not sampled; the samples PyTorch itself rejects are
skipped. Exit status 1 when anything is wrong or an error input does not raise.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import sys

import numpy as np

# op_db name (variant) -> (strided name, differentiable argument positions: input first)
OPS = {
    ("nn.functional.conv2d", ""): ("conv2d", (0, 1, 2)),
    ("nn.functional.conv_transpose2d", ""): ("conv_transpose2d", (0, 1, 2)),
    ("nn.functional.max_pool2d", ""): ("max_pool2d", (0,)),
    ("nn.functional.avg_pool2d", ""): ("avg_pool2d", (0,)),
    ("nn.functional.linear", ""): ("linear", (0, 1, 2)),
    ("nn.functional.batch_norm", ""): ("batch_norm", (0, 3, 4)),
    ("nn.functional.group_norm", ""): ("group_norm", (0, 2, 3)),
    ("nn.functional.layer_norm", ""): ("layer_norm", (0, 2, 3)),
    ("nn.functional.instance_norm", ""): ("instance_norm", (0, 3, 4)),
    ("nn.functional.interpolate", "nearest"): ("interpolate", (0,)),
    ("nn.functional.interpolate", "bilinear"): ("interpolate", (0,)),
}
# keyword names PyTorch's samples use that have no meaning for strided's NumPy/CuPy kernels
DROP = {"recompute_scale_factor": None, "antialias": False}


def _np(v):
    import torch

    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy().copy()
    if isinstance(v, (list, tuple)):
        return type(v)(_np(u) for u in v)
    return v


def _args(sample):
    """(positional, keyword) arguments of a sample, input first."""
    return [sample.input, *sample.args], dict(sample.kwargs)


def _check(name, positions, sample, rtol, atol):
    import strided
    import torch

    args, kwargs = _args(sample)
    for k, default in DROP.items():
        if k in kwargs and kwargs[k] in (None, default):
            del kwargs[k]
    tensors = [(i, a) for i, a in enumerate(args) if i in positions and isinstance(a, torch.Tensor)]
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) for _, a in tensors]
    targs = list(args)
    for (i, _), leaf in zip(tensors, leaves):
        targs[i] = leaf
    # PyTorch updates running statistics in place: give both sides their own copies
    targs = [a.clone() if isinstance(a, torch.Tensor) and i not in positions else a for i, a in enumerate(targs)]
    try:
        ref = getattr(torch.nn.functional, name)(*targs, **kwargs)
    except Exception:
        return "skipped", ""
    ref_out = ref[0] if isinstance(ref, tuple) else ref
    sargs = [_np(a) for a in args]
    fn = getattr(strided, name, None)
    if fn is None:
        return "missing", f"strided.{name} does not exist"
    try:
        out = fn(*sargs, **{k: _np(v) for k, v in kwargs.items()})
    except Exception as e:  # noqa: BLE001 - the message is the finding
        return "refused", f"{type(e).__name__}: {e}"
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    for o, r in zip(outs, refs):
        r = r.detach().numpy()
        if np.shape(o) != r.shape or not np.allclose(o, r, rtol=rtol, atol=atol, equal_nan=True):
            return "wrong", f"forward differs (shapes {np.shape(o)} vs {r.shape})"
    diff = [leaf for leaf in leaves if leaf.requires_grad]
    if not diff or not ref_out.requires_grad or ref_out.numel() == 0:
        return "agrees", ""
    gy = torch.randn_like(ref_out)
    grads = torch.autograd.grad(ref_out, diff, gy, allow_unused=True)
    back = getattr(strided, name + "_backward", None)
    if back is None:
        return "missing", f"strided.{name}_backward does not exist"
    # the backward takes the forward's arguments by name, less those it has no use for (the bias, ...)
    try:
        bound = inspect.signature(fn).bind(*[_np(a) for a in args], **{k: _np(v) for k, v in kwargs.items()})
        accepted = list(inspect.signature(back).parameters)[1:]
        got = back(gy.numpy(), **{k: v for k, v in bound.arguments.items() if k in accepted})
    except Exception as e:  # noqa: BLE001
        return "refused", f"backward {type(e).__name__}: {e}"
    got = got if isinstance(got, tuple) else (got,)
    k = 0
    for (i, _), leaf in zip(tensors, leaves):
        if not leaf.requires_grad:
            continue
        g, r = got[positions.index(i)] if positions.index(i) < len(got) else None, grads[k]
        k += 1
        if r is None:
            continue
        r = r.numpy()
        if g is None or np.shape(g) != r.shape or not np.allclose(g, r, rtol=rtol, atol=atol, equal_nan=True):
            return "wrong", f"gradient of argument {i} differs"
    return "agrees", ""


def _raises(name, error_input):
    import strided

    args, kwargs = _args(error_input.sample_input)
    fn = getattr(strided, name, None)
    if fn is None:
        return False
    try:
        fn(*[_np(a) for a in args], **{k: _np(v) for k, v in kwargs.items()})
    except Exception:  # noqa: BLE001 - any clear exception counts
        return True
    return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", default=None, help="comma-separated strided names (default: all)")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("-v", "--verbose", action="store_true", help="print every finding")
    a = p.parse_args(argv)
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    wanted = set(a.ops.split(",")) if a.ops else None
    bad = 0
    print(f"{'op':<34}{'dtype':>9}{'samples':>9}{'agree':>7}{'refused':>9}{'missing':>9}{'wrong':>7}{'errors raised':>15}")
    for info in op_db:
        key = (info.name, info.variant_test_name)
        if key not in OPS or (wanted and OPS[key][0] not in wanted):
            continue
        name, positions = OPS[key]
        for dt in a.dtypes.split(","):
            dtype = getattr(torch, dt)
            tol = (1e-7, 1e-9) if dt == "float64" else (1e-4, 1e-5)
            counts, notes = collections.Counter(), collections.Counter()
            torch.manual_seed(0)
            samples = list(info.sample_inputs("cpu", dtype, requires_grad=True))
            if info.reference_inputs_func is not None:
                samples += list(info.reference_inputs("cpu", dtype, requires_grad=True))
            for s in samples:
                verdict, note = _check(name, positions, s, *tol)
                counts[verdict] += 1
                if note:
                    notes[(verdict, note[:160])] += 1
            errors = list(info.error_inputs("cpu")) if info.error_inputs_func is not None and dt == "float32" else []
            raised = sum(_raises(name, e) for e in errors)
            bad += counts["wrong"] + len(errors) - raised
            label = f"{info.name}{'.' + info.variant_test_name if info.variant_test_name else ''}"
            n = sum(counts.values()) - counts["skipped"]
            print(f"{label:<34}{dt:>9}{n:>9}{counts['agrees']:>7}{counts['refused']:>9}{counts['missing']:>9}"
                  f"{counts['wrong']:>7}{f'{raised}/{len(errors)}' if errors else '-':>15}")
            if a.verbose:
                for (verdict, note), c in notes.most_common():
                    print(f"    {c:5d} x {verdict}: {note}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
