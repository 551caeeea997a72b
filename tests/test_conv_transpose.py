"""conv_transpose2d and its backward against the scatter-form NumPy reference (tests/oracle.py), over strides,
paddings, output paddings (including those that leave output rows unreached), dilations, groups, odd and
prime sizes, memory layouts, both dtypes, every CPU algorithm and N = 0; the reference against finite
differences and PyTorch; the argument errors; the layer nn.ConvTranspose2d."""
import numpy as np
import pytest

import strided
import strided.nn as nn
from strided import reference as R
from strided.ops.conv2d.args import conv_transpose_shape_args
from strided.ops._size import out_size, transposed_out_size
from oracle import CONV_T, DTYPES, LAYOUTS, check_conv_transpose, conv_t_case, layout
from test_gradcheck import check_reference_gradients


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONV_T))
def test_matches_reference(name, dtype):
    rng = np.random.default_rng(len(name))
    x, w, b, geo = conv_t_case(rng, name, dtype)
    check_conv_transpose(x, w, b, **geo, rng=rng)
    check_conv_transpose(x, w, None, **geo, rng=rng)


@pytest.mark.parametrize("algo", strided.conv_algorithms())
@pytest.mark.parametrize("name", ["stride2_pad1_outpad1", "asym", "cut_both", "depthwise"])
def test_every_cpu_algorithm(name, algo):
    rng = np.random.default_rng(7)
    x, w, b, geo = conv_t_case(rng, name, np.float32)
    with strided.conv_algorithm(algo):
        check_conv_transpose(x, w, b, **geo, rng=rng)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_memory_layouts(kind):
    rng = np.random.default_rng(3)
    x, w, b, geo = conv_t_case(rng, "asym", np.float32)
    y = check_conv_transpose(layout(x, kind), layout(w, kind), b, **geo, rng=rng)
    np.testing.assert_array_equal(y, strided.conv_transpose2d(x, w, b, **geo))


def test_output_size_rule_and_the_convolution_it_inverts():
    """Every valid geometry: the output size is PyTorch's formula, and the convolution that runs maps the
    reached output back to the input size by the output-size rule (the C++ checks it again)."""
    for H in (1, 2, 5):
        for R_ in (1, 2, 3):
            for s in (1, 2, 3):
                for d in (1, 2, 3):
                    for p in (0, 1, 2):
                        for op in range(max(s, d)):
                            OH = (H - 1) * s - 2 * p + d * (R_ - 1) + op + 1
                            assert transposed_out_size(H, R_, s, p, d, op) == OH
                            if OH < 1:
                                with pytest.raises(ValueError, match="output size would be"):
                                    conv_transpose_shape_args((1, 1, H, 1), (1, 1, R_, 1), (s, 1), (p, 0),
                                                              (op, 0), 1, (d, 1))
                                continue
                            t = conv_transpose_shape_args((1, 1, H, 1), (1, 1, R_, 1), (s, 1), (p, 0), (op, 0), 1,
                                                          (d, 1))
                            assert t.out_shape == (1, 1, OH, 1)
                            if t.conv is not None:
                                a = t.conv
                                assert out_size(a.H, R_, s, a.pad_top, a.pad_bottom, d) == H
                                assert a.H == t.reach[0] <= OH


def test_unreached_rows_hold_only_the_bias():
    x, w = np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1))
    y = strided.conv_transpose2d(x, w, np.array([0.5]), padding=(1, 0), output_padding=(2, 0), dilation=(3, 1))
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 0.5  # no input reaches the one output row
    gx, gw, gb = strided.conv_transpose2d_backward(np.full(y.shape, 2.0), x, w, padding=(1, 0),
                                                   output_padding=(2, 0), dilation=(3, 1))
    assert gx.shape == x.shape and not gx.any() and not gw.any() and gb[0] == 2.0
    check_conv_transpose(x, w, np.array([0.5]), padding=(1, 0), output_padding=(2, 0), dilation=(3, 1))


