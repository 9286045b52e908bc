"""The engine: graph shapes (chains, diamonds), gradient accumulation, retain_graph, no_grad, dtypes,
and the errors a student meets when something is wrong."""

import numpy as np
import pytest

import minidl
from minidl import ops
from minidl.autograd import Function


def leaf(values, dtype=np.float64):
    return minidl.tensor(values, dtype=dtype, requires_grad=True)


def test_a_chain_of_ten_thousand_ops_does_not_hit_the_recursion_limit():
    x = leaf([0.5, -1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001**10_000))


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0, 3.0])


def test_retain_graph_allows_a_second_backward_and_doubles_the_gradient():
    x = leaf([0.3, -0.7])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(first, np.exp(x.data) * (1 + x.data))
    np.testing.assert_allclose(x.grad, 2 * first)


def test_a_second_backward_through_a_freed_graph_says_what_to_do():
    x = leaf([0.3, -0.7])
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_a_shared_intermediate_freed_by_one_loss_is_reported_by_the_next():
    x = leaf([0.3, -0.7])
    hidden = x.exp()
    hidden.sum().backward()
    with pytest.raises(RuntimeError, match="Exp: trying to backward through the graph a second time"):
        (hidden * 2.0).sum().backward()


def test_backward_on_a_non_scalar_without_gradient_names_the_shape():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"one-element.*shape \(2, 3\)"):
        (x * 2.0).backward()


def test_backward_with_an_explicit_gradient_weights_the_outputs():
    x = leaf([1.0, 2.0])
    (x * x).backward(gradient=np.array([10.0, -1.0]))
    np.testing.assert_allclose(x.grad, [20.0, -4.0])


def test_backward_gradient_of_the_wrong_shape_is_refused():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*shape \(2,\)"):
        (x * x).backward(gradient=np.ones(3))


def test_backward_on_a_tensor_without_grad_explains_why():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.tensor([1.0, 2.0]).sum().backward()


def test_a_tensor_used_twice_gets_both_gradients():
    x = leaf([0.5, -1.5])
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_diamond_graph_where_one_branch_reuses_the_other():
    # r = a + 2a with a = exp(x): the engine must wait for both paths into a before going down to x.
    x = leaf([0.5, 0.1])
    a = x.exp()
    (a + a * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * np.exp(x.data))


def test_deep_diamonds_give_the_analytic_gradient():
    # y_{k+1} = y_k * y_k + y_k, many times, each step uses y_k twice
    x = leaf([0.1])
    y, derivative = x, np.ones(1)
    value = x.data.copy()
    for _ in range(20):
        derivative = derivative * (2 * value + 1)
        value = value * value + value
        y = y * y + y
    y.sum().backward()
    np.testing.assert_allclose(x.grad, derivative)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept_through_forward_and_backward(dtype):
    x = minidl.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=dtype, requires_grad=True)
    w = minidl.tensor(np.ones((3, 4)), dtype=dtype, requires_grad=True)
    y = ((x @ w).relu() * 2.0 + 1.0).exp().log().sigmoid().tanh() ** 2 / 3.0
    y = y.mean(dim=0).softmax(0).sum() + x.var() + (x * np.float64(0.5)).sum()
    assert y.dtype == dtype
    y.backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_mixing_float32_and_float64_gives_float64_and_each_gradient_keeps_its_leafs_dtype():
    a = minidl.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    b = minidl.tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    out = (a * b).sum()
    assert out.dtype == np.float64
    out.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_python_floats_and_lists_become_float32_like_pytorch():
    assert minidl.tensor([1.0, 2.0]).dtype == np.float32
    assert minidl.tensor([1, 2]).dtype == np.int64
    assert (minidl.tensor([1.0]) * 2.5).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_tensors_refuse_requires_grad_and_name_their_dtype(dtype):
    with pytest.raises(TypeError, match=f"floating-point.*{np.dtype(dtype).name}"):
        minidl.tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        minidl.Tensor(np.zeros(3, dtype=dtype)).requires_grad_()


def test_an_op_on_an_integer_tensor_that_needs_floats_says_which_dtype():
    with pytest.raises(TypeError, match="exp expects a floating-point tensor, got dtype int64"):
        minidl.tensor([1, 2]).exp()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0, 2.0])
    with minidl.no_grad():
        y = x * 2.0
        assert not minidl.is_grad_enabled()
        with minidl.enable_grad():
            z = x * 2.0
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_as_a_decorator():
    @minidl.no_grad()
    def double(t):
        return t * 2.0

    assert not double(leaf([1.0])).requires_grad


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 3.0).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data)


