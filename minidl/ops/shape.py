"""Ops that move elements around without changing them: reshape, permute, indexing, pad, cat, stack.

Each backward moves the gradient back to where its element came from (docs/backward/shape.md).
"""

import numpy as np

from minidl.autograd import Function
from minidl.tensor import Tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad reshaped back to x's shape."""
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the {x.ndim} axes of {x.shape}")
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad permuted by the inverse permutation."""
        return np.transpose(grad, np.argsort(ctx.dims)), None


def _index_arrays(index):
    """Tensors inside an index become their arrays, so NumPy's indexing rules apply unchanged."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(item) for item in index)
    return index.data if isinstance(index, Tensor) else index


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.index = _index_arrays(index)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        try:
            return np.array(x[ctx.index])
        except IndexError as error:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {error}") from None

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = zeros with grad added at the indexed positions (``np.add.at``, so an element that
        was picked twice by an integer-array index receives both gradients)."""
        grad_x = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(grad_x, ctx.index, grad)
        return grad_x, None


class Pad(Function):
    """Constant padding; ``pad`` lists (before, after) pairs from the last axis backwards, as ``F.pad``."""

    @staticmethod
    def forward(ctx, x, pad, value):
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(f"pad: expected pairs for at most {x.ndim} axes, got pad={tuple(pad)}")
        if any(amount < 0 for amount in pad):
            raise ValueError(f"pad: amounts must be non-negative, got pad={tuple(pad)}")
        widths = [(0, 0)] * x.ndim
        for pair in range(len(pad) // 2):
            widths[x.ndim - 1 - pair] = (pad[2 * pair], pad[2 * pair + 1])
        ctx.inside = tuple(slice(before, before + size) for (before, _), size in zip(widths, x.shape, strict=True))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad cut back to the unpadded region (padding is a constant)."""
        return grad[ctx.inside], None, None


def _check_same_shape_except(op_name, arrays, skip_axis):
    shapes = [a.shape for a in arrays]
    reference = tuple(n for axis, n in enumerate(shapes[0]) if axis != skip_axis)
    for shape in shapes:
        if len(shape) != len(shapes[0]) or tuple(n for axis, n in enumerate(shape) if axis != skip_axis) != reference:
            raise ValueError(f"{op_name}: tensors must have the same shape except along dim, got {shapes}")


class Cat(Function):
    """Join tensors along an existing axis: ``Cat.apply(dim, *tensors)``."""

    @staticmethod
    def forward(ctx, dim, *arrays):
        if not arrays:
            raise ValueError("cat: expected a non-empty sequence of tensors")
        if any(a.ndim == 0 for a in arrays):
            raise ValueError("cat: 0-d tensors cannot be concatenated (they have no axis); use stack")
        axis = dim % arrays[0].ndim
        _check_same_shape_except("cat", arrays, axis)
        ctx.axis, ctx.splits = axis, np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx_i = the slice of grad that x_i filled."""
        return (None, *np.split(grad, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """Join tensors along a new axis: ``Stack.apply(dim, *tensors)``."""

    @staticmethod
    def forward(ctx, dim, *arrays):
        if not arrays:
            raise ValueError("stack: expected a non-empty sequence of tensors")
        _check_same_shape_except("stack", arrays, skip_axis=None)
        ctx.axis = dim % (arrays[0].ndim + 1)
        return np.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx_i = grad indexed at position i along the new axis."""
        return (None, *np.moveaxis(grad, ctx.axis, 0))
