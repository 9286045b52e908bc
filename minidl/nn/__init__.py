"""``minidl.nn``: modules (layers and networks) with PyTorch's names."""

from minidl.nn import functional, init
from minidl.nn.module import Module, Parameter
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = ["Module", "Parameter", "functional", "init"]
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]
