"""F.conv2d and nn.Conv2d: gradient checks over a Hypothesis space, errors, the module's API."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from _conv_strategies import conv_geometries
from hypothesis import example, given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.ops.conv import Conv2d as Conv2dFunction

GRADCHECKED = {Conv2dFunction}


def _leaf(rng, shape):
    return minidl.Tensor(rng.standard_normal(shape), requires_grad=True)


@settings(deadline=None, max_examples=30)
@given(conv_geometries(), st.integers(1, 3), st.booleans(), st.integers(0, 2**32 - 1))
@example((1, 2, 5, 3, (1, 1), (2, 2), (0, 0)), 3, True, 0)  # 1x1 strided (a projection shortcut), non-square
@example((1, 1, 3, 4, (5, 6), (1, 1), (1, 1)), 2, True, 1)  # kernel exactly the padded input, batch 1
@example((2, 3, 6, 6, (3, 3), (1, 1), (1, 1)), 2, False, 2)  # the usual 3x3 "same" convolution, no bias
def test_conv2d_gradcheck(geometry, out_channels, with_bias, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = _leaf(rng, (batch, channels, height, width))
    weight = _leaf(rng, (out_channels, channels, *kernel))
    bias = _leaf(rng, (out_channels,)) if with_bias else None
    assert minidl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding), (x, weight, bias))


def test_conv2d_skips_grad_input_for_an_input_without_grad():
    rng = np.random.default_rng(0)
    x = minidl.Tensor(rng.standard_normal((2, 3, 5, 5)))
    weight = _leaf(rng, (4, 3, 3, 3))
    F.conv2d(x, weight, None, 1, 1).sum().backward()
    assert x.grad is None and weight.grad.shape == (4, 3, 3, 3)
    assert minidl.gradcheck(lambda w: F.conv2d(x, w, None, 2, 1), (weight,))


def test_conv2d_by_hand():
    """A 2x2 kernel of ones on a 3x3 input sums each 2x2 window; the input gradient counts the windows."""
    x = minidl.Tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    weight = minidl.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    output = F.conv2d(x, weight, minidl.Tensor(np.array([10.0])))
    np.testing.assert_array_equal(
        output.data, [[[[0 + 1 + 3 + 4 + 10, 1 + 2 + 4 + 5 + 10], [3 + 4 + 6 + 7 + 10, 4 + 5 + 7 + 8 + 10]]]]
    )
    output.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]])
    np.testing.assert_array_equal(weight.grad, [[[[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]]]])


# -- errors ------------------------------------------------------------------------------------------------


def test_module_channel_mismatch_message():
    layer = nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3)
    with pytest.raises(ValueError, match=r"^Conv2d\(in_channels=3\) got input with 1 channel, shape \(8, 1, 28, 28\)$"):
        layer(minidl.zeros(8, 1, 28, 28))


def test_functional_channel_mismatch_message():
    with pytest.raises(ValueError, match=r"conv2d: input has 1 channel.*\(8, 1, 28, 28\).*expects 3"):
        F.conv2d(minidl.zeros(8, 1, 28, 28), minidl.zeros(4, 3, 3, 3))


@pytest.mark.parametrize("call", ["functional", "module"])
def test_kernel_larger_than_padded_input(call):
    x = minidl.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"kernel.*\(5, 5\).*larger than the padded input \(4, 4\)"):
        if call == "functional":
            F.conv2d(x, minidl.zeros(1, 3, 5, 5))
        else:
            nn.Conv2d(3, 1, 5)(x)


@pytest.mark.parametrize("call", ["functional", "module"])
def test_non_4d_input(call):
    x = minidl.zeros(3, 28, 28)
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(3, 28, 28\)"):
        if call == "functional":
            F.conv2d(x, minidl.zeros(1, 3, 3, 3))
        else:
            nn.Conv2d(3, 1, 3)(x)


@pytest.mark.parametrize("call", ["functional", "module"])
def test_non_float_input(call):
    x = minidl.Tensor(np.zeros((1, 3, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match=r"floating-point.*int64"):
        if call == "functional":
            F.conv2d(x, minidl.zeros(1, 3, 3, 3))
        else:
            nn.Conv2d(3, 1, 3)(x)


def test_mixed_dtypes_are_refused():
    with pytest.raises(TypeError, match=r"Conv2d.*float64.*float32"):
        nn.Conv2d(3, 1, 3)(minidl.Tensor(np.zeros((1, 3, 5, 5))))
    with pytest.raises(TypeError, match=r"conv2d: input float64 and weight float32"):
        F.conv2d(minidl.Tensor(np.zeros((1, 3, 5, 5))), minidl.zeros(1, 3, 3, 3))


@pytest.mark.parametrize("arguments", [{"stride": 0}, {"padding": -1}, {"stride": (1, 2, 3)}, {"dilation": 2}])
def test_bad_arguments(arguments):
    with pytest.raises((ValueError, NotImplementedError), match=r"conv2d: (stride|padding|dilation)"):
        F.conv2d(minidl.zeros(1, 1, 5, 5), minidl.zeros(1, 1, 3, 3), **arguments)


# -- the module --------------------------------------------------------------------------------------------


def test_module_repr_like_pytorch():
    assert repr(nn.Conv2d(3, 16, 3, padding=1)) == "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(nn.Conv2d(16, 32, 1, stride=2, bias=False)) == (
        "Conv2d(16, 32, kernel_size=(1, 1), stride=(2, 2), bias=False)"
    )


def test_module_parameters_and_state_dict():
    layer = nn.Conv2d(3, 16, (3, 5), stride=2, padding=(1, 2))
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (16, 3, 3, 5) and layer.bias.shape == (16,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert list(nn.Conv2d(3, 16, 3, bias=False).state_dict()) == ["weight"]
    assert layer(minidl.zeros(2, 3, 9, 10)).shape == (2, 16, 5, 5)


def test_module_default_initialisation():
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias has the same bound."""
    minidl.manual_seed(0)
    layer = nn.Conv2d(8, 64, 3)
    bound = 1 / math.sqrt(8 * 3 * 3)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)  # std of U(-b, b)


