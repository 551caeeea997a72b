"""PyTorch's own test inputs for the normalizations (skipped without torch): every OpInfo sample and
reference input of nn.functional.{batch,group,layer,instance}_norm that PyTorch accepts runs through
strided and agrees (output, running statistics updated in place, every gradient), every error input
raises. (The module_db inputs of the matching layers: tests/test_opinfo.py.)"""
import warnings

import numpy as np
import pytest

import strided

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest", reason="PyTorch's test inputs need expecttest (pip install expecttest)")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

OPS = {"nn.functional." + n: n for n in ("batch_norm", "group_norm", "layer_norm", "instance_norm")}
# Where weight and bias sit among each op's positional arguments (after x).
AFFINE_AT = {"batch_norm": (3, 4), "group_norm": (2, 3), "layer_norm": (2, 3), "instance_norm": (3, 4)}
RUNNING_AT = {"batch_norm": (1, 2), "instance_norm": (1, 2)}


def _np(v):
    return v.detach().numpy().copy() if isinstance(v, torch.Tensor) else v


def _arg(args, kwargs, name, pos):
    return kwargs.get(name, args[pos] if len(args) > pos else None)


def _samples(op):
    for dtype in (torch.float32, torch.float64):
        yield from op.sample_inputs("cpu", dtype, requires_grad=True)
        yield from op.reference_inputs("cpu", dtype, requires_grad=True)


@pytest.mark.parametrize("op", [o for o in op_db if o.name in OPS], ids=lambda o: o.name)
def test_opinfo_samples_agree(op):
    name = OPS[op.name]
    checked = 0
    for s in _samples(op):
        args = [s.input, *s.args]
        targs = [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]
        tkw = {k: (v.detach().clone().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v)
               for k, v in s.kwargs.items()}
        try:
            ty = op.op(*targs, **tkw)
        except (RuntimeError, ValueError):
            continue  # PyTorch refuses it too
        nargs, nkw = [_np(a) for a in args], {k: _np(v) for k, v in s.kwargs.items()}
        tol = 2e-5 if s.input.dtype == torch.float32 else 1e-10
        y = getattr(strided, name)(*nargs, **nkw)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol, err_msg=f"{name} {s}")
        for k, pos in zip(("running_mean", "running_var"), RUNNING_AT.get(name, ())):
            ours, theirs = _arg(nargs, nkw, k, pos), _arg(targs, tkw, k, pos)
            if theirs is not None:
                np.testing.assert_allclose(ours, theirs.numpy(), rtol=tol, atol=tol, err_msg=f"{name} {k}")
        if not ty.numel():
            continue
        gy = torch.randn_like(ty)
        ty.backward(gy)
        nargs, nkw = [_np(a) for a in args], {k: _np(v) for k, v in s.kwargs.items()}  # fresh running stats
        grads = getattr(strided, name + "_backward")(gy.numpy(), *nargs, **nkw)
        wpos, bpos = AFFINE_AT[name]
        for g, t in zip(grads, (targs[0], _arg(targs, tkw, "weight", wpos), _arg(targs, tkw, "bias", bpos))):
            if isinstance(t, torch.Tensor) and t.grad is not None:
                np.testing.assert_allclose(g, t.grad.numpy(), rtol=10 * tol, atol=10 * tol, err_msg=f"{name} grad")
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("op", [o for o in op_db if o.name in OPS and o.error_inputs_func is not None],
                         ids=lambda o: o.name)
def test_opinfo_error_inputs_raise(op):
    for e in op.error_inputs("cpu"):
        s = e.sample_input
        with pytest.raises((ValueError, TypeError)):
            getattr(strided, OPS[op.name])(_np(s.input), *[_np(a) for a in s.args],
                                           **{k: _np(v) for k, v in s.kwargs.items()})
