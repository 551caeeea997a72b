"""strided.nn layers and Module machinery: forward against the NumPy reference / formulas, dtype,
accumulation of gradients, need_input_grad, train/eval of Dropout and BatchNorm, state_dict, init,
repr, containers; optional comparison with torch.nn."""
import numpy as np
import pytest

import strided
import strided.nn as nn
from strided import reference as R


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- forward against the reference ---------------------------------------------------------------
@pytest.mark.parametrize("geo", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2, groups=2),
                                 dict(padding=(0, 1, 2, 1), stride=(1, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_forward_matches_reference(geo, dtype, rng):
    conv = nn.Conv2d(4, 6, 3, **geo).astype(dtype)
    conv.bias.data[...] = rng.standard_normal(6)
    x = rng.standard_normal((2, 4, 7, 6)).astype(dtype)
    y = conv(x)
    assert y.dtype == dtype and conv.weight.shape == (6, 4 // geo.get("groups", 1), 3, 3)
    want = R.conv2d(x.astype(np.float64), conv.weight.data.astype(np.float64), conv.bias.data.astype(np.float64),
                    **geo)
    np.testing.assert_allclose(y, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)
    assert y.shape == strided.conv_output_shape(x.shape, conv.weight.shape, **geo)


def test_pool_forward_matches_reference(rng):
    x = rng.standard_normal((2, 3, 7, 8))
    for layer, ref in [(nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
                        lambda: R.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
                       (nn.MaxPool2d(2), lambda: R.max_pool2d(x, 2)),
                       (nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                        lambda: R.avg_pool2d(x, 3, 2, 1, False, False)),
                       (nn.AvgPool2d(2, stride=1), lambda: R.avg_pool2d(x, 2, 1))]:
        np.testing.assert_allclose(layer(x), ref(), rtol=1e-12, atol=1e-12)


def test_linear_flatten_global_pool_forward(rng):
    lin = nn.Linear(12, 5)
    lin.bias.data[...] = rng.standard_normal(5)
    x = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    f = nn.Flatten()(x)
    assert f.shape == (3, 12)
    y = lin(f)
    np.testing.assert_allclose(y, f @ lin.weight.data.T + lin.bias.data, rtol=1e-6)
    assert y.dtype == np.float32
    g = nn.GlobalAvgPool2d()(x)
    np.testing.assert_allclose(g, x.mean(axis=(2, 3)), rtol=1e-6)
    assert nn.GlobalAvgPool2d(keepdim=True)(x).shape == (3, 3, 1, 1)
    with pytest.raises(ValueError, match="Flatten"):
        lin(x)
    with pytest.raises(TypeError, match="float64 input"):
        lin(f.astype(np.float64))
    with pytest.raises(TypeError, match="float32 parameters"):
        nn.BatchNorm1d(12)(f.astype(np.float64))


def test_activations_match_formulas(rng):
    x = rng.standard_normal((4, 5)) * 4
    x[0, 0], x[0, 1] = 30.0, -600.0  # softplus linear branch; no overflow in sigmoid / softplus / elu
    with np.errstate(over="raise"):
        np.testing.assert_array_equal(nn.ReLU()(x), np.where(x > 0, x, 0))
        np.testing.assert_allclose(nn.LeakyReLU(0.2)(x), np.where(x > 0, x, 0.2 * x))
        np.testing.assert_allclose(nn.ELU(0.5)(x), np.where(x > 0, x, 0.5 * (np.exp(np.minimum(x, 0)) - 1)))
        np.testing.assert_allclose(nn.Sigmoid()(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
        np.testing.assert_allclose(nn.Tanh()(x), np.tanh(x))
        sp = nn.Softplus(beta=2, threshold=20)(x)
        want = np.where(2 * x > 20, x, np.log1p(np.exp(np.minimum(2 * x, 20))) / 2)
        np.testing.assert_allclose(sp, want, rtol=1e-12)
    assert nn.LeakyReLU()(np.float32([-1.0])).dtype == np.float32
    assert nn.Sigmoid()(np.float32([-1.0])).dtype == np.float32


# ---- backward plumbing ------------------------------------------------------------------------------
def test_backward_accumulates_and_zero_grad_resets(rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 3, 2))
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    gy = rng.standard_normal((2, 2)).astype(np.float32)
    model(x)
    model.backward(gy)
    first = {n: p.grad.copy() for n, p in model.named_parameters()}
    model(x)
    model.backward(gy)
    for n, p in model.named_parameters():
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, err_msg=n)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x)
    model.backward(gy)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_need_input_grad_false_skips_first_conv_input_gradient(monkeypatch, rng):
    calls = []
    real = strided.conv2d_backward

    def spy(*args, **kw):
        calls.append(kw.get("input_grad", True))
        return real(*args, **kw)

    monkeypatch.setattr(strided.functional, "conv2d_backward", spy)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(2, 1))
    y = model(rng.standard_normal((1, 1, 5, 5)).astype(np.float32))
    assert model.backward(np.ones_like(y), need_input_grad=False) is None
    assert calls == [True, False]          # second conv (runs first) needs gx, the first does not
    calls.clear()
    model(rng.standard_normal((1, 1, 5, 5)).astype(np.float32))
    assert model.backward(np.ones_like(y)).shape == (1, 1, 5, 5)
    assert calls == [True, True]
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        model.backward(np.ones_like(y))


def test_frozen_parameters_get_no_gradient(rng):
    conv = nn.Conv2d(1, 2, 3)
    conv.weight.requires_grad = False
    y = conv(rng.standard_normal((1, 1, 4, 4)).astype(np.float32))
    conv.backward(np.ones_like(y))
    assert conv.weight.grad is None and conv.bias.grad is not None
    assert conv.num_parameters(trainable_only=True) == 2


# ---- train / eval -----------------------------------------------------------------------------------
def test_dropout_train_eval(rng):
    x = np.ones((200, 100), np.float32)
    d = nn.Dropout(0.25, seed=1)
    assert d.training
    y = d(x)
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), y)      # gradient uses the same mask
    np.testing.assert_array_equal(nn.Dropout(0.25, seed=1)(x), y)      # the seed fixes the mask
    assert not np.array_equal(d(x), y)                                  # a new mask each forward
    d.eval()
    assert d(x) is x and d.backward(x) is x
    d.train()
    d.fixed_mask = np.full_like(x, 2.0)
    np.testing.assert_array_equal(d(x), 2 * x)
    assert not nn.Dropout(1.0)(x).any()
    np.testing.assert_array_equal(nn.Dropout(0.0)(x), x)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_batchnorm_train_eval_and_running_stats(rng):
    bn = nn.BatchNorm2d(3, momentum=0.1).double()
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, 1.0, -1.0]
    x = rng.standard_normal((4, 3, 5, 2)) * 3 + 2
    y = bn(x)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    want = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * bn.weight.data[:, None, None] \
        + bn.bias.data[:, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-12)
    n = 4 * 5 * 2
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-12)  # unbiased
    bn.eval()
    x2 = rng.standard_normal((2, 3, 2, 2))
    want = (x2 - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + 1e-5) \
        * bn.weight.data[:, None, None] + bn.bias.data[:, None, None]
    before = bn.running_mean.copy()
    np.testing.assert_allclose(bn(x2), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, before)                 # eval does not update
    bn1 = nn.BatchNorm1d(3)
    assert bn1(rng.standard_normal((5, 3)).astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="BatchNorm2d"):
        bn(rng.standard_normal((4, 3)))


