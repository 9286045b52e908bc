"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init
from minidl.nn.containers import ModuleList, Sequential
from minidl.nn.layers import Dropout, Flatten, Identity, Linear, ReLU, Sigmoid, Tanh
from minidl.nn.module import Module, Parameter

__all__ = [
    "Dropout",
    "Flatten",
    "Identity",
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
