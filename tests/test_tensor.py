"""The Tensor class: construction and dtypes, factories, seeding, properties and the convenience methods
built on the ops (each compared with NumPy)."""

import numpy as np
import pytest

import minidl


def test_tensor_copies_and_tensor_class_shares():
    array = np.arange(3.0)
    copied, shared = minidl.tensor(array), minidl.Tensor(array)
    array[0] = 10.0
    assert copied.data[0] == 0.0 and shared.data[0] == 10.0
    assert shared.numpy() is array


def test_tensor_with_dtype():
    assert minidl.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert minidl.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32


@pytest.mark.parametrize("factory, reference", [(minidl.zeros, np.zeros), (minidl.ones, np.ones)])
def test_constant_factories_accept_both_shape_forms(factory, reference):
    for made in (factory(2, 3), factory((2, 3)), factory([2, 3])):
        assert made.dtype == np.float32
        np.testing.assert_array_equal(made.data, reference((2, 3)))
    assert factory(4, dtype=np.float64, requires_grad=True).requires_grad


def test_like_factories_copy_shape_and_dtype():
    base = minidl.tensor(np.ones((2, 5)), dtype=np.float64)
    assert minidl.zeros_like(base).shape == (2, 5) and minidl.zeros_like(base).dtype == np.float64
    assert minidl.ones_like(base, dtype=np.float32).dtype == np.float32


def test_manual_seed_makes_random_tensors_repeatable():
    minidl.manual_seed(123)
    first = minidl.randn(3, 4).data, minidl.rand(5).data
    minidl.manual_seed(123)
    second = minidl.randn(3, 4).data, minidl.rand(5).data
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[0].dtype == np.float32 and np.all((first[1] >= 0) & (first[1] < 1))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_manual_seed_refuses_what_is_not_a_non_negative_int(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        minidl.manual_seed(seed)


def test_properties():
    t = minidl.tensor(np.zeros((2, 3, 4)))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and len(t) == 2
    assert t.is_leaf and t.grad is None and not t.requires_grad


def test_item_and_its_error():
    assert minidl.tensor([[2.5]]).item() == 2.5
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        minidl.tensor([1.0, 2.0]).item()


def test_truth_value_of_a_multi_element_tensor_is_refused():
    assert bool(minidl.tensor([1.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(minidl.tensor([1.0, 2.0]))


def test_repr_shows_dtype_and_grad_fn():
    assert "requires_grad=True" in repr(minidl.tensor([1.0], requires_grad=True))
    assert "dtype=float64" in repr(minidl.tensor([1.0], dtype=np.float64))
    assert "grad_fn=<MulBackward>" in repr(minidl.tensor([1.0], requires_grad=True) * 2.0)


def test_comparisons_give_boolean_tensors_without_grad():
    a = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(a > 2.0, [False, False, True]), (a == a, [True] * 3), (a <= 2, [True, True, False])]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


def test_tensors_hash_by_identity():
    a, b = minidl.tensor([1.0]), minidl.tensor([1.0])
    assert len({a, b}) == 2


def test_shape_methods_match_numpy():
    data = np.arange(24.0).reshape(2, 3, 4)
    t = minidl.tensor(data, dtype=np.float64)
    np.testing.assert_array_equal(t.flatten().data, data.reshape(-1))
    np.testing.assert_array_equal(t.flatten(1).data, data.reshape(2, 12))
    np.testing.assert_array_equal(t.view(4, -1).data, data.reshape(4, 6))
    np.testing.assert_array_equal(t.transpose(0, 2).data, np.swapaxes(data, 0, 2))
    np.testing.assert_array_equal(t.permute(1, 2, 0).data, data.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.T.data, data.T)
    assert t.unsqueeze(1).shape == (2, 1, 3, 4) and t.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert t.unsqueeze(0).squeeze().shape == (2, 3, 4) and t.unsqueeze(2).squeeze(2).shape == (2, 3, 4)
    assert t.squeeze(0).shape == (2, 3, 4)


def test_max_and_min_with_dim_give_values_and_indices():
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    t = minidl.tensor(data)
    values, indices = t.max(dim=1)
    np.testing.assert_array_equal(values.data, data.max(axis=1))
    np.testing.assert_array_equal(indices.data, data.argmax(axis=1))
    values, indices = t.min(dim=0, keepdim=True)
    np.testing.assert_array_equal(values.data, data.min(axis=0, keepdims=True))
    np.testing.assert_array_equal(indices.data, data.argmin(axis=0, keepdims=True))
    assert t.max().item() == 7.0 and t.argmax().item() == 3 and t.argmin(dim=1).tolist() == [0, 1]


def test_std_and_var_match_numpy_with_and_without_bessel_correction():
    data = np.random.default_rng(0).standard_normal((4, 5))
    t = minidl.tensor(data, dtype=np.float64)
    np.testing.assert_allclose(t.var().item(), data.var(ddof=1))
    np.testing.assert_allclose(t.var(dim=1, unbiased=False).data, data.var(axis=1))
    np.testing.assert_allclose(t.std(dim=0, keepdim=True).data, data.std(axis=0, ddof=1, keepdims=True))


def test_casts_keep_the_graph():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and x.float().dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_reflected_operators_with_numpy_arrays_and_numbers():
    x = minidl.tensor([1.0, 2.0], dtype=np.float64)
    for result, expected in [
        (np.array([3.0, 3.0]) + x, [4.0, 5.0]),
        (1.0 - x, [0.0, -1.0]),
        (2.0 / x, [2.0, 1.0]),
        (2.0**x, [2.0, 4.0]),
        (np.eye(2) @ x, [1.0, 2.0]),
    ]:
        assert isinstance(result, minidl.Tensor)
        np.testing.assert_allclose(result.data, expected)