def test_batchnorm_cumulative_average_survives_a_checkpoint(rng):
    """momentum=None averages every batch seen; a model loaded from a state_dict goes on counting."""
    xs = [rng.standard_normal((6, 2, 3, 3)) + i for i in range(4)]
    whole = nn.BatchNorm2d(2, momentum=None).double()
    for x in xs:
        whole(x)
    first = nn.BatchNorm2d(2, momentum=None).double()
    for x in xs[:2]:
        first(x)
    second = nn.BatchNorm2d(2, momentum=None).double()
    second.load_state_dict(first.state_dict())
    for x in xs[2:]:
        second(x)
    np.testing.assert_allclose(whole.running_mean, np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(second.running_mean, whole.running_mean, rtol=1e-12)
    np.testing.assert_allclose(second.running_var, whole.running_var, rtol=1e-12)
    assert int(second.num_batches_tracked) == 4
    assert second.float().num_batches_tracked.dtype == np.int64     # casts leave the counter alone


def test_train_eval_propagates():
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Sequential(nn.BatchNorm2d(1), nn.Dropout()))
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


# ---- state ------------------------------------------------------------------------------------------
def _small_model():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.GlobalAvgPool2d(),
                         nn.Linear(3, 2))


def test_state_dict_round_trip(rng):
    nn.init.seed(1)
    a = _small_model()
    a(rng.standard_normal((4, 2, 5, 5)).astype(np.float32))     # move the running statistics
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked", "4.weight", "4.bias"]
    assert sd["1.num_batches_tracked"] == 1 and sd["1.num_batches_tracked"].dtype == np.int64
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    nn.init.seed(2)
    b = _small_model()
    assert not np.array_equal(b[0].weight.data, a[0].weight.data)
    w_array = b[0].weight.data
    assert b.load_state_dict(sd) == ([], [])
    assert b[0].weight.data is w_array                              # copied in place
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x), b(x))
    sd["0.weight"][...] = 0                                         # a copy, not a view
    assert a[0].weight.data.any()


