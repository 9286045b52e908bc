"""Helpers shared by the ops: summing a gradient back to an input's shape, and reading ``dim``."""

import numpy as np


def sum_to_shape(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``.

    Broadcasting copies an input along new leading axes and along its size-1 axes; each copy
    contributes to the loss, so the gradient of the input is the sum over those axes.
    """
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def broadcast_shapes(op_name, *shapes):
    """The shape NumPy broadcasting gives, or an error that names the op and every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(shape)) for shape in shapes)
        raise ValueError(
            f"{op_name}: cannot broadcast shapes {listed}; trailing dimensions must be equal or 1"
        ) from None


def normalize_dims(op_name, dim, ndim):
    """``dim`` (None, an int or a tuple; negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    rank = max(ndim, 1)
    for axis in dims:
        if not -rank <= axis < rank:
            raise IndexError(f"{op_name}: dim {axis} is out of range for a tensor with {ndim} dimension(s)")
    normalized = sorted({int(axis) % rank for axis in dims})
    return tuple(axis for axis in normalized if axis < ndim)


def expand_reduced(grad, shape, dims, keepdim):
    """Put back the reduced axes of ``grad`` (as size 1) so it broadcasts against the input."""
    if keepdim:
        return grad
    return np.expand_dims(grad, dims) if dims else grad


def require_float(op_name, array):
    """Refuse integer or boolean input to an op that only makes sense on real numbers."""
    if array.dtype.kind != "f":
        raise TypeError(f"{op_name} expects a floating-point tensor, got dtype {array.dtype}; convert it with .float()")
