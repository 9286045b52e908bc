"""Batch norm and layer norm as Functions; the loops live in ``minidl/kernels/norm.py``.

Both normalise x to x_hat = (x - mean) / sqrt(var + eps), then scale and shift it: y = weight * x_hat + bias.
They differ in what they average over: batch norm over the batch (and the pixels) of each channel,
layer norm over the trailing ``normalized_shape`` of each example. Derivations of the backward passes:
docs/backward/batchnorm.md and docs/backward/layernorm.md.
"""

import math

import numpy as np

from minidl.autograd import Function
from minidl.kernels import norm as kernels
from minidl.ops.util import require_float


def _require_kernel_dtype(op_name, x):
    require_float(op_name, x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op_name} supports float32 and float64 input, got dtype {x.dtype}; convert it with .float()")


def _as_float64(array, size, default):
    """A per-channel (or per-feature) parameter as float64 for the kernels; ``default`` when absent."""
    return np.full(size, default) if array is None else array.astype(np.float64).reshape(size)


def _check_batch_norm_args(x, running_mean, running_var, weight, bias, training, momentum):
    _require_kernel_dtype("batch_norm", x)
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm: expected input of shape (N, C) or (N, C, ...) with a channel axis, got shape {x.shape}"
        )
    channels = x.shape[1]
    per_channel = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    for name, array in per_channel.items():
        if array is not None and array.shape != (channels,):
            raise ValueError(
                f"batch_norm: {name} should have shape ({channels},), one value per channel of the input "
                f"(shape {x.shape}), but it has shape {array.shape}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must either both be None or neither be None")
    if not training and running_mean is None:
        raise RuntimeError(
            "batch_norm: running_mean and running_var must be given in evaluation mode (training=False), "
            "which normalises with them; pass training=True to normalise with the batch statistics"
        )
    if training and running_mean is not None and momentum is None:
        raise TypeError(
            "batch_norm: momentum must be a number (as in PyTorch); nn.BatchNorm with momentum=None "
            "computes the cumulative-average factor 1 / num_batches_tracked and passes that"
        )
    values_per_channel = x.shape[0] * math.prod(x.shape[2:])
    if training and values_per_channel == 0:
        raise ValueError(f"batch_norm: cannot take batch statistics of an empty input, got shape {x.shape}")
    if training and values_per_channel == 1:
        raise ValueError(
            f"batch_norm: Expected more than 1 value per channel when training, got input size {x.shape} "
            "(the variance of a single value is 0, so every output would be bias)"
        )


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        """Normalise each channel (axis 1) over the batch and any further axes; see ``F.batch_norm``.

        Training: with the batch mean and biased variance, and running_mean/running_var (when given)
        updated in place: running = (1 - momentum) * running + momentum * batch_stat, the unbiased
        variance m / (m - 1) * var going into running_var. Evaluation: with the running statistics.
        """
        _check_batch_norm_args(x, running_mean, running_var, weight, bias, training, momentum)
        channels = x.shape[1]
        x = np.ascontiguousarray(x)
        if training:
            mean, var = np.empty(channels), np.empty(channels)
        else:
            mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
        gamma = _as_float64(weight, channels, 1.0)
        y, inv_std = kernels.batch_norm_forward(
            x, gamma, _as_float64(bias, channels, 0.0), mean, var, float(eps), training
        )
        if training and running_mean is not None:
            count = x.size // channels
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * var * count / (count - 1)
        ctx.save_for_backward(x, gamma, mean, inv_std)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, grad):
        """With x_hat = (x - mean) * inv_std and m = values per channel, sums over a channel's values:
        dL/dbias = sum(dy), dL/dweight = sum(dy * x_hat), and
        dL/dx = weight * inv_std / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat)) in training, where the
        mean and variance depend on x; dL/dx = weight * inv_std * dy in evaluation, where they are constants.
        All of shape (C,) except dL/dx (the input's shape). Derivation: docs/backward/batchnorm.md.
        """
        x, gamma, mean, inv_std = ctx.saved_tensors
        grad = np.ascontiguousarray(grad)
        grad_input, grad_weight, grad_bias = kernels.batch_norm_backward(grad, x, gamma, mean, inv_std, ctx.training)
        needs = ctx.needs_input_grad
        return (
            grad_input if needs[0] else None,
            None,
            None,
            grad_weight if needs[3] else None,
            grad_bias if needs[4] else None,
            None,
            None,
            None,
        )


def _check_layer_norm_args(x, normalized_shape, weight, bias):
    _require_kernel_dtype("layer_norm", x)
    trailing = x.shape[x.ndim - len(normalized_shape) :] if len(normalized_shape) <= x.ndim else None
    if len(normalized_shape) == 0 or trailing != normalized_shape:
        raise ValueError(
            f"layer_norm: normalized_shape={normalized_shape} expects input of shape (*, "
            f"{', '.join(map(str, normalized_shape))}) (those last dimensions normalised together), "
            f"but got input of shape {x.shape}"
        )
    for name, array in (("weight", weight), ("bias", bias)):
        if array is not None and array.shape != normalized_shape:
            raise ValueError(
                f"layer_norm: {name} should have normalized_shape {normalized_shape}, but it has shape {array.shape}"
            )


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        """Normalise each example over its trailing ``normalized_shape`` axes; see ``F.layer_norm``."""
        normalized_shape = tuple(normalized_shape)
        _check_layer_norm_args(x, normalized_shape, weight, bias)
        size = math.prod(normalized_shape)
        x = np.ascontiguousarray(x)
        gamma = _as_float64(weight, size, 1.0)
        y, mean, inv_std = kernels.layer_norm_forward(x, gamma, _as_float64(bias, size, 0.0), float(eps))
        ctx.save_for_backward(x, gamma, mean, inv_std)
        ctx.normalized_shape = normalized_shape
        return y

    @staticmethod
    def backward(ctx, grad):
        """Per example, with g = dy * weight, x_hat = (x - mean) * inv_std and D normalised values:
        dL/dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat));
        dL/dweight = sum over examples of dy * x_hat, dL/dbias = sum over examples of dy (normalized_shape).
        Derivation: docs/backward/layernorm.md.
        """
        x, gamma, mean, inv_std = ctx.saved_tensors
        grad = np.ascontiguousarray(grad)
        grad_input, grad_weight, grad_bias = kernels.layer_norm_backward(grad, x, gamma, mean, inv_std)
        needs = ctx.needs_input_grad
        return (
            grad_input if needs[0] else None,
            None,
            grad_weight.reshape(ctx.normalized_shape) if needs[2] else None,
            grad_bias.reshape(ctx.normalized_shape) if needs[3] else None,
            None,
        )
