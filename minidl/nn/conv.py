"""``Conv2d``: a 2-D convolution layer with PyTorch's arguments, initialisation and parameter names."""

import numpy as np

from minidl.nn import functional as F
from minidl.nn import init
from minidl.nn.module import Module, Parameter
from minidl.ops.conv import as_pair


class Conv2d(Module):
    """Convolution of (N, in_channels, H, W) input with ``out_channels`` learned filters of size
    kernel_size; parameters ``weight`` (out_channels, in_channels, kH, kW) and ``bias`` (out_channels,).

    Initialised as PyTorch: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in = in_channels * kH * kW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = as_pair("Conv2d", "stride", stride, 1)
        self.padding = as_pair("Conv2d", "padding", padding, 0)
        self.weight = Parameter(np.zeros((out_channels, in_channels, *self.kernel_size), np.float32))
        if bias:
            self.bias = Parameter(np.zeros(out_channels, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):
        shape = tuple(input.shape)
        name = f"Conv2d(in_channels={self.in_channels})"
        if len(shape) != 4:
            raise ValueError(f"{name} expects a 4-D input (N, C, H, W), got shape {shape}")
        if shape[1] != self.in_channels:
            raise ValueError(f"{name} got input with {shape[1]} channel{'s' * (shape[1] != 1)}, shape {shape}")
        if input.dtype.kind != "f":
            raise TypeError(f"{name} expects a floating-point input, got dtype {input.dtype}; convert it with .float()")
        if input.dtype != self.weight.dtype:
            raise TypeError(
                f"{name} got input of dtype {input.dtype}, but its weight is {self.weight.dtype}; "
                "convert the input, or the layer with .double() / .float()"
            )
        padded = (shape[2] + 2 * self.padding[0], shape[3] + 2 * self.padding[1])
        if self.kernel_size[0] > padded[0] or self.kernel_size[1] > padded[1]:
            raise ValueError(
                f"{name}: kernel_size={self.kernel_size} is larger than the padded input {padded} "
                f"(input shape {shape}, padding={self.padding})"
            )
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
