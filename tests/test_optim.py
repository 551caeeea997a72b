"""Optimizers: hand-computed first steps, several steps against torch.optim (when importable), convergence on a
quadratic, state_dict round trips; learning-rate schedules."""
import math

import numpy as np
import pytest

from strided import optim
from oracle import cap  # noqa: F401 (a fixture: each SIMD level)

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


class P:
    """The Parameter contract: .data and .grad."""

    def __init__(self, data):
        self.data = np.array(data, dtype=np.float64)
        self.grad = None


def one_step(opt_cls, w0, g, **kw):
    p = P(w0)
    opt = opt_cls([p], **kw)
    p.grad = np.array(g, dtype=np.float64)
    opt.step()
    return p.data, opt, p


def test_sgd_first_steps_by_hand():
    w, opt, p = one_step(optim.SGD, [1.0, -2.0], [0.5, 1.0], lr=0.1)
    np.testing.assert_allclose(w, [0.95, -2.1])
    # weight decay: g + wd*w
    w, *_ = one_step(optim.SGD, [1.0, -2.0], [0.5, 1.0], lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(w, [1 - 0.1 * 0.6, -2 - 0.1 * 0.8])
    # momentum: buf = g on step 1, buf = m*buf + g on step 2
    w, opt, p = one_step(optim.SGD, [1.0], [1.0], lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w, [0.9])
    p.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9 - 0.1 * 1.9])
    # nesterov: step uses g + m*buf
    w, opt, p = one_step(optim.SGD, [1.0], [1.0], lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(w, [1 - 0.1 * 1.9])
    p.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.81 - 0.1 * (1 + 0.9 * 1.9)])


def test_adam_family_first_step_by_hand():
    # the bias-corrected first step of Adam is lr * g/|g| (up to eps)
    w, *_ = one_step(optim.Adam, [1.0, 1.0], [0.3, -4.0], lr=0.01)
    np.testing.assert_allclose(w, [0.99, 1.01], rtol=1e-7)
    # coupled L2: the decay enters the gradient, so still +-lr on step 1
    w, *_ = one_step(optim.Adam, [1.0], [0.3], lr=0.01, weight_decay=0.5)
    np.testing.assert_allclose(w, [0.99], rtol=1e-7)
    # decoupled: p *= 1 - lr*wd first
    w, *_ = one_step(optim.AdamW, [1.0], [0.3], lr=0.01, weight_decay=0.5)
    np.testing.assert_allclose(w, [1 * (1 - 0.005) - 0.01], rtol=1e-7)
    # step 2 by hand
    p = P([0.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.75), eps=0.0)
    for g in (1.0, 3.0):
        p.grad = np.array([g])
        opt.step()
    m = 0.5 * 0.5 * 1 + 0.5 * 3
    v = 0.75 * 0.25 * 1 + 0.25 * 9
    expected = -0.1 - 0.1 * (m / (1 - 0.25)) / math.sqrt(v / (1 - 0.75 ** 2))
    np.testing.assert_allclose(p.data, [expected], rtol=1e-12)


def test_rmsprop_adagrad_adadelta_first_step_by_hand():
    g = 2.0
    w, *_ = one_step(optim.RMSprop, [1.0], [g], lr=0.01, alpha=0.9, eps=0.0)
    np.testing.assert_allclose(w, [1 - 0.01 * g / math.sqrt(0.1 * g * g)])
    w, *_ = one_step(optim.RMSprop, [1.0], [g], lr=0.01, alpha=0.9, eps=0.0, centered=True)
    np.testing.assert_allclose(w, [1 - 0.01 * g / math.sqrt(0.1 * g * g - (0.1 * g) ** 2)])
    w, *_ = one_step(optim.Adagrad, [1.0], [g], lr=0.5, eps=0.0)
    np.testing.assert_allclose(w, [0.5])  # lr * g / sqrt(g^2)
    w, *_ = one_step(optim.Adagrad, [1.0], [g], lr=0.5, eps=0.0, initial_accumulator_value=5.0)
    np.testing.assert_allclose(w, [1 - 0.5 * 2 / 3])
    w, *_ = one_step(optim.Adadelta, [1.0], [g], lr=1.0, rho=0.9, eps=1e-6)
    np.testing.assert_allclose(w, [1 - math.sqrt(1e-6) / math.sqrt(0.1 * 4 + 1e-6) * g])


