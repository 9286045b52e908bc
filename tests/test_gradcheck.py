"""``minidl.gradcheck`` itself: it must pass right backwards and catch the usual wrong ones (off by 1%,
wrong sign, transposed, a broadcast reduction forgotten), say where, and refuse float32."""

import numpy as np
import pytest

import minidl
from minidl import GradcheckError, gradcheck, ops
from minidl.autograd import Function
from minidl.ops.util import sum_to_shape


def leaf(shape, seed=0, low=-2.0, high=2.0):
    return minidl.Tensor(np.random.default_rng(seed).uniform(low, high, shape), requires_grad=True)


def cube_with_backward(backward_formula):
    """A Function computing x**3 whose backward is ``backward_formula(x, grad)``."""

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward_formula(x, grad)

    return Cube


RightCube = cube_with_backward(lambda x, grad: grad * 3 * x**2)
CubeOffByOnePercent = cube_with_backward(lambda x, grad: grad * 3 * x**2 * 1.01)
CubeWrongSign = cube_with_backward(lambda x, grad: -grad * 3 * x**2)


class MatMulTransposed(Function):
    """a @ b with dL/da transposed (right only when it happens to be symmetric)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad @ b.T).T, a.T @ grad


class AddFirstCopyOnly(Function):
    """a + b where b broadcasts, but dL/db keeps the gradient of the first copy instead of the sum."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shape_b = b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad[0].reshape(ctx.shape_b)


