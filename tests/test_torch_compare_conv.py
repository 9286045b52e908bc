"""Convolution and pooling against PyTorch (forward and backward), when PyTorch is installed."""

import numpy as np
import pytest
from _conv_strategies import conv_geometries, pool_geometries
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl import nn

torch = pytest.importorskip("torch")


def _both(array):
    return minidl.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


def _compare(ours, theirs, grad, ours_inputs, their_inputs):
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    ours.backward(grad)
    theirs.backward(torch.tensor(grad))
    for mine, its in zip(ours_inputs, their_inputs, strict=True):
        np.testing.assert_allclose(mine.grad, its.grad.numpy(), rtol=1e-10, atol=1e-10)


@settings(deadline=None, max_examples=25)
@given(conv_geometries(max_batch=5), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_conv2d_matches_pytorch(geometry, out_channels, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x, x_torch = _both(rng.standard_normal((batch, channels, height, width)))
    weight, weight_torch = _both(rng.standard_normal((out_channels, channels, *kernel)))
    bias, bias_torch = _both(rng.standard_normal(out_channels))
    ours = F.conv2d(x, weight, bias, stride, padding)
    theirs = torch.nn.functional.conv2d(x_torch, weight_torch, bias_torch, stride, padding)
    _compare(ours, theirs, rng.standard_normal(ours.shape), (x, weight, bias), (x_torch, weight_torch, bias_torch))


@settings(deadline=None, max_examples=40)
@given(
    pool_geometries(),
    st.sampled_from(["max", "max_nan_inf", "max_2x2", "avg", "avg_no_pad", "adaptive"]),
    st.integers(0, 2**32 - 1),
)
def test_pooling_matches_pytorch(geometry, kind, seed):
    """Integer-valued inputs make ties common: both must route the gradient to the same element. With NaN
    and -inf too, max pooling must give the same NaN outputs and route gradients alike (windows of -inf,
    several NaNs in a window)."""
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 3, (batch, channels, height, width)).astype(np.float64)
    if kind == "max_nan_inf":
        values[rng.random(values.shape) < 0.5] = -np.inf
        values[rng.random(values.shape) < 0.15] = np.nan
    if kind == "max_2x2":  # minidl's own kernel for 2x2 windows, stride 2, no padding
        kernel, stride, padding = (2, 2), (2, 2), (0, 0)
        values = rng.integers(-2, 3, (batch, channels, height + 1, width + 1)).astype(np.float64)
    x, x_torch = _both(values)
    tf = torch.nn.functional
    if kind.startswith("max"):
        ours, theirs = F.max_pool2d(x, kernel, stride, padding), tf.max_pool2d(x_torch, kernel, stride, padding)
    elif kind == "avg":
        ours, theirs = F.avg_pool2d(x, kernel, stride, padding), tf.avg_pool2d(x_torch, kernel, stride, padding)
    elif kind == "avg_no_pad":
        ours = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False)
        theirs = tf.avg_pool2d(x_torch, kernel, stride, padding, count_include_pad=False)
    else:
        size = (kernel[0] + stride[0], kernel[1] + padding[1])
        ours, theirs = F.adaptive_avg_pool2d(x, size), tf.adaptive_avg_pool2d(x_torch, size)
    _compare(ours, theirs, rng.standard_normal(ours.shape), (x,), (x_torch,))


def test_conv2d_module_with_pytorchs_weights_in_float32():
    """Weights move by state_dict name; float32 results agree to float32 precision."""
    layer_torch = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
    layer = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    layer.load_state_dict({name: value.detach().numpy() for name, value in layer_torch.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((8, 16, 17, 16)).astype(np.float32)
    x_ours, x_torch = _both(x)
    ours, theirs = layer(x_ours), layer_torch(x_torch)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(x_ours.grad, x_torch.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, layer_torch.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(layer.bias.grad, layer_torch.bias.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_default_initialisation_has_pytorchs_distribution():
    torch.manual_seed(0)
    minidl.manual_seed(0)
    theirs = torch.nn.Conv2d(16, 32, 3).weight.detach().numpy().ravel()
    ours = nn.Conv2d(16, 32, 3).weight.data.ravel()
    assert abs(ours.max() - theirs.max()) < 0.01 * theirs.max()
    assert abs(ours.std() - theirs.std()) < 0.05 * theirs.std()
