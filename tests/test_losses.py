"""Losses: values against direct formulas (and torch.nn.functional when importable), gradients by central
finite differences in float64, penalties' values and gradient contributions."""
import warnings

import numpy as np
import pytest

from strided import losses as L

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def fd_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check_grad(loss, pred, target, atol=1e-7):
    loss(pred, target)
    g = loss.backward()
    assert g.shape == pred.shape and g.dtype == pred.dtype
    num = fd_grad(lambda z: loss(z, target), pred.copy())
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=atol)


rng = np.random.default_rng(0)


def _ce_direct(z, y, w=None):
    logp = z - z.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    nll = -logp[np.arange(len(y)), y]
    if w is None:
        return nll.mean()
    return (w[y] * nll).sum() / w[y].sum()


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_value_and_grad(weighted):
    z = rng.normal(size=(6, 5)) * 3
    y = rng.integers(0, 5, size=6)
    w = rng.uniform(0.2, 2.0, size=5) if weighted else None
    loss = L.CrossEntropyLoss(weight=w)
    v = loss(z, y)
    assert isinstance(v, float)
    assert v == pytest.approx(_ce_direct(z, y, w), rel=1e-12)
    check_grad(loss, z, y)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    z = rng.normal(size=(4, 3))
    y = np.array([0, 2, 1, 1])
    loss = L.CrossEntropyLoss()
    loss(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (p - np.eye(3)[y]) / 4, rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]], dtype=np.float32)
    y = np.array([0, 0])
    loss = L.CrossEntropyLoss()
    v = loss(z, y)
    assert np.isfinite(v) and v == pytest.approx(1e5 / 2, rel=1e-6)
    assert np.all(np.isfinite(loss.backward()))


def test_cross_entropy_sum_smoothing_soft_targets_and_spatial():
    z = rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    assert L.CrossEntropyLoss(reduction="sum")(z, y) == pytest.approx(5 * _ce_direct(z, y), rel=1e-12)
    check_grad(L.CrossEntropyLoss(label_smoothing=0.1), z, y)
    check_grad(L.CrossEntropyLoss(label_smoothing=0.2, weight=np.arange(1.0, 5.0)), z, y)
    # one-hot probability targets equal integer labels
    assert L.CrossEntropyLoss()(z, np.eye(4)[y]) == pytest.approx(_ce_direct(z, y), rel=1e-12)
    soft = rng.dirichlet(np.ones(4), size=5)
    check_grad(L.CrossEntropyLoss(), z, soft)
    # (N, C, H, W) logits with (N, H, W) labels = flattened pixels
    z4 = rng.normal(size=(2, 3, 2, 2))
    y4 = rng.integers(0, 3, size=(2, 2, 2))
    flat = np.moveaxis(z4, 1, -1).reshape(-1, 3)
    assert L.CrossEntropyLoss()(z4, y4) == pytest.approx(_ce_direct(flat, y4.reshape(-1)), rel=1e-12)
    check_grad(L.CrossEntropyLoss(), z4, y4)


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        L.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(RuntimeError):
        L.CrossEntropyLoss().backward()


def test_bce_with_logits():
    x = rng.normal(size=(4, 3)) * 4
    y = rng.integers(0, 2, size=(4, 3)).astype(float)
    s = 1 / (1 + np.exp(-x))
    direct = -(y * np.log(s) + (1 - y) * np.log(1 - s)).mean()
    assert L.BCEWithLogitsLoss()(x, y) == pytest.approx(direct, rel=1e-10)
    check_grad(L.BCEWithLogitsLoss(), x, y)
    pw = np.array([0.5, 2.0, 3.0])
    direct = -(pw * y * np.log(s) + (1 - y) * np.log(1 - s)).mean()
    assert L.BCEWithLogitsLoss(pos_weight=pw)(x, y) == pytest.approx(direct, rel=1e-10)
    check_grad(L.BCEWithLogitsLoss(pos_weight=pw), x, y)
    big = np.array([800.0, -800.0])
    assert np.isfinite(L.BCEWithLogitsLoss()(big, np.array([0.0, 1.0])))


def test_regression_losses():
    p = rng.normal(size=(3, 4)) * 2
    t = rng.normal(size=(3, 4))
    d = p - t
    assert L.MSELoss()(p, t) == pytest.approx((d ** 2).mean(), rel=1e-12)
    assert L.L1Loss()(p, t) == pytest.approx(np.abs(d).mean(), rel=1e-12)
    for delta in (0.5, 1.0, 2.0):
        a = np.abs(d)
        hub = np.where(a <= delta, 0.5 * d ** 2, delta * (a - 0.5 * delta)).mean()
        assert L.HuberLoss(delta)(p, t) == pytest.approx(hub, rel=1e-12)
        ph = (delta ** 2 * (np.sqrt(1 + (d / delta) ** 2) - 1)).mean()
        assert L.PseudoHuberLoss(delta)(p, t) == pytest.approx(ph, rel=1e-12)
        check_grad(L.HuberLoss(delta), p, t)
        check_grad(L.PseudoHuberLoss(delta), p, t)
    check_grad(L.MSELoss(), p, t)
    check_grad(L.L1Loss(), p, t)
    check_grad(L.MSELoss(reduction="sum"), p, t)
    with pytest.raises(ValueError, match="shape"):
        L.MSELoss()(p, t[:2])


