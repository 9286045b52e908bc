"""Every Function in minidl/ops/ checked with ``minidl.gradcheck`` on inputs drawn by Hypothesis.

``CASES`` is the registry: Function class -> {variant name: builder}. A builder takes Hypothesis's
``draw`` and returns ``(fn, inputs, gradcheck_options)``. One parametrized test runs every variant.
``GRADCHECKED`` (the classes in ``CASES``) is what tests/test_function_coverage.py reads to prove that
no Function goes unchecked.

Inputs come from ``minidl.testing``: broadcast-compatible shapes with 0-d and size-1 axes, values kept
away from kinks and poles, and contiguous or non-contiguous layouts chosen by Hypothesis.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl
from minidl import ops
from minidl.gradcheck import gradcheck
from minidl.tensor import Tensor
from minidl.testing import broadcastable_shapes, noncontiguous, shapes, tensors

CASES = {}


def case(function, variant):
    """Register the decorated builder as one gradcheck case of ``function``."""

    def register(builder):
        CASES.setdefault(function, {})[variant] = builder
        return builder

    return register


def check(fn, *inputs, **options):
    return fn, inputs, options


def small_shapes(min_dims=0, max_dims=3):
    return shapes(min_dims=min_dims, max_dims=max_dims, max_side=4)


def pair_shapes():
    return broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)


def distinct_tensor(draw, shape, spacing=0.25):
    """A tensor whose elements differ by at least ``spacing`` (no ties: max and min are smooth there)."""
    count = int(np.prod(shape))
    order = draw(st.permutations(range(count)))
    array = (np.array(order, dtype=np.float64) * spacing - spacing * count / 2).reshape(shape)
    return Tensor(draw(noncontiguous(array)), requires_grad=True)


def draw_dim(draw, ndim, allow_tuple=True):
    """None, a single (possibly negative) axis, or a tuple of axes of a tensor with ``ndim`` axes."""
    if ndim == 0:
        return None
    options = [st.none(), st.integers(-ndim, ndim - 1)]
    if allow_tuple:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return draw(st.one_of(options))


# -- element-wise -------------------------------------------------------------------------------------
def binary_case(function, right_avoid=(), right_low=-2.0, right_high=2.0):
    @case(function, "broadcast tensors")
    def tensors_case(draw):
        shape_a, shape_b = draw(pair_shapes())
        a = draw(tensors(shape_a))
        b = draw(tensors(shape_b, low=right_low, high=right_high, avoid=right_avoid, margin=0.3))
        return check(lambda a, b: function.apply(a, b), a, b)

    @case(function, "tensor and number")
    def number_case(draw):
        a = draw(tensors(small_shapes()))
        number = draw(st.sampled_from([-1.5, 0.5, 2.0]))
        return check(lambda a: function.apply(a, number), a)

    @case(function, "number and tensor")
    def reflected_case(draw):
        b = draw(tensors(small_shapes(), low=right_low, high=right_high, avoid=right_avoid, margin=0.3))
        return check(lambda b: function.apply(1.5, b), b)

    @case(function, "only one side requires grad")
    def constant_case(draw):
        shape_a, shape_b = draw(pair_shapes())
        a = draw(tensors(shape_a))
        b = draw(tensors(shape_b, low=right_low, high=right_high, avoid=right_avoid, margin=0.3))
        b.requires_grad = False
        return check(lambda a, b: function.apply(a, b), a, b)


binary_case(ops.Add)
binary_case(ops.Sub)
binary_case(ops.Mul)
binary_case(ops.Div, right_avoid=(0.0,))


def unary_case(function, variant="values in range", **value_options):
    @case(function, variant)
    def build(draw):
        return check(lambda x: function.apply(x), draw(tensors(small_shapes(), **value_options)))


unary_case(ops.Neg)
unary_case(ops.Exp)
unary_case(ops.Log, low=0.2, high=3.0)
unary_case(ops.Sqrt, low=0.2, high=3.0)
unary_case(ops.Abs, avoid=(0.0,))
unary_case(ops.Tanh, low=-3.0, high=3.0)
unary_case(ops.Sigmoid, low=-5.0, high=5.0)
unary_case(ops.ReLU, avoid=(0.0,))


@case(ops.Pow, "tensor ** integer")
def pow_integer(draw):
    exponent = draw(st.sampled_from([0, 1, 2, 3, -1, -2]))
    base = draw(tensors(small_shapes(), avoid=(0.0,), margin=0.3))
    return check(lambda base: ops.Pow.apply(base, exponent), base)


@case(ops.Pow, "positive tensor ** real number")
def pow_real(draw):
    exponent = draw(st.sampled_from([0.5, -0.5, 1.5, 2.5]))
    base = draw(tensors(small_shapes(), low=0.3, high=2.0))
    return check(lambda base: ops.Pow.apply(base, exponent), base)


@case(ops.Pow, "tensor ** tensor")
def pow_tensors(draw):
    shape_base, shape_exponent = draw(pair_shapes())
    base = draw(tensors(shape_base, low=0.3, high=2.0))
    exponent = draw(tensors(shape_exponent, low=-2.0, high=2.0))
    return check(lambda base, exponent: ops.Pow.apply(base, exponent), base, exponent)


@case(ops.Pow, "number ** tensor")
def pow_number_base(draw):
    exponent = draw(tensors(small_shapes()))
    return check(lambda exponent: ops.Pow.apply(2.5, exponent), exponent)


@case(ops.Clamp, "min and max")
def clamp_both(draw):
    x = draw(tensors(small_shapes(), avoid=(-0.5, 0.7)))
    return check(lambda x: ops.Clamp.apply(x, -0.5, 0.7), x)


@case(ops.Clamp, "min only")
def clamp_min(draw):
    x = draw(tensors(small_shapes(), avoid=(0.2,)))
    return check(lambda x: ops.Clamp.apply(x, 0.2, None), x)


@case(ops.Clamp, "max only")
def clamp_max(draw):
    x = draw(tensors(small_shapes(), avoid=(-0.3,)))
    return check(lambda x: ops.Clamp.apply(x, None, -0.3), x)


@case(ops.Cast, "float64 to float64")
def cast_same(draw):
    return check(lambda x: ops.Cast.apply(x, np.float64), draw(tensors(small_shapes())))


@case(ops.Cast, "through float32 and back")
def cast_round_trip(draw):
    # The float32 detour rounds x to 7 digits, so a larger step and looser tolerances are needed.
    x = draw(tensors(small_shapes()))
    round_trip = lambda x: ops.Cast.apply(ops.Cast.apply(x, np.float32), np.float64)  # noqa: E731
    return check(round_trip, x, eps=1e-3, atol=1e-3, rtol=1e-2)


@case(ops.Dropout, "training, seeded inside fn")
def dropout_training(draw):
    p = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
    x = draw(tensors(small_shapes()))

    def seeded_dropout(x):
        minidl.manual_seed(7)  # the same mask on every call, or finite differences would mean nothing
        return ops.Dropout.apply(x, p, True)

    return check(seeded_dropout, x)


@case(ops.Dropout, "evaluation")
def dropout_eval(draw):
    return check(lambda x: ops.Dropout.apply(x, 0.5, False), draw(tensors(small_shapes())))


# -- reductions ----------------------------------------------------------------------------------------
def reduction_case(function):
    @case(function, "dim and keepdim")
    def build(draw):
        x = draw(tensors(small_shapes(max_dims=4)))
        dim, keepdim = draw_dim(draw, x.ndim), draw(st.booleans())
        return check(lambda x: function.apply(x, dim, keepdim), x)


reduction_case(ops.Sum)
reduction_case(ops.Mean)


@case(ops.Var, "dim, unbiased and keepdim")
def var_case(draw):
    x = draw(tensors(small_shapes(max_dims=4)))
    dim, keepdim = draw_dim(draw, x.ndim), draw(st.booleans())
    count = int(np.prod([x.shape[axis] for axis in minidl.ops.util.normalize_dims("var", dim, x.ndim)]))
    unbiased = count > 1 and draw(st.booleans())  # unbiased over one element is 0/0 (nan, as PyTorch)
    return check(lambda x: ops.Var.apply(x, dim, unbiased, keepdim), x)


def extremum_case(function):
    @case(function, "whole tensor, distinct values")
    def whole(draw):
        x = distinct_tensor(draw, draw(small_shapes()))
        keepdim = draw(st.booleans())
        return check(lambda x: function.apply(x, None, keepdim), x)

    @case(function, "along dim, distinct values")
    def along_dim(draw):
        x = distinct_tensor(draw, draw(small_shapes(min_dims=1)))
        dim, keepdim = draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.booleans())
        return check(lambda x: function.apply(x, dim, keepdim), x)


extremum_case(ops.Max)
extremum_case(ops.Min)


# -- matrix products -----------------------------------------------------------------------------------
MATMUL_SHAPES = {
    "1-D @ 1-D": lambda n, k, m: ((k,), (k,)),
    "2-D @ 2-D": lambda n, k, m: ((n, k), (k, m)),
    "1-D @ 2-D": lambda n, k, m: ((k,), (k, m)),
    "2-D @ 1-D": lambda n, k, m: ((n, k), (k,)),
    "batched": lambda n, k, m: ((2, n, k), (2, k, m)),
    "broadcast batch": lambda n, k, m: ((2, 1, n, k), (3, k, m)),
    "2-D @ batched": lambda n, k, m: ((n, k), (2, k, m)),
    "1-D @ batched": lambda n, k, m: ((k,), (2, k, m)),
    "batched @ 1-D": lambda n, k, m: ((2, n, k), (k,)),
}


def matmul_case(variant, make_shapes):
    @case(ops.MatMul, variant)
    def build(draw):
        n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
        shape_a, shape_b = make_shapes(n, k, m)
        return check(lambda a, b: ops.MatMul.apply(a, b), draw(tensors(shape_a)), draw(tensors(shape_b)))


for matmul_variant, matmul_shapes in MATMUL_SHAPES.items():
    matmul_case(matmul_variant, matmul_shapes)


def linear_case(with_bias):
    @case(ops.Linear, "with bias" if with_bias else "without bias")
    def build(draw):
        in_features, out_features = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        leading = draw(shapes(min_dims=0, max_dims=2, max_side=3))
        x = draw(tensors(leading + (in_features,)))
        weight = draw(tensors((out_features, in_features)))
        if with_bias:
            bias = draw(tensors((out_features,)))
            return check(lambda x, weight, bias: ops.Linear.apply(x, weight, bias), x, weight, bias)
        return check(lambda x, weight: ops.Linear.apply(x, weight, None), x, weight)


linear_case(with_bias=True)
linear_case(with_bias=False)


# -- shape ops -------------------------------------------------------------------------------------------
@case(ops.Reshape, "to another shape")
def reshape_case(draw):
    x = draw(tensors(small_shapes()))
    size = x.data.size
    target = draw(st.sampled_from([(size,), (-1,), (1, size), (size, 1, 1), (-1, 1), tuple(reversed(x.shape))]))
    return check(lambda x: ops.Reshape.apply(x, target), x)


@case(ops.Permute, "any permutation")
def permute_case(draw):
    x = draw(tensors(small_shapes(max_dims=4)))
    dims = tuple(draw(st.permutations(range(x.ndim))))
    return check(lambda x: ops.Permute.apply(x, dims), x)


@st.composite
def basic_index_item(draw, size):
    return draw(
        st.one_of(
            st.integers(-size, size - 1),
            st.builds(slice, st.none() | st.integers(-size, size), st.none() | st.integers(-size, size)),
            st.builds(slice, st.none(), st.none(), st.sampled_from([2, -1, -2])),
        )
    )


@case(ops.GetItem, "basic: ints, slices, steps, None, Ellipsis")
def getitem_basic(draw):
    x = draw(tensors(small_shapes(min_dims=1)))
    count = draw(st.integers(1, x.ndim))
    index = [draw(basic_index_item(size)) for size in x.shape[:count]]
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    if count < x.ndim and draw(st.booleans()):
        index.append(Ellipsis)
    index = tuple(index)
    return check(lambda x: ops.GetItem.apply(x, index), x)


@case(ops.GetItem, "integer array with repeated indices")
def getitem_integer_array(draw):
    x = draw(tensors(small_shapes(min_dims=1)))
    axis = draw(st.integers(0, x.ndim - 1))
    picks = draw(st.lists(st.integers(-x.shape[axis], x.shape[axis] - 1), min_size=1, max_size=6))
    picks = np.array(picks + picks[:1])  # the first index twice: its element must get both gradients
    index = (slice(None),) * axis + (picks,)
    return check(lambda x: ops.GetItem.apply(x, index), x)


@case(ops.GetItem, "boolean mask")
def getitem_mask(draw):
    x = draw(tensors(small_shapes(min_dims=1)))
    mask = x.data > 0
    return check(lambda x: ops.GetItem.apply(x, mask), x)


@case(ops.Pad, "constant value")
def pad_case(draw):
    x = draw(tensors(small_shapes(min_dims=1)))
    axes = draw(st.integers(1, x.ndim))
    pad = tuple(draw(st.lists(st.integers(0, 2), min_size=2 * axes, max_size=2 * axes)))
    value = draw(st.sampled_from([0.0, -1.5]))
    return check(lambda x: ops.Pad.apply(x, pad, value), x)


def joined_tensors(draw, same_shape):
    base = list(draw(small_shapes(min_dims=1)))
    axis = draw(st.integers(0, len(base) - 1))
    count = draw(st.integers(1, 3))
    result = []
    for _ in range(count):
        shape = list(base)
        if not same_shape:
            shape[axis] = draw(st.integers(1, 3))
        result.append(draw(tensors(tuple(shape))))
    return axis, result


@case(ops.Cat, "along any axis")
def cat_case(draw):
    axis, parts = joined_tensors(draw, same_shape=False)
    dim = draw(st.sampled_from([axis, axis - parts[0].ndim]))
    return check(lambda *parts: ops.Cat.apply(dim, *parts), *parts)


@case(ops.Stack, "along any new axis")
def stack_case(draw):
    _, parts = joined_tensors(draw, same_shape=True)
    dim = draw(st.integers(-parts[0].ndim - 1, parts[0].ndim))
    return check(lambda *parts: ops.Stack.apply(dim, *parts), *parts)


# -- softmax and losses -------------------------------------------------------------------------------
def softmax_case(function):
    @case(function, "any dim")
    def build(draw):
        x = draw(tensors(small_shapes(min_dims=1), low=-4.0, high=4.0))
        dim = draw(st.integers(-x.ndim, x.ndim - 1))
        return check(lambda x: function.apply(x, dim), x)


softmax_case(ops.Softmax)
softmax_case(ops.LogSoftmax)


CROSS_ENTROPY_SHAPES = {"(C,)": 0, "(N, C)": 1, "(N, C, d)": 2, "(N, C, d1, d2)": 3}


def cross_entropy_case(variant, extra_dims):
    @case(ops.CrossEntropy, f"logits {variant}")
    def build(draw):
        classes = draw(st.integers(1, 4))
        if extra_dims == 0:
            logits_shape, target_shape = (classes,), ()
        else:
            batch = draw(st.integers(1, 3))
            spatial = tuple(draw(st.integers(1, 3)) for _ in range(extra_dims - 1))
            logits_shape, target_shape = (batch, classes, *spatial), (batch, *spatial)
        logits = draw(tensors(logits_shape, low=-3.0, high=3.0))
        target = draw(hnp.arrays(np.int64, target_shape, elements=st.integers(0, classes - 1)))
        reduction = draw(st.sampled_from(["mean", "sum", "none"]))
        return check(lambda logits: ops.CrossEntropy.apply(logits, target, reduction), logits)


for cross_entropy_variant, cross_entropy_dims in CROSS_ENTROPY_SHAPES.items():
    cross_entropy_case(cross_entropy_variant, cross_entropy_dims)


@case(ops.MSELoss, "input and target both require grad")
def mse_case(draw):
    shape = draw(small_shapes())
    x, target = draw(tensors(shape)), draw(tensors(shape))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return check(lambda x, target: ops.MSELoss.apply(x, target, reduction), x, target)


GRADCHECKED = set(CASES)

ALL_VARIANTS = [(function, variant) for function, variants in CASES.items() for variant in variants]


@pytest.mark.parametrize(
    "function, variant", ALL_VARIANTS, ids=[f"{function.__name__}: {variant}" for function, variant in ALL_VARIANTS]
)
@given(data=st.data())
def test_gradcheck(function, variant, data):
    fn, inputs, options = CASES[function][variant](data.draw)
    assert gradcheck(fn, inputs, **options)
