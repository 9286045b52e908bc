"""Batch norm and layer norm: gradient checks, agreement with a composition of primitive ops, running
statistics against a hand computation, train/eval behaviour, the modules, and the error messages.

The kernels themselves are compared with their NumPy references in tests/test_kernels_norm.py, and
everything with PyTorch in tests/test_torch_compare_norm.py.
"""

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.nn import functional as F
from minidl.ops.norm import BatchNorm, LayerNorm
from minidl.tensor import Tensor
from minidl.testing import arrays, tensors

GRADCHECKED = {BatchNorm, LayerNorm}

MIN_VARIANCE = 0.1  # near-constant groups make x_hat ill-conditioned: finite differences then mean nothing


def rng(seed=0):
    return np.random.default_rng(seed)


def leaf(array):
    return Tensor(np.array(array, dtype=np.float64), requires_grad=True)


@st.composite
def batch_norm_inputs(draw, max_spatial_dims=2):
    """(x, weight, bias): x of shape (N, C, *spatial) with every channel spread out, float64 leaves."""
    batch, channels = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=max_spatial_dims)))
    x = draw(tensors((batch, channels, *spatial)))
    per_channel = np.moveaxis(x.data, 1, 0).reshape(channels, -1)
    assume(np.all(per_channel.var(axis=1) >= MIN_VARIANCE))
    weight = draw(tensors((channels,), avoid=(0.0,), margin=0.2))
    bias = draw(tensors((channels,)))
    return x, weight, bias


@st.composite
def layer_norm_inputs(draw):
    """(x, normalized_shape, weight, bias) with every normalised group spread out, float64 leaves."""
    normalized_shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    assume(int(np.prod(normalized_shape)) >= 2)
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    x = draw(tensors(leading + normalized_shape))
    groups = x.data.reshape(-1, int(np.prod(normalized_shape)))
    assume(np.all(groups.var(axis=1) >= MIN_VARIANCE))
    weight = draw(tensors(normalized_shape, avoid=(0.0,), margin=0.2))
    bias = draw(tensors(normalized_shape))
    return x, normalized_shape, weight, bias


# -- gradient checks ------------------------------------------------------------------------------------
@settings(deadline=None, max_examples=30)
@given(batch_norm_inputs())
def test_batch_norm_training_gradcheck(inputs):
    x, weight, bias = inputs
    channels = x.shape[1]

    def fn(x, weight, bias):
        # fresh running statistics per call: training output must not depend on them, only update them
        running_mean, running_var = Tensor(np.zeros(channels)), Tensor(np.ones(channels))
        return F.batch_norm(x, running_mean, running_var, weight, bias, training=True)

    assert minidl.gradcheck(fn, (x, weight, bias))


@settings(deadline=None, max_examples=15)
@given(batch_norm_inputs(max_spatial_dims=1))
def test_batch_norm_training_gradcheck_without_affine_or_running_stats(inputs):
    x, _, _ = inputs
    assert minidl.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), (x,))


@settings(deadline=None, max_examples=30)
@given(batch_norm_inputs(), st.data())
def test_batch_norm_eval_gradcheck(inputs, data):
    x, weight, bias = inputs
    channels = x.shape[1]
    running_mean = Tensor(data.draw(arrays((channels,))))
    running_var = Tensor(data.draw(arrays((channels,), low=0.2, high=3.0)))
    saved = running_mean.data.copy(), running_var.data.copy()

    def fn(x, weight, bias):
        return F.batch_norm(x, running_mean, running_var, weight, bias, training=False)

    assert minidl.gradcheck(fn, (x, weight, bias))
    np.testing.assert_array_equal(running_mean.data, saved[0])  # eval never touches the running statistics
    np.testing.assert_array_equal(running_var.data, saved[1])


@settings(deadline=None, max_examples=30)
@given(layer_norm_inputs())
def test_layer_norm_gradcheck(inputs):
    x, normalized_shape, weight, bias = inputs
    assert minidl.gradcheck(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b), (x, weight, bias))


