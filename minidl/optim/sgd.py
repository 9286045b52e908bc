"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum (as torch.optim.SGD)."""

from minidl.optim.optimizer import Optimizer


class SGD(Optimizer):
    """For each parameter p with gradient g, at step t (PyTorch's update, in this order):

    g = g + weight_decay * p
    b = g                                     at the first step (no dampening)
    b = momentum * b + (1 - dampening) * g    afterwards
    g = g + momentum * b   if nesterov,   else g = b       (only when momentum != 0)
    p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        for label, value in (("learning rate", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"SGD: invalid {label} {value}; it must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _update(self, group, parameter, state):
        grad = parameter.grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * parameter.data
        momentum = group["momentum"]
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        parameter.data -= group["lr"] * grad
