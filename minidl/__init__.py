"""minidl: a from-scratch deep-learning framework in NumPy and Numba, built for teaching."""

__version__ = "0.1.0"

# isort: off
# tensor first: it imports the ops, which import autograd, which needs Tensor defined
from minidl.tensor import Tensor, tensor, zeros, ones, randn, rand, zeros_like, ones_like
from minidl.tensor import bool_, float32, float64, int64
from minidl.autograd import Function, enable_grad, is_grad_enabled, no_grad
from minidl.random import manual_seed
from minidl.gradcheck import GradcheckError, gradcheck
from minidl.ops import Cat as _Cat, Stack as _Stack
from minidl.serialization import load, save

# the subpackages, so that ``import minidl`` gives minidl.nn, minidl.optim, ... as ``import torch`` does
from minidl import data, models, nn, optim
# isort: on


def cat(tensors, dim=0):
    """Join tensors along an existing axis (as ``torch.cat``)."""
    return _Cat.apply(dim, *tensors)


def stack(tensors, dim=0):
    """Join tensors along a new axis (as ``torch.stack``)."""
    return _Stack.apply(dim, *tensors)


__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "bool_",
    "cat",
    "enable_grad",
    "float32",
    "float64",
    "gradcheck",
    "int64",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "data",
    "models",
    "nn",
    "optim",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "save",
    "randn",
    "stack",
    "tensor",
    "zeros",
    "zeros_like",
]