@settings(deadline=None, max_examples=10)
@given(layer_norm_inputs())
def test_layer_norm_gradcheck_without_affine(inputs):
    x, normalized_shape, _, _ = inputs
    assert minidl.gradcheck(lambda x: F.layer_norm(x, normalized_shape), (x,))


# -- the fused Functions against a composition of primitive ops -----------------------------------------
def composed_batch_norm(x, weight, bias, eps=1e-5):
    axes = tuple(axis for axis in range(x.ndim) if axis != 1)
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt() * weight.reshape(per_channel) + bias.reshape(per_channel)


def composed_layer_norm(x, normalized_shape, weight, bias, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt() * weight + bias


def forward_and_grads(fn, arrays, upstream):
    inputs = [leaf(a) for a in arrays]
    output = fn(*inputs)
    output.backward(upstream)
    return output.data, [t.grad for t in inputs]


@pytest.mark.parametrize("shape", [(8, 3), (6, 4, 5), (5, 3, 4, 6)])
def test_batch_norm_matches_composition_of_primitive_ops(shape):
    generator = rng(1)
    x = generator.standard_normal(shape) * 3 + 2
    weight, bias = generator.standard_normal(shape[1]), generator.standard_normal(shape[1])
    upstream = generator.standard_normal(shape)
    fused = forward_and_grads(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, weight, bias), upstream
    )
    composed = forward_and_grads(composed_batch_norm, (x, weight, bias), upstream)
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-10, atol=1e-12)
    for grad_fused, grad_composed in zip(fused[1], composed[1], strict=True):
        np.testing.assert_allclose(grad_fused, grad_composed, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(("shape", "normalized_shape"), [((7, 10), (10,)), ((2, 3, 4, 5), (4, 5))])
def test_layer_norm_matches_composition_of_primitive_ops(shape, normalized_shape):
    generator = rng(2)
    x = generator.standard_normal(shape) * 3 - 1
    weight, bias = generator.standard_normal(normalized_shape), generator.standard_normal(normalized_shape)
    upstream = generator.standard_normal(shape)
    fused = forward_and_grads(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b), (x, weight, bias), upstream)
    composed = forward_and_grads(
        lambda x, w, b: composed_layer_norm(x, normalized_shape, w, b), (x, weight, bias), upstream
    )
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-10, atol=1e-12)
    for grad_fused, grad_composed in zip(fused[1], composed[1], strict=True):
        np.testing.assert_allclose(grad_fused, grad_composed, rtol=1e-9, atol=1e-11)


