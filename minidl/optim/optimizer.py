"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts, as PyTorch's.

``optimizer.param_groups`` is a list of dicts, each with ``'params'`` (a list of Parameters) and the
hyperparameters of that group (``'lr'``, ...); learning-rate schedulers change ``group['lr']``.
``optimizer.state`` maps each parameter to a dict of arrays (momentum buffers, Adam's moments).
Subclasses implement ``_update(group, parameter, state)`` for one parameter that has a gradient.
"""

import copy

import numpy as np

from minidl.autograd import enable_grad
from minidl.tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Parameters or of dicts, got a Tensor"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters; hyperparameters it does not set take the optimizer's defaults."""
        name = type(self).__name__
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for parameter in group["params"]:
            if not isinstance(parameter, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, got a {type(parameter).__name__}")
            if not parameter.is_leaf:
                raise ValueError(f"{name} can only optimize leaf tensors (parameters), not results of operations")
        known = {id(p) for existing in self.param_groups for p in existing["params"]}
        if any(id(p) in known for p in group["params"]) or len({id(p) for p in group["params"]}) < len(group["params"]):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group (or twice in one)")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter: to None (the default, as PyTorch) or to zeros."""
        for group in self.param_groups:
            for parameter in group["params"]:
                if set_to_none:
                    parameter.grad = None
                elif parameter.grad is not None:
                    parameter.grad = np.zeros_like(parameter.grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state.get(parameter, {})
                self._update(group, parameter, state)
                if state:  # plain SGD keeps no state, and then lists none (as PyTorch)
                    self.state[parameter] = state
        return loss

    def _update(self, group, parameter, state):
        raise NotImplementedError

    # -- saving and loading -------------------------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]}`` as PyTorch.

        Parameters are numbered across groups in order; arrays are copies.
        """
        indices, groups = {}, []
        for group in self.param_groups:
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = []
            for parameter in group["params"]:
                indices.setdefault(id(parameter), len(indices))
                saved["params"].append(indices[id(parameter)])
            groups.append(saved)
        state = {
            indices[id(parameter)]: copy.deepcopy(values)
            for parameter, values in self.state.items()
            if id(parameter) in indices
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict()``; everything is checked first."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter group(s), "
                f"this optimizer {len(self.param_groups)}"
            )
        by_index = {}
        for position, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {position} has {len(saved['params'])} parameter(s) "
                    f"in the state dict but {len(group['params'])} in this optimizer"
                )
            by_index.update(zip(saved["params"], group["params"], strict=True))
        new_state = {}
        for index, values in state_dict["state"].items():
            if int(index) not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group lists")
            parameter = by_index[int(index)]
            new_state[parameter] = {
                key: _state_value(name, index, key, value, parameter) for key, value in values.items()
            }
        self.state = new_state
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            group.update({key: copy.deepcopy(value) for key, value in saved.items() if key != "params"})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for position, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {position}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"


def _state_value(name, index, key, value, parameter):
    """A saved state entry: arrays must match the parameter's shape and take its dtype."""
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return copy.deepcopy(value)
    if value.shape != parameter.shape:
        raise ValueError(
            f"{name}.load_state_dict: state {key!r} of parameter {index} has shape {value.shape}, "
            f"but the parameter has shape {parameter.shape}"
        )
    return value.astype(parameter.dtype, copy=True)
