"""F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d and their modules: gradient checks, ties, errors."""

import numpy as np
import pytest
from _conv_strategies import pool_geometries
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.ops.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

GRADCHECKED = {MaxPool2d, AvgPool2d, AdaptiveAvgPool2d}


def _distinct_values(rng, shape):
    """Values at least 0.1 apart, so no window has a tie within gradcheck's finite-difference step."""
    size = int(np.prod(shape))
    return minidl.Tensor(0.1 * rng.permutation(size).reshape(shape) - 0.05 * size, requires_grad=True)


@settings(deadline=None, max_examples=30)
@given(pool_geometries(), st.integers(0, 2**32 - 1))
def test_max_pool2d_gradcheck(geometry, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    x = _distinct_values(np.random.default_rng(seed), (batch, channels, height, width))
    assert minidl.gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), (x,))


@settings(deadline=None, max_examples=30)
@given(pool_geometries(), st.booleans(), st.sampled_from([None, 5]), st.integers(0, 2**32 - 1))
def test_avg_pool2d_gradcheck(geometry, count_include_pad, divisor_override, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    x = minidl.Tensor(np.random.default_rng(seed).standard_normal((batch, channels, height, width)), requires_grad=True)
    assert minidl.gradcheck(
        lambda x: F.avg_pool2d(x, kernel, stride, padding, False, count_include_pad, divisor_override), (x,)
    )


@settings(deadline=None, max_examples=30)
@given(pool_geometries(), st.integers(1, 8), st.one_of(st.none(), st.integers(1, 8)), st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool2d_gradcheck(geometry, out_h, out_w, seed):
    """Output sizes larger than the input too (windows then repeat input rows)."""
    batch, channels, height, width = geometry[:4]
    x = minidl.Tensor(np.random.default_rng(seed).standard_normal((batch, channels, height, width)), requires_grad=True)
    output = F.adaptive_avg_pool2d(x, (out_h, out_w))
    assert output.shape == (batch, channels, out_h, width if out_w is None else out_w)
    assert minidl.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (out_h, out_w)), (x,))


# -- by hand -----------------------------------------------------------------------------------------------


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    x = minidl.Tensor(
        np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0], [5.0, 3.0, 4.0, 4.0], [5.0, 5.0, 4.0, 4.0]]]]),
        requires_grad=True,
    )
    output = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(output.data, [[[[1.0, 2.0], [5.0, 4.0]]]])
    output.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    np.testing.assert_array_equal(
        x.grad, [[[[10.0, 0.0, 0.0, 20.0], [0.0, 0.0, 0.0, 0.0], [30.0, 0.0, 40.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    )


def test_max_pool_overlapping_windows_add_up():
    """Stride 1: the single maximum 9 is in all four 2x2 windows of a 3x3 input."""
    x = minidl.Tensor(np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0, 0, 0], [0, 4, 0], [0, 0, 0]]]])


def test_max_pool_nan_wins_and_minus_infinity_windows_point_at_their_first_element():
    """As PyTorch: a NaN is the maximum, and the gradient goes to the window's *last* NaN; a window of
    only -inf sends its gradient to its first element, and with padding to its first input element."""
    nan, inf = np.nan, np.inf
    x = minidl.Tensor(np.array([[[[nan, 1.0, -inf, -inf], [nan, 2.0, -inf, -inf]]]]), requires_grad=True)
    output = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(output.data, [[[[nan, -inf]]]])
    output.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 0.0, 20.0, 0.0], [10.0, 0.0, 0.0, 0.0]]]])
    x = minidl.Tensor(np.full((1, 1, 2, 2), -inf), requires_grad=True)
    F.max_pool2d(x, 2, padding=1).backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[1.0, 2.0], [3.0, 4.0]]]])  # window (i, j) holds only x[i, j]


def test_avg_pool_padding_counts_unless_told_otherwise():
    x = minidl.ones(1, 1, 2, 2)
    np.testing.assert_allclose(F.avg_pool2d(x, 2, stride=1, padding=1).data[0, 0, 0, 0], 1 / 4)
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 1, 1, count_include_pad=False).data, np.ones((1, 1, 3, 3)))


def test_global_average_pooling():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(minidl.Tensor(x)).data, x.mean(axis=(2, 3), keepdims=True))


# -- errors and modules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: F.max_pool2d(x, 2, ceil_mode=True), r"max_pool2d: ceil_mode=True is not implemented"),
        (lambda x: F.avg_pool2d(x, 2, ceil_mode=True), r"avg_pool2d: ceil_mode=True is not implemented"),
        (lambda x: F.max_pool2d(x, 3, dilation=2), r"max_pool2d: dilation=2 is not implemented"),
        (lambda x: F.max_pool2d(x, 2, padding=2), r"max_pool2d: padding \(2, 2\) must be at most half"),
        (lambda x: F.avg_pool2d(x, 7), r"avg_pool2d: kernel size \(7, 7\) is larger than the padded input \(5, 5\)"),
        (lambda x: F.max_pool2d(x[0], 2), r"max_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 5, 5\)"),
        (lambda x: F.adaptive_avg_pool2d(x, 0), r"adaptive_avg_pool2d: output_size must be .* >= 1"),
        (lambda x: nn.MaxPool2d(2, ceil_mode=True)(x), r"ceil_mode=True is not implemented"),
    ],
)
def test_errors(call, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        call(minidl.zeros(1, 1, 5, 5))


@pytest.mark.parametrize("function", [F.max_pool2d, F.avg_pool2d])
def test_integer_input_is_refused(function):
    with pytest.raises(TypeError, match=r"pool2d expects a floating-point tensor, got dtype int64"):
        function(minidl.Tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)


def test_module_reprs_like_pytorch():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    assert repr(nn.AdaptiveAvgPool2d((2, None))) == "AdaptiveAvgPool2d(output_size=(2, None))"
    assert list(nn.MaxPool2d(2).state_dict()) == []


def test_modules_match_functions():
    x = minidl.Tensor(np.random.default_rng(1).standard_normal((2, 3, 6, 5)))
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, 1)(x).data, F.max_pool2d(x, 3, 2, 1).data)
    np.testing.assert_array_equal(
        nn.AvgPool2d(2, count_include_pad=False, padding=1)(x).data,
        F.avg_pool2d(x, 2, padding=1, count_include_pad=False).data,
    )
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d((2, 3))(x).data, F.adaptive_avg_pool2d(x, (2, 3)).data)
