"""Layers and initialisation against NumPy references and the distributions PyTorch specifies."""

import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn as nn
from minidl.nn import init


@settings(deadline=None, max_examples=25)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 6),
    bias=st.booleans(),
)
def test_linear_matches_numpy(batch, in_features, out_features, bias):
    layer = nn.Linear(in_features, out_features, bias=bias, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((*batch, in_features))
    expected = x @ layer.weight.data.T + (layer.bias.data if bias else 0)
    output = layer(minidl.tensor(x, requires_grad=True))
    np.testing.assert_allclose(output.data, expected, rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(1).standard_normal(output.shape)
    output.backward(upstream)
    flat_x, flat_up = x.reshape(-1, in_features), upstream.reshape(-1, out_features)
    np.testing.assert_allclose(layer.weight.grad, flat_up.T @ flat_x, rtol=1e-10, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, flat_up.sum(axis=0), rtol=1e-10, atol=1e-12)


def test_linear_errors_name_the_layer_and_the_shape():
    with pytest.raises(ValueError, match=r"Linear\(in_features=64\) got input of shape \(8, 10\)"):
        nn.Linear(64, 3)(minidl.zeros(8, 10))


def test_linear_default_initialisation_is_pytorchs():
    minidl.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / 6), bound gain * sqrt(3 / fan_in)
    weight, bias = layer.weight.data, layer.bias.data
    assert weight.dtype == np.float32 and weight.shape == (300, 400)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
    assert abs(weight.var() - bound**2 / 3) < 0.02 * bound**2 / 3
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.9 * bound
    assert repr(layer) == "Linear(in_features=400, out_features=300, bias=True)"
    assert list(layer.state_dict()) == ["weight", "bias"]
    no_bias = nn.Linear(4, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


def test_initialisation_repeats_with_the_seed():
    minidl.manual_seed(3)
    first = nn.Linear(5, 4).weight.data.copy()
    minidl.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(5, 4).weight.data, first)


@pytest.mark.parametrize(
    "layer, reference",
    [
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.Tanh(), np.tanh),
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.Identity(17, any="thing"), lambda x: x),
    ],
)
def test_activations_match_numpy(layer, reference):
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(layer(minidl.tensor(x)).data, reference(x), rtol=1e-12)


def test_dropout_in_training_and_evaluation():
    minidl.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = minidl.ones(200, 100)
    y = layer(x).data
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.25) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x.data)
    assert repr(layer) == "Dropout(p=0.25, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_flatten():
    x = minidl.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(-2, -1)(x).shape == (2, 3, 20)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\) got input of shape \(4,\)"):
        nn.Flatten()(minidl.zeros(4))


def test_sequential_chains_indexes_and_slices():
    first, second, third = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    model = nn.Sequential(first, second, third)
    x = minidl.randn(5, 3)
    np.testing.assert_array_equal(model(x).data, third(second(first(x))).data)
    assert len(model) == 3 and model[0] is first and model[-1] is third
    assert list(model) == [first, second, third]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [first, second]
    with pytest.raises(IndexError, match="3 module"):
        model[3]
    named = nn.Sequential(OrderedDict(encoder=nn.Linear(3, 3), act=nn.Tanh()))
    assert list(named.state_dict()) == ["encoder.weight", "encoder.bias"]
    named.append(nn.Linear(3, 1))
    assert list(named.state_dict())[-1] == "2.bias"


def test_module_list_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.Linear(2, 3))
    layers.insert(0, nn.Tanh())
    layers.extend([nn.ReLU()])
    assert [type(m).__name__ for m in layers] == ["Tanh", "Linear", "Linear", "Linear", "ReLU"]
    assert list(layers.state_dict())[:2] == ["1.weight", "1.bias"]
    assert len(list(layers.parameters())) == 6
    replacement = nn.Identity()
    layers[-1] = replacement
    assert layers[4] is replacement and isinstance(layers[1:3], nn.ModuleList)
    layers[1] = nn.Linear(2, 5)  # replacing keeps the position, so state_dict order is unchanged
    assert list(layers.state_dict())[:2] == ["1.weight", "1.bias"] and layers[1].out_features == 5
    with pytest.raises(IndexError):
        layers[5]
    with pytest.raises(NotImplementedError, match="iterate"):
        layers(minidl.zeros(1))


def test_kaiming_and_xavier_spreads():
    minidl.manual_seed(1)
    weight = minidl.zeros(256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    assert abs(weight.data.std() - math.sqrt(2 / fan_out)) < 0.01 * math.sqrt(2 / fan_out)
    init.kaiming_normal_(weight, nonlinearity="relu")
    assert abs(weight.data.std() - math.sqrt(2 / fan_in)) < 0.01 * math.sqrt(2 / fan_in)
    init.kaiming_uniform_(weight, nonlinearity="relu")
    assert np.abs(weight.data).max() <= math.sqrt(6 / fan_in)
    matrix = minidl.zeros(300, 200)
    init.xavier_uniform_(matrix, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(matrix.data).max() <= bound and np.abs(matrix.data).max() > 0.99 * bound
    init.normal_(matrix, mean=1.0, std=0.5)
    assert abs(matrix.data.mean() - 1.0) < 0.01 and abs(matrix.data.std() - 0.5) < 0.01
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.kaiming_normal_(minidl.zeros(3))
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(matrix, mode="fan_sideways")


def test_constant_initialisers_fill_in_place():
    tensor = minidl.ones(2, 3)
    view = tensor.data
    init.zeros_(tensor)
    np.testing.assert_array_equal(view, np.zeros((2, 3)))
    init.constant_(tensor, 2.5)
    np.testing.assert_array_equal(view, np.full((2, 3), 2.5))
    init.ones_(tensor)
    np.testing.assert_array_equal(view, np.ones((2, 3)))
    assert tensor.dtype == np.float32


def test_calculate_gain():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("conv2d") == 1
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")
