"""Reductions over ``dim`` (None for all, an int, or a tuple), with ``keepdim`` as in PyTorch.

Every backward starts the same way: put the reduced axes back as size 1 (``expand_reduced``) so the
upstream gradient broadcasts over the elements that were reduced. Derivations: docs/backward/reductions.md.
"""

import math

import numpy as np

from minidl.autograd import Function
from minidl.ops.util import expand_reduced, normalize_dims


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.dims = normalize_dims("sum", dim, x.ndim)
        ctx.keepdim, ctx.shape = keepdim, x.shape
        return np.sum(x, axis=ctx.dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[i] = grad (every element contributes once to the sum)."""
        grad = expand_reduced(grad, ctx.shape, ctx.dims, ctx.keepdim)
        return np.broadcast_to(grad, ctx.shape).copy(), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.dims = normalize_dims("mean", dim, x.ndim)
        ctx.keepdim, ctx.shape = keepdim, x.shape
        ctx.count = math.prod([x.shape[axis] for axis in ctx.dims])
        return np.mean(x, axis=ctx.dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[i] = grad / m, where m is the number of elements averaged."""
        grad = expand_reduced(grad, ctx.shape, ctx.dims, ctx.keepdim)
        return np.broadcast_to(grad / ctx.count, ctx.shape).copy(), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, x, dim, unbiased, keepdim):
        ctx.dims = normalize_dims("var", dim, x.ndim)
        ctx.keepdim = keepdim
        count = math.prod([x.shape[axis] for axis in ctx.dims])
        ctx.divisor = count - 1 if unbiased else count
        centered = x - np.mean(x, axis=ctx.dims, keepdims=True)
        ctx.save_for_backward(centered)
        with np.errstate(divide="ignore", invalid="ignore"):  # one element, unbiased: nan, as PyTorch
            return np.sum(centered * centered, axis=ctx.dims, keepdims=keepdim) / ctx.divisor

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[i] = grad * 2 (x[i] - mean) / d, with d = m - 1 (unbiased) or m.

        The mean's own dependence on x drops out, because the centred values sum to zero.
        """
        (centered,) = ctx.saved_tensors
        grad = expand_reduced(grad, centered.shape, ctx.dims, ctx.keepdim)
        return grad * 2 * centered / ctx.divisor, None, None, None


class _Extremum(Function):
    """Max or min. With ``dim`` the gradient goes to the first extreme element of each slice (as
    ``torch.max(x, dim)``); over the whole tensor it is shared evenly among ties (as ``torch.max(x)``)."""

    name = reduce = arg_reduce = None

    @classmethod
    def forward(cls, ctx, x, dim, keepdim):
        if x.size == 0:
            raise ValueError(f"{cls.name}: cannot reduce an empty tensor of shape {x.shape}")
        ctx.dims = normalize_dims(cls.name, dim, x.ndim)
        ctx.keepdim = keepdim
        if dim is None:
            output = cls.reduce(x, axis=None, keepdims=keepdim)
            chosen = x == cls.reduce(x)
            ctx.weights = chosen / np.count_nonzero(chosen)
        else:
            if len(ctx.dims) != 1:
                raise ValueError(f"{cls.name}: dim must be a single int, got {dim!r}")
            axis = ctx.dims[0]
            index = np.expand_dims(cls.arg_reduce(x, axis=axis), axis)
            output = np.take_along_axis(x, index, axis)
            output = output if keepdim else np.squeeze(output, axis)
            ctx.weights = np.zeros(x.shape, dtype=x.dtype)
            np.put_along_axis(ctx.weights, index, 1, axis)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[i] = grad where x[i] was chosen as the extreme (split evenly among ties), else 0."""
        grad = expand_reduced(grad, ctx.weights.shape, ctx.dims, ctx.keepdim)
        return grad * ctx.weights, None, None


class Max(_Extremum):
    name, reduce, arg_reduce = "max", staticmethod(np.max), staticmethod(np.argmax)


class Min(_Extremum):
    name, reduce, arg_reduce = "min", staticmethod(np.min), staticmethod(np.argmin)