def test_kl_divergence():
    z = rng.normal(size=(4, 5))
    logq = z - np.log(np.exp(z).sum(1, keepdims=True))
    t = rng.dirichlet(np.ones(5), size=4)
    t[0, 1] = 0.0  # a zero-probability target term contributes 0
    t[0] /= t[0].sum()
    direct = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - logq), 0).sum() / 4
    assert L.KLDivLoss()(logq, t) == pytest.approx(direct, rel=1e-12)
    assert L.KLDivLoss(log_target=True)(logq, np.log(t + 1e-300)) == pytest.approx(direct, rel=1e-9)
    assert L.KLDivLoss(from_logits=True)(z, t) == pytest.approx(direct, rel=1e-12)
    check_grad(L.KLDivLoss(), logq, t)
    check_grad(L.KLDivLoss(from_logits=True), z, t)
    check_grad(L.KLDivLoss(reduction="mean"), logq, t)
    assert L.KLDivLoss(from_logits=True)(z, np.exp(logq)) == pytest.approx(0.0, abs=1e-12)


class P:
    def __init__(self, data, grad=None):
        self.data, self.grad = data, grad


def test_penalties_value_and_gradient():
    w = rng.normal(size=(3, 4))
    b = rng.normal(size=4)
    params = [P(w.copy()), P(b.copy(), np.ones(4))]
    l2 = L.L2Regularization(0.1)
    assert l2(params) == pytest.approx(0.05 * ((w ** 2).sum() + (b ** 2).sum()))
    l2.backward(params)
    np.testing.assert_allclose(params[0].grad, 0.1 * w)
    np.testing.assert_allclose(params[1].grad, 1 + 0.1 * b)
    l1 = L.L1Regularization(0.01, skip_1d=True)
    assert l1(params) == pytest.approx(0.01 * np.abs(w).sum())
    before = params[1].grad.copy()
    l1.backward(params)
    np.testing.assert_allclose(params[0].grad, 0.1 * w + 0.01 * np.sign(w))
    np.testing.assert_allclose(params[1].grad, before)
    # the gradients are those of the values
    for pen in (L.L1Regularization(0.3), L.L2Regularization(0.3)):
        x = rng.normal(size=(2, 3))
        q = P(x.copy())
        pen.backward([q])
        np.testing.assert_allclose(q.grad, fd_grad(lambda a: pen([a]), x.copy()), rtol=1e-6)


def test_float32_in_float32_out_and_get_loss():
    z = rng.normal(size=(3, 4)).astype(np.float32)
    loss = L.get_loss("cross_entropy")
    loss(z, np.array([1, 2, 3]))
    assert loss.backward().dtype == np.float32
    with pytest.raises(ValueError):
        L.get_loss("nope")


@needs_torch
def test_against_torch():
    z = rng.normal(size=(7, 5)) * 2
    y = rng.integers(0, 5, size=7)
    w = rng.uniform(0.1, 2, size=5)
    tz, ty, tw = torch.tensor(z), torch.tensor(y), torch.tensor(w)
    for kw in ({}, {"weight": w}, {"label_smoothing": 0.15}, {"weight": w, "label_smoothing": 0.15}):
        tkw = {k: (tw if k == "weight" else v) for k, v in kw.items()}
        ref = F.cross_entropy(tz, ty, **tkw).item()
        assert L.CrossEntropyLoss(**kw)(z, y) == pytest.approx(ref, rel=1e-10), kw
    soft = rng.dirichlet(np.ones(5), size=7)
    assert L.CrossEntropyLoss()(z, soft) == pytest.approx(F.cross_entropy(tz, torch.tensor(soft)).item(), rel=1e-10)
    t01 = rng.uniform(0, 1, size=z.shape)
    pw = rng.uniform(0.5, 2, size=5)
    assert L.BCEWithLogitsLoss()(z, t01) == pytest.approx(
        F.binary_cross_entropy_with_logits(tz, torch.tensor(t01)).item(), rel=1e-10)
    assert L.BCEWithLogitsLoss(pos_weight=pw)(z, t01) == pytest.approx(
        F.binary_cross_entropy_with_logits(tz, torch.tensor(t01), pos_weight=torch.tensor(pw)).item(), rel=1e-10)
    t = rng.normal(size=z.shape)
    tt = torch.tensor(t)
    assert L.MSELoss()(z, t) == pytest.approx(F.mse_loss(tz, tt).item(), rel=1e-12)
    assert L.L1Loss()(z, t) == pytest.approx(F.l1_loss(tz, tt).item(), rel=1e-12)
    assert L.HuberLoss(0.7)(z, t) == pytest.approx(F.huber_loss(tz, tt, delta=0.7).item(), rel=1e-12)
    logq = F.log_softmax(tz, 1)
    for red in ("batchmean", "sum", "mean"):
        with warnings.catch_warnings():  # torch warns that 'mean' is not the KL definition ('batchmean' is)
            warnings.simplefilter("ignore", UserWarning)
            ref = F.kl_div(logq, torch.tensor(soft), reduction=red).item()
        assert L.KLDivLoss(reduction=red)(logq.numpy(), soft) == pytest.approx(ref, rel=1e-10)
    # gradients through torch autograd
    tz.requires_grad_(True)
    F.cross_entropy(tz, ty, weight=tw, label_smoothing=0.1).backward()
    loss = L.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    loss(z, y)
    np.testing.assert_allclose(loss.backward(), tz.grad.numpy(), rtol=1e-10, atol=1e-14)