def test_batch_norm_eval_backward_is_the_affine_map():
    generator = rng(3)
    x = generator.standard_normal((6, 3, 2, 2))
    weight, bias = generator.standard_normal(3), generator.standard_normal(3)
    running_mean, running_var = generator.standard_normal(3), generator.uniform(0.5, 2.0, 3)
    upstream = generator.standard_normal(x.shape)
    output, (grad_x, grad_w, grad_b) = forward_and_grads(
        lambda x, w, b: F.batch_norm(x, Tensor(running_mean), Tensor(running_var), w, b, training=False),
        (x, weight, bias),
        upstream,
    )
    c = (None, slice(None), None, None)
    inv_std = 1 / np.sqrt(running_var + 1e-5)
    x_hat = (x - running_mean[c]) * inv_std[c]
    np.testing.assert_allclose(output, x_hat * weight[c] + bias[c], rtol=1e-12)
    np.testing.assert_allclose(grad_x, upstream * (weight * inv_std)[c], rtol=1e-12)
    np.testing.assert_allclose(grad_w, (upstream * x_hat).sum(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(grad_b, upstream.sum(axis=(0, 2, 3)), rtol=1e-10)


def test_float32_input_keeps_its_dtype_and_accuracy():
    generator = rng(4)
    x = (generator.standard_normal((16, 4, 8, 8)) * 0.5 + 100).astype(np.float32)  # large mean, small spread
    y = F.batch_norm(Tensor(x), None, None, training=True)
    assert y.dtype == np.float32
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x64.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.data, expected, atol=2e-4)
    z = F.layer_norm(Tensor(x), (8, 8))
    assert z.dtype == np.float32


def test_outputs_and_input_gradients_are_arrays_of_their_own():
    # The kernels write y and dL/dx in the input's shape. Were either a reshaped view, the autograd engine
    # would copy dL/dx into x.grad (8 MB for a 128x16x32x32 batch), which cost about a fifth of the time.
    x = Tensor(rng(7).standard_normal((4, 3, 5, 2)), requires_grad=True)
    for y in (F.batch_norm(x, None, None, training=True), F.layer_norm(x, (5, 2))):
        x.grad = None
        y.backward(np.ones(y.shape))
        assert y.data.base is None and y.shape == x.shape
        assert x.grad.base is None and x.grad.shape == x.shape


def test_empty_inputs_give_empty_outputs_as_in_pytorch():
    # no rows to normalise, or rows of nothing: empty output, and (for the parameters) zero gradients
    for shape, normalized_shape in (((0, 4), (4,)), ((3, 0), (0,))):
        x, weight = Tensor(np.zeros(shape), requires_grad=True), Tensor(np.ones(normalized_shape), requires_grad=True)
        y = F.layer_norm(x, normalized_shape, weight)
        y.backward(np.ones(shape))
        assert y.shape == shape and x.grad.shape == shape
        np.testing.assert_array_equal(weight.grad, np.zeros(normalized_shape))
    x = Tensor(np.zeros((0, 3, 2)), requires_grad=True)
    y = F.batch_norm(x, Tensor(np.zeros(3)), Tensor(np.ones(3)), training=False)
    y.backward(np.ones(y.shape))
    assert y.shape == (0, 3, 2) and x.grad.shape == (0, 3, 2)


# -- running statistics ---------------------------------------------------------------------------------
def test_running_statistics_after_several_steps_match_a_hand_computation():
    generator = rng(5)
    channels, momentum = 3, 0.3
    running_mean, running_var = Tensor(np.zeros(channels)), Tensor(np.ones(channels))
    expected_mean, expected_var = np.zeros(channels), np.ones(channels)
    for step in range(4):
        batch = generator.standard_normal((5, channels, 2, 3)) * (step + 1) + step
        F.batch_norm(Tensor(batch), running_mean, running_var, training=True, momentum=momentum)
        for c in range(channels):
            values = batch[:, c].ravel()
            m = values.size
            batch_mean = sum(values) / m
            unbiased_var = sum((v - batch_mean) ** 2 for v in values) / (m - 1)
            expected_mean[c] = (1 - momentum) * expected_mean[c] + momentum * batch_mean
            expected_var[c] = (1 - momentum) * expected_var[c] + momentum * unbiased_var
    np.testing.assert_allclose(running_mean.data, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(running_var.data, expected_var, rtol=1e-12)


def test_momentum_none_keeps_the_cumulative_average_of_the_batch_statistics():
    generator = rng(6)
    layer = nn.BatchNorm1d(4, momentum=None).double()
    batches = [generator.standard_normal((6, 4)) * (k + 1) + k for k in range(5)]
    for batch in batches:
        layer(Tensor(batch))
    assert layer.num_batches_tracked.item() == 5
    # with factor 1/n at the n-th batch, the initial zeros/ones are forgotten at the first step
    np.testing.assert_allclose(layer.running_mean.data, np.mean([b.mean(axis=0) for b in batches], axis=0))
    np.testing.assert_allclose(layer.running_var.data, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0))


def test_num_batches_tracked_counts_training_batches_only():
    layer = nn.BatchNorm2d(2)
    x = minidl.randn(4, 2, 3, 3)
    layer(x)
    layer(x)
    layer.eval()
    layer(x)
    assert layer.num_batches_tracked.item() == 2
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()


# -- train versus eval: the lecture's point -------------------------------------------------------------
def test_single_example_in_eval_is_normalised_the_same_whatever_its_batch():
    generator = rng(7)
    layer = nn.BatchNorm2d(3).double()
    for _ in range(3):
        layer(Tensor(generator.standard_normal((8, 3, 4, 4)) * 2 + 1))
    example = generator.standard_normal((1, 3, 4, 4))
    batch_a = np.concatenate([example, generator.standard_normal((5, 3, 4, 4))])
    batch_b = np.concatenate([generator.standard_normal((3, 3, 4, 4)) * 5 - 2, example])

    layer.eval()
    alone = layer(Tensor(example)).data[0]
    np.testing.assert_allclose(layer(Tensor(batch_a)).data[0], alone, rtol=1e-12)
    np.testing.assert_allclose(layer(Tensor(batch_b)).data[-1], alone, rtol=1e-12)

    layer.train()
    in_a, in_b = layer(Tensor(batch_a)).data[0], layer(Tensor(batch_b)).data[-1]
    assert np.max(np.abs(in_a - in_b)) > 0.1  # in training the batch's statistics decide


def test_eval_uses_running_statistics_and_leaves_them_unchanged():
    generator = rng(8)
    layer = nn.BatchNorm1d(3).double()
    layer.running_mean.data[...] = generator.standard_normal(3)
    layer.running_var.data[...] = generator.uniform(0.5, 2, 3)
    layer.weight.data[...] = generator.standard_normal(3)
    layer.bias.data[...] = generator.standard_normal(3)
    before = layer.state_dict()
    layer.eval()
    x = generator.standard_normal((5, 3, 7))
    c = (None, slice(None), None)
    expected = (x - before["running_mean"][c]) / np.sqrt(before["running_var"][c] + 1e-5)
    expected = expected * before["weight"][c] + before["bias"][c]
    np.testing.assert_allclose(layer(Tensor(x)).data, expected, rtol=1e-12)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_without_running_stats_eval_still_normalises_with_the_batch():
    layer = nn.BatchNorm1d(2, track_running_stats=False).double()
    assert layer.running_mean is None and layer.num_batches_tracked is None
    assert list(layer.state_dict()) == ["weight", "bias"]
    layer.eval()
    y = layer(Tensor(rng(9).standard_normal((10, 2)) * 4 + 3)).data
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-5)


