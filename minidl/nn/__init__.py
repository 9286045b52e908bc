"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init, utils
from minidl.nn.containers import ModuleList, Sequential
from minidl.nn.conv import Conv2d
from minidl.nn.layers import Dropout, Flatten, Identity, Linear, ReLU, Sigmoid, Tanh
from minidl.nn.module import Module, Parameter
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from minidl.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Identity",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
    "utils",
]
