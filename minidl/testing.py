"""Hypothesis strategies for minidl's tests and for the gradient-check lab.

``shapes`` and ``broadcastable_shapes`` draw shapes (size-1 axes and 0-d included); ``arrays`` draws
float64 arrays whose values stay in a range and away from an op's kinks and poles (a finite
difference across a kink, such as relu's at 0, measures neither side's slope); ``noncontiguous``
gives the same values in a transposed or strided view, which a kernel must read correctly.
``tensors`` wraps ``arrays`` as leaf tensors that require grad, ready for ``minidl.gradcheck``.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minidl.tensor import Tensor


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes, e.g. (), (1,), (3, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5):
    """A tuple of ``num_shapes`` shapes that broadcast together (as NumPy and PyTorch broadcast)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda drawn: drawn.input_shapes)


@st.composite
def arrays(draw, shape, low=-2.0, high=2.0, avoid=(), margin=0.05):
    """float64 arrays of ``shape`` with values in [low, high], at least ``margin`` from each point in ``avoid``."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    for point in avoid:
        elements = elements.filter(lambda value, point=point: abs(value - point) >= margin)
    return draw(hnp.arrays(np.float64, shape, elements=elements))


@st.composite
def noncontiguous(draw, array):
    """The values of ``array`` in a layout NumPy does not store contiguously: a transposed copy viewed
    back, or every second element of a larger buffer. Values and shape are unchanged."""
    if array.ndim == 0 or array.size <= 1:
        return array
    # Transposing changes the layout only when two axes have more than one element (NumPy calls a
    # 1-D array, or a (1, n) one, contiguous either way); the strided view always does.
    long_axes = sum(size > 1 for size in array.shape)
    layout = draw(st.sampled_from(["transposed", "strided"])) if long_axes >= 2 else "strided"
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T
    buffer = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    view = buffer[..., ::2]
    view[...] = array
    return view


@st.composite
def tensors(draw, shape, low=-2.0, high=2.0, avoid=(), margin=0.05, contiguous=None):
    """Leaf float64 tensors with requires_grad=True; ``contiguous=None`` lets Hypothesis choose the layout."""
    array = draw(arrays(shape, low, high, avoid, margin))
    if contiguous is False or (contiguous is None and draw(st.booleans())):
        array = draw(noncontiguous(array))
    return Tensor(array, requires_grad=True)