def test_load_state_dict_errors():
    m = _small_model()
    sd = m.state_dict()
    del sd["4.bias"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['4.bias'\].*unexpected keys \['extra'\]"):
        m.load_state_dict(sd)
    assert m.load_state_dict(sd, strict=False) == (["4.bias"], ["extra"])
    sd = m.state_dict()
    sd["0.weight"] = np.zeros((3, 2, 1, 1))
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 2, 1, 1\).*\(3, 2, 3, 3\)"):
        m.load_state_dict(sd)


def test_astype_and_to(rng):
    m = _small_model()
    assert m.double() is m
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert all(b.dtype == (np.float64 if b.dtype.kind == "f" else np.int64) for b in m.buffers())
    assert m(rng.standard_normal((2, 2, 4, 4))).dtype == np.float64
    assert m.to(np.float32) is m and m[0].weight.dtype == np.float32
    assert m.to("float64")[0].weight.dtype == np.float64 and m.float()[1].running_var.dtype == np.float32
    assert m.to("cpu") is m and isinstance(m[0].weight.data, np.ndarray)
    with pytest.raises(ValueError, match="device"):
        m.to("tpu")


def test_to_cuda_and_back(rng):
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA device")
    m = _small_model().to("cuda")
    assert all(type(p.data).__module__.startswith("cupy") for p in m.parameters())
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    y_gpu = m(cp.asarray(x))
    m.backward(cp.ones_like(y_gpu))
    assert all(type(p.grad).__module__.startswith("cupy") for p in m.parameters())
    m.to("cpu")
    np.testing.assert_allclose(cp.asnumpy(y_gpu), m(x), rtol=1e-4, atol=1e-5)


