"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm``, as in PyTorch.

Batch norm behaves differently in training and in evaluation (``model.train()`` / ``model.eval()``):
training normalises with the statistics of the current batch and keeps exponential running averages
of them in the buffers ``running_mean`` and ``running_var``; evaluation normalises with those running
averages, so an example's output no longer depends on which batch it arrived in.
"""

import numpy as np

from minidl.nn import functional as F
from minidl.nn.module import Module, Parameter
from minidl.tensor import Tensor


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input dimensions they accept."""

    expected_dims = ()
    expected_description = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=np.float32)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def _check_input(self, input):
        if input.ndim not in self.expected_dims:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects {self.expected_description} input, "
                f"got input of shape {input.shape} ({input.ndim}-D)"
            )
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got input with {input.shape[1]} channels, "
                f"shape {input.shape}; it expects {self.num_features} channels on axis 1"
            )

    def forward(self, input):
        self._check_input(input)
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average: the n-th batch gets weight 1/n
                momentum = 1.0 / float(self.num_batches_tracked.data)
        # without running statistics (track_running_stats=False) there is nothing else to normalise with
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            input, self.running_mean, self.running_var, self.weight, self.bias, use_batch_stats, momentum, self.eps
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) features or (N, C, L) sequences: each of the C channels is normalised
    over the batch (and L). Parameters ``weight`` (ones) and ``bias`` (zeros) of shape (C,) when
    ``affine``; buffers ``running_mean``, ``running_var`` and ``num_batches_tracked`` when
    ``track_running_stats``. ``momentum=None`` keeps a cumulative (equal-weight) average instead."""

    expected_dims = (2, 3)
    expected_description = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over images (N, C, H, W): each channel is normalised over the batch and the pixels.
    Parameters and buffers as ``BatchNorm1d``."""

    expected_dims = (4,)
    expected_description = "4-D (N, C, H, W)"


class LayerNorm(Module):
    """Normalise each example over its trailing ``normalized_shape`` axes (the same in training and
    evaluation). ``elementwise_affine``: parameters ``weight`` (ones) and, if ``bias``, ``bias`` (zeros)
    of shape ``normalized_shape``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