def test_module_gradcheck_in_float64():
    minidl.manual_seed(1)
    layer = nn.Conv2d(2, 3, 3, stride=(2, 1), padding=1).double()
    x = minidl.Tensor(np.random.default_rng(3).standard_normal((2, 2, 5, 4)), requires_grad=True)
    weight, bias = layer.weight, layer.bias
    assert minidl.gradcheck(lambda x, w, b: layer(x), (x, weight, bias))


def test_works_without_the_jit():
    """With NUMBA_DISABLE_JIT=1 the kernels run as plain Python: the debugging tip must keep working."""
    code = (
        "import numpy as np, minidl, minidl.nn.functional as F\n"
        "x = minidl.Tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 3)), requires_grad=True)\n"
        "w = minidl.Tensor(np.random.default_rng(1).standard_normal((3, 2, 2, 2)), requires_grad=True)\n"
        "y = F.max_pool2d(F.conv2d(x, w, None, 1, 1), 2) + F.avg_pool2d(F.conv2d(x, w, None, 1, 1), 2)\n"
        "F.adaptive_avg_pool2d(y, 1).sum().backward()\n"
        "assert minidl.gradcheck(lambda x, w: F.conv2d(x, w, None, (2, 1), (1, 0)), (x, w))\n"
        "print(float(np.abs(x.grad).sum()) > 0, float(np.abs(w.grad).sum()) > 0)\n"
    )
    environment = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_kernels_compile_lazily_not_at_import():
    """Importing minidl compiles nothing (a student's `import minidl` stays fast); the first call does."""
    code = (
        "import minidl, minidl.nn\n"
        "from minidl.kernels import conv, pool\n"
        "dispatchers = [conv._forward_worker, conv._backward_worker, conv._im2col_worker,\n"
        "               pool._max_pool_forward_worker, pool._avg_pool_forward_worker]\n"
        "print(sum(len(d.signatures) for d in dispatchers))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]
