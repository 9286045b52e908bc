"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init
from minidl.nn.conv import Conv2d
from minidl.nn.module import Module, Parameter
from minidl.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Module",
    "Parameter",
    "functional",
    "init",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
]