def test_leaves_that_do_not_require_grad_get_no_gradient():
    x, c = leaf([1.0, 2.0]), minidl.tensor([5.0, 6.0], dtype=np.float64)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad, c.data)


def test_the_graph_frees_saved_arrays_after_backward():
    x = leaf([1.0, 2.0])
    y = x * x
    y.sum().backward()
    assert y.grad_fn.saved_tensors == ()


class _WrongShapeBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad.sum()


class _WrongCountBackward(Function):
    @staticmethod
    def forward(ctx, x, factor):
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_a_custom_backward_returning_the_wrong_shape_is_named():
    with pytest.raises(RuntimeError, match=r"_WrongShapeBackward.backward returned a gradient of shape \(\).*\(3,\)"):
        _WrongShapeBackward.apply(leaf([1.0, 2.0, 3.0])).sum().backward()


def test_a_custom_backward_returning_too_few_gradients_is_named():
    with pytest.raises(RuntimeError, match=r"_WrongCountBackward.backward returned 1 gradient\(s\).*took 2"):
        _WrongCountBackward.apply(leaf([1.0]), 2.0).sum().backward()


def test_custom_function_with_ctx_attributes_and_needs_input_grad():
    class ScaledProduct(Function):
        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.save_for_backward(a, b)
            ctx.scale = scale
            return a * b * scale

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False, False)
            return grad * b * ctx.scale, None, None

    a, b = leaf([1.0, 2.0]), minidl.tensor([3.0, 4.0], dtype=np.float64)
    ScaledProduct.apply(a, b, 0.5).sum().backward()
    np.testing.assert_allclose(a.grad, [1.5, 2.0])


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = minidl.randn(3, 4), minidl.randn(5, 2)
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        a @ b


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(2, 3\) and \(4,\)"):
        minidl.ones(2, 3) + minidl.ones(4)


def test_linear_mismatch_names_input_and_weight_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(8, 3\).*weight has shape \(4, 5\)"):
        ops.Linear.apply(minidl.ones(8, 3), minidl.ones(4, 5), None)


def test_cross_entropy_with_float_targets_says_which_dtype():
    with pytest.raises(TypeError, match="integer class indices, got dtype float32"):
        ops.CrossEntropy.apply(minidl.ones(2, 3), np.zeros(2, dtype=np.float32), "mean")


def test_reshape_error_gives_both_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) \(6 elements\) into \(4, 2\)"):
        minidl.ones(2, 3).reshape(4, 2)


def test_cat_of_0d_tensors_is_explained():
    with pytest.raises(ValueError, match="0-d tensors cannot be concatenated"):
        minidl.cat([minidl.tensor(1.0), minidl.tensor(2.0)])


def test_leaves_never_share_gradient_memory():
    class SameArrayTwice(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            fresh = grad * 1.0
            return fresh, fresh

    a = minidl.ones(3, requires_grad=True)
    b = minidl.ones(3, requires_grad=True)
    c = minidl.ones(3, requires_grad=True)
    (SameArrayTwice.apply(a, b) + c).sum().backward()
    grads = [a.grad, b.grad, c.grad]
    for i, first in enumerate(grads):
        for second in grads[i + 1 :]:
            assert not np.shares_memory(first, second)
    a.grad[0] = 5.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])


def test_gradients_accumulate_in_place_as_in_pytorch_without_touching_the_callers_array():
    class PassOn(Function):  # a backward that hands the upstream gradient on unchanged
        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = minidl.zeros(3, requires_grad=True)
    upstream = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    PassOn.apply(x).backward(upstream)
    assert not np.shares_memory(x.grad, upstream)
    first = x.grad
    PassOn.apply(x).backward(upstream)
    assert x.grad is first  # the second backward added into the same array, as torch's AccumulateGrad does
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(upstream, [1.0, 2.0, 3.0])


def test_a_read_only_or_differently_typed_grad_is_replaced_by_the_sum():
    x = minidl.ones(2, requires_grad=True)
    x.grad = np.ones(2, dtype=np.float32)
    x.grad.flags.writeable = False
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
    x.grad = np.ones(2, dtype=np.float64)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