# ---- init -------------------------------------------------------------------------------------------
def test_init_seed_reproducible_and_defaults():
    nn.init.seed(123)
    a = nn.Conv2d(8, 16, 3)
    nn.init.seed(123)
    b = nn.Conv2d(8, 16, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.dtype == np.float32 and not a.bias.data.any()
    bn = nn.BatchNorm2d(4)
    assert (bn.weight.data == 1).all() and not bn.bias.data.any()


def test_init_distributions():
    rng = np.random.default_rng(0)
    w = np.zeros((256, 64, 3, 3))
    nn.init.kaiming_normal_(w, rng=rng)
    assert abs(w.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.02
    nn.init.kaiming_uniform_(w, rng=rng)
    assert np.abs(w).max() <= np.sqrt(2) * np.sqrt(3 / (64 * 9))
    assert abs(w.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.02
    nn.init.xavier_uniform_(w, rng=rng)
    bound = np.sqrt(6 / (64 * 9 + 256 * 9))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    nn.init.xavier_normal_(w, rng=rng)
    assert abs(w.std() / np.sqrt(2 / (64 * 9 + 256 * 9)) - 1) < 0.02
    lin = nn.Linear(1000, 500)
    assert abs(lin.weight.data.std() / np.sqrt(2 / 1000) - 1) < 0.02
    nn.init.constant_(lin.bias, 0.5)
    assert (lin.bias.data == 0.5).all()
    nn.init.zeros_(lin.weight)
    assert not lin.weight.data.any()
    with nn.init.skip_init():
        big = nn.Linear(4096, 4096)                                   # allocated, never drawn
    assert big.weight.shape == (4096, 4096)


# ---- containers and printing -------------------------------------------------------------------------
def test_sequential_container():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
    assert len(seq) == 3 and isinstance(seq[0], nn.Conv2d) and isinstance(seq[-1], nn.Flatten)
    assert [type(m).__name__ for m in seq] == ["Conv2d", "ReLU", "Flatten"]
    sub = seq[:2]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[0]
    seq.append(nn.Linear(8, 2))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]


@pytest.mark.parametrize("pool", [dict(kernel_size=2), dict(kernel_size=4), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_before_max_pool_runs_after_it_with_identical_results(pool, dtype, monkeypatch, rng):
    # Integers in [-3, 3]: many ties, zeros and all-non-positive windows, the cases where the order could matter.
    x = rng.integers(-3, 4, (2, 3, 9, 8)).astype(dtype)
    gy_shape = strided.pool_output_shape(x.shape, **pool)
    gy = rng.standard_normal(gy_shape).astype(dtype)
    relu, mp = nn.ReLU(), nn.MaxPool2d(**pool)
    want = mp(relu(x))
    want_gx = relu.backward(mp.backward(gy))
    seen = []
    real_relu = strided.relu
    monkeypatch.setattr(strided.functional, "relu", lambda a: seen.append(a.shape) or real_relu(a))
    seq = nn.Sequential(nn.ReLU(), nn.MaxPool2d(**pool))
    y = seq(x)
    assert seen == [gy_shape]  # the ReLU ran on the pooled tensor
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(seq.backward(gy), want_gx)


def test_relu_is_not_moved_past_avg_pool(monkeypatch, rng):
    x = rng.standard_normal((1, 2, 4, 4))
    seen = []
    real_relu = strided.relu
    monkeypatch.setattr(strided.functional, "relu", lambda a: seen.append(a.shape) or real_relu(a))
    y = nn.Sequential(nn.ReLU(), nn.AvgPool2d(2))(x)
    assert seen == [x.shape]
    np.testing.assert_allclose(y, R.avg_pool2d(np.maximum(x, 0), 2))


def test_residual_and_concat_forward(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    body = nn.Conv2d(3, 3, 3, padding=1).double()
    np.testing.assert_allclose(nn.Residual(body)(x), body(x) + x)
    proj = nn.Conv2d(3, 5, 1).double()
    with pytest.raises(ValueError, match="projection shortcut"):
        nn.Residual(nn.Conv2d(3, 5, 3, padding=1).double())(x)
    cat = nn.Concat(body, proj)
    y = cat(x)
    assert y.shape == (2, 8, 4, 4)
    np.testing.assert_allclose(y[:, 3:], proj(x))
    block = nn.BasicBlock(3, 6, stride=2)
    assert block(x.astype(np.float32)).shape == (2, 6, 2, 2)
    assert block[0].shortcut is not None and nn.BasicBlock(3, 3)[0].shortcut is None


def test_repr_pytorch_style():
    m = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(30752, 2))
    assert repr(m) == ("Sequential(\n"
                       "  (0): Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1))\n"
                       "  (1): ReLU()\n"
                       "  (2): MaxPool2d(kernel_size=(4, 4))\n"
                       "  (3): Flatten()\n"
                       "  (4): Linear(in_features=30752, out_features=2)\n"
                       ")")
    assert repr(nn.Conv2d(4, 8, 3, stride=2, padding="same", dilation=2, groups=4, bias=False)) == \
        "Conv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=same, dilation=(2, 2), groups=4, bias=False)"
    assert repr(nn.AvgPool2d(3, 2, 1, count_include_pad=False)) == \
        "AvgPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=False)"
    assert repr(nn.Dropout(0.3)) == "Dropout(p=0.3)"
    assert repr(nn.BatchNorm2d(8, eps=1e-3)) == "BatchNorm2d(8, eps=0.001)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


# ---- optional: torch.nn as an oracle -------------------------------------------------------------------
def test_matches_torch_conv_and_batchnorm(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3, 6, 5))
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    conv.bias.data[...] = rng.standard_normal(4)
    tconv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(conv.weight.data))
        tconv.bias.copy_(torch.from_numpy(conv.bias.data))
    bn = nn.BatchNorm2d(4).double()
    bn.weight.data[...] = rng.uniform(0.5, 1.5, 4)
    bn.bias.data[...] = rng.standard_normal(4)
    tbn = torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(bn.weight.data))
        tbn.bias.copy_(torch.from_numpy(bn.bias.data))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = tbn(tconv(tx))
    y = bn(conv(x))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(gy))
    gx = conv.backward(bn.backward(gy))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    for ours, theirs in [(conv.weight, tconv.weight), (conv.bias, tconv.bias), (bn.weight, tbn.weight),
                         (bn.bias, tbn.bias)]:
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, tbn.running_var.numpy(), rtol=1e-12)
    bn.eval(), tbn.eval()
    np.testing.assert_allclose(bn(conv(x)), tbn(tconv(tx)).detach().numpy(), rtol=1e-10, atol=1e-12)