def test_is_the_gradient_of_conv2d():
    """conv_transpose2d(gy, w) is conv2d's input gradient, and its input gradient is conv2d."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))
    geo = dict(stride=2, padding=1, dilation=1, groups=2)
    y = strided.conv2d(x, w, **geo)
    gy = rng.standard_normal(y.shape)
    gx = strided.conv2d_backward(gy, x, w, **geo, weight_grad=False, bias_grad=False)[0]
    np.testing.assert_allclose(strided.conv_transpose2d(gy, w, **geo, output_padding=(0, 1)), gx, atol=1e-12)
    g = strided.conv_transpose2d_backward(rng.standard_normal(x.shape), gy, w, **geo, output_padding=(0, 1))[0]
    assert g.shape == gy.shape


@pytest.mark.parametrize("geo", [
    dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1),
    dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2)),
    dict(stride=1, padding=0, output_padding=(2, 0), groups=1, dilation=(3, 1)),
])
def test_reference_gradients_by_finite_differences(geo):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((4, 6 // geo["groups"], 3, 2))
    check_reference_gradients(R.conv_transpose2d, R.conv_transpose2d_backward, x, w, rng.standard_normal(6), geo,
                              rng)


@pytest.mark.parametrize("name", sorted(CONV_T))
def test_reference_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b, geo = conv_t_case(rng, name)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, geo["stride"], geo["padding"], geo["output_padding"],
                                              geo["groups"], geo["dilation"])
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(R.conv_transpose2d(x, w, b, **geo), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for got, t in zip(R.conv_transpose2d_backward(gy, x, w, **geo), (tx, tw, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(strided.conv_transpose2d(x, w, b, **geo), ty.detach().numpy(), rtol=1e-10,
                               atol=1e-10)


X, W = np.zeros((2, 4, 5, 5)), np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: strided.conv_transpose2d(X, W, stride=2, output_padding=2), ValueError,
     r"output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or dilation \(1, 1\)"),
    (lambda: strided.conv_transpose2d(X, W, output_padding=1), ValueError, "smaller than either stride"),
    (lambda: strided.conv_transpose2d(X, W, groups=3), ValueError, r"groups=3 must divide the input channels"),
    (lambda: strided.conv_transpose2d(X, np.zeros((3, 3, 3, 3))), ValueError, r"needs C_in = 4 rows"),
    (lambda: strided.conv_transpose2d(X, W, padding=4), ValueError, r"output size would be -1x-1 < 1"),
    (lambda: strided.conv_transpose2d(X, W, padding=-1), ValueError, "non-negative"),
    (lambda: strided.conv_transpose2d(X, W, stride=0), ValueError, "stride must be positive"),
    (lambda: strided.conv_transpose2d(X, W, np.zeros(4)), ValueError, r"b has shape \(4,\), expected \(3,\)"),
    (lambda: strided.conv_transpose2d(X[0, 0], W), ValueError, r"\(N, C_in, H, W\)"),
    (lambda: strided.conv_transpose2d(X, W[0]), ValueError, r"\(C_in, C_out/groups, R, S\)"),
    (lambda: strided.conv_transpose2d_backward(np.zeros((2, 3, 6, 6)), X, W), ValueError,
     r"gy has shape \(2, 3, 6, 6\), expected \(2, 3, 7, 7\)"),
    (lambda: strided.conv_transpose2d(X, W.astype(np.float32)), TypeError, "share a dtype"),
    (lambda: strided.conv_transpose2d(X, W, padding="same"), TypeError, "padding must be an int"),
    (lambda: strided.conv_transpose2d(X, W, groups=1.0), TypeError, "groups must be an int"),
])
def test_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_layer_forward_backward_output_size_and_summary():
    nn.init.seed(0)
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2).double()
    assert m.weight.shape == (4, 3, 3, 3) and m.bias.shape == (6,)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5))
    y = m(x)
    np.testing.assert_allclose(y, R.conv_transpose2d(x, m.weight.data, m.bias.data, 2, 1, 1, 2), atol=1e-12)
    assert y.shape == (2, 6, 10, 10)
    gx = m.backward(np.ones_like(y))
    want = R.conv_transpose2d_backward(np.ones_like(y), x, m.weight.data, 2, 1, 1, 2)
    for got, ref in zip((gx, m.weight.grad, m.bias.grad), want):
        np.testing.assert_allclose(got, ref, atol=1e-10)
    plain = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    plain.load_state_dict(m.state_dict())
    assert plain(x, output_size=(10, 10)).shape == (2, 6, 10, 10)  # picks output_padding 1
    assert plain(x, output_size=(2, 6, 9, 10)).shape == (2, 6, 9, 10)
    np.testing.assert_allclose(plain(x, output_size=(10, 10)), y, atol=1e-12)
    plain.backward(np.ones((2, 6, 10, 10)))  # the backward uses the output padding of its forward
    with pytest.raises(ValueError, match=r"output_size \(12, 10\) .* between \(9, 9\) and \(10, 10\)"):
        plain(x, output_size=(12, 10))
    s = m.summary((4, 5, 5))
    assert s.rows[0].output_shape == (6, 10, 10) and s.total_params == 4 * 3 * 9 + 6
    assert s.rows[0].flops == 2 * 4 * 5 * 5 * 3 * 9  # every input element meets C_out/groups * R * S weights
    assert "output_padding=(1, 1)" in repr(m) and "groups=2" in repr(m)


def test_layer_matches_torch():
    torch = pytest.importorskip("torch")
    nn.init.seed(1)
    m = nn.Sequential(nn.ConvTranspose2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                                         dilation=(1, 2)), nn.ReLU(), nn.ConvTranspose2d(5, 2, 4, 2, 1, groups=1))
    tm = nn.to_torch(m)
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    np.testing.assert_allclose(m(x), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    gy = np.random.default_rng(3).standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(m.backward(gy), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m[0].weight.grad, tm[0].weight.grad.numpy(), rtol=1e-4, atol=1e-4)
