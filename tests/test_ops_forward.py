"""Forward results of the ops compared with NumPy (or SciPy-free formulas written here), on shapes
and values drawn by Hypothesis, in float32 and float64."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl
import minidl.nn.functional as F
from minidl import ops
from minidl.testing import arrays, broadcastable_shapes, noncontiguous, shapes

FLOAT_DTYPES = [np.float32, np.float64]


def as_tensor(array, dtype):
    return minidl.Tensor(array.astype(dtype))


def assert_matches(result, expected, dtype):
    assert isinstance(result, minidl.Tensor)
    assert result.dtype == dtype
    assert result.shape == np.shape(expected)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(result.data, expected, rtol=tolerance, atol=tolerance)


BINARY = {
    "add": (lambda a, b: a + b, np.add, {}),
    "sub": (lambda a, b: a - b, np.subtract, {}),
    "mul": (lambda a, b: a * b, np.multiply, {}),
    "div": (lambda a, b: a / b, np.divide, {"avoid": (0.0,), "margin": 0.2}),
    "pow": (lambda a, b: a**b, np.power, {}),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_ops_broadcast_like_numpy(name, dtype, data):
    op, reference, right_options = BINARY[name]
    shape_a, shape_b = data.draw(broadcastable_shapes())
    low = 0.2 if name == "pow" else -2.0  # a real power of a negative base is nan
    a = data.draw(arrays(shape_a, low=low))
    b = data.draw(arrays(shape_b, **right_options))
    a = data.draw(noncontiguous(a))
    assert_matches(op(as_tensor(a, dtype), as_tensor(b, dtype)), reference(a.astype(dtype), b.astype(dtype)), dtype)


UNARY = {
    "neg": (lambda x: -x, np.negative, {}),
    "exp": (lambda x: x.exp(), np.exp, {}),
    "log": (lambda x: x.log(), np.log, {"low": 0.1}),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, {"low": 0.0}),
    "abs": (lambda x: x.abs(), np.abs, {}),
    "tanh": (lambda x: x.tanh(), np.tanh, {}),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), {"low": -30.0, "high": 30.0}),
    "relu": (lambda x: x.relu(), lambda x: np.where(x > 0, x, 0), {}),
    "clamp": (lambda x: x.clamp(-0.5, 1.0), lambda x: np.minimum(np.maximum(x, -0.5), 1.0), {}),
    "clamp min": (lambda x: x.clamp(min=0.25), lambda x: np.maximum(x, 0.25), {}),
    "square": (lambda x: x**2, np.square, {}),
    "reciprocal": (lambda x: x**-1, np.reciprocal, {"avoid": (0.0,), "margin": 0.2}),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_ops_match_numpy(name, dtype, data):
    op, reference, options = UNARY[name]
    x = data.draw(noncontiguous(data.draw(arrays(shapes(), **options))))
    assert_matches(op(as_tensor(x, dtype)), reference(x.astype(dtype)), dtype)


def test_sigmoid_is_finite_and_warning_free_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = minidl.tensor([-1000.0, 0.0, 1000.0]).sigmoid()
    np.testing.assert_allclose(result.data, [0.0, 0.5, 1.0])


def dims_for(data, ndim):
    if ndim == 0:
        return None
    return data.draw(
        st.none()
        | st.integers(-ndim, ndim - 1)
        | st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
    )


REDUCTIONS = {
    "sum": (lambda x, dim, keepdim: x.sum(dim, keepdim), lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims)),
    "mean": (
        lambda x, dim, keepdim: x.mean(dim, keepdim),
        lambda x, axis, keepdims: np.mean(x, axis, keepdims=keepdims),
    ),
    "var": (
        lambda x, dim, keepdim: x.var(dim, unbiased=False, keepdim=keepdim),
        lambda x, axis, keepdims: np.var(x, axis, keepdims=keepdims),
    ),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", REDUCTIONS)
@given(data=st.data())
def test_reductions_match_numpy(name, dtype, data):
    op, reference = REDUCTIONS[name]
    x = data.draw(arrays(shapes())).astype(dtype)
    dim, keepdim = dims_for(data, x.ndim), data.draw(st.booleans())
    assert_matches(op(minidl.Tensor(x), dim, keepdim), reference(x, dim, keepdim), dtype)


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_max_min_along_dim_match_numpy(x, data):
    dim, keepdim = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.booleans())
    t = minidl.Tensor(x)
    for (values, indices), reduce, arg_reduce in [
        (t.max(dim, keepdim), np.max, np.argmax),
        (t.min(dim, keepdim), np.min, np.argmin),
    ]:
        np.testing.assert_array_equal(values.data, reduce(x, axis=dim, keepdims=keepdim))
        np.testing.assert_array_equal(indices.data, arg_reduce(x, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(t.max().data, x.max())


MATMUL_PAIRS = [
    ((4,), (4,)),
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((5, 3, 4), (4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape_a, shape_b", MATMUL_PAIRS)
def test_matmul_matches_numpy(shape_a, shape_b, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a).astype(dtype), rng.standard_normal(shape_b).astype(dtype)
    assert_matches(minidl.Tensor(a) @ minidl.Tensor(b), a @ b, dtype)


@pytest.mark.parametrize("leading", [(), (6,), (2, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_numpy(leading, with_bias):
    rng = np.random.default_rng(1)
    x, weight, bias = rng.standard_normal((*leading, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    expected = x @ weight.T + (bias if with_bias else 0)
    result = F.linear(minidl.Tensor(x), minidl.Tensor(weight), minidl.Tensor(bias) if with_bias else None)
    assert_matches(result, expected, np.float64)


@given(x=arrays(shapes(min_dims=1), low=-50, high=50), data=st.data())
def test_softmax_and_log_softmax_match_the_formula(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    exp = np.exp(x - x.max(axis=dim, keepdims=True))
    expected = exp / exp.sum(axis=dim, keepdims=True)
    assert_matches(F.softmax(minidl.Tensor(x), dim), expected, np.float64)
    np.testing.assert_allclose(F.log_softmax(minidl.Tensor(x), dim).data, np.log(expected), rtol=1e-9, atol=1e-9)


def test_log_softmax_is_stable_for_huge_logits():
    result = F.log_softmax(minidl.tensor([[1000.0, 0.0, -1000.0]]), dim=1)
    np.testing.assert_allclose(result.data, [[0.0, -1000.0, -2000.0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("logits_shape", [(5,), (4, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_cross_entropy_matches_the_formula(logits_shape, reduction):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal(logits_shape)
    class_axis = 0 if len(logits_shape) == 1 else 1
    target_shape = () if len(logits_shape) == 1 else logits_shape[:1] + logits_shape[2:]
    target = rng.integers(0, logits_shape[class_axis], target_shape)
    log_probs = logits - np.log(np.exp(logits).sum(axis=class_axis, keepdims=True))
    losses = -np.take_along_axis(log_probs, np.expand_dims(target, class_axis), class_axis).squeeze(class_axis)
    expected = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    assert_matches(F.cross_entropy(minidl.Tensor(logits), target, reduction=reduction), expected, np.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_numpy(reduction):
    rng = np.random.default_rng(3)
    x, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    squared = (x - target) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}[reduction]
    assert_matches(F.mse_loss(minidl.Tensor(x), minidl.Tensor(target), reduction), expected, np.float64)


def test_loss_argument_errors_are_clear():
    with pytest.raises(ValueError, match=r"input shape \(3, 1\) and target shape \(3,\) differ"):
        F.mse_loss(minidl.ones(3, 1), minidl.ones(3))
    with pytest.raises(ValueError, match=r"target of shape \(4,\), got \(3,\)"):
        F.cross_entropy(minidl.ones(4, 2), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"class indices in \[0, 1\], got values from 0 to 2"):
        F.cross_entropy(minidl.ones(3, 2), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(minidl.ones(3, 2), np.array([0, 1, 1]), reduction="average")


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_reshape_permute_pad_match_numpy(x, data):
    t = minidl.Tensor(x)
    np.testing.assert_array_equal(t.reshape(-1).data, x.reshape(-1))
    dims = tuple(data.draw(st.permutations(range(x.ndim))))
    np.testing.assert_array_equal(t.permute(*dims).data, x.transpose(dims))
    pad = tuple(
        data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2 * x.ndim).filter(lambda p: len(p) % 2 == 0))
    )
    widths = [(0, 0)] * (x.ndim - len(pad) // 2) + [
        (pad[2 * i], pad[2 * i + 1]) for i in reversed(range(len(pad) // 2))
    ]
    np.testing.assert_array_equal(F.pad(t, pad, value=-3.0).data, np.pad(x, widths, constant_values=-3.0))


@given(x=arrays(shapes(min_dims=1, max_dims=3)), data=st.data())
def test_indexing_matches_numpy(x, data):
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    np.testing.assert_array_equal(minidl.Tensor(x)[index].data, x[index])
    picks = data.draw(hnp.arrays(np.int64, data.draw(shapes(max_dims=2)), elements=st.integers(0, x.shape[0] - 1)))
    np.testing.assert_array_equal(minidl.Tensor(x)[picks].data, x[picks])
    np.testing.assert_array_equal(minidl.Tensor(x)[minidl.Tensor(picks)].data, x[picks])
    np.testing.assert_array_equal(minidl.Tensor(x)[x > 0].data, x[x > 0])


def test_an_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        minidl.ones(2, 3)[5]


@given(data=st.data())
def test_cat_and_stack_match_numpy(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    count = data.draw(st.integers(1, 3))
    parts = [data.draw(arrays(shape)) for _ in range(count)]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    np.testing.assert_array_equal(
        minidl.cat([minidl.Tensor(p) for p in parts], dim=axis).data, np.concatenate(parts, axis)
    )
    new_axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(
        minidl.stack([minidl.Tensor(p) for p in parts], dim=new_axis).data, np.stack(parts, new_axis)
    )


def test_cat_of_mismatched_shapes_lists_them():
    with pytest.raises(ValueError, match=r"same shape except along dim, got \[\(2, 3\), \(2, 4\)\]"):
        minidl.cat([minidl.ones(2, 3), minidl.ones(2, 4)], dim=0)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_dropout_zeroes_about_p_and_scales_the_rest(p):
    minidl.manual_seed(0)
    x = minidl.ones(200, 200)
    out = F.dropout(x, p, training=True).data
    kept = out != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    if p < 1:
        np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(F.dropout(x, p, training=False).data, x.data)
    assert out.dtype == np.float32


def test_dropout_refuses_a_probability_outside_0_1():
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        F.dropout(minidl.ones(3), 1.5)


def test_reduction_dim_out_of_range_is_named():
    with pytest.raises(IndexError, match="sum: dim 2 is out of range for a tensor with 2 dimension"):
        minidl.ones(2, 3).sum(dim=2)


def test_ops_are_reachable_as_functions_too():
    x = minidl.tensor([[-1.0, 2.0]])
    np.testing.assert_array_equal(ops.ReLU.apply(x).data, F.relu(x).data)
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(x.data))
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x.data)), rtol=1e-6)
