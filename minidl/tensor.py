"""The Tensor: a NumPy array, its gradient, and the Function context that made it.

Every differentiable method here is one line that calls a Function in ``minidl.ops``; the maths and
the backward passes live there, one family of ops per file.
"""

from collections import namedtuple

import numpy as np

from minidl.random import default_generator

float32, float64, int64, bool_ = np.float32, np.float64, np.int64, np.bool_
DEFAULT_DTYPE = np.dtype(np.float32)

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _as_array(data, dtype=None):
    """NumPy arrays keep their dtype; Python numbers and lists of floats become float32 (PyTorch's default)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype == np.float64 and not isinstance(data, np.generic):
        array = array.astype(DEFAULT_DTYPE)
    return array


def _shape_arg(shape):
    """Accept both ``f(2, 3)`` and ``f((2, 3))``, as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``Tensor(data, requires_grad=False)``: a NumPy array keeps its dtype; Python numbers and lists
    follow PyTorch (floats become float32, integers int64). ``.data`` is the array, ``.grad`` the
    accumulated gradient (an array of the same shape and dtype) or None, ``.grad_fn`` the context of
    the Function that produced it (None for a leaf).
    """

    __array_priority__ = 1000  # NumPy defers to Tensor's reflected operators: array + tensor -> Tensor
    __hash__ = object.__hash__  # tensors are hashed by identity, as in PyTorch

    def __init__(self, data, requires_grad=False):
        self.data = _as_array(data)
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, but this tensor has dtype "
                f"{self.data.dtype}; convert it first, e.g. Tensor(data.astype(np.float32), requires_grad=True)"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    # -- what the tensor is ------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def dim(self):
        return self.data.ndim

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def numpy(self):
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """A new leaf tensor sharing this data, cut off from the graph."""
        return Tensor(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.dtype not in (DEFAULT_DTYPE, np.dtype(np.int64), np.dtype(np.bool_)):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.function.__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.data)

    # -- autograd ----------------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf that requires grad."""
        from minidl.autograd import backward

        backward(self, gradient, retain_graph)

    def _accumulate_grad(self, grad):
        # a copy (or a sum), never the caller's array: a later in-place change to .grad must not reach it
        if self.grad is None:
            self.grad = grad.copy()
        else:
            self._add_to_grad(grad)

    def _add_to_grad(self, grad):
        """.grad += grad, in place as PyTorch does (no new array of the parameter's size on every backward),
        unless .grad was set to something that cannot take it (read-only, or another shape or dtype)."""
        current = self.grad
        takes_it = isinstance(current, np.ndarray) and current.flags.writeable
        if takes_it and current.shape == grad.shape and current.dtype == grad.dtype:
            np.add(current, grad, out=current)
        else:
            self.grad = current + grad

    # -- arithmetic (gradients in minidl/ops/elementwise.py) ----------------------------------------
    def __add__(self, other):
        return ops.Add.apply(self, other)

    def __radd__(self, other):
        return ops.Add.apply(other, self)

    def __sub__(self, other):
        return ops.Sub.apply(self, other)

    def __rsub__(self, other):
        return ops.Sub.apply(other, self)

    def __mul__(self, other):
        return ops.Mul.apply(self, other)

    def __rmul__(self, other):
        return ops.Mul.apply(other, self)

    def __truediv__(self, other):
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other):
        return ops.Div.apply(other, self)

    def __pow__(self, exponent):
        return ops.Pow.apply(self, exponent)

    def __rpow__(self, base):
        return ops.Pow.apply(base, self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other):
        return ops.MatMul.apply(other, self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def pow(self, exponent):
        return ops.Pow.apply(self, exponent)

    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def clamp(self, min=None, max=None):
        return ops.Clamp.apply(self, min, max)

    def to(self, dtype):
        """This tensor in another dtype; the gradient is cast back on the way down."""
        return ops.Cast.apply(self, np.dtype(dtype))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # -- comparisons: results are boolean tensors with no gradient ---------------------------------
    def _compare(self, other, compare):
        return Tensor(compare(self.data, other.data if isinstance(other, Tensor) else other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    # -- reductions (minidl/ops/reduction.py) ------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return ops.Sum.apply(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.Mean.apply(self, dim, keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False):
        return ops.Var.apply(self, dim, unbiased, keepdim)

    def std(self, dim=None, unbiased=True, keepdim=False):
        return self.var(dim, unbiased, keepdim).sqrt()

    def max(self, dim=None, keepdim=False):
        """The largest element; with ``dim``, a ``(values, indices)`` pair as in PyTorch."""
        return self._extremum(ops.Max, np.argmax, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest element; with ``dim``, a ``(values, indices)`` pair as in PyTorch."""
        return self._extremum(ops.Min, np.argmin, dim, keepdim)

    def _extremum(self, function, arg_function, dim, keepdim):
        values = function.apply(self, dim, keepdim)
        if dim is None:
            return values
        return ValuesIndices(values, Tensor(arg_function(self.data, axis=dim, keepdims=keepdim)))

    def argmax(self, dim=None, keepdim=False):
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        return Tensor(np.argmin(self.data, axis=dim, keepdims=keepdim))

    def softmax(self, dim):
        return ops.Softmax.apply(self, dim)

    def log_softmax(self, dim):
        return ops.LogSoftmax.apply(self, dim)

    # -- shape (minidl/ops/shape.py) -----------------------------------------------------------------
    def reshape(self, *shape):
        return ops.Reshape.apply(self, _shape_arg(shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self.shape[:start] + (-1,) + self.shape[end + 1 :]
        return self.reshape(shape)

    def unsqueeze(self, dim):
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = dim % max(self.ndim, 1)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1 :])

    def permute(self, *dims):
        return ops.Permute.apply(self, _shape_arg(dims))

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return ops.Permute.apply(self, tuple(dims))

    @property
    def T(self):
        return ops.Permute.apply(self, tuple(reversed(range(self.ndim))))

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index)


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf tensor holding a copy of ``data`` (as ``torch.tensor``)."""
    array = np.array(_as_array(data, dtype), copy=True)
    return Tensor(array, requires_grad=requires_grad)


def _factory(make):
    def factory(*shape, dtype=None, requires_grad=False):
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        return Tensor(make(_shape_arg(shape), dtype), requires_grad=requires_grad)

    return factory


zeros = _factory(lambda shape, dtype: np.zeros(shape, dtype))
ones = _factory(lambda shape, dtype: np.ones(shape, dtype))
randn = _factory(lambda shape, dtype: default_generator().standard_normal(shape).astype(dtype))
rand = _factory(lambda shape, dtype: default_generator().random(shape).astype(dtype))
zeros.__doc__ = "A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 unless ``dtype`` says."
ones.__doc__ = "A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``; float32 unless ``dtype`` says."
randn.__doc__ = "Standard normal samples from minidl's generator (see ``manual_seed``)."
rand.__doc__ = "Uniform samples in [0, 1) from minidl's generator (see ``manual_seed``)."


def zeros_like(other, dtype=None, requires_grad=False):
    return zeros(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad)


def ones_like(other, dtype=None, requires_grad=False):
    return ones(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad)


from minidl import ops  # noqa: E402  (ops import Tensor from this module, so it comes last)
