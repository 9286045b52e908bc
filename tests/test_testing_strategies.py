"""minidl.testing: the strategies give what they promise (the gradient checks rely on it)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.testing import arrays, broadcastable_shapes, noncontiguous, shapes, tensors


@given(shape=shapes(min_dims=0, max_dims=3, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert len(shape) <= 3 and all(1 <= side <= 4 for side in shape)


@given(drawn=broadcastable_shapes(num_shapes=3))
def test_broadcastable_shapes_broadcast_together(drawn):
    assert len(drawn) == 3
    np.broadcast_shapes(*drawn)


@given(array=arrays(shapes(), low=-1.0, high=3.0, avoid=(0.0, 1.0), margin=0.1))
def test_arrays_stay_in_range_and_away_from_the_points_to_avoid(array):
    assert array.dtype == np.float64
    assert np.all((array >= -1.0) & (array <= 3.0))
    assert np.all(np.abs(array) >= 0.1) and np.all(np.abs(array - 1.0) >= 0.1)


@given(data=st.data())
def test_noncontiguous_keeps_values_and_shape_but_not_the_layout(data):
    array = data.draw(arrays(shapes(min_dims=1)))
    view = data.draw(noncontiguous(array))
    np.testing.assert_array_equal(view, array)
    assert view.shape == array.shape
    if array.size > 1 and max(array.shape) > 1:
        assert not view.flags.c_contiguous


def test_the_shape_strategies_reach_the_edge_cases():
    seen = set()

    @given(shape=shapes())
    def record(shape):
        seen.add("0-d" if shape == () else "size-1 axis" if 1 in shape else "other")

    record()
    assert {"0-d", "size-1 axis"} <= seen


@given(t=tensors(shapes(), contiguous=False))
def test_tensors_are_float64_leaves_that_require_grad(t):
    assert isinstance(t, minidl.Tensor)
    assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    if t.data.size > 1 and max(t.shape) > 1:
        assert not t.data.flags.c_contiguous
