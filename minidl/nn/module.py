"""``Module`` and ``Parameter``: the building blocks of networks, with PyTorch's names and behaviour.

A module registers what you assign to it: a ``Parameter`` becomes a parameter, a ``Module`` a child,
and ``register_buffer`` adds state that is saved but not trained (batch norm's running statistics).
Registration order is kept, so ``state_dict()`` keys come out in the order PyTorch would give them.
"""

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from minidl.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A tensor that is a learnable parameter of a module; requires_grad is True by default."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _as_buffer(kind, name, value):
    """A buffer holds a Tensor or None; a NumPy array is wrapped for convenience."""
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(f"{kind}: cannot assign a {type(value).__name__} as buffer {name!r} (a Tensor or None is expected)")


class Module:
    """Base class of every layer and network. Subclasses set attributes in ``__init__`` (after calling
    ``super().__init__()``) and define ``forward``; calling the module calls ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        # PyTorch's rules: a Parameter, a Module or a buffer's new value is registered under its name;
        # a name already registered as a parameter or child only accepts its own kind (or None).
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        kind = type(self).__name__
        if isinstance(value, Parameter):
            self._forget(name, self._parameters)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"{kind}: cannot assign a {type(value).__name__} as parameter {name!r} "
                    "(a minidl.nn.Parameter or None is expected)"
                )
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._forget(name, self._modules)
            self._modules[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"{kind}: cannot assign a {type(value).__name__} as child module {name!r} "
                    "(a minidl.nn.Module or None is expected)"
                )
            self._modules[name] = None
        elif name in self._buffers:
            self._buffers[name] = _as_buffer(kind, name, value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Remove ``name`` from the plain attributes and every registry but ``keep``, before registering it
        in ``keep``; a name already in ``keep`` keeps its place, so state_dict order does not change."""
        for registry in (self.__dict__, self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # only called when normal lookup fails, i.e. for registered parameters, buffers and modules
        for registry in ("_parameters", "_buffers", "_modules"):
            values = self.__dict__.get(registry)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name, what):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}: {what} name must be a non-empty string without '.', got {name!r}")

    def register_parameter(self, name, parameter):
        """Register ``parameter`` (a Parameter, or None for an absent optional one such as a bias)."""
        self._check_new_name(name, "parameter")
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(
                f"{type(self).__name__}: cannot register a {type(parameter).__name__} as parameter {name!r} "
                "(a minidl.nn.Parameter or None is expected)"
            )
        self._forget(name, self._parameters)
        self._parameters[name] = parameter

    def register_buffer(self, name, value, persistent=True):
        """Register state that is not trained but belongs in ``state_dict()`` (unless not persistent)."""
        self._check_new_name(name, "buffer")
        buffer = _as_buffer(type(self).__name__, name, value)
        self._forget(name, self._buffers)
        self._buffers[name] = buffer
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``, as attribute assignment does."""
        self._check_new_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {type(module).__name__} is not a Module")
        self._forget(name, self._modules)
        self._modules[name] = module

    register_module = add_module

    # -- calling ------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward() method")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking the tree ---------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """Every module in the tree, this one first, with dotted names; each module once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, recurse, include_none=False):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if (value is None and not include_none) or id(value) in seen:
                    continue
                if value is not None:
                    seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value, module, name

    def named_parameters(self, prefix="", recurse=True):
        for name, value, _, _ in self._named_members("_parameters", recurse):
            yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self, recurse=True):
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix="", recurse=True):
        for name, value, _, _ in self._named_members("_buffers", recurse):
            yield (f"{prefix}.{name}" if prefix else name), value

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -- modes and gradients ------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and every descendant."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for parameter in self.parameters():
            if set_to_none:
                parameter.grad = None
            elif parameter.grad is not None:
                parameter.grad = np.zeros_like(parameter.grad)

    def requires_grad_(self, requires_grad=True):
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, then on this module (as PyTorch)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, dtype):
        """Cast every floating-point parameter and buffer to ``dtype`` in place (e.g. float64 for gradcheck)."""
        for _, value, _, _ in [*self._named_members("_parameters", True), *self._named_members("_buffers", True)]:
            if np.issubdtype(value.dtype, np.floating):
                value.data = value.data.astype(dtype)
                if value.grad is not None:
                    value.grad = value.grad.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # -- saving and loading -------------------------------------------------------------------------
    def _state_entries(self, prefix=""):
        """(key, tensor) for every parameter and persistent buffer, in PyTorch's key order.

        As in PyTorch, a module or parameter reachable under two names appears under both.
        """
        for name, value in self._parameters.items():
            if value is not None:
                yield prefix + name, value
        for name, value in self._buffers.items():
            if value is not None and name not in self._non_persistent_buffers:
                yield prefix + name, value
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_entries(f"{prefix}{name}.")

    def state_dict(self):
        """An ordered dict from PyTorch-style names (``layer1.0.conv1.weight``) to copies of the arrays."""
        return OrderedDict((key, value.data.copy()) for key, value in self._state_entries())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Every key and shape is checked before anything changes: a mis-shaped entry (always) or a
        missing or unexpected key (when ``strict``) raises an error naming them, and leaves the
        module as it was. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a dict of name -> array, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_entries())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems, new_values = [], {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
                problems.append(f"  {key}: the state dict holds {value.dtype} values, not numbers")
            elif value.shape != target.shape:
                problems.append(f"  {key}: the state dict has shape {value.shape}, the model {target.shape}")
            else:
                new_values[key] = value
        if strict and missing:
            problems.append("  missing keys (in the model, not in the state dict): " + ", ".join(missing))
        if strict and unexpected:
            problems.append("  unexpected keys (in the state dict, not in the model): " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(
                f"error(s) in loading state_dict for {type(self).__name__}; nothing was changed:\n"
                + "\n".join(problems)
            )
        for key, value in new_values.items():
            target = own[key]
            if target.data.flags.writeable:
                # in place, as PyTorch's copy_: arrays sharing memory with the parameter see the new values
                target.data[...] = value
            else:
                target.data = value.astype(target.dtype)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -----------------------------------------------------------------------------------
    def extra_repr(self):
        """The arguments shown inside the parentheses of this module's repr; override in layers."""
        return ""

    def __repr__(self):
        extra_lines = self.extra_repr().split("\n") if self.extra_repr() else []
        child_lines = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()]
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        if not extra_lines and not child_lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"
