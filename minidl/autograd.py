"""The autograd engine: Function, its context, and backward in reverse topological order.

A ``Function`` has a static ``forward(ctx, *args)`` and ``backward(ctx, grad_output)``, as in
``torch.autograd.Function``. Inside both, everything is plain NumPy: ``apply`` unwraps the tensor
arguments into arrays, calls ``forward``, and wraps the result in a Tensor that remembers ``ctx``.
``backward`` (the engine, at the bottom of this file) walks those contexts from the output back to
the leaves and accumulates ``.grad`` there. See docs/autograd.md for a walk-through.
"""

import contextlib
import threading

import numpy as np

from minidl.tensor import Tensor

_grad_mode = threading.local()


def is_grad_enabled():
    """True unless we are inside ``no_grad()``."""
    return getattr(_grad_mode, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.previous = is_grad_enabled()
        _grad_mode.enabled = self.enabled

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self.previous
        return False


def no_grad():
    """Context manager (or decorator) in which no graph is recorded, as ``torch.no_grad``."""
    return _GradMode(False)


def enable_grad():
    """Context manager (or decorator) that turns graph recording back on inside ``no_grad``."""
    return _GradMode(True)


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and any attributes it sets.

    Also a node of the graph: ``inputs`` holds the forward arguments (tensors or not) so the engine
    can find the tensors the gradients flow to.
    """

    def __init__(self, function, inputs):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in inputs)
        self._saved = ()
        self._freed = False

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        return self._saved

    def free(self):
        """Drop saved arrays and attributes forward set, so their memory goes back after backward."""
        keep = {"function", "inputs", "needs_input_grad"}
        for name in [name for name in vars(self) if name not in keep]:
            delattr(self, name)
        self._saved = ()
        self._freed = True


def _unwrap(argument):
    """A tensor argument becomes its array. A NumPy scalar (``np.sqrt(2.0)`` is one) becomes a Python number,
    so that, as in PyTorch, ``float32_tensor * np.float64(2)`` stays float32 (NumPy would promote it)."""
    if isinstance(argument, Tensor):
        return argument.data
    return argument.item() if isinstance(argument, np.generic) else argument


class Function:
    """Base class of every differentiable op; subclass it with static ``forward`` and ``backward``.

    ``forward(ctx, *args)`` receives NumPy arrays in place of tensors (other arguments as given) and
    returns one array. ``backward(ctx, grad_output)`` receives dL/d(output) as an array and returns
    dL/d(argument) for each forward argument, in order: an array of that argument's shape, or None
    (for non-tensor arguments, or where ``ctx.needs_input_grad`` says it is not needed).
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = Context(cls, args)
        arrays = [_unwrap(a) for a in args]
        output = cls.forward(ctx, *arrays, **kwargs)
        if not isinstance(output, np.ndarray):
            output = np.asarray(output)
        requires_grad = is_grad_enabled() and any(ctx.needs_input_grad)
        result = Tensor(output, requires_grad=requires_grad and output.dtype.kind == "f")
        if result.requires_grad:
            result.grad_fn = ctx
        return result


def _topological_order(root):
    """Contexts reachable from ``root``, each after every context that uses its output.

    Iterative depth-first search (a recursive one would hit Python's recursion limit on a long
    chain). Returns the post-order reversed: the output's context first, the leaves' last.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        # A node reached by two paths can be on the stack twice; only its first expansion counts. (Marking
        # nodes visited when pushed instead lets a node finish before an input of it that is still waiting
        # on the stack, and that input would then be processed before all its gradient had arrived.)
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for arg in node.inputs:
            parent = arg.grad_fn if isinstance(arg, Tensor) else None
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    return order[::-1]


def _as_gradient_tuple(ctx, grads):
    name = ctx.function.__name__
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(ctx.inputs):
        raise RuntimeError(
            f"{name}.backward returned {len(grads)} gradient(s), but forward took {len(ctx.inputs)} "
            "argument(s); return one gradient (or None) per forward argument"
        )
    return grads


def _check_gradient(ctx, position, grad, tensor):
    name = ctx.function.__name__
    grad = np.asarray(grad)
    if grad.shape != tensor.shape:
        raise RuntimeError(
            f"{name}.backward returned a gradient of shape {grad.shape} for argument {position}, "
            f"which has shape {tensor.shape}; a gradient must have its input's shape "
            "(sum over broadcast axes with sum_to_shape)"
        )
    return grad.astype(tensor.dtype, copy=False)


def _give_to_leaf(leaf, grad, given_to_leaves):
    """Add ``grad`` into ``leaf.grad``.

    An array a backward has just made (it owns its memory and no other leaf has it) becomes the
    leaf's ``.grad`` as it is: copying it would cost as much as a cheap op's whole backward. A view,
    or an array already given to another leaf, is copied, so no two ``.grad`` arrays share memory.
    """
    if leaf.grad is not None:
        leaf._add_to_grad(grad)
        return
    if not grad.flags.owndata or id(grad) in given_to_leaves:
        grad = grad.copy()
    given_to_leaves.add(id(grad))
    leaf.grad = grad


def backward(tensor, gradient=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf), weighted by ``gradient``, into ``.grad`` of every leaf."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: no input of the computation "
            "had requires_grad=True (or it ran inside no_grad())"
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element (scalar) output, but the output has "
                f"shape {tensor.shape}; reduce it first (e.g. .sum()) or pass backward(gradient=...)"
            )
        gradient = np.ones_like(tensor.data)
    else:
        gradient = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if gradient.shape != tensor.shape:
            raise RuntimeError(
                f"backward(gradient=...) got a gradient of shape {gradient.shape} for an output of shape "
                f"{tensor.shape}; they must match"
            )
        gradient = gradient.astype(tensor.dtype, copy=False)

    if tensor.grad_fn is None:
        tensor._accumulate_grad(gradient)
        return

    grads = {id(tensor.grad_fn): gradient}
    # the caller's gradient array counts as given away: an op whose backward passes it on unchanged must not
    # make it a leaf's .grad, which later backward calls add into in place
    given_to_leaves = {id(gradient)}
    for ctx in _topological_order(tensor.grad_fn):
        grad_output = grads.pop(id(ctx), None)
        if grad_output is None:
            continue
        if ctx._freed:
            raise RuntimeError(
                f"{ctx.function.__name__}: trying to backward through the graph a second time. Its saved "
                "arrays were freed after the first backward(); call backward(retain_graph=True) the first "
                "time if you need to backward twice."
            )
        input_grads = _as_gradient_tuple(ctx, ctx.function.backward(ctx, grad_output))
        if not retain_graph:
            ctx.free()
        for position, (arg, grad) in enumerate(zip(ctx.inputs, input_grads, strict=True)):
            if grad is None or not (isinstance(arg, Tensor) and arg.requires_grad):
                continue
            grad = _check_gradient(ctx, position, grad, arg)
            if arg.grad_fn is None:
                _give_to_leaf(arg, grad, given_to_leaves)
            elif id(arg.grad_fn) in grads:
                grads[id(arg.grad_fn)] = grads[id(arg.grad_fn)] + grad
            else:
                grads[id(arg.grad_fn)] = grad