def test_skips_params_without_grad_and_zero_grad():
    a, b = P([1.0]), P([2.0])
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = np.array([1.0])
    opt.step()
    assert a.data[0] == 0.0 and b.data[0] == 2.0 and opt.state[1] == {}
    opt.zero_grad(set_to_none=False)
    assert a.grad[0] == 0.0 and b.grad is None
    opt.zero_grad()
    assert a.grad is None
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.get_optimizer("lbfgs", [a])


def test_in_place_update():
    p = P([1.0, 2.0])
    ref = p.data
    p.grad = np.ones(2)
    optim.Adam([p]).step()
    assert p.data is ref


ALL = [(optim.SGD, dict(lr=0.1)), (optim.SGD, dict(lr=0.05, momentum=0.9)),
       (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
       (optim.SGD, dict(lr=0.05, momentum=0.5, dampening=0.3)),
       (optim.Adam, dict(lr=0.1)), (optim.Adam, dict(lr=0.1, weight_decay=0.05, amsgrad=True)),
       (optim.AdamW, dict(lr=0.1)), (optim.RMSprop, dict(lr=0.02)),
       (optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
       (optim.Adagrad, dict(lr=0.5)), (optim.Adagrad, dict(lr=0.5, lr_decay=0.01, weight_decay=0.01)),
       (optim.Adadelta, dict(lr=1.0)), (optim.Adadelta, dict(lr=1.0, rho=0.5, weight_decay=0.01))]
IDS = [f"{c.__name__}-{'-'.join(f'{k}{v}' for k, v in kw.items())}" for c, kw in ALL]

A = np.diag([1.0, 4.0, 0.5]) + 0.1
B = np.array([1.0, -2.0, 0.5])


def quad_grad(w):
    """Gradient of 0.5 w^T A w - b^T w (minimum at A^-1 b)."""
    return A @ w - B


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_converges_on_quadratic(cls, kw):
    p = P(np.zeros(3))
    opt = cls([p], **kw)
    steps = 20000 if cls is optim.Adadelta else 1500  # Adadelta starts with tiny steps
    for _ in range(steps):
        p.grad = quad_grad(p.data)
        opt.step()
    target = np.linalg.solve(A + kw.get("weight_decay", 0) * np.eye(3) * (cls is not optim.AdamW), B)
    if cls is optim.Adadelta:
        # Adadelta's effective step sqrt(acc)/sqrt(sq) does not shrink to 0: it ends in a small limit cycle
        f = lambda w: 0.5 * w @ A @ w - B @ w  # noqa: E731
        assert f(p.data) - f(target) < 1e-2 * (f(np.zeros(3)) - f(target))
        np.testing.assert_allclose(p.data, target, atol=0.1)
        return
    tol = 5e-2 if cls is optim.AdamW else 1e-2  # AdamW's decoupled decay shifts the minimum a little
    np.testing.assert_allclose(p.data, target, atol=tol)


@needs_torch
@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_matches_torch_over_several_steps(cls, kw):
    rng = np.random.default_rng(1)
    w0 = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    ps = [P(w) for w in w0]
    ts = [torch.tensor(w, requires_grad=True) for w in w0]
    opt = cls(ps, **kw)
    topt = getattr(torch.optim, cls.__name__)(ts, **kw)
    for _ in range(7):
        grads = [rng.normal(size=w.shape) for w in w0]
        for p, t, g in zip(ps, ts, grads):
            p.grad = g.copy()
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_state_dict_round_trip_continues_identically(cls, kw):
    rng = np.random.default_rng(2)
    a = [P(rng.normal(size=(2, 2))), P(rng.normal(size=3))]
    b = [P(x.data.copy()) for x in a]
    oa, ob = cls(a, **kw), cls(b, **kw)
    grads = [[rng.normal(size=x.data.shape) for x in a] for _ in range(6)]
    for gs in grads[:3]:
        for p, g in zip(a, gs):
            p.grad = g
        oa.step()
    sd = oa.state_dict()
    for p, q in zip(a, b):
        q.data[...] = p.data
    ob2 = cls(b, lr=123.0)  # hyper-parameters come back from the state dict too
    ob2.load_state_dict(sd)
    assert ob2.hyperparameters() == oa.hyperparameters()
    for gs in grads[3:]:
        for p, q, g in zip(a, b, gs):
            p.grad, q.grad = g, g.copy()
        oa.step()
        ob2.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)
    del ob
    with pytest.raises(ValueError):
        optim.SGD(b, lr=0.1).load_state_dict(optim.Adam(b).state_dict())


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(weight_decay=0.05, amsgrad=True)])
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_matches_the_array_module_rule_bit_for_bit(cls, kw, dtype, cap, monkeypatch):
    # NumPy parameters take strided._C.adam_update (its loop per SIMD level); CuPy ones the NumPy-style
    # rule. Run both on the same data (a small tensor, and one above the size where the C++ loop goes
    # parallel) and compare every bit.
    rng = np.random.default_rng(3)
    shapes = [(7, 3), (300, 300)]
    inits = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(rng.standard_normal(s) * 10.0 ** rng.integers(-3, 3)).astype(dtype) for s in shapes] for _ in range(5)]

    def run(fused):
        ps = [P(w) for w in inits]
        for p, w in zip(ps, inits):
            p.data = w.copy()
        opt = cls(ps, lr=0.01, **kw)
        with monkeypatch.context() as mp:
            if not fused:
                mp.setattr(optim, "_fusable", lambda *a: False)
            for gs in grads:
                for p, g in zip(ps, gs):
                    p.grad = g
                opt.step()
        return [p.data for p in ps], opt.state

    calls = []
    real = optim._C.adam_update
    monkeypatch.setattr(optim._C, "adam_update", lambda *a: calls.append(1) or real(*a))
    (fused, fstate), (plain, pstate) = run(True), run(False)
    assert len(calls) == 10  # the fused kernel ran: 2 tensors x 5 steps (and not for the plain run)
    for a, b in zip(fused, plain):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    for fs, ps_ in zip(fstate, pstate):
        for k in fs:
            np.testing.assert_array_equal(fs[k], ps_[k])


