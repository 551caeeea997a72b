"""A sweep against torch.nn.functional (skipped when PyTorch is not installed): conv2d and both pools,
forward and backward, in float64 so differences mean semantics, not rounding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strided
from strided.ops.conv2d.args import conv_args

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_conv(x, w, b, gy, stride, padding, dilation, groups):
    args, _ = conv_args(x, w, b, None, stride, padding, dilation, groups)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    padded = F.pad(tx, (args.pad_left, args.pad_right, args.pad_top, args.pad_bottom))
    y = F.conv2d(padded, tw, tb, stride=stride, dilation=dilation, groups=groups)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()


@settings(max_examples=60, deadline=None)
@given(groups=st.integers(1, 3), cg=st.integers(1, 3), kg=st.integers(1, 3), R=st.integers(1, 4),
       S=st.integers(1, 4), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), extra=st.tuples(st.integers(0, 7), st.integers(0, 7)),
       padding=st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 3)] * 4),
                         st.sampled_from(["valid", "same", "full"])),
       N=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 999))
def test_conv2d_matches_torch(groups, cg, kg, R, S, stride, dilation, extra, padding, N, bias, seed):
    rng = np.random.default_rng(seed)
    H, W = dilation[0] * (R - 1) + 1 + extra[0], dilation[1] * (S - 1) + 1 + extra[1]
    x = rng.standard_normal((N, groups * cg, H, W))
    w = rng.standard_normal((groups * kg, cg, R, S))
    b = rng.standard_normal(groups * kg) if bias else None
    y = strided.conv2d(x, w, b, stride, padding, dilation, groups)
    gy = rng.standard_normal(y.shape)
    ty, tgx, tgw, tgb = torch_conv(x, w, b, gy, stride, padding, dilation, groups)
    gx, gw, gb = strided.conv2d_backward(gy, x, w, stride, padding, dilation, groups, bias_grad=bias)
    for ours, theirs in ((y, ty), (gx, tgx), (gw, tgw), (gb, tgb)):
        if theirs is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       pf=st.tuples(st.booleans(), st.booleans()), extra=st.tuples(st.integers(0, 7), st.integers(0, 7)),
       ceil=st.booleans(), cip=st.booleans(), seed=st.integers(0, 999))
def test_pools_match_torch(k, s, pf, extra, ceil, cip, seed):
    rng = np.random.default_rng(seed)
    p = (k[0] // 2 if pf[0] else 0, k[1] // 2 if pf[1] else 0)
    x = rng.permutation(2 * 3 * (k[0] + extra[0]) * (k[1] + extra[1])).reshape(2, 3, k[0] + extra[0],
                                                                            k[1] + extra[1]) * 1.0
    for ours, ours_back, theirs in (
            (lambda a: strided.max_pool2d(a, k, s, p, ceil_mode=ceil),
             lambda g, a: strided.max_pool2d_backward(g, a, k, s, p, ceil_mode=ceil),
             lambda t: F.max_pool2d(t, k, s, p, ceil_mode=ceil)),
            (lambda a: strided.avg_pool2d(a, k, s, p, ceil, cip),
             lambda g, a: strided.avg_pool2d_backward(g, a, k, s, p, ceil, cip),
             lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=cip))):
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        y = ours(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        gy = rng.standard_normal(y.shape)
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(ours_back(gy, x), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
