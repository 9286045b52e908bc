"""``minidl.nn.functional`` (import it as ``F``): the ops as functions, with PyTorch's signatures.

Each function is a thin call into a Function in ``minidl.ops``, where its backward lives.
"""

from minidl import ops
from minidl.ops import conv as conv_ops
from minidl.ops import norm as norm_ops
from minidl.ops import pool as pool_ops


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


def _only_default(op_name, **arguments):
    """Refuse PyTorch arguments minidl does not implement, unless they have their default value."""
    defaults = {"dilation": 1, "groups": 1, "ceil_mode": False, "return_indices": False}
    for name, value in arguments.items():
        if value != defaults[name] and value != (defaults[name],) * 2:
            raise NotImplementedError(
                f"{op_name}: {name}={value!r} is not implemented in minidl (only {defaults[name]!r})"
            )


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None;
    stride and padding are ints or (height, width) pairs. Output (N, C_out, OH, OW)."""
    _only_default("conv2d", dilation=dilation, groups=groups)
    return conv_ops.Conv2d.apply(input, weight, bias, stride, padding)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over each window of every (N, C) plane; stride defaults to kernel_size."""
    _only_default("max_pool2d", dilation=dilation, ceil_mode=ceil_mode, return_indices=return_indices)
    return pool_ops.MaxPool2d.apply(input, kernel_size, stride, padding)


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """Mean over each window; padding zeros count unless count_include_pad=False. stride defaults to kernel_size."""
    _only_default("avg_pool2d", ceil_mode=ceil_mode)
    return pool_ops.AvgPool2d.apply(input, kernel_size, stride, padding, count_include_pad, divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Mean pooling to ``output_size`` (int, pair, or pair with None to keep that input size)."""
    return pool_ops.AdaptiveAvgPool2d.apply(input, output_size)