class AddWithoutReduction(Function):
    """a + b where b broadcasts, and dL/db is returned with the output's shape (no sum at all)."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class AddWithReduction(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return sum_to_shape(grad, ctx.shapes[0]), sum_to_shape(grad, ctx.shapes[1])


def test_right_backwards_pass():
    assert gradcheck(lambda x: RightCube.apply(x), leaf((3, 4)))
    assert gradcheck(lambda a, b: AddWithReduction.apply(a, b), (leaf((4, 3)), leaf((1, 3), seed=1)))
    assert gradcheck(lambda a, b: a @ b, (leaf((3, 4)), leaf((4, 2), seed=1)))


@pytest.mark.parametrize("fast_mode", [False, True])
def test_off_by_one_percent_is_caught(fast_mode):
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x: CubeOffByOnePercent.apply(x), leaf((3, 4), low=0.5), fast_mode=fast_mode)
    assert caught.value.relative_error == pytest.approx(0.01, rel=1e-3)
    if not fast_mode:
        assert "1.01 times the numeric one" in str(caught.value)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_a_wrong_sign_is_caught(fast_mode):
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x: CubeWrongSign.apply(x), leaf((5,)), fast_mode=fast_mode)
    if not fast_mode:
        assert "opposite sign" in str(caught.value)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_a_transposed_gradient_is_caught(fast_mode):
    a, b = leaf((3, 3)), leaf((3, 3), seed=1)
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda a, b: MatMulTransposed.apply(a, b), (a, b), fast_mode=fast_mode)
    assert caught.value.input_name == "a" and caught.value.input_index == 0
    if not fast_mode:
        assert "transposed" in str(caught.value)


def test_summing_only_one_broadcast_copy_is_caught_and_located():
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda a, b: AddFirstCopyOnly.apply(a, b), (leaf((4, 3)), leaf((1, 3), seed=1)))
    assert caught.value.input_name == "b" and caught.value.input_index == 1
    assert caught.value.index[0] == 0 and len(caught.value.index) == 2


def test_a_gradient_left_with_the_broadcast_shape_is_named_before_any_numbers():
    with pytest.raises(
        RuntimeError, match=r"AddWithoutReduction.backward.*shape \(4, 3\) for argument 1.*sum_to_shape"
    ):
        gradcheck(lambda a, b: AddWithoutReduction.apply(a, b), (leaf((4, 3)), leaf((3,), seed=1)))


def test_the_report_names_the_input_and_the_element():
    def wrong_at_one_element(x, grad):
        result = grad * 3 * x**2
        result[1, 2] += 0.5
        return result

    Cube = cube_with_backward(wrong_at_one_element)
    scale, x = minidl.Tensor(np.array(2.0)), leaf((3, 4))
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda scale, x: Cube.apply(x) * scale, (scale, x))
    error = caught.value
    assert (error.input_index, error.input_name, error.index) == (1, "x", (1, 2))
    assert error.analytic - error.numeric == pytest.approx(0.5, abs=1e-6)  # the 0.5 the backward added
    message = str(error)
    assert "input 1 ('x', shape (3, 4))" in message and "x[1, 2]" in message
    assert "1 of 12 elements" in message


def test_inputs_without_a_signature_are_numbered():
    with pytest.raises(GradcheckError, match=r"input 0 \('input 0'"):
        gradcheck(CubeWrongSign.apply, leaf((2,)))


def test_raise_exception_false_returns_false():
    assert gradcheck(lambda x: CubeWrongSign.apply(x), leaf((3,)), raise_exception=False) is False
    assert gradcheck(lambda x: RightCube.apply(x), leaf((3,)), raise_exception=False) is True


def test_fast_mode_passes_right_backwards_on_a_large_input():
    x, w = leaf((40, 30)), leaf((30, 20), seed=1)
    assert gradcheck(lambda x, w: (x @ w).tanh(), (x, w), fast_mode=True)


def test_float32_is_refused_with_an_explanation():
    x = minidl.tensor(np.ones(3), dtype=np.float32, requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0 \('x'\) has dtype float32.*float64.*7 significant digits"):
        gradcheck(lambda x: x * 2.0, x)


def test_random_fn_is_refused_with_advice_to_seed():
    with pytest.raises(GradcheckError, match="manual_seed"):
        gradcheck(lambda x: ops.Dropout.apply(x, 0.5, True), leaf((20,)))


def test_no_input_requiring_grad_is_refused():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        gradcheck(lambda x: x * 2.0, minidl.Tensor(np.ones(3)))


def test_a_computed_input_is_refused():
    x = leaf((3,))
    with pytest.raises(ValueError, match="must be a leaf"):
        gradcheck(lambda y: y * 2.0, x * 2.0)


def test_a_backward_that_returns_nothing_is_hinted():
    Cube = cube_with_backward(lambda x, grad: np.zeros_like(x))
    with pytest.raises(GradcheckError, match="zero everywhere"):
        gradcheck(lambda x: Cube.apply(x), leaf((3,)))


def test_a_plain_sum_would_miss_what_the_random_upstream_gradient_catches():
    # Centering x - mean(x): the right backward is grad - mean(grad). One scaled by 2 gives the right
    # answer (zero) when the upstream gradient is all ones, as it is for .sum(), but not otherwise.
    class CenterWrongScale(Function):
        @staticmethod
        def forward(ctx, x):
            return x - x.mean()

        @staticmethod
        def backward(ctx, grad):
            return 2 * (grad - grad.mean())

    x = leaf((6,))
    CenterWrongScale.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, 0.0, atol=1e-12)  # the true gradient of the sum: nothing to see
    with pytest.raises(GradcheckError, match="2 times the numeric one"):
        gradcheck(lambda x: CenterWrongScale.apply(x), leaf((6,)))


def test_gradcheck_leaves_inputs_and_their_grads_as_it_found_them():
    x = leaf((3, 2))
    before = x.data.copy()
    x.grad = np.full((3, 2), 7.0)
    assert gradcheck(lambda x: (x * x).sum(dim=0), x)
    np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, 7.0)


def test_several_outputs_are_checked_together():
    class SplitWrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = leaf((3,))
    assert gradcheck(lambda x: (x * 2.0, x.exp()), x)
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: (x.exp(), SplitWrong.apply(x)), x)


def test_readonly_and_noncontiguous_inputs_work():
    base = np.random.default_rng(0).standard_normal((4, 6))
    x = minidl.Tensor(base[:, ::2], requires_grad=True)
    y = minidl.Tensor(np.broadcast_to(np.arange(3.0), (4, 3)), requires_grad=True)
    assert gradcheck(lambda x, y: x * y, (x, y))
