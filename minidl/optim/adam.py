"""Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019), with torch.optim's update rules."""

import math

import numpy as np

from minidl.optim.optimizer import Optimizer


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ... (PyTorch's update, in this order):

    g = g + weight_decay * p              (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)       (AdamW instead: decoupled weight decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v) and use it for v  (only with amsgrad)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, decoupled_weight_decay=False
    ):
        name = type(self).__name__
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _update(self, group, parameter, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(parameter.data)
            state["exp_avg_sq"] = np.zeros_like(parameter.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(parameter.data)
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        state["step"] += 1
        step = state["step"]
        grad = parameter.grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                parameter.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * parameter.data
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            exp_avg_sq = state["max_exp_avg_sq"]
        step_size = lr / (1 - beta1**step)
        denominator = np.sqrt(exp_avg_sq) / math.sqrt(1 - beta2**step) + group["eps"]
        parameter.data -= step_size * exp_avg / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step (default 0.01)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
