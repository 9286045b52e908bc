"""Module: registration, walking the tree, modes, gradients, state dicts and repr."""

from collections import OrderedDict

import numpy as np
import pytest

import minidl
import minidl.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("count", np.zeros((), dtype=np.int64))
        self.register_buffer("scratch", np.zeros(2, dtype=np.float32), persistent=False)
        self.inner = nn.Linear(3, 2)
        self.offset = nn.Parameter(np.zeros(2, dtype=np.float32))

    def forward(self, x):
        return self.inner(x * self.scale) + self.offset


def test_registration_order_names_and_kinds():
    block = Block()
    assert [name for name, _ in block.named_parameters()] == ["scale", "offset", "inner.weight", "inner.bias"]
    assert [name for name, _ in block.named_buffers()] == ["count", "scratch"]
    assert list(block.state_dict()) == ["scale", "offset", "count", "inner.weight", "inner.bias"]
    assert list(block.children()) == [block.inner]
    assert [name for name, _ in block.named_modules()] == ["", "inner"]
    assert block.count.dtype == np.int64


def test_parameters_of_nested_containers_and_shared_ones():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), nn.ModuleList([nn.Linear(2, 1), shared]))
    # a shared module's parameters are listed once, but state_dict keeps both names, as PyTorch
    assert len(list(model.parameters())) == 4
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.1.weight", "2.1.bias"]


def test_assignment_rules_follow_pytorch():
    block = Block()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        block.scale = np.ones(3)
    with pytest.raises(TypeError, match="child module 'inner'"):
        block.inner = 3
    with pytest.raises(TypeError, match="buffer 'count'"):
        block.count = "three"
    block.count = minidl.tensor(5)  # a new value for a buffer stays a buffer
    assert "count" in block.state_dict() and block.state_dict()["count"] == 5
    block.scale = nn.Parameter(np.zeros(3, dtype=np.float32))  # a new value keeps its place in the order
    assert list(block.state_dict())[0] == "scale"
    block.offset = None  # an optional parameter may be removed, its name stays registered
    assert "offset" not in block.state_dict()
    block.inner = nn.Identity()
    assert "inner.weight" not in block.state_dict()
    del block.scale
    assert "scale" not in dict(block.named_parameters())


def test_setting_attributes_before_init_is_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Forgetful()


def test_bad_names_are_refused():
    module = nn.Module()
    with pytest.raises(KeyError):
        module.register_buffer("a.b", np.zeros(1))
    with pytest.raises(TypeError):
        module.register_parameter("w", minidl.zeros(2))


class RecordingDropout(nn.Dropout):
    """A subclass overriding train(): the recursion must call it, as PyTorch's does."""

    calls = []

    def train(self, mode=True):
        RecordingDropout.calls.append(mode)
        return super().train(mode)


def test_train_and_eval_reach_modules_nested_three_deep():
    deepest = RecordingDropout(0.5)
    model = nn.ModuleList([nn.Sequential(nn.ModuleList([nn.Sequential(nn.Linear(4, 4), deepest)]))])
    assert all(module.training for module in model.modules())
    model.eval()
    assert not any(module.training for module in model.modules())
    x = minidl.ones(100, 4)
    np.testing.assert_array_equal(deepest(x).data, x.data)  # dropout is the identity in eval mode
    model.train()
    assert all(module.training for module in model.modules())
    assert RecordingDropout.calls[-2:] == [False, True]
    minidl.manual_seed(0)
    assert (deepest(x).data == 0).any()
    with pytest.raises(ValueError, match="True or False"):
        model.train("no")


def test_zero_grad_sets_none_or_zeros():
    model = nn.Linear(3, 2)
    model(minidl.ones(4, 3)).sum().backward()
    assert model.weight.grad is not None
    model.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model.weight.grad, np.zeros((2, 3)))
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_double_and_float_cast_parameters_not_integer_buffers():
    block = Block().double()
    assert all(p.dtype == np.float64 for p in block.parameters())
    assert block.count.dtype == np.int64
    assert block.float().inner.weight.dtype == np.float32


def test_state_dict_round_trip_copies_values():
    source, target = Block(), Block()
    state = source.state_dict()
    state["count"] = np.array(7)
    target.load_state_dict(state)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    state["scale"][:] = 42  # the state dict holds copies, not the model's arrays
    assert not np.any(target.scale.data == 42)


def snapshot(module):
    return {key: value.copy() for key, value in module.state_dict().items()}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("inner.bias"), "missing keys.*inner.bias"),
        (lambda s: s.update(extra=np.zeros(1)), "unexpected keys.*extra"),
        (lambda s: s.update({"inner.weight": np.zeros((3, 2))}), r"inner.weight.*\(3, 2\).*\(2, 3\)"),
        (lambda s: s.update(offset=np.array(["a", "b"])), "offset.*not numbers"),
    ],
)
def test_load_state_dict_refuses_bad_entries_and_changes_nothing(change, message):
    model, other = Block(), Block()
    state = other.state_dict()  # valid values for the keys checked first, so a partial load would show
    change(state)
    before = snapshot(model)
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_non_strict_load_reports_missing_and_unexpected():
    model = nn.Linear(2, 2)
    state = OrderedDict(weight=np.eye(2, dtype=np.float32), other=np.zeros(1))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(model.weight.data, np.eye(2))


def test_load_state_dict_writes_in_place():
    model = nn.Linear(2, 2)
    view = model.weight.data
    model.load_state_dict({"weight": np.full((2, 2), 3.0), "bias": np.zeros(2)})
    np.testing.assert_array_equal(view, np.full((2, 2), 3.0))
    assert model.weight.dtype == np.float32


def test_repr_of_a_custom_tree():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
            self.head = nn.Linear(3, 2, bias=False)

    expected = (
        "Net(\n"
        "  (features): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "    (1): ReLU()\n"
        "  )\n"
        "  (head): Linear(in_features=3, out_features=2, bias=False)\n"
        ")"
    )
    assert repr(Net()) == expected
    assert repr(nn.Module()) == "Module()"


def test_parameter_is_a_tensor_that_requires_grad():
    parameter = nn.Parameter(minidl.zeros(2))
    assert isinstance(parameter, minidl.Tensor) and parameter.requires_grad
    assert repr(parameter).startswith("Parameter containing:")
