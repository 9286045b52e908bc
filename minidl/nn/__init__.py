"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init
from minidl.nn.module import Module, Parameter

__all__ = ["Module", "Parameter", "functional", "init"]
