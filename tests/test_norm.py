"""Batch, group, layer and instance normalization (strided.ops.norm): the C++ kernels against the NumPy
reference over grids (ranks, odd and prime sizes, groups, affine or not, training and eval, running
statistics or None, memory layouts, both dtypes, empty batches), PyTorch's functional ops (values,
gradients and in-place running statistics), the errors, results that do not depend on the thread count,
and the layers. (The reference's gradients are checked against finite differences in test_gradcheck.py,
PyTorch's own sample inputs in test_norm_opinfo.py.)"""
import numpy as np
import pytest

import strided
from strided import reference as R
from oracle import DTYPES, LAYOUTS, check_norm, layout

SHAPES = {  # rank: shapes (N, C, *) with odd and prime sizes, a batch of one, an empty batch
    2: [(7, 5), (1, 3), (13, 1), (0, 4)],
    3: [(3, 5, 7), (1, 2, 11), (2, 1, 13), (0, 3, 5)],
    4: [(2, 3, 5, 7), (1, 4, 3, 1), (3, 2, 1, 2), (0, 2, 3, 3)],
    5: [(2, 3, 2, 3, 5), (1, 2, 3, 1, 7)],
}


def _params(rng, C, dtype, affine, running):
    kw = dict(running_mean=None, running_var=None)
    if running:
        kw["running_mean"] = rng.standard_normal(C).astype(dtype)
        kw["running_var"] = rng.uniform(0.5, 2.0, C).astype(dtype)
    if affine:
        kw["weight"] = rng.uniform(0.5, 1.5, C).astype(dtype)
        kw["bias"] = rng.standard_normal(C).astype(dtype)
    return kw


def _x(rng, shape, dtype):
    return (rng.standard_normal(shape) * 2 + 1).astype(dtype)  # a mean and a scale to normalize away


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [s for r in SHAPES for s in SHAPES[r]], ids=str)
@pytest.mark.parametrize("mode", ["train", "train_no_running", "eval"])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_grid(shape, mode, affine, dtype):
    rng = np.random.default_rng(sum(shape) + len(mode))
    training = mode != "eval"
    kw = _params(rng, shape[1], dtype, affine, mode != "train_no_running")
    if training and np.prod(shape) // shape[1] == 1:  # PyTorch refuses one value per channel in training
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            strided.batch_norm(_x(rng, shape, dtype), training=True, **kw)
        return
    check_norm("batch_norm", _x(rng, shape, dtype), rng=rng, training=training, momentum=0.3, eps=1e-3, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [s for r in (3, 4, 5) for s in SHAPES[r] if np.prod(s[2:]) > 1], ids=str)