def test_fused_adam_refuses_views_it_cannot_update_in_place():
    p = np.zeros((4, 4), np.float32)
    with pytest.raises(TypeError):
        optim._C.adam_update(p[:, ::2], p[:, ::2], p[:, ::2], p[:, ::2], None, 0.1, 0.9, 0.999, 1e-8, 0.0, False, 1)
    with pytest.raises(ValueError, match="grad"):
        optim._C.adam_update(p, p[:2], p, p, None, 0.1, 0.9, 0.999, 1e-8, 0.0, False, 1)
    assert not optim._fusable(p[:, ::2], p[:, ::2], p[:, ::2], p[:, ::2], None)


def test_float32_params_stay_float32():
    p = P(np.ones(3))
    p.data = p.data.astype(np.float32)
    for cls, kw in ALL:
        opt = cls([p], **kw)
        p.grad = np.full(3, 0.1, np.float32)
        opt.step()
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[0].values() if hasattr(v, "dtype"))


def test_step_lr_and_cosine():
    p = P([0.0])
    opt = optim.SGD([p], lr=1.0)
    s = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(5):
        s.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    opt = optim.SGD([p], lr=0.1)
    c = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    lrs = [opt.lr]
    for _ in range(4):
        c.step()
        lrs.append(opt.lr)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(lrs, expected)
    sd = c.state_dict()
    opt2 = optim.SGD([p], lr=0.1)
    c2 = optim.CosineAnnealingLR(opt2, T_max=4, eta_min=0.01)
    c2.load_state_dict(sd)
    assert opt2.lr == pytest.approx(0.01)
    before = dict(c2.__dict__)
    for bad in ({"T_mx": 3}, {"last_epoch": 1.5}, {"eta_min": "0.1"}, {"T_max": True}, {"T_max": 0}):
        with pytest.raises(ValueError):
            c2.load_state_dict(bad)
        assert c2.__dict__ == before and opt2.lr == pytest.approx(0.01)  # a failed load changes nothing
    c2.load_state_dict({"last_epoch": np.int64(2)})
    assert opt2.lr == pytest.approx(expected[2]) and type(c2.last_epoch) is int


@needs_torch
def test_schedules_match_torch():
    p = P([0.0])
    t = torch.zeros(1, requires_grad=True)
    for mk, tmk in [(lambda o: optim.StepLR(o, 3, 0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.3)),
                    (lambda o: optim.CosineAnnealingLR(o, 7, 1e-3),
                     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, 1e-3))]:
        opt, topt = optim.SGD([p], lr=0.2), torch.optim.SGD([t], lr=0.2)
        s, ts = mk(opt), tmk(topt)
        for _ in range(7):
            opt.step()
            topt.step()
            s.step()
            ts.step()
            assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9)
