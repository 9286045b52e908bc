"""``minidl.nn.functional`` (import it as ``F``): the ops as functions, with PyTorch's signatures.

Each function is a thin call into a Function in ``minidl.ops``, where its backward lives.
"""

from minidl import ops
from minidl.ops import norm as norm_ops


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; weight has shape (out_features, in_features)."""
    return ops.Linear.apply(input, weight, bias)


def relu(input):
    return ops.ReLU.apply(input)


def tanh(input):
    return ops.Tanh.apply(input)


def sigmoid(input):
    return ops.Sigmoid.apply(input)


def softmax(input, dim):
    return ops.Softmax.apply(input, dim)


def log_softmax(input, dim):
    return ops.LogSoftmax.apply(input, dim)


def cross_entropy(input, target, reduction="mean"):
    """Cross-entropy between logits ``input`` (N, C, ...) and integer class indices ``target`` (N, ...)."""
    return ops.CrossEntropy.apply(input, target, reduction)


def mse_loss(input, target, reduction="mean"):
    return ops.MSELoss.apply(input, target, reduction)


def dropout(input, p=0.5, training=True):
    """Zero elements with probability ``p`` and scale the others by 1/(1-p); identity when not training."""
    return ops.Dropout.apply(input, p, training)


def pad(input, pad, mode="constant", value=0.0):
    """Pad with a constant; ``pad`` is (left, right) for the last axis, then (top, bottom) for the one before, ..."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    return ops.Pad.apply(input, tuple(pad), value)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1 of (N, C) or (N, C, ...)) to mean 0 and variance 1, then ``* weight + bias``.

    ``training=True``: with the batch's mean and biased variance over every axis but the channel axis; the
    buffers ``running_mean`` and ``running_var`` (tensors, or both None) are updated in place as
    ``(1 - momentum) * running + momentum * batch_stat``, with the unbiased variance for ``running_var``.
    ``training=False``: with ``running_mean`` and ``running_var``, so an example's output does not depend
    on the rest of its batch.
    """
    return norm_ops.BatchNorm.apply(input, running_mean, running_var, weight, bias, training, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each example over its last ``len(normalized_shape)`` axes, then ``* weight + bias``."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return norm_ops.LayerNorm.apply(input, tuple(normalized_shape), weight, bias, eps)