@pytest.mark.parametrize("mode", ["input_stats", "input_stats_running", "running"])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_grid(shape, mode, affine, dtype):
    rng = np.random.default_rng(sum(shape) + len(mode))
    kw = _params(rng, shape[1], dtype, affine, mode != "input_stats")
    check_norm("instance_norm", _x(rng, shape, dtype), rng=rng, use_input_stats=mode != "running", momentum=0.2,
               **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", [((2, 6, 5, 7), 1), ((2, 6, 5, 7), 2), ((2, 6, 5, 7), 3),
                                          ((2, 6, 5, 7), 6), ((3, 10), 5), ((1, 9, 13), 3), ((2, 4, 3, 2, 5), 2),
                                          ((0, 4, 3), 2), ((5, 1, 1), 1)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_grid(shape, groups, affine, dtype):
    rng = np.random.default_rng(sum(shape) + groups)
    kw = _params(rng, shape[1], dtype, affine, False)
    del kw["running_mean"], kw["running_var"]
    check_norm("group_norm", _x(rng, shape, dtype), rng=rng, num_groups=groups, eps=1e-4, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k", [((4, 7), 1), ((3, 5, 7), 1), ((3, 5, 7), 2), ((2, 3, 5, 7), 3),
                                     ((11,), 1), ((2, 3, 1), 1), ((0, 5), 1), ((2, 1, 31), 2)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_grid(shape, k, affine, dtype):
    rng = np.random.default_rng(sum(shape) + k)
    ns = shape[len(shape) - k:]
    kw = {}
    if affine:
        kw = dict(weight=rng.uniform(0.5, 1.5, ns).astype(dtype), bias=rng.standard_normal(ns).astype(dtype))
    check_norm("layer_norm", _x(rng, shape, dtype), rng=rng, normalized_shape=ns if k > 1 else ns[0], **kw)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(3)
    x = _x(rng, (3, 4, 5, 6), np.float32)
    kw = _params(rng, 4, np.float32, True, True)
    check_norm("batch_norm", layout(x, kind), rng=rng, training=True, **kw)
    check_norm("group_norm", layout(x, kind), rng=rng, num_groups=2, weight=layout(kw["weight"], kind))
    check_norm("layer_norm", layout(x, kind), rng=rng, normalized_shape=(5, 6))
    check_norm("instance_norm", layout(x, kind), rng=rng, bias=kw["bias"])


def test_large_offset_is_stable():
    """Two-pass statistics in double: a mean 1e4 standard deviations away loses nothing in float64."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 50)) + 1e4
    y = strided.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y, R.batch_norm(x, None, None, training=True), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(y.var(axis=(0, 2)), 1 - 1e-5 / (x.var(axis=(0, 2)) + 1e-5), rtol=1e-9)


def test_empty_batch_leaves_running_statistics_and_gives_zero_parameter_gradients():
    rm, rv = np.arange(3.0), np.ones(3)
    x = np.zeros((0, 3, 4))
    assert strided.batch_norm(x, rm, rv, training=True).shape == (0, 3, 4)
    assert strided.instance_norm(x, rm, rv).shape == (0, 3, 4)
    np.testing.assert_array_equal(rm, np.arange(3.0))
    np.testing.assert_array_equal(rv, np.ones(3))
    gx, gw, gb = strided.batch_norm_backward(x, x, rm, rv, np.ones(3), np.ones(3), training=True)
    assert gx.shape == x.shape and not gw.any() and not gb.any() and gw.shape == (3,)


def test_gradients_not_asked_for_are_none():
    rng = np.random.default_rng(5)
    x, w, b = _x(rng, (2, 4, 5), np.float64), np.ones(4), np.zeros(4)
    gy = rng.standard_normal(x.shape)
    gx, gw, gb = strided.group_norm_backward(gy, x, 2, w, b, input_grad=False, bias_grad=False)
    assert gx is None and gb is None and gw.shape == (4,)
    assert strided.group_norm_backward(gy, x, 2, input_grad=False) == (None, None, None)
    gx, gw, gb = strided.layer_norm_backward(gy, x, 5, weight=np.ones(5))
    assert gw.shape == (5,) and gb is None
    np.testing.assert_allclose(gx, R.layer_norm_backward(gy, x, 5, weight=np.ones(5))[0], rtol=1e-12, atol=1e-12)


def test_eval_input_gradient_uses_running_statistics():
    rng = np.random.default_rng(6)
    x, gy = _x(rng, (3, 2, 4), np.float64), rng.standard_normal((3, 2, 4))
    rm, rv, w = np.array([0.5, -1.0]), np.array([2.0, 0.25]), np.array([1.5, -0.5])
    gx, gw, gb = strided.batch_norm_backward(gy, x, rm, rv, w, np.zeros(2), training=False, eps=0.0)
    np.testing.assert_allclose(gx, gy * (w / np.sqrt(rv))[:, None], rtol=1e-13)
    np.testing.assert_allclose(gw, (gy * (x - rm[:, None]) / np.sqrt(rv)[:, None]).sum(axis=(0, 2)), rtol=1e-12)
    gx2 = strided.instance_norm_backward(gy, x, rm, rv, w, use_input_stats=False, eps=0.0)[0]
    np.testing.assert_allclose(gx2, gx, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # float64 shows a change in the order of the sums
@pytest.mark.parametrize("op", ["batch_norm", "group_norm", "layer_norm", "instance_norm"])
def test_thread_count_does_not_change_results(op, dtype):
    rng = np.random.default_rng(7)
    x = _x(rng, (12, 6, 37, 5), dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    kw = {"batch_norm": dict(running_mean=None, running_var=None, training=True), "group_norm": dict(num_groups=3),
          "layer_norm": dict(normalized_shape=(37, 5)), "instance_norm": {}}[op]
    w = np.linspace(0.5, 1.5, 185 if op == "layer_norm" else 6, dtype=dtype).reshape(
        (37, 5) if op == "layer_norm" else (6,))
    runs = []
    before = strided.get_num_threads()
    try:
        for threads in (1, 2, 3):
            strided.set_num_threads(threads)
            y = getattr(strided, op)(x, weight=w, bias=w, **kw)
            runs.append([y, *getattr(strided, op + "_backward")(gy, x, weight=w, bias=w, **kw)])
    finally:
        strided.set_num_threads(before)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


# ---- PyTorch's functional ops: values, gradients, running statistics ------------------------------------
def _torch_case(op, shape, kw, rng, dtype=np.float64):
    """Run op and its backward through strided and torch.nn.functional on the same values: the outputs,
    the running statistics after the forward, gx, gw, gb of each."""
    torch = pytest.importorskip("torch")
    x, gy = _x(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    wshape = np.atleast_1d(kw.get("normalized_shape", C)).tolist()
    w, b = rng.uniform(0.5, 1.5, wshape).astype(dtype), rng.standard_normal(wshape).astype(dtype)
    running = {}
    if kw.pop("running", False):
        running = dict(running_mean=rng.standard_normal(C).astype(dtype),
                       running_var=rng.uniform(0.5, 2, C).astype(dtype))
    elif op == "batch_norm":
        running = dict(running_mean=None, running_var=None)
    tracked = [k for k, v in running.items() if v is not None]

    def copy(convert=lambda a: a.copy()):
        return {k: (None if v is None else convert(v)) for k, v in running.items()}

    ours_running = copy()
    y = getattr(strided, op)(x, weight=w, bias=b, **ours_running, **kw)
    grads = getattr(strided, op + "_backward")(gy, x, weight=w, bias=b, **copy(), **kw)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_running = copy(torch.tensor)
    ty = getattr(torch.nn.functional, op)(tx, weight=tw, bias=tb, **t_running, **kw)
    ty.backward(torch.tensor(gy))
    ours = [y, *(ours_running[k] for k in tracked), *grads]
    theirs = [ty.detach().numpy(), *(t_running[k].numpy() for k in tracked), tx.grad.numpy(), tw.grad.numpy(),
              tb.grad.numpy()]
    return ours, theirs


@pytest.mark.parametrize("op,shape,kw", [
    ("batch_norm", (4, 3, 5, 7), dict(training=True, running=True, momentum=0.2)),
    ("batch_norm", (6, 5), dict(training=True)),
    ("batch_norm", (2, 3, 4, 2, 3), dict(training=False, running=True, eps=0.0)),
    ("instance_norm", (3, 4, 6, 5), dict(running=True, momentum=0.3)),
    ("instance_norm", (2, 3, 7), dict(use_input_stats=False, running=True)),
    ("instance_norm", (2, 3, 7, 2, 2), {}),
    ("group_norm", (2, 6, 5, 7), dict(num_groups=3, eps=-1e-4)),
    ("group_norm", (3, 4), dict(num_groups=4, eps=0.0)),
    ("layer_norm", (3, 4, 5), dict(normalized_shape=(4, 5), eps=1e-3)),
    ("layer_norm", (7, 11), dict(normalized_shape=[11])),
], ids=str)
def test_matches_torch(op, shape, kw):
    ours, theirs = _torch_case(op, shape, dict(kw), np.random.default_rng(len(shape) + len(op)))
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"{op} output {i}")


# ---- errors ----------------------------------------------------------------------------------------------
def test_errors():
    x = np.zeros((2, 3, 4))
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(TypeError, match="float32 and float64"):
        strided.batch_norm(x.astype(np.int32), rm, rv)
    with pytest.raises(TypeError, match="share a dtype"):
        strided.group_norm(x, 3, weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\).*C = 3"):
        strided.batch_norm(x, np.zeros(4), rv)
    with pytest.raises(ValueError, match="both be None"):
        strided.batch_norm(x, rm, None, training=True)
    with pytest.raises(ValueError, match="eval mode"):
        strided.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="eps must be positive in training"):
        strided.batch_norm(x, rm, rv, training=True, eps=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        strided.batch_norm(x, rm, rv, eps=-1.0)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        strided.batch_norm(np.zeros((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\)"):
        strided.batch_norm(x, rm, rv, weight=np.ones(4))
    with pytest.raises(ValueError, match=r"at least 2 dims.*\(3,\)"):
        strided.batch_norm(np.zeros(3), rm, rv)
    with pytest.raises(ValueError, match=r"divide the channels.*C = 3, num_groups = 2"):
        strided.group_norm(x, 2)
    with pytest.raises(ValueError, match="num_groups"):
        strided.group_norm(x, 0)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        strided.group_norm(x, 1.5)
    with pytest.raises(ValueError, match=r"normalized_shape \(3,\) must match the last 1 dims.*\(2, 3, 4\)"):
        strided.layer_norm(x, 3)
    with pytest.raises(ValueError, match="at least one dim"):
        strided.layer_norm(x, ())
    with pytest.raises(ValueError, match=r"bias has shape \(4,\), expected \(3, 4\)"):
        strided.layer_norm(x, (3, 4), bias=np.ones(4))
    with pytest.raises(ValueError, match=r"more than 1 spatial element.*\(2, 3, 1\)"):
        strided.instance_norm(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="use_input_stats=False needs running_mean"):
        strided.instance_norm(x, use_input_stats=False)
    with pytest.raises(ValueError, match=r"gy has shape \(2, 3, 5\)"):
        strided.layer_norm_backward(np.zeros((2, 3, 5)), x, 4)
    with pytest.raises(TypeError, match="running_var must be a float32 or float64 array"):
        strided.batch_norm(x, rm, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("op,x,kw", [
    ("batch_norm", np.zeros((2, 3, 4)), dict(running_mean=np.zeros(3), running_var=np.ones(3), training=True)),
    ("group_norm", np.zeros((2, 3, 4)), dict(num_groups=3)),
    ("layer_norm", np.zeros((2, 3, 4)), dict(normalized_shape=(4,))),
    ("instance_norm", np.zeros((2, 3, 4)), {}),
])
def test_errors_match_torch_acceptance(op, x, kw):
    """What PyTorch accepts we accept, and the reverse, for eps of 0 and below."""
    torch = pytest.importorskip("torch")
    for eps in (0.0, -1e-3):
        t_kw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        try:
            getattr(torch.nn.functional, op)(torch.tensor(x), eps=eps, **t_kw)
            torch_ok = True
        except (ValueError, RuntimeError):
            torch_ok = False
        try:
            getattr(strided, op)(x, eps=eps, **{k: (v.copy() if isinstance(v, np.ndarray) else v)
                                                for k, v in kw.items()})
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == torch_ok, (op, eps)


# ---- layers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda lib: lib.GroupNorm(3, 6), (2, 6, 5, 4)),
    (lambda lib: lib.GroupNorm(2, 4, eps=1e-3, affine=False), (3, 4, 7)),
    (lambda lib: lib.LayerNorm((5, 4)), (2, 3, 5, 4)),
    (lambda lib: lib.LayerNorm(7, elementwise_affine=False), (4, 7)),
    (lambda lib: lib.LayerNorm(7, bias=False), (4, 7)),
    (lambda lib: lib.InstanceNorm2d(3), (2, 3, 5, 4)),
    (lambda lib: lib.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3), (2, 3, 5, 4)),
    (lambda lib: lib.InstanceNorm2d(3, affine=True, track_running_stats=True), (3, 5, 4)),
    (lambda lib: lib.BatchNorm1d(3, momentum=None), (5, 3, 4)),
    (lambda lib: lib.BatchNorm2d(3, track_running_stats=False, bias=False), (2, 3, 4, 5)),
    (lambda lib: lib.GroupNorm(2, 4, bias=False), (3, 4, 5)),
], ids=["group", "group_plain", "layer", "layer_plain", "layer_no_bias", "instance", "instance_tracked",
        "instance_unbatched", "batch1d_cumulative", "batch2d_untracked_no_bias", "group_no_bias"])
def test_layers_match_torch_modules(make, shape):
    """Forward, gradients and running statistics in training, then eval, against the same torch.nn module."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape))
    ours, theirs = make(strided.nn).double(), make(torch.nn).double()
    for p in ours.parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.data.shape)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.data))
    assert sorted(n for n, _ in ours.named_parameters()) == sorted(n for n, _ in theirs.named_parameters())
    for step in range(2):
        x, gy = _x(rng, shape, np.float64), rng.standard_normal(shape)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = theirs(tx)
        ty.backward(torch.from_numpy(gy))
        ours.zero_grad()
        np.testing.assert_allclose(ours(x), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours.backward(gy), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad, getattr(theirs, name).grad.numpy(), rtol=1e-9, atol=1e-10)
            getattr(theirs, name).grad = None
    for name in ("running_mean", "running_var"):
        if getattr(theirs, name, None) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name).numpy(), rtol=1e-12)
    ours.eval(), theirs.eval()
    x = _x(rng, shape, np.float64)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_batch_norm_layer_takes_one_value_per_channel():
    """The functional op refuses it (as PyTorch); the layer, as it always has, normalizes it to the bias."""
    bn = strided.nn.BatchNorm2d(3).double()
    bn.bias.data[...] = [1.0, 2.0, 3.0]
    x = np.arange(3.0).reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(bn(x).reshape(-1), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(bn.running_var, 0.9)
    np.testing.assert_array_equal(bn.backward(np.ones_like(x)), np.zeros_like(x))


def test_layer_state_repr_and_errors():
    gn = strided.nn.GroupNorm(2, 4)
    assert sorted(gn.state_dict()) == ["bias", "weight"] and gn.weight.data.dtype == np.float32
    inorm = strided.nn.InstanceNorm2d(3, track_running_stats=True)
    assert sorted(inorm.state_dict()) == ["num_batches_tracked", "running_mean", "running_var"]  # as PyTorch
    assert repr(strided.nn.LayerNorm((2, 3))) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    with pytest.raises(ValueError, match="divisible by num_groups"):
        strided.nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\) expects input of shape \(N, 4, ...\)"):
        gn(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3\) expects"):
        inorm(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(TypeError, match="float32 parameters"):
        gn(np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="normalized_shape"):
        strided.nn.LayerNorm(5)(np.zeros((2, 4), np.float32))


def test_summary_of_norm_layers():
    nn = strided.nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.InstanceNorm2d(8, affine=True),
                          nn.LayerNorm((8, 6, 6)), nn.Flatten(), nn.Linear(288, 2))
    s = model.summary((1, 6, 6))
    rows = {r.type: r for r in s.rows}
    assert rows["GroupNorm"].output_shape == (8, 6, 6) and rows["GroupNorm"].params == 16
    assert rows["InstanceNorm2d"].params == 16 and rows["LayerNorm"].params == 2 * 288
    assert rows["GroupNorm"].flops == rows["LayerNorm"].flops == 2 * 288
