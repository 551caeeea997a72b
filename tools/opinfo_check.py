"""Run PyTorch's own test inputs for the ops strided mirrors through strided, and count what agrees.

    pip install torch==2.13.0 expecttest
    python tools/opinfo_check.py [--ops conv2d,max_pool2d] [--dtypes float64,float32] [-v]

For every OpInfo entry of torch.testing._internal.common_methods_invocations.op_db named in OPS, each
sample of `sample_inputs` and `reference_inputs` is called in PyTorch (autograd gives the reference
gradients for a random output gradient) and in strided on NumPy copies (forward, then `<op>_backward`);
each sample is counted as agreeing, refused (strided raised where PyTorch did not: the message is kept),
missing (strided has no such op) or wrong (different values or shapes). Every `error_inputs` sample must
raise in strided too. Complex and integer dtypes are not sampled; the samples PyTorch itself rejects are
skipped. Then every ModuleInfo of common_modules.module_db whose class strided.nn has under the same name
(Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Linear, the norms, the activations) is built from the same
constructor arguments with PyTorch's parameters and buffers, in training and in eval mode: the output, the
running statistics, the input gradient and every parameter gradient must agree. Exit status 1 when
anything is wrong or missing, an error input does not raise, or a refusal is not one ALLOWED_REFUSALS names.
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
# What may stay refused (the rule: besides complex/integer dtypes, which are not sampled, and
# padding_mode other than zeros, which no op sample uses): bilinear with an antialiasing filter.
ALLOWED_REFUSALS = ("antialias=True is not supported",)
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


def _disallowed(notes):
    """How many refusals are not among ALLOWED_REFUSALS."""
    return sum(c for (verdict, note), c in notes.items()
               if verdict == "refused" and not any(a in note for a in ALLOWED_REFUSALS))


def _check_module(cls, module_input, training, rtol, atol):
    """One module_db input through torch.nn.<cls> and strided.nn.<cls> (same weights) -> (verdict, note)."""
    import strided.nn as snn
    import torch

    ca, ck = module_input.constructor_input.args, module_input.constructor_input.kwargs
    fa, fk = module_input.forward_input.args, module_input.forward_input.kwargs
    if len(fa) != 1 or fk:
        return "skipped", ""  # strided's layers take one input
    x = fa[0]
    what = f"{cls.__name__}{ca}{ck} {tuple(x.shape)} {'train' if training else 'eval'}"
    try:
        theirs = cls(*ca, **ck).to(x.dtype).train(training)
    except Exception:
        return "skipped", ""
    try:  # PyTorch's parameters and buffers, copied before its forward moves the running statistics
        ours = getattr(snn, cls.__name__)(*ca, **ck).astype(_np(x).dtype)
        ours.train(training)
        for n, p in ours.named_parameters():
            p.data[...] = _np(getattr(theirs, n))
        for n, b in ours.named_buffers():
            if getattr(theirs, n, None) is not None:
                b[...] = _np(getattr(theirs, n))
    except Exception as e:  # noqa: BLE001 - the message is the finding
        return "refused", f"{what}: {type(e).__name__}: {e}"
    try:
        xt = x.detach().clone().requires_grad_(True)
        ref = theirs(xt)
    except Exception:
        return "skipped", ""
    try:
        out = ours(_np(x))
    except Exception as e:  # noqa: BLE001
        return "refused", f"{what}: {type(e).__name__}: {e}"
    outs, refs = (out, ref) if isinstance(ref, tuple) else ((out,), (ref,))
    for o, r in zip(outs, refs):
        if np.shape(o) != tuple(r.shape) or not np.allclose(o, _np(r), rtol=rtol, atol=atol, equal_nan=True):
            return "wrong", f"{what}: forward differs"
    for n, b in ours.named_buffers():
        t = getattr(theirs, n, None)
        if t is not None and t.is_floating_point() and not np.allclose(b, _np(t), rtol=rtol, atol=atol):
            return "wrong", f"{what}: buffer {n} differs"
    if refs[0].numel() == 0:
        return "agrees", ""
    gy = torch.randn_like(refs[0])
    refs[0].backward(gy)
    try:
        gx = ours.backward(gy.numpy())
    except Exception as e:  # noqa: BLE001
        return "refused", f"{what}: backward {type(e).__name__}: {e}"
    if not np.allclose(gx, xt.grad.numpy(), rtol=rtol, atol=atol):
        return "wrong", f"{what}: input gradient differs"
    for n, p in ours.named_parameters():
        g = getattr(theirs, n).grad
        if g is not None and (p.grad is None or not np.allclose(p.grad, g.numpy(), rtol=rtol, atol=atol)):
            return "wrong", f"{what}: gradient of {n} differs"
    return "agrees", ""


def check_modules(dtypes, wanted=None, verbose=False):
    """Every module_db input of the torch.nn modules strided.nn mirrors; prints a table, returns the number
    of wrong results."""
    import strided.nn as snn
    import torch
    from torch.testing._internal.common_modules import module_db

    bad = 0
    print(f"{'module':<34}{'dtype':>9}{'inputs':>9}{'agree':>7}{'refused':>9}{'wrong':>7}")
    for info in module_db:
        cls = info.module_cls
        if not hasattr(snn, cls.__name__) or (wanted and cls.__name__ not in wanted):
            continue
        for dt in dtypes:
            dtype = getattr(torch, dt)
            tol = (1e-7, 1e-9) if dt == "float64" else (1e-4, 1e-5)
            counts, notes = collections.Counter(), collections.Counter()
            torch.manual_seed(0)
            for training in (True, False):
                for mi in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True,
                                                  training=training):
                    if mi.forward_input is None:
                        continue
                    verdict, note = _check_module(cls, mi, training, *tol)
                    counts[verdict] += 1
                    if note:
                        notes[(verdict, note[:200])] += 1
            bad += counts["wrong"] + _disallowed(notes)
            n = sum(counts.values()) - counts["skipped"]
            print(f"{cls.__name__:<34}{dt:>9}{n:>9}{counts['agrees']:>7}{counts['refused']:>9}{counts['wrong']:>7}")
            if verbose:
                for (verdict, note), c in notes.most_common():
                    print(f"    {c:5d} x {verdict}: {note}")
    return bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", default=None, help="comma-separated strided names (default: all)")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--modules", default=None, help="comma-separated torch.nn class names (default: all)")
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
            bad += counts["wrong"] + counts["missing"] + len(errors) - raised + _disallowed(notes)
            label = f"{info.name}{'.' + info.variant_test_name if info.variant_test_name else ''}"
            n = sum(counts.values()) - counts["skipped"]
            print(f"{label:<34}{dt:>9}{n:>9}{counts['agrees']:>7}{counts['refused']:>9}{counts['missing']:>9}"
                  f"{counts['wrong']:>7}{f'{raised}/{len(errors)}' if errors else '-':>15}")
            if a.verbose:
                for (verdict, note), c in notes.most_common():
                    print(f"    {c:5d} x {verdict}: {note}")
    print()
    bad += check_modules(a.dtypes.split(","), set(a.modules.split(",")) if a.modules else None, a.verbose)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
