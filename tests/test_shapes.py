"""The output-size rule, the padding forms, and the course's worked examples (files in shared/seeds)."""
import itertools

import numpy as np
import pytest

import strided
from strided import _C
from strided.ops._size import out_size
from strided.ops.conv2d.args import conv_padding


def test_course_padding_example_n7_f3_stride3():
    """File 000: N=7, F=3, stride 3 does not fit ((7-3)/3 is not whole); padding 1 makes it fit and gives
    (9-3)/3+1 = 3 (the slide prints 4)."""
    assert (7 - 3) % 3 != 0
    assert strided.conv_output_shape((7, 7), (3, 3), stride=3, padding=1) == (3, 3)


def test_course_32x32x3_ten_5x5_filters():
    """File 000: 32x32x3 input, ten 5x5x3 filters, stride 1, pad 2 -> 32x32x10, with 760 weights."""
    assert strided.conv_output_shape((1, 3, 32, 32), (10, 3, 5, 5), stride=1, padding=2) == (1, 10, 32, 32)
    assert 10 * (5 * 5 * 3 + 1) == 760


def test_course_5x5_input_2x2_kernel():
    """File 004: the printed top-left -1 is an arithmetic slip: -1*1 - 1*2 + 1*1 + 1*0 = -2."""
    x = np.array([[1, 2, 1, 1, 1], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [5, 2, 5, 4, 5], [3, 5, 5, 5, 3]],
                 np.float64)[None, None]
    w = np.array([[-1, -1], [1, 1]], np.float64)[None, None]
    expected = [[-2, -3, -2, -2], [0, 0, 0, 0], [6, 7, 9, 9], [1, 3, 1, -1]]
    for impl in (strided, strided.reference):
        np.testing.assert_array_equal(impl.conv2d(x, w)[0, 0], expected)


def test_padding_forms():
    assert conv_padding("valid", (7, 7), (3, 3), (1, 1), (1, 1)) == (0, 0, 0, 0)
    assert conv_padding("full", (7, 7), (3, 2), (1, 1), (2, 1)) == (4, 4, 1, 1)
    assert conv_padding(2, (7, 7), (3, 3), (1, 1), (1, 1)) == (2, 2, 2, 2)
    assert conv_padding((1, 2), (7, 7), (3, 3), (1, 1), (1, 1)) == (1, 1, 2, 2)
    assert conv_padding((1, 2, 3, 4), (7, 7), (3, 3), (1, 1), (1, 1)) == (1, 2, 3, 4)
    # 'same' with an even kernel: total padding 1, the extra row/column goes to the bottom/right.
    assert conv_padding("same", (7, 7), (2, 4), (1, 1), (1, 1)) == (0, 1, 1, 2)


@pytest.mark.parametrize("size,kernel,stride,dil", list(itertools.product(range(1, 12), range(1, 5), range(1, 4),
                                                                          range(1, 3))))
def test_same_gives_ceil_of_input_over_stride(size, kernel, stride, dil):
    shape = strided.conv_output_shape((1, 1, size, size), (1, 1, kernel, kernel), stride, "same", dil)
    assert shape[2:] == (-(-size // stride),) * 2


def test_python_and_cpp_rule_agree():
    for size, k, s, p0, p1, d, ceil in itertools.product(range(1, 10), range(1, 5), range(1, 4), range(3),
                                                         range(3), range(1, 3), (False, True)):
        assert out_size(size, k, s, p0, p1, d, ceil) == _C.out_size(size, k, s, p0, p1, d, ceil)


def test_pool_output_shape_matches_pytorch_formula():
    for size, k, s, ceil in itertools.product(range(1, 12), range(1, 5), range(1, 4), (False, True)):
        for p in range(k // 2 + 1):
            if size + 2 * p < k:
                continue
            num = size + 2 * p - k
            out = (-(-num // s) if ceil else num // s) + 1
            if ceil and (out - 1) * s >= size + p:
                out -= 1
            assert strided.pool_output_shape((size, size), k, s, p, ceil) == (out, out)


def test_cpp_refuses_inconsistent_geometry():
    from strided.ops.conv2d.args import conv_args
    x, w = np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3))
    args, _ = conv_args(x, w)
    with pytest.raises(ValueError, match="output-size rule"):
        _C.conv2d_forward(x, w, None, args._replace(OH=5))
    with pytest.raises(ValueError, match="does not match"):
        _C.conv2d_forward(np.zeros((1, 1, 4, 5)), w, None, args)
