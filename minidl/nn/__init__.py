"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init
from minidl.nn.containers import ModuleList, Sequential
from minidl.nn.layers import Dropout, Flatten, Identity, Linear, ReLU, Sigmoid, Tanh
from minidl.nn.module import Module, Parameter
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Dropout",
    "Flatten",
    "Identity",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
]
