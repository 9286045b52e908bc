"""``Module`` and ``Parameter``: the building blocks of networks, with PyTorch's names and behaviour.

A module registers what you assign to it: a ``Parameter`` becomes a parameter, a ``Module`` a child,
and ``register_buffer`` adds state that is saved but not trained (batch norm's running statistics).
Registration order is kept, so ``state_dict()`` keys come out in the order PyTorch would give them.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from minidl.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A tensor that is a learnable parameter of a module; requires_grad is True by default."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


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
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

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
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, parameter):
        """Register ``parameter`` (a Parameter, or None for an absent optional one such as a bias)."""
        if parameter is None:
            self.__dict__.pop(name, None)
            self._parameters[name] = None
        else:
            setattr(self, name, parameter)

    def register_buffer(self, name, value, persistent=True):
        """Register state that is not trained but belongs in ``state_dict()`` (unless not persistent)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else (value if isinstance(value, Tensor) else Tensor(value))
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        self._modules[name] = module

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
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            else:
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
                value.grad = None
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # -- saving and loading -------------------------------------------------------------------------
    def _state_entries(self):
        """(key, tensor) for every parameter and persistent buffer, in PyTorch's key order."""
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, value in module._parameters.items():
                if value is not None:
                    yield prefix + name, value
            for name, value in module._buffers.items():
                if value is not None and name not in module._non_persistent_buffers:
                    yield prefix + name, value

    def state_dict(self):
        """An ordered dict from PyTorch-style names (``layer1.0.conv1.weight``) to copies of the arrays."""
        return OrderedDict((key, value.data.copy()) for key, value in self._state_entries())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Every key and shape is checked before anything changes: a mis-shaped entry (always) or a
        missing or unexpected key (when ``strict``) raises an error naming them, and leaves the
        module as it was. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict(self._state_entries())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems = []
        for key, target in own.items():
            if key in state_dict:
                value = np.asarray(state_dict[key].data if isinstance(state_dict[key], Tensor) else state_dict[key])
                if value.shape != target.shape:
                    problems.append(f"  {key}: the checkpoint has shape {value.shape}, the model {target.shape}")
        if strict and missing:
            problems.append("  missing keys (in the model, not in the state dict): " + ", ".join(missing))
        if strict and unexpected:
            problems.append("  unexpected keys (in the state dict, not in the model): " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(
                f"error(s) in loading state_dict for {type(self).__name__}; nothing was changed:\n"
                + "\n".join(problems)
            )
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                target.data = np.array(value.data if isinstance(value, Tensor) else value, dtype=target.dtype)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -----------------------------------------------------------------------------------
    def extra_repr(self):
        """The arguments shown inside the parentheses of this module's repr; override in layers."""
        return ""

    def __repr__(self):
        children = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