# -- modules --------------------------------------------------------------------------------------------
def test_batch_norm_module_parameters_buffers_and_repr():
    layer = nn.BatchNorm2d(16)
    assert repr(layer) == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(layer.weight.data, np.ones(16, dtype=np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(16, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_mean.data, np.zeros(16, dtype=np.float32))
    np.testing.assert_array_equal(layer.running_var.data, np.ones(16, dtype=np.float32))
    assert layer.weight.dtype == layer.running_var.dtype == np.float32
    assert not layer.running_mean.requires_grad

    plain = nn.BatchNorm1d(8, momentum=None, affine=False)
    assert repr(plain) == "BatchNorm1d(8, eps=1e-05, momentum=None, affine=False, track_running_stats=True)"
    assert plain.weight is None and list(plain.parameters()) == []
    assert list(plain.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


def test_batch_norm_module_trains_its_affine_parameters():
    layer = nn.BatchNorm1d(3)
    y = layer(minidl.randn(6, 3, 4))
    y.backward(np.ones(y.shape, dtype=np.float32) * np.arange(3, dtype=np.float32)[None, :, None])
    np.testing.assert_allclose(layer.bias.grad, 24 * np.arange(3), rtol=1e-6)
    assert layer.weight.grad.shape == (3,)


def test_batch_norm_state_dict_round_trip():
    source, target = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    for _ in range(2):
        source(minidl.randn(4, 3, 2, 2) * 3)
    target.load_state_dict(source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)


def test_layer_norm_module():
    layer = nn.LayerNorm(64)
    assert repr(layer) == "LayerNorm((64,), eps=1e-05, elementwise_affine=True)"
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.weight.shape == (64,)
    no_bias = nn.LayerNorm([3, 4], bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]
    assert repr(no_bias) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)"
    plain = nn.LayerNorm((5,), elementwise_affine=False)
    assert list(plain.parameters()) == []
    y = plain(Tensor(rng(10).standard_normal((2, 3, 5)) * 3 + 7)).data
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-4)


def test_layer_norm_is_the_same_in_train_and_eval():
    layer = nn.LayerNorm(6)
    x = minidl.randn(4, 6)
    train_output = layer(x).data
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, train_output)


