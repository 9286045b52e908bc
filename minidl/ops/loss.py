"""Softmax, log-softmax and the losses: cross-entropy (integer class targets) and mean squared error.

Derivation: docs/backward/softmax-cross-entropy.md. All are computed from ``x - max(x)`` so that
``exp`` never overflows; this changes nothing mathematically (softmax is shift-invariant).
"""

import numpy as np

from minidl.autograd import Function
from minidl.ops.util import normalize_dims, require_float

REDUCTIONS = ("mean", "sum", "none")


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _single_dim(op_name, dim, ndim):
    if dim is None or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"{op_name}: dim must be an int (the axis of the classes), got {dim!r}")
    return normalize_dims(op_name, dim, ndim)[0] if ndim else 0


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        require_float("softmax", x)
        ctx.axis = _single_dim("softmax", dim, x.ndim)
        output = np.exp(_log_softmax(x, ctx.axis))
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = s * (grad - sum(grad * s, dim)), where s = softmax(x) (the Jacobian is diag(s) - s s^T)."""
        (output,) = ctx.saved_tensors
        return output * (grad - np.sum(grad * output, axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        require_float("log_softmax", x)
        ctx.axis = _single_dim("log_softmax", dim, x.ndim)
        output = _log_softmax(x, ctx.axis)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad - softmax(x) * sum(grad, dim)."""
        (output,) = ctx.saved_tensors
        return grad - np.exp(output) * np.sum(grad, axis=ctx.axis, keepdims=True), None


def _check_reduction(op_name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op_name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_targets(x, target):
    """Check integer targets against logits x of shape (N, C, ...) or (C,); return them as int64."""
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            f"cross_entropy: target must hold integer class indices, got dtype {target.dtype} "
            "(for one-hot or probability targets, pass the class index instead)"
        )
    expected = x.shape[:1] + x.shape[2:] if x.ndim >= 2 else ()
    if target.shape != expected:
        raise ValueError(
            f"cross_entropy: input of shape {x.shape} (batch, classes, ...) needs a target of shape "
            f"{expected}, got {target.shape}"
        )
    classes = x.shape[1] if x.ndim >= 2 else x.shape[0]
    if target.size and (target.min() < 0 or target.max() >= classes):
        raise ValueError(
            f"cross_entropy: target values must be class indices in [0, {classes - 1}], "
            f"got values from {target.min()} to {target.max()}"
        )
    return target.astype(np.int64)


class CrossEntropy(Function):
    """-log softmax(x)[target], per example; x holds logits of shape (N, C, ...) or (C,)."""

    @staticmethod
    def forward(ctx, x, target, reduction):
        require_float("cross_entropy", x)
        _check_reduction("cross_entropy", reduction)
        if x.ndim == 0:
            raise ValueError("cross_entropy: input must have a class dimension, got a 0-d tensor")
        target = _class_targets(x, target)
        class_axis = 1 if x.ndim >= 2 else 0
        log_probs = _log_softmax(x, class_axis)
        picked = np.take_along_axis(log_probs, np.expand_dims(target, class_axis), class_axis)
        losses = -np.squeeze(picked, class_axis)
        ctx.save_for_backward(log_probs, target)
        ctx.class_axis, ctx.reduction = class_axis, reduction
        if reduction == "none":
            return losses
        return losses.sum() if reduction == "sum" else losses.mean()

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = (softmax(x) - onehot(target)) * grad, divided by the number of examples for 'mean'."""
        log_probs, target = ctx.saved_tensors
        grad_x = np.exp(log_probs)
        one_hot = np.zeros_like(grad_x)
        np.put_along_axis(one_hot, np.expand_dims(target, ctx.class_axis), 1, ctx.class_axis)
        grad_x -= one_hot
        if ctx.reduction == "none":
            grad_x *= np.expand_dims(grad, ctx.class_axis)
        else:
            grad_x *= grad / (target.size if ctx.reduction == "mean" else 1)
        return grad_x, None, None


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, target, reduction):
        _check_reduction("mse_loss", reduction)
        if np.shape(x) != np.shape(target):
            raise ValueError(
                f"mse_loss: input shape {np.shape(x)} and target shape {np.shape(target)} differ; they must "
                "match (broadcasting them is a common silent bug, e.g. (N, 1) against (N,))"
            )
        difference = x - target
        ctx.save_for_backward(difference)
        ctx.reduction = reduction
        squared = difference * difference
        if reduction == "none":
            return squared
        return squared.sum() if reduction == "sum" else squared.mean()

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = 2 (x - target) * grad (divided by the element count for 'mean'); dL/dtarget = -dL/dx."""
        (difference,) = ctx.saved_tensors
        scale = 2 / difference.size if ctx.reduction == "mean" else 2
        grad_x = difference * (grad * scale)
        return grad_x, -grad_x, None
