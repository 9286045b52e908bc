"""Matrix products: ``a @ b`` (1-D, 2-D, batched and broadcast, as ``np.matmul``) and ``linear``.

Derivation: docs/backward/matmul.md. For C = A B, dL/dA = dL/dC B^T and dL/dB = A^T dL/dC; batched
and broadcast products do the same on every matrix of the batch, then sum over broadcast batch axes.
"""

import numpy as np

from minidl.autograd import Function
from minidl.ops.util import sum_to_shape


def _matmul_error(a_shape, b_shape):
    inner_a = a_shape[-1]
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if inner_a != inner_b:
        return (
            f"matmul: shapes {a_shape} and {b_shape} cannot be multiplied: the last dimension of the "
            f"first ({inner_a}) must equal the {'only' if len(b_shape) == 1 else 'second-to-last'} "
            f"dimension of the second ({inner_b})"
        )
    return f"matmul: the batch dimensions of {a_shape} and {b_shape} cannot be broadcast together"


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        try:
            output = np.matmul(a, b)
        except ValueError:
            raise ValueError(_matmul_error(a.shape, b.shape)) from None
        ctx.save_for_backward(a, b)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/da = grad @ b^T, dL/db = a^T @ grad (transposing the last two axes), summed over
        broadcast batch axes. A 1-D operand is treated as a row (a) or column (b) vector.

        Shapes: a (..., n, k), b (..., k, m), grad (..., n, m).
        """
        a, b = ctx.saved_tensors
        a_matrix = a[np.newaxis, :] if a.ndim == 1 else a
        b_matrix = b[:, np.newaxis] if b.ndim == 1 else b
        if b.ndim == 1:
            grad = grad[..., np.newaxis]  # put back the m axis that a 1-D b removed
        if a.ndim == 1:
            grad = grad[..., np.newaxis, :]  # and the n axis that a 1-D a removed
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = sum_to_shape(grad @ np.swapaxes(b_matrix, -1, -2), a_matrix.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = sum_to_shape(np.swapaxes(a_matrix, -1, -2) @ grad, b_matrix.shape).reshape(b.shape)
        return grad_a, grad_b


class Linear(Function):
    """``input @ weight.T + bias``, with weight of shape (out_features, in_features) as PyTorch."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} needs its last dimension to equal in_features = "
                f"weight.shape[1]; weight has shape {weight.shape} (out_features, in_features)"
            )
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        ctx.save_for_backward(x, weight)
        output = x @ weight.T
        return output if bias is None else output + bias

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad @ W; dL/dW = grad^T @ x; dL/db = grad summed over all but the last axis.

        Shapes: x (..., in), W (out, in), grad (..., out); leading axes are flattened for dL/dW.
        """
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = grad.reshape(-1, grad.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        if ctx.needs_input_grad[2]:
            grad_bias = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
        return grad_x, grad_weight, grad_bias