# -- errors ---------------------------------------------------------------------------------------------
def test_wrong_number_of_channels_is_named():
    with pytest.raises(ValueError, match=re.escape("BatchNorm2d(16) got input with 8 channels, shape (2, 8, 5, 5)")):
        nn.BatchNorm2d(16)(minidl.randn(2, 8, 5, 5))
    with pytest.raises(ValueError, match=re.escape("BatchNorm1d(4) got input with 3 channels, shape (5, 3)")):
        nn.BatchNorm1d(4)(minidl.randn(5, 3))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean should have shape \(3,\).*shape \(4,\)"):
        F.batch_norm(minidl.randn(5, 3), minidl.zeros(4), minidl.ones(4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight should have shape \(3,\)"):
        F.batch_norm(minidl.randn(5, 3), None, None, minidl.ones(2), training=True)


def test_wrong_dimensionality_is_refused():
    with pytest.raises(
        ValueError, match=re.escape("BatchNorm2d(3) expects 4-D (N, C, H, W) input, got input of shape (2, 3, 5) (3-D)")
    ):
        nn.BatchNorm2d(3)(minidl.randn(2, 3, 5))
    with pytest.raises(ValueError, match=re.escape("BatchNorm1d(3) expects 2-D (N, C) or 3-D (N, C, L) input")):
        nn.BatchNorm1d(3)(minidl.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C\).*got shape \(5,\)"):
        F.batch_norm(minidl.randn(5), None, None, training=True)


def test_wrong_normalized_shape_is_refused():
    with pytest.raises(
        ValueError, match=re.escape("layer_norm: normalized_shape=(64,) expects input of shape (*, 64)")
    ):
        F.layer_norm(minidl.randn(4, 32), (64,))
    with pytest.raises(ValueError, match=re.escape("but got input of shape (4, 32)")):
        nn.LayerNorm((2, 32))(minidl.randn(4, 32))
    with pytest.raises(ValueError, match=re.escape("layer_norm: weight should have normalized_shape (32,)")):
        F.layer_norm(minidl.randn(4, 32), (32,), weight=minidl.ones(31))


def test_non_float_input_is_refused():
    integers = Tensor(np.arange(12).reshape(4, 3))
    with pytest.raises(TypeError, match="batch_norm expects a floating-point tensor, got dtype int64"):
        F.batch_norm(integers, None, None, training=True)
    with pytest.raises(TypeError, match="layer_norm expects a floating-point tensor, got dtype int64"):
        F.layer_norm(integers, (3,))
    with pytest.raises(TypeError, match="batch_norm supports float32 and float64 input, got dtype float16"):
        F.batch_norm(Tensor(np.ones((4, 3), dtype=np.float16)), None, None, training=True)


def test_one_value_per_channel_in_training_is_refused_as_in_pytorch():
    message = re.escape("Expected more than 1 value per channel when training, got input size (1, 3)")
    with pytest.raises(ValueError, match=message):
        nn.BatchNorm1d(3)(minidl.randn(1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(minidl.randn(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match=re.escape("batch_norm: cannot take batch statistics of an empty input")):
        F.batch_norm(minidl.randn(0, 3), None, None, training=True)
    layer = nn.BatchNorm1d(3)
    layer.eval()
    assert layer(minidl.randn(1, 3)).shape == (1, 3)  # fine in eval: the running statistics are used


def test_missing_running_statistics_and_momentum_none_are_refused_in_functional_form():
    x = minidl.randn(4, 3)
    with pytest.raises(RuntimeError, match="running_mean and running_var must be given in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="must either both be None or neither be None"):
        F.batch_norm(x, minidl.zeros(3), None, training=True)
    with pytest.raises(TypeError, match="momentum must be a number"):
        F.batch_norm(x, minidl.zeros(3), minidl.ones(3), training=True, momentum=None)
