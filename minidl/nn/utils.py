"""Utilities for training loops, with PyTorch's names (``torch.nn.utils``)."""

import numpy as np


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients of ``parameters`` in place so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector; when it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (norm + 1e-6)`` (PyTorch's formula), so the
    update keeps its direction and only its length is capped. Returns the norm before clipping.
    A single bad batch then cannot throw the weights far, which keeps fragile networks (deep, without
    batch norm) from diverging in their first steps.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm}")
    grads = [p.grad for p in ([parameters] if hasattr(parameters, "grad") else parameters) if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == float("inf"):
        total = max(float(np.max(np.abs(g))) for g in grads)
    else:
        total = float(sum(np.sum(np.abs(g.astype(np.float64)) ** norm_type) for g in grads) ** (1.0 / norm_type))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for grad in grads:
            grad *= grad.dtype.type(scale)
    return total
